"""The old/new trade-off of PODNet's distillation weights (chapter 05): λc and λf of eq. (7).

Stronger distillation keeps the old classes (stability) at the cost of learning the new ones
(plasticity), Sec. 4.2. `tradeoff_runs` trains PODNet once per point of a (λc, λf) grid, each run
cached by `podnet_lib.engine.cache.cached_run`; `tradeoff_table` reads the old-class and new-class
accuracies (TaskResult old_acc_* / new_acc_*) of every point; `plot_tradeoff` draws them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from podnet_lib.config import Config
from podnet_lib.engine.cache import cached_run, run_dir_of
from podnet_lib.engine.results import RunResult, check_metric

MARKERS = ("o", "s", "^", "D", "v", "P")
Grid = dict[tuple[float, float], RunResult]     # (λc, λf) -> PODNet's run with these weights


def tradeoff_runs(cfg: Config, root: Path, lambda_c: Sequence[float], lambda_f: Sequence[float],
                  bars: bool = False) -> Grid:
    """PODNet trained with every pair (λc, λf) of the grid, otherwise as `cfg`; each run is
    loaded from root/run-<config hash> when it already finished there."""
    runs: Grid = {}
    for c in lambda_c:
        for f in lambda_f:
            point = cfg.replace(methods=("podnet",), lambda_c=float(c), lambda_f=float(f))
            runs[(float(c), float(f))] = cached_run(point, run_dir_of(root, point), bars=bars)["podnet"]
    return runs


def tradeoff_table(runs: Grid, metric: str = "nme", task: int | None = None) -> list[dict[str, float]]:
    """One row per grid point: lambda_c, lambda_f, and the top-1 accuracy (%) on the old classes
    (`old`), on the task's new classes (`new`) and on all seen classes (`all`) after `task`
    (1..T-1), or their means over the tasks 1..T-1 when `task` is None."""
    check_metric(metric)
    rows = []
    for (c, f), run in runs.items():
        if task is not None and not 1 <= task < len(run.tasks):
            raise ValueError(f"task must be in 1..{len(run.tasks) - 1} (task 0 has no old classes), got {task}")
        tasks = run.tasks[1:] if task is None else [run.tasks[task]]
        values = {part: float(np.mean([getattr(t, f"{part}_acc_{metric}") for t in tasks]))
                  for part in ("old", "new")}
        rows.append({"lambda_c": c, "lambda_f": f, **values,
                     "all": float(np.mean([getattr(t, f"acc_{metric}") for t in tasks]))})
    return rows


def _heat_map(ax: Axes, table: list[dict[str, float]], part: str, title: str) -> None:
    cs = sorted({r["lambda_c"] for r in table})
    fs = sorted({r["lambda_f"] for r in table})
    grid = np.full((len(cs), len(fs)), np.nan)
    for r in table:
        grid[cs.index(r["lambda_c"]), fs.index(r["lambda_f"])] = r[part]
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, origin="lower")
    for i in range(len(cs)):
        for j in range(len(fs)):
            ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center",
                    color="black" if grid[i, j] > 60 else "white")
    ax.set_xticks(range(len(fs)), [f"{f:g}" for f in fs])
    ax.set_yticks(range(len(cs)), [f"{c:g}" for c in cs])
    ax.set_xlabel("$\\lambda_f$ (POD-flat weight)")
    ax.set_ylabel("$\\lambda_c$ (POD-spatial weight)")
    ax.set_title(title, fontsize="medium")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="accuracy (%)")


def plot_tradeoff(table: list[dict[str, float]], metric: str = "nme", when: str = "mean over tasks 1..T-1") -> Figure:
    """Heat maps of the old-class and new-class accuracy over the (λc, λf) grid, and every grid
    point as old (x) against new (y) accuracy, coloured by λc, marked by λf: up and right is better
    on both."""
    fig, axes = plt.subplots(1, 3, figsize=(14.0, 4.3), layout="constrained")
    _heat_map(axes[0], table, "old", f"Old classes, {metric.upper()} ({when})")
    _heat_map(axes[1], table, "new", f"New classes, {metric.upper()} ({when})")
    ax = axes[2]
    olds, news = [r["old"] for r in table], [r["new"] for r in table]
    pad = 4.0
    ax.set_xlim(max(0.0, min(olds) - pad), min(101.0, max(olds) + pad))
    ax.set_ylim(max(0.0, min(news) - pad), min(102.0, max(news) + pad))
    cs = sorted({r["lambda_c"] for r in table})
    fs = sorted({r["lambda_f"] for r in table})
    colours = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, len(cs)))      # colour: λc; marker: λf
    for r in table:
        ax.scatter(r["old"], r["new"], s=80, color=colours[cs.index(r["lambda_c"])], edgecolors="black",
                   marker=MARKERS[fs.index(r["lambda_f"]) % len(MARKERS)], zorder=3,
                   label=f"λc={r['lambda_c']:g}, λf={r['lambda_f']:g}")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), title="(colour) λc, (marker) λf",
              title_fontsize="x-small")
    ax.set_xlabel(f"old-class accuracy, {metric.upper()} (%)")
    ax.set_ylabel(f"new-class accuracy, {metric.upper()} (%)")
    ax.set_title("Stability (x) against plasticity (y)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    return fig
