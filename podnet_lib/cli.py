"""Command line: `python -m podnet_lib run ...` (also installed as `podnet`).

    python -m podnet_lib run                       # the main job: preset `digits`
    python -m podnet_lib run --preset cifar100-50steps-nme --download --device cuda
    python -m podnet_lib run --preset digits --method podnet --set lambda_c=5 --set nca_form=paper
    python -m podnet_lib run --resume runs/digits-20261125-101500
    python -m podnet_lib run --config runs/digits-20261125-101500/config.json --set seed=2 --log tensorboard
    python -m podnet_lib presets
    python -m podnet_lib bench --json bench.json
    python -m podnet_lib report runs/digits-A runs/digits-B --out runs/report
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from podnet_lib.config import Config, ConfigError
from podnet_lib.data import DATASET_FORMS
from podnet_lib.engine.methods import METHODS
from podnet_lib.engine.presets import PRESETS, get_preset


class UsageError(Exception):
    """A command line that argparse cannot read (unknown flag, a word where a number belongs)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line is one `error: ...` line (main prints it) and exit code 2."""

    def error(self, message: str):
        raise UsageError(f"{message}; see {self.prog} --help")


def _preset_lines() -> str:
    width = max(len(n) for n in PRESETS)
    return "\n".join(f"  {name:<{width}}  {text}" for name, (text, _) in PRESETS.items())


def _parse_value(field: dataclasses.Field, raw: str) -> Any:
    """Turn `raw` into the type of a Config field; a bad value is a ConfigError naming the field."""
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(v for v in raw.split(",") if v)
        return raw
    except ValueError:
        kind = ("true/false" if isinstance(default, bool) else "an integer" if isinstance(default, int)
                else "a number" if isinstance(default, float) else type(default).__name__)
        raise ConfigError(f"{field.name}={raw!r} is not valid; allowed values: {kind}") from None


def apply_overrides(cfg: Config, pairs: Sequence[str]) -> Config:
    """Apply `field=value` strings (from --set) to a Config."""
    by_name = {f.name: f for f in dataclasses.fields(Config)}
    changes = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set expects field=value, got {pair!r}")
        if name not in by_name:
            raise ConfigError(f"unknown config field {name!r}; known fields: {', '.join(by_name)}")
        changes[name] = _parse_value(by_name[name], raw)
    return cfg.replace(**changes)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m podnet_lib", description="PODNet class-incremental learning.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train methods through a class-incremental scenario",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="presets:\n" + _preset_lines())
    run.add_argument("--preset", help="named configuration (listed below; default: digits)")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="start from a config file instead of a preset: a run's config.json, or YAML")
    run.add_argument("--method", help=f"comma-separated methods: {', '.join(METHODS)}")
    run.add_argument("--dataset", help=" | ".join(DATASET_FORMS))
    run.add_argument("--seed", type=int)
    run.add_argument("--epochs", type=int, help="epochs per task")
    run.add_argument("--class-order", type=int, help="0, 1, 2 = the authors' CIFAR-100 orders (ImageNet: 0); higher = our seeded orders")
    run.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    run.add_argument("--download", action="store_true", help="allow downloading CIFAR-100 (about 170 MB)")
    run.add_argument("--out", type=Path, help="run directory (default: runs/<preset>-<time>)")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="override any config field, e.g. --set lambda_c=5 (repeatable)")
    run.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its last finished task")
    run.add_argument("--stop-after", type=int, metavar="T", help="stop after task T (resume later with --resume)")
    run.add_argument("--no-plots", action="store_true", help="skip the figures")
    run.add_argument("--log", metavar="LOGGER", help="also log accuracies per task and losses per epoch live: "
                     "tensorboard (needs the tensorboard package)")
    sub.add_parser("presets", help="list the named configurations")
    bench = sub.add_parser("bench", help="measure step, data-path and projected run speed")
    bench.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    bench.add_argument("--batch", type=int, default=128)
    bench.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    bench.add_argument("--rounds", type=int, default=5, help="interleaved rounds of every step (median and range)")
    bench.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    bench.add_argument("--skip-main-job", action="store_true", help="do not time the digits main job")
    bench.add_argument("--compile", action="store_true",
                       help="also measure the steps with the backbone compiled (adds a minute or two of compilation)")
    report = sub.add_parser("report", help="tables and figures of saved runs, as report.md and report.html (no retraining)")
    report.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="run directories, or method folders holding results.json")
    report.add_argument("--out", type=Path, help="output folder (default: runs/report-<time>)")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """The preset, the --config file or the resumed run's config; then the flags, then --set."""
    if args.resume is not None:
        from podnet_lib.engine.experiment import load_run_config

        if args.preset or args.config:
            raise UsageError(f"--resume {args.resume} uses the run's own config.json; drop --preset/--config "
                             "(--set changes a field)")
        cfg = load_run_config(args.resume)
    elif args.config is not None:
        from podnet_lib.engine.config_file import read_config_file

        if args.preset:
            raise UsageError("give --preset or --config, not both (--set changes a field of either)")
        cfg = read_config_file(args.config)
    else:
        cfg = get_preset(args.preset or "digits")
    flags = {"methods": tuple(m for m in args.method.split(",") if m) if args.method else None, "dataset": args.dataset,
             "seed": args.seed, "epochs": args.epochs, "class_order": args.class_order, "device": args.device,
             "download": True if args.download else None}
    cfg = cfg.replace(**{k: v for k, v in flags.items() if v is not None})
    return apply_overrides(cfg, args.set)


def _run_name(args: argparse.Namespace) -> str:
    """The default run directory's name: the preset, or the config file's (its run's, for config.json)."""
    if args.config is not None:
        path = Path(args.config).resolve()
        return path.parent.name if path.stem == "config" and path.parent.name else path.stem
    return args.preset or "digits"


def cmd_run(args: argparse.Namespace) -> int:
    from podnet_lib.engine.experiment import run_experiment
    from podnet_lib.engine.metrics import summary_table

    cfg = config_from_args(args)
    out = args.resume or args.out or Path("runs") / f"{_run_name(args)}-{time.strftime('%Y%m%d-%H%M%S')}"
    logger = None
    if args.log:
        from podnet_lib.engine.loggers import make_logger

        logger = make_logger(args.log, out)
    began = time.perf_counter()
    try:
        results = run_experiment(cfg, out, resume=args.resume is not None, stop_after=args.stop_after,
                                 logger=logger)
    finally:
        if logger is not None:
            logger.close()
    if os.environ.get("RANK", "0") != "0":               # under torchrun only rank 0 reports
        return 0
    if not args.no_plots:
        from podnet_lib.report.figures import write_figures

        write_figures(list(results.values()), out)
    print()
    print(summary_table(list(results.values())))
    print(f"\nwall time {time.perf_counter() - began:.1f}s; results, summary and plots in {out}/")
    for png in sorted(Path(out).glob("*.png")):
        print(f"  {png}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from podnet_lib.engine.checkpoint import CheckpointError
    from podnet_lib.data import DatasetNameError, DatasetNotFoundError, ScenarioError
    from podnet_lib.engine.experiment import RunDirError
    from podnet_lib.engine.train import NonFiniteLossError

    args = None
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except (UsageError, ConfigError, ScenarioError, DatasetNameError, DatasetNotFoundError, RunDirError,
            CheckpointError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args is None or args.command != "run":
            return 130
        out = args.resume or args.out
        where = f" {out}" if out else " <run directory printed above>"
        print(f"\ninterrupted; finished tasks are saved: continue with --resume{where}", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")          # figures go to files: no window, whatever the command
    if args.command == "presets":
        print(_preset_lines())
        return 0
    if args.command == "bench":
        from podnet_lib.bench import main as bench_main

        return bench_main(args)
    if args.command == "report":
        from podnet_lib.report.compare import main as report_main

        return report_main(args)
    return cmd_run(args)
