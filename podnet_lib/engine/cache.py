"""Load it if it exists, else train: the one cache of trained runs and models.

A cached run lives in a folder named by a hash of its whole Config (`run_dir_of`), so a changed
configuration trains anew instead of loading another one's results. An interrupted run is
continued from its checkpoints, as `--resume` does, and gives the same numbers.
"""
from __future__ import annotations

from pathlib import Path

from podnet_lib.config import Config, config_key
from podnet_lib.engine.experiment import CONFIG_NAME, prepare, run_experiment
from podnet_lib.engine.results import JSON_NAME, RunResult
from podnet_lib.engine.train import IncrementalLearner, resolve_device


def run_dir_of(root: Path, cfg: Config) -> Path:
    """root/run-<hash of every field>: two configs that are the same run share one folder."""
    return Path(root) / f"run-{config_key(cfg)}"


def finished_results(cfg: Config, run_dir: Path) -> dict[str, RunResult] | None:
    """The results of every method of `cfg` when all of them finished in `run_dir`, else None."""
    n_tasks = prepare(cfg)[1].n_tasks
    done: dict[str, RunResult] = {}
    for method in cfg.methods:
        path = Path(run_dir) / method / JSON_NAME
        if path.is_file():
            result = RunResult.load(path)
            if len(result.tasks) == n_tasks:
                done[method] = result
    return done if len(done) == len(cfg.methods) else None


def cached_run(cfg: Config, run_dir: Path, bars: bool = False, quiet: bool = True) -> dict[str, RunResult]:
    """Every method of `cfg` trained into `run_dir`, or loaded when it already finished there;
    an interrupted run is continued from its last finished task."""
    run_dir = Path(run_dir)
    done = finished_results(cfg, run_dir)
    if done is not None:
        return done
    return run_experiment(cfg, run_dir, resume=(run_dir / CONFIG_NAME).is_file(), bars=bars, quiet=quiet)


def trained_learner(cfg: Config, root: Path, upto_task: int = 0, method: str | None = None,
                    bars: bool = False) -> IncrementalLearner:
    """A learner trained through task `upto_task`, cached.

    Its state lives in root/<method>-<config hash>/checkpoint.pt (method: the first of
    cfg.methods). The learner holds `net`, `train_set`/`test_set` (labels = class-order
    positions), `spec`, `scenario`, `store` and `features(split, classes)`.
    """
    splits, scenario = prepare(cfg)
    method = method or cfg.methods[0]
    learner = IncrementalLearner(cfg, method, splits, scenario, Path(root) / f"{method}-{config_key(cfg)}",
                                 resolve_device(cfg.device), bars, log_tasks=False)
    done = learner.restore() if learner.checkpoint_path.is_file() else 0
    if done > upto_task + 1:
        raise ValueError(f"{learner.checkpoint_path} holds the state after task {done - 1}, later than "
                         f"upto_task={upto_task}; use another root for the earlier state")
    for t in range(done, upto_task + 1):
        learner.run_task(t)
    return learner
