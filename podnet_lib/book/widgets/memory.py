"""Chapter 03 views: herding vs random exemplars, NME vs CNN predictions, memory budgets.

The selections, class means and predictions always come from `podnet_lib.engine.memory` and
`podnet_lib.engine.inference`; these functions only measure and draw. Figures are returned, never
shown, so the tests call them directly.

The "gap" of a subset S of a class is || (1/|S|) sum_{i in S} f_i/||f_i|| - mu ||_2, with mu the
mean of the class's normalised features: how far the subset's mean (what NME will use as the
class representative) is from the mean of the full class.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from podnet_lib.engine.memory import exemplars_per_class, herding_selection, random_selection


# --- herding vs random -------------------------------------------------------------------------
def prefix_gaps(features: Tensor, ranking: Tensor) -> np.ndarray:
    """Gap of every prefix of a ranking: features (N, D), ranking (m,) -> (m,), entry k for the first k+1."""
    normed = F.normalize(features.detach().float().cpu(), dim=1)
    mu = normed.mean(0)
    picked = normed[ranking.long().cpu()]                                   # (m, D)
    running = picked.cumsum(0) / torch.arange(1, len(picked) + 1).unsqueeze(1)
    return (running - mu).norm(dim=1).numpy()


def selection_gaps(features: Tensor, m_max: int, n_draws: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Gap of herding's and of random subsets for m = 1..m_max (capped at N).

    Returns "m" (M,), "herding" (M,), "random_mean" (M,) and "random_std" (M,) over `n_draws`
    random draws (each draw is one random order, its prefixes are the subsets).
    """
    m_max = min(m_max, features.shape[0])
    herd = prefix_gaps(features, herding_selection(features, m_max))
    g = torch.Generator().manual_seed(seed)
    rand = np.stack([prefix_gaps(features, random_selection(features.shape[0], m_max, g))
                     for _ in range(n_draws)])
    return {"m": np.arange(1, m_max + 1), "herding": herd,
            "random_mean": rand.mean(0), "random_std": rand.std(0)}


def plot_selection_gaps(gaps: dict[str, np.ndarray], m_mark: int | None = None, title: str | None = None,
                        ax=None) -> Figure:
    """The two gap curves of `selection_gaps` (random: mean +- one std), a dotted line at m_mark."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    m = gaps["m"]
    ax.plot(m, gaps["herding"], color="tab:green", linewidth=2, label="herding")
    ax.plot(m, gaps["random_mean"], color="tab:orange", linewidth=2, label="random (mean of draws)")
    ax.fill_between(m, gaps["random_mean"] - gaps["random_std"], gaps["random_mean"] + gaps["random_std"],
                    color="tab:orange", alpha=0.2, label="random, +- 1 std")
    if m_mark is not None:
        ax.axvline(m_mark, color="black", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("exemplars kept, m")
    ax.set_ylabel("distance of subset mean to class mean (log)")
    ax.set_title(title or "How well m exemplars represent their class")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure


def _show_row(axes, images: Tensor, idx: Tensor, name: str) -> None:
    for k, ax in enumerate(axes):
        ax.axis("off")
        if k < len(idx):
            ax.imshow(images[int(idx[k])].squeeze(0).cpu().numpy(), cmap="gray_r", vmin=0, vmax=255)
    axes[0].set_title(name, loc="left", fontsize="small")


def plot_exemplars(images: Tensor, rows: dict[str, Tensor], m: int, max_cols: int = 12) -> Figure:
    """The first min(m, max_cols) images of each named ranking, one row per ranking.

    images: (N, 1, H, W) uint8 of one class; rows: name -> (>= m,) indices into `images`.
    """
    cols = max(1, min(m, max_cols))
    fig, axes = plt.subplots(len(rows), cols, figsize=(0.75 * cols + 0.5, 1.0 * len(rows) + 0.4),
                             squeeze=False, layout="constrained")
    for r, (name, idx) in enumerate(rows.items()):
        _show_row(axes[r], images, idx[:cols], f"{name}: first {cols} of m={m}")
    return fig


def herding_view(features: Tensor, images: Tensor, m: int, m_max: int = 60, n_draws: int = 20,
                 seed: int = 0) -> Figure:
    """Widget view for one class: the gap curves with a line at m, and the m first exemplars.

    features: (N, D) embeddings of the class, images: (N, 1, H, W) uint8 of the same samples.
    """
    gaps = selection_gaps(features, m_max, n_draws, seed)
    herd = herding_selection(features, m)
    rand = random_selection(features.shape[0], m, torch.Generator().manual_seed(seed))
    cols = min(max(m, 1), 10)
    fig = plt.figure(figsize=(12, 4.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1])
    plot_selection_gaps(gaps, m, ax=left.subplots())
    axes = right.subplots(2, cols, squeeze=False)
    _show_row(axes[0], images, herd[:cols], f"herding, first {cols} picks")
    _show_row(axes[1], images, rand[:cols], f"random, first {cols} picks")
    i = min(m, len(gaps["m"])) - 1
    right.suptitle(f"m = {m}: gap herding {gaps['herding'][i]:.3f}, random {gaps['random_mean'][i]:.3f}",
                   fontsize="medium")
    return fig


# --- NME vs CNN --------------------------------------------------------------------------------
def agreement_counts(nme_pred: Tensor, cnn_pred: Tensor, labels: Tensor) -> dict[str, int]:
    """How many test samples each inference gets right: both, only NME, only CNN, neither. (N,) each."""
    a, b = (nme_pred.cpu() == labels.cpu()), (cnn_pred.cpu() == labels.cpu())
    return {"both right": int((a & b).sum()), "only NME right": int((a & ~b).sum()),
            "only CNN right": int((~a & b).sum()), "both wrong": int((~a & ~b).sum())}


def plot_prediction_histogram(predictions: dict[str, Tensor], labels: Tensor, n_classes: int,
                              title: str = "Which class do the predictions go to?") -> Figure:
    """Bars: how many test images are predicted as each class, per inference, beside the truth."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0), layout="constrained")
    series = {"true labels": labels, **predictions}
    width = 0.8 / len(series)
    for i, (name, pred) in enumerate(series.items()):
        counts = torch.bincount(pred.cpu().long(), minlength=n_classes)[:n_classes].numpy()
        x = np.arange(n_classes) + (i - (len(series) - 1) / 2) * width
        ax.bar(x, counts, width=width, label=name, color="lightgray" if i == 0 else None,
               edgecolor="gray" if i == 0 else None)
    ax.set_xticks(np.arange(n_classes))
    ax.set_xlabel("class (label in arrival order; the last ones arrived last)")
    ax.set_ylabel("test images predicted as this class")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_disagreements(images: Tensor, labels: Tensor, nme_pred: Tensor, cnn_pred: Tensor,
                       max_images: int = 12) -> Figure:
    """Test images on which NME and CNN disagree, titled with the truth and both predictions.

    images: (N, 1, H, W) uint8; labels, nme_pred, cnn_pred: (N,).
    """
    where = (nme_pred.cpu() != cnn_pred.cpu()).nonzero().flatten()[:max_images]
    cols = max(1, min(len(where), 6))
    rows = max(1, int(np.ceil(len(where) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    if len(where) == 0:
        axes[0, 0].text(0.5, 0.5, "NME and CNN agree on every image", ha="center", va="center")
    for ax, i in zip(axes.flat, where.tolist()):
        ax.imshow(images[i].squeeze(0).cpu().numpy(), cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"true {int(labels[i])}\nNME {int(nme_pred[i])} | CNN {int(cnn_pred[i])}", fontsize="small")
    fig.suptitle(f"{int((nme_pred.cpu() != cnn_pred.cpu()).sum())} test images where NME and CNN disagree "
                 f"(first {len(where)} shown)", fontsize="medium")
    return fig


# --- memory budgets ----------------------------------------------------------------------------
def memory_schedule(base: int, increment: int, n_classes: int, memory_per_class: int | None,
                    memory_total: int | None) -> dict[str, np.ndarray]:
    """After each task: classes seen, images kept per class, images in memory (per class x classes).

    Exactly one of the budgets is set (see `podnet_lib.engine.memory.exemplars_per_class`).
    """
    seen = np.arange(base, n_classes + 1, increment)
    per_class = np.array([exemplars_per_class(int(n), memory_per_class, memory_total) for n in seen])
    return {"n_seen": seen, "per_class": per_class, "total": per_class * seen}


def plot_memory_budgets(base: int = 50, increment: int = 1, n_classes: int = 100,
                        memory_per_class: int = 20, memory_total: int = 2000) -> Figure:
    """Images per class (left) and in all (right) after each task, M_per against M_total."""
    fixed = memory_schedule(base, increment, n_classes, memory_per_class, None)
    shared = memory_schedule(base, increment, n_classes, None, memory_total)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    for sched, name, colour in ((fixed, f"M_per = {memory_per_class}", "tab:blue"),
                                (shared, f"M_total = {memory_total}", "tab:red")):
        a.step(sched["n_seen"], sched["per_class"], where="post", color=colour, linewidth=2, label=name)
        b.step(sched["n_seen"], sched["total"], where="post", color=colour, linewidth=2, label=name)
    a.set_ylabel("images kept per class")
    b.set_ylabel("images in memory (all classes)")
    for ax in (a, b):
        ax.set_xlabel("classes seen")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    a.set_title("Per class")
    b.set_title("In all")
    fig.suptitle(f"Memory after each task: {base} base classes + steps of {increment} up to {n_classes}")
    return fig


__all__ = ["prefix_gaps", "selection_gaps", "plot_selection_gaps", "plot_exemplars", "herding_view",
           "agreement_counts", "plot_prediction_histogram", "plot_disagreements", "memory_schedule",
           "plot_memory_budgets"]
