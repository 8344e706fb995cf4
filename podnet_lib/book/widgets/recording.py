"""A method run through every task of a scenario and seen from the inside (chapter 05).

`record_run` trains one method task by task, as `run_experiment` does, and keeps what the
results files do not: after every task, the embeddings h of the base classes' test images; after
every epoch of every phase, the mean of each loss term (through `IncrementalLearner.epoch_hooks`).
It keeps the run's `RunResult` too. `embedding_drift.py` and `losses.py` draw recordings.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from podnet_lib.config import Config, config_key
from podnet_lib.engine.experiment import prepare
from podnet_lib.engine.results import RunResult
from podnet_lib.engine.train import IncrementalLearner, resolve_device
from podnet_lib.progress import progress


@dataclass
class Recording:
    """One method's run: embeddings after each task, loss terms after each epoch, its results."""

    method: str
    classes: list[int]        # the base task's classes (the old classes from task 1 on)
    labels: Tensor            # (N,) labels of their test images
    features: Tensor          # (T, N, D) embeddings h of those images after each task t
    epochs: list[dict]        # per epoch of every phase: task, phase, epoch and each loss term's mean
    result: RunResult         # what results.json holds for this run

    @property
    def n_tasks(self) -> int:
        return int(self.features.shape[0])

    def save(self, path: Path) -> None:
        torch.save({"method": self.method, "classes": self.classes, "labels": self.labels,
                    "features": self.features, "epochs": self.epochs, "result": self.result.to_dict()}, path)

    @classmethod
    def load(cls, path: Path) -> Recording:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return cls(state["method"], list(state["classes"]), state["labels"], state["features"],
                   list(state["epochs"]), RunResult.from_dict(state["result"]))


def recording_path(cfg: Config, root: Path, method: str) -> Path:
    """root/record-<method>-<config hash>.pt: a changed configuration records anew."""
    return Path(root) / f"record-{method}-{config_key(cfg)}.pt"


def record_run(cfg: Config, root: Path, method: str, bars: bool = False) -> Recording:
    """Train `method` through every task of `cfg` and record it, or load its recording.

    The learner's checkpoints go to a folder beside the recording, of the same name.
    """
    path = recording_path(cfg, root, method)
    if path.is_file():
        return Recording.load(path)
    splits, scenario = prepare(cfg)
    learner = IncrementalLearner(cfg, method, splits, scenario, path.with_suffix(""), resolve_device(cfg.device),
                                 bars, log_tasks=False)
    epochs: list[dict] = []
    learner.epoch_hooks.append(lambda _, info, phase, epoch, means: epochs.append(
        {"task": info.task, "phase": phase.name, "epoch": epoch, **means}))
    classes = scenario.task_classes(0)
    features, labels = [], None
    for t in progress(range(scenario.n_tasks), bars, desc=f"recording {method}"):
        learner.run_task(t)
        h, _, y = learner.features("test", classes)
        features.append(h.float().cpu())
        labels = y.cpu() if labels is None else labels
    recording = Recording(method, classes, labels, torch.stack(features), epochs, learner.result)
    path.parent.mkdir(parents=True, exist_ok=True)
    recording.save(path)
    return recording


def record_runs(cfg: Config, root: Path, methods: Sequence[str], bars: bool = False) -> dict[str, Recording]:
    """`record_run` for each method, by name."""
    return {m: record_run(cfg, root, m, bars) for m in methods}
