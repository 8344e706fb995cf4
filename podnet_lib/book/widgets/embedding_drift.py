"""Embedding drift over a whole run (chapter 05): how the base classes' embeddings h move.

POD (Sec. 3.1, eq. 7) keeps the new model's representations close to the old one's. Seen on a
`Recording` (the embeddings of the base classes' test images after every task):
- `feature_drift`: how far they moved, the mean cosine distance 1 - cos(h_t(x), h_0(x));
- `drift_view`: their 2-D coordinates on the PCA plane of the task-0 embeddings;
- `plot_drift`: that plane for several methods side by side after one task, with every
  method's drift against the task beside it.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from podnet_lib.book.widgets.proxies import fit_pca, project
from podnet_lib.book.widgets.recording import Recording

COLOURS = plt.get_cmap("tab10").colors


def feature_drift(recording: Recording) -> Tensor:
    """(T,) mean over the base classes' test images x of 1 - cos(h_t(x), h_0(x)), for each task t.

    0 at task 0, and at every task for a model whose embeddings keep their direction; up to 2.
    """
    first = F.normalize(recording.features[0], dim=1)                   # (N, D)
    now = F.normalize(recording.features, dim=2)                        # (T, N, D)
    return 1.0 - (now * first).sum(dim=2).mean(dim=1)


def drift_view(recording: Recording) -> tuple[Tensor, Tensor]:
    """The base classes' test images on the PCA plane of their task-0 embeddings.

    -> points (T, N, 2), after each task; class means (T, C, 2): the mean of each class's points
    (the projection of the mean of its L2-normalised embeddings), in `recording.classes` order.
    """
    mean, components = fit_pca(recording.features[0])
    points = torch.stack([project(h, mean, components) for h in recording.features])
    means = torch.stack([points[:, recording.labels == c].mean(dim=1) for c in recording.classes], dim=1)
    return points, means


def _limits(points: Tensor) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits that hold every task's points, so the slider moves the points, not the axes."""
    flat = points.reshape(-1, 2)
    low, high = flat.min(dim=0).values, flat.max(dim=0).values
    pad = 0.06 * (high - low)
    return ((float(low[0] - pad[0]), float(high[0] + pad[0])), (float(low[1] - pad[1]), float(high[1] + pad[1])))


def _draw_plane(ax: Axes, recording: Recording, task: int, drift: float) -> None:
    points, means = drift_view(recording)
    xy, start, now = points[task].numpy(), means[0].numpy(), means[task].numpy()
    labels = recording.labels.numpy()
    for i, c in enumerate(recording.classes):
        colour = COLOURS[i % len(COLOURS)]
        ax.scatter(*xy[labels == c].T, s=9, alpha=0.35, color=colour)
        ax.scatter(*start[i], s=110, facecolors="none", edgecolors=colour, linewidths=2.0)
        ax.annotate("", xy=now[i], xytext=start[i], arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.4})
        ax.scatter(*now[i], s=150, color=colour, edgecolors="black", linewidths=1.0, label=f"class {c}")
    (x0, x1), (y0, y1) = _limits(points)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("PC 1 of the task-0 embeddings")
    ax.set_ylabel("PC 2")
    accuracy = recording.result.tasks[task].task_acc_nme
    known = f", NME on them {accuracy[0]:.0f} %" if accuracy is not None else ""
    ax.set_title(f"{recording.method}, after task {task}\ndrift {drift:.3f}{known}", fontsize="medium")
    ax.grid(True, alpha=0.3)


def plot_drift(recordings: Sequence[Recording], task: int) -> Figure:
    """One panel per method: the base classes' test images (dots) after `task`, on the PCA plane
    of that method's own task-0 embeddings; hollow circles: class means after task 0, filled:
    after `task`, an arrow between them. Last panel: `feature_drift` of every method, `task` marked.
    Two columns from three methods on (a 2 x 2 grid for three), else one row."""
    recordings = list(recordings)
    columns = 2 if len(recordings) >= 3 else len(recordings) + 1       # two columns read well in a notebook
    rows = -(-(len(recordings) + 1) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(5.4 * columns, 4.6 * rows), layout="constrained", squeeze=False)
    axes = list(grid.flat)
    for spare in axes[len(recordings) + 1:]:
        spare.remove()
    axes = axes[: len(recordings) + 1]
    drifts = {r.method: feature_drift(r).numpy() for r in recordings}
    for ax, recording in zip(axes, recordings):
        t = min(task, recording.n_tasks - 1)
        _draw_plane(ax, recording, t, float(drifts[recording.method][t]))
    axes[0].legend(fontsize="x-small", loc="best", title="filled: class mean now", title_fontsize="x-small")
    curve = axes[-1]
    for i, (method, values) in enumerate(drifts.items()):
        curve.plot(np.arange(values.size), values, marker="o", markersize=4, color=COLOURS[i], label=method)
    curve.axvline(task, color="black", linestyle="--", linewidth=1)
    curve.set_xlabel("after task t")
    curve.set_ylabel("drift: mean of 1 - cos(h_t, h_0)")
    curve.set_title("How far the base classes' embeddings moved", fontsize="medium")
    curve.set_xticks(range(max(v.size for v in drifts.values())))
    curve.set_ylim(bottom=0)
    curve.legend(fontsize="small")
    curve.grid(True, alpha=0.3)
    return fig
