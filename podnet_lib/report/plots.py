"""Figures of incremental runs: accuracy curves (as the paper's Fig. 4), accuracy matrix, forgetting.

Every function draws on `ax` when given (else on a new figure with constrained layout) and
returns the Figure; none calls `plt.show()`, so they work with the Agg backend and in scripts.
`save_figure` writes a PNG and closes the figure.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from podnet_lib.engine.metrics import (accuracy_matrix, average_forgetting, average_incremental_accuracy,
                                forgetting)
from podnet_lib.engine.results import RunResult, check_metric

ANNOTATE_MAX_TASKS = 12      # write the value in each cell of the matrix up to this many tasks


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _check_runs(runs: Sequence[RunResult]) -> list[RunResult]:
    runs = list(runs)
    if not runs:
        raise ValueError("runs is empty: give at least one RunResult")
    return runs


def plot_accuracy_curves(runs: Sequence[RunResult], metric: str = "nme", ax: Axes | None = None,
                         title: str | None = None) -> Figure:
    """Top-1 accuracy on all seen classes (%) against the number of classes seen, one line per run.

    The legend gives each run's average incremental accuracy, as in the paper's Fig. 4.
    """
    check_metric(metric)
    runs = _check_runs(runs)
    ax = _axes(ax, (7.0, 4.5))
    for run in runs:
        accs = run.accuracies(metric)
        label = f"{run.method} (avg {average_incremental_accuracy(accs):.2f})"
        ax.plot(run.n_classes, accs, marker="o", markersize=4, linewidth=1.8, label=label)
    ax.set_xlabel("number of classes seen")
    ax.set_ylabel(f"top-1 accuracy, {metric.upper()} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title if title is not None else f"Accuracy on all seen classes ({metric.upper()})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method (avg. incremental acc.)",
              fontsize="small", title_fontsize="small")
    return ax.figure


def plot_accuracy_matrix(run: RunResult, metric: str = "nme", ax: Axes | None = None) -> Figure:
    """Heat map of the accuracy matrix: row t = after task t, column j = classes of task j.

    Cells above the diagonal (tasks not yet seen) stay blank; values are written in the cells
    when there are at most ANNOTATE_MAX_TASKS tasks.
    """
    matrix = accuracy_matrix(run, metric)
    n = matrix.shape[0]
    side = min(4.0 + 0.45 * n, 11.0)
    ax = _axes(ax, (side + 1.2, side))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")   # unseen tasks: blank
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=0, vmax=100,
                      interpolation="nearest")
    colorbar = ax.figure.colorbar(image, ax=ax, shrink=0.85)
    colorbar.set_label("accuracy (%)")
    step = max(1, int(np.ceil(n / 20)))               # at most ~20 tick labels per axis
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("classes of task j")
    ax.set_ylabel("after task t")
    ax.set_title(f"{run.method}: accuracy per task ({metric.upper()})")
    if n <= ANNOTATE_MAX_TASKS:
        for t in range(n):
            for j in range(t + 1):
                value = matrix[t, j]
                if np.isnan(value):
                    continue
                color = "black" if value > 60 else "white"   # readable on viridis
                ax.text(j, t, f"{value:.1f}", ha="center", va="center", color=color,
                        fontsize="small" if n <= 8 else "x-small")
    return ax.figure


def plot_forgetting(runs: Sequence[RunResult], metric: str = "nme",
                    ax: Axes | None = None) -> Figure:
    """Grouped bars: forgetting of each task j < T-1 (percentage points), one bar group per run."""
    check_metric(metric)
    runs = _check_runs(runs)
    ax = _axes(ax, (7.0, 4.5))
    width = 0.8 / len(runs)
    longest = 0
    for i, run in enumerate(runs):
        matrix = accuracy_matrix(run, metric)
        values = forgetting(matrix)
        longest = max(longest, values.size)
        x = np.arange(values.size) + (i - (len(runs) - 1) / 2) * width
        avg = average_forgetting(matrix)
        label = f"{run.method} (avg {avg:.2f})" if values.size else f"{run.method} (one task)"
        ax.bar(x, values, width=width, label=label)
    ax.axhline(0.0, color="black", linewidth=0.8)
    if longest:
        step = max(1, int(np.ceil(longest / 20)))
        ax.set_xticks(np.arange(0, longest, step))
    else:
        ax.text(0.5, 0.5, "a single task: nothing to forget", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("task j (its classes)")
    ax.set_ylabel("forgetting (percentage points)")
    ax.set_title(f"Forgetting per task ({metric.upper()}): best accuracy minus final accuracy")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method (avg. forgetting)",
              fontsize="small", title_fontsize="small")
    return ax.figure


def plot_old_new(runs: Sequence[RunResult], metric: str = "nme") -> Figure:
    """Accuracy on the classes of earlier tasks (left) and on the task's new classes (right),
    after each task > 0, one line per run.

    The gap between the panels is the stability-plasticity balance of Sec. 4.2.
    """
    check_metric(metric)
    runs = _check_runs(runs)
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.2), layout="constrained", sharey=True)
    for run in runs:
        steps = [t for t in run.tasks[1:] if getattr(t, f"old_acc_{metric}") is not None]
        x = [t.n_classes for t in steps]
        for ax, part in zip(axes, ("old", "new")):
            ax.plot(x, [getattr(t, f"{part}_acc_{metric}") for t in steps], marker="o", markersize=4,
                    label=run.method)
    for ax, part in zip(axes, ("old classes (tasks before)", "new classes (this task)")):
        ax.set_title(f"{metric.upper()} accuracy on {part}")
        ax.set_xlabel("number of classes seen")
        ax.set_ylim(-2, 102)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("top-1 accuracy (%)")
    axes[1].legend(fontsize="small")
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Save `fig` to `path` (tight bounding box, 120 dpi), creating the folder; close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
