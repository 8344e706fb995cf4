"""The loss terms of a run, epoch by epoch and task by task (chapter 05).

A `Recording` keeps the mean of every loss term after each epoch of every phase; its `RunResult`
keeps, per task, each term's mean over the last epoch (results.json `losses`: for PODNet
`nca`, `pod_spatial` and `pod_flat` of the main training and `finetune_loss` of the classifier's
finetuning). `epoch_curves` reads one task's curves; `plot_losses` draws them beside the per-task
values.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from podnet_lib.book.widgets.recording import Recording

FLOOR = 1e-6            # the smallest value drawn on the logarithmic axis


def epoch_curves(recording: Recording, task: int) -> dict[str, dict[str, list[float]]]:
    """phase -> loss term -> its mean after each epoch of that phase, for one task.

    Phases in the order they ran (train, then finetune for PODNet after task 0).
    """
    if not 0 <= task < recording.n_tasks:
        raise ValueError(f"task must be in 0..{recording.n_tasks - 1}, got {task}")
    curves: dict[str, dict[str, list[float]]] = {}
    for row in recording.epochs:
        if row["task"] != task:
            continue
        terms = curves.setdefault(row["phase"], {})
        for name, value in row.items():
            if name not in ("task", "phase", "epoch"):
                terms.setdefault(name, []).append(float(value))
    return curves


def _positive(values: list[float]) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=float), FLOOR)


def plot_losses(recording: Recording, task: int) -> Figure:
    """Left: each loss term after every epoch of `task`, the phases one after the other.
    Right: each term's last-epoch mean against the task (the `losses` of results.json), `task`
    marked. Logarithmic loss axes: the terms differ by orders of magnitude."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13.0, 4.4), layout="constrained")
    start = 0
    for phase, terms in epoch_curves(recording, task).items():
        length = max(len(v) for v in terms.values())
        x = np.arange(start, start + length) + 1
        for name, values in terms.items():
            left.plot(x, _positive(values), marker="o", markersize=3, label=f"{phase}: {name}")
        if start:
            left.axvline(start + 0.5, color="gray", linestyle="--", linewidth=1)
        left.text(start + 1, 1.0, phase, transform=left.get_xaxis_transform(), va="bottom", fontsize="small")
        start += length
    left.set_yscale("log")
    left.set_xlabel("epoch (the phases of the task one after the other)")
    left.set_ylabel("mean over the epoch's batches")
    left.set_title(f"{recording.method}, task {task}: every epoch", fontsize="medium", pad=16)
    left.legend(fontsize="small")
    left.grid(True, alpha=0.3)
    names: list[str] = []
    for t in recording.result.tasks:
        names += [n for n in t.losses if n not in names]
    tasks = [t.task for t in recording.result.tasks]
    for name in names:
        values = [t.losses.get(name, math.nan) for t in recording.result.tasks]
        right.plot(tasks, _positive(values), marker="o", markersize=4, label=name)
    right.axvline(task, color="black", linestyle="--", linewidth=1)
    right.set_yscale("log")
    right.set_xticks(tasks)
    right.set_xlabel("task")
    right.set_ylabel("mean over the last epoch")
    right.set_title(f"{recording.method}: each task's last epoch (results.json)", fontsize="medium", pad=16)
    right.legend(fontsize="small")
    right.grid(True, alpha=0.3)
    return fig
