"""One experiment: every method of a config run through the same scenario into one directory.

Layout of a run directory:
    config.json                    the configuration (used by --resume)
    <method>/results.json, .csv    per-task results (podnet_lib.engine.results)
    <method>/checkpoint.pt         state after the last finished task
    summary.json, summary.csv      average incremental accuracy, forgetting, BWT, one row per method
    tensorboard/<method>/          event files, with `--log tensorboard` only (podnet_lib.engine.loggers)
The figures (`podnet_lib.report.figures.write_figures`) are drawn from these files by the
command line; the engine itself draws nothing.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import torch

from podnet_lib.config import Config, ConfigError
from podnet_lib.engine.config_file import read_config_file
from podnet_lib.engine.acceleration import Acceleration
from podnet_lib.engine.validation import validate
from podnet_lib.data import DatasetSplits, Scenario, class_order, load_dataset, make_scenario
from podnet_lib.engine.loggers import RunLogger
from podnet_lib.engine.metrics import summary
from podnet_lib.engine.distributed import finish, init_from_env
from podnet_lib.progress import bars_enabled, log
from podnet_lib.engine.results import CONFIG_NAME, RunResult
from podnet_lib.engine.train import IncrementalLearner, resolve_device



class RunDirError(RuntimeError):
    """The output directory cannot be used as asked (exists without --resume, or is not a run)."""


def prepare(cfg: Config) -> tuple[DatasetSplits, Scenario]:
    """Validate the config, load the data and build the scenario: every check before training."""
    validate(cfg)
    splits = load_dataset(cfg.dataset, cfg.data_root, cfg.download, seed=0,
                          image_size=cfg.image_size or None, n_classes=cfg.dataset_classes or None)
    order = class_order(cfg.dataset, splits.n_classes, cfg.class_order, splits.class_names)
    return splits, make_scenario(splits.n_classes, cfg.base_classes, cfg.increment, order)


def set_determinism(device: torch.device) -> None:
    """Same seed, same device -> same numbers on the CPU (deterministic kernels); on a GPU,
    cuDNN picks its fastest kernels instead, so GPU reruns agree only within noise."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def load_run_config(run_dir: Path) -> Config:
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a run directory: {path} is missing")
    return read_config_file(path)


def check_stop_after(stop_after: int | None, n_tasks: int | None = None) -> None:
    """stop_after must name a task of the scenario, 0 .. n_tasks - 1 (None: run every task)."""
    if stop_after is None:
        return
    last = " (0 = the base task)" if n_tasks is None else f" to {n_tasks - 1} (the scenario has {n_tasks} tasks)"
    if isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 0 or (
            n_tasks is not None and stop_after >= n_tasks):
        raise ConfigError(f"stop_after={stop_after!r} is not valid; allowed values: a task number from 0{last}")


def run_experiment(cfg: Config, out_dir: Path, resume: bool = False, stop_after: int | None = None,
                   bars: bool | None = None, quiet: bool = False,
                   logger: RunLogger | None = None) -> dict[str, RunResult]:
    """Train each method of `cfg.methods` and write results and summary under `out_dir`.

    quiet=True drops the per-task log lines (progress bars follow `bars`); `logger` (e.g.
    `loggers.make_logger("tensorboard", out_dir)`) receives task results and epoch losses.
    Every check (config, device, directory, stop_after) comes before any file is written.
    """
    out_dir = Path(out_dir)
    validate(cfg)
    device = resolve_device(cfg.device)
    check_stop_after(stop_after)
    check_directory(out_dir, resume)
    splits, scenario = prepare(cfg)
    check_stop_after(stop_after, scenario.n_tasks)
    dist = init_from_env(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    if dist.is_main:
        _claim_directory(cfg, out_dir, resume)
    set_determinism(device)
    bars = (bars_enabled() if bars is None else bars) and dist.is_main
    accel = Acceleration.for_device(cfg, device, train_images=len(splits.train))
    images = f"{splits.image_size}x{splits.image_size} images" + (f" ({splits.note})" if splits.note else "")
    log(f"{cfg.dataset}: {images}; {scenario.n_tasks} tasks ({cfg.base_classes} base classes + steps of "
        f"{cfg.increment}), methods {', '.join(cfg.methods)}, device {device}"
        f"{f' x {dist.world} processes' if dist.enabled else ''}, results in {out_dir}; "
        f"{accel.describe()}", dist.is_main and not quiet)
    results: dict[str, RunResult] = {}
    try:
        for name in cfg.methods:
            learner = IncrementalLearner(cfg, name, splits, scenario, out_dir / name, device, bars, dist,
                                         log_tasks=not quiet, accel=accel, logger=logger)
            can_resume = resume and learner.checkpoint_path.is_file()
            results[name] = learner.run(resume=can_resume, stop_after=stop_after)
        if dist.is_main:
            write_summary(list(results.values()), out_dir)
    finally:
        if dist.enabled:
            finish()
    return results


def check_directory(out_dir: Path, resume: bool) -> None:
    """RunDirError unless `out_dir` can take this run: a run directory to resume, or else a
    directory (new or existing) that holds no run; nothing is written."""
    path = out_dir / CONFIG_NAME
    if resume:
        if not path.is_file():
            raise RunDirError(f"cannot resume: {path} is missing (is {out_dir} a run directory?)")
        return
    blocking = next((p for p in (out_dir, *out_dir.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise RunDirError(f"--out {out_dir} cannot be a run directory: {blocking} is an existing file; "
                          "allowed values: a new or existing directory")
    if any(out_dir.glob("*/checkpoint.pt")):
        raise RunDirError(f"{out_dir} already holds a run; continue it with --resume {out_dir} "
                          "or choose another --out")


def _claim_directory(cfg: Config, out_dir: Path, resume: bool) -> None:
    check_directory(out_dir, resume)
    if resume:
        return
    path = out_dir / CONFIG_NAME
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"--out {out_dir} cannot be created ({err.strerror}); "
                          "allowed values: a directory you can write to") from None
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
    os.replace(tmp, path)


def write_summary(runs: list[RunResult], out_dir: Path) -> list[Path]:
    """summary.json and summary.csv, one row per method; returns the paths written.

    A number that is undefined (NaN: forgetting or BWT of a single task) is written as null / empty.
    """
    out_dir = Path(out_dir)
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary(r).items()} for r in runs]
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=2))
    with open(out_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [out_dir / "summary.json", out_dir / "summary.csv"]


__all__ = ["prepare", "run_experiment", "write_summary", "load_run_config", "check_directory", "check_stop_after",
           "RunDirError"]
