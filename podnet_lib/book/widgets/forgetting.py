"""Forgetting as it happens (chapter 05): the accuracy matrix built up one task at a time.

`truncate` keeps a run's first tasks, as if it had stopped there; `plot_forgetting_upto` draws
the accuracy matrix A (rows 0..t, from `podnet_lib.report.plots.plot_accuracy_matrix`) in the
frame of the whole run, beside the last row A[t, j] against the diagonal A[j, j]: the gap
between the two is what each task has lost since it was learned.
"""
from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from podnet_lib.engine.metrics import accuracy_matrix, average_forgetting
from podnet_lib.engine.results import RunResult, check_metric
from podnet_lib.report.plots import plot_accuracy_matrix


def truncate(run: RunResult, task: int) -> RunResult:
    """The run as it stood after `task`: its tasks 0..task (a ValueError outside the run)."""
    if not 0 <= task < len(run.tasks):
        raise ValueError(f"task must be in 0..{len(run.tasks) - 1}, got {task}")
    return RunResult(method=run.method, config=run.config, tasks=run.tasks[: task + 1])


def plot_forgetting_upto(run: RunResult, metric: str, task: int) -> Figure:
    """Left: the accuracy matrix of `truncate(run, task)`, rows 0..task, in the (T, T) frame of the
    whole run. Right: after `task`, the accuracy on each task j's classes (bars, A[task, j]) and
    just after j was learned (diamonds, A[j, j]); the title gives the average forgetting so far."""
    check_metric(metric)
    n = len(run.tasks)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 5.0), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.15, 1.0]})
    plot_accuracy_matrix(truncate(run, task), metric, ax=left)
    ticks = range(0, n, max(1, -(-n // 20)))           # at most ~20 tick labels per axis
    left.set_xlim(-0.5, n - 0.5)
    left.set_ylim(n - 0.5, -0.5)
    left.set_xticks(ticks)
    left.set_yticks(ticks)
    left.set_title(f"{run.method}: accuracy per task ({metric.upper()}), rows 0..{task}", fontsize="medium")
    matrix = accuracy_matrix(run, metric)
    x = np.arange(task + 1)
    right.bar(x, matrix[task, : task + 1], color="tab:blue", alpha=0.8, label=f"now, after task {task}")
    right.scatter(x, np.diag(matrix)[: task + 1], marker="D", s=60, color="tab:orange", edgecolors="black",
                  zorder=3, label="just after it was learned")
    right.set_xlim(-0.6, n - 0.4)
    right.set_xticks(ticks)
    right.set_ylim(0, 122)                            # room above 100 % for the legend
    right.set_yticks(range(0, 101, 20))
    right.set_xlabel("classes of task j")
    right.set_ylabel(f"top-1 accuracy, {metric.upper()} (%)")
    so_far = average_forgetting(accuracy_matrix(truncate(run, task), metric))
    text = f"average forgetting so far {so_far:.1f} points" if task > 0 else "nothing to forget yet"
    right.set_title(f"After task {task}: {text}", fontsize="medium")
    right.legend(fontsize="small", loc="upper center", ncol=2)
    right.grid(True, axis="y", alpha=0.3)
    return fig
