"""One experiment: every method of a config run through the same scenario into one directory.

Layout of a run directory:
    config.json                    the configuration (used by --resume)
    <method>/results.json, .csv    per-task results (podnet_lib.engine.results)
    <method>/checkpoint.pt         state after the last finished task
    summary.json, summary.csv      average incremental accuracy etc., one row per method
The figures (`podnet_lib.report.figures.write_figures`) are drawn from these files by the
command line; the engine itself draws nothing.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch

from podnet_lib.config import Config
from podnet_lib.engine.validation import validate
from podnet_lib.data import DatasetSplits, Scenario, class_order, load_dataset, make_scenario
from podnet_lib.engine.metrics import summary
from podnet_lib.engine.distributed import finish, init_from_env
from podnet_lib.progress import bars_enabled, log
from podnet_lib.engine.results import RunResult
from podnet_lib.engine.train import IncrementalLearner, resolve_device

CONFIG_NAME = "config.json"


class RunDirError(RuntimeError):
    """The output directory cannot be used as asked (exists without --resume, or is not a run)."""


def prepare(cfg: Config) -> tuple[DatasetSplits, Scenario]:
    """Validate the config, load the data and build the scenario: every check before training."""
    validate(cfg)
    splits = load_dataset(cfg.dataset, cfg.data_root, cfg.download, seed=0,
                          image_size=cfg.image_size or None, n_classes=cfg.dataset_classes or None)
    order = class_order(cfg.dataset, splits.n_classes, cfg.class_order)
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
    return Config.from_dict(json.loads(path.read_text()))


def run_experiment(cfg: Config, out_dir: Path, resume: bool = False, stop_after: int | None = None,
                   bars: bool | None = None, quiet: bool = False) -> dict[str, RunResult]:
    """Train each method of `cfg.methods` and write results and summary under `out_dir`.

    quiet=True drops the per-task log lines (progress bars follow `bars`).
    """
    out_dir = Path(out_dir)
    splits, scenario = prepare(cfg)
    device = resolve_device(cfg.device)
    dist = init_from_env(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    if dist.is_main:
        _claim_directory(cfg, out_dir, resume)
    set_determinism(device)
    bars = (bars_enabled() if bars is None else bars) and dist.is_main
    log(f"{cfg.dataset}: {scenario.n_tasks} tasks ({cfg.base_classes} base classes + steps of "
        f"{cfg.increment}), methods {', '.join(cfg.methods)}, device {device}"
        f"{f' x {dist.world} processes' if dist.enabled else ''}, results in {out_dir}", dist.is_main and not quiet)
    results: dict[str, RunResult] = {}
    try:
        for name in cfg.methods:
            learner = IncrementalLearner(cfg, name, splits, scenario, out_dir / name, device, bars, dist,
                                         log_tasks=not quiet)
            can_resume = resume and learner.checkpoint_path.is_file()
            results[name] = learner.run(resume=can_resume, stop_after=stop_after)
        if dist.is_main:
            write_summary(list(results.values()), out_dir)
    finally:
        if dist.enabled:
            finish()
    return results


def _claim_directory(cfg: Config, out_dir: Path, resume: bool) -> None:
    path = out_dir / CONFIG_NAME
    if resume:
        if not path.is_file():
            raise RunDirError(f"cannot resume: {path} is missing (is {out_dir} a run directory?)")
        return
    if any(out_dir.glob("*/checkpoint.pt")):
        raise RunDirError(f"{out_dir} already holds a run; continue it with --resume {out_dir} "
                          "or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
    os.replace(tmp, path)


def write_summary(runs: list[RunResult], out_dir: Path) -> list[Path]:
    """summary.json and summary.csv, one row per method; returns the paths written."""
    out_dir = Path(out_dir)
    rows = [summary(r) for r in runs]
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=2))
    with open(out_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [out_dir / "summary.json", out_dir / "summary.csv"]


__all__ = ["prepare", "run_experiment", "write_summary", "load_run_config", "RunDirError"]
