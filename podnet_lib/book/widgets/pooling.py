"""Chapter 01 figures: what each pooling of POD (Sec. 3.1, eqs. (1)-(7)) keeps of a real stage output,
and how each POD loss reacts when the student's maps drift from the teacher's (the simulated
students live in `podnet_lib.book.widgets.student`, whose names are importable from here as well;
the trained ones in `podnet_lib.book.widgets.drift`).

Every function takes stage outputs h_l of shape (B, C, H, W) (or one sample (C, H, W)), with
`width` the last axis, as `podnet_lib.model.pod` does; the losses themselves always come from
`podnet_lib.model.pod`. Figures are returned, never shown, so the tests call them directly.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from podnet_lib.paper import TABLE3B
from podnet_lib.model.pod import POOLINGS, adaptive_factor, pod_distance, pooled_statistics
from podnet_lib.book.widgets.student import (  # noqa: F401  (the chapter imports them from here too)
    NORMALISATIONS, PERTURBATIONS, describe, drifted_copy, kept_values, one_image_per_class, perturb,
    permissiveness, pod_losses, stage_outputs, strength_from_level, trained_backbone,
)

LABELS = {a: f"POD-{a}" for a in POOLINGS}
COLOURS = {"pixel": "tab:red", "channel": "tab:purple", "gap": "tab:brown",
           "width": "tab:blue", "height": "tab:cyan", "spatial": "tab:green"}


# --- figures ------------------------------------------------------------------------------------
# Each figure function draws on `fig` when given (a Figure or SubFigure), else on a new figure.

def _figure(fig, size: tuple[float, float]):
    return fig if fig is not None else plt.figure(figsize=size, layout="constrained")


def draw_statistic(ax, stat: Tensor, pooling: str, title: str, vmax: float | None = None):
    """Draw one sample's pooled statistic: (C,) as bars; (H, W), (C, H), (C, W) as heat maps."""
    data = stat.detach().cpu().numpy()
    ax.set_title(title, fontsize="medium")
    if pooling == "gap":
        ax.bar(np.arange(data.size), data, color=COLOURS["gap"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("channel c")
        ax.set_ylabel("sum over H x W")
        return None
    if pooling == "width":
        data = data.T                                   # (H, C): rows stay vertical, as in the image
        xlabel, ylabel = "channel c", "row h (height)"
    elif pooling == "height":
        xlabel, ylabel = "column w (width)", "channel c"
    else:                                               # channel (or one channel of pixel): (H, W)
        xlabel, ylabel = "column w (width)", "row h (height)"
    vmax = vmax if vmax is not None else (float(np.abs(data).max()) or 1.0)
    image = ax.imshow(data, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))     # indices, not coordinates
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return image


def show_pooling(stage_map: Tensor, pooling: str, image: Tensor | None = None, n_channels: int = 3,
                 fig=None) -> Figure:
    """What one POD variant keeps of one sample's stage output (C, H, W).

    Left: the input image (when given) and the first `n_channels` channels of the map (red > 0,
    blue < 0); right: the pooled statistic(s) of `pooling`. POD-pixel keeps everything, so the
    channels shown are its statistic.
    """
    if stage_map.dim() != 3:
        raise ValueError(f"show_pooling expects one sample's map (C, H, W), got {tuple(stage_map.shape)}")
    c, h, w = stage_map.shape
    stats = [s[0] for s in pooled_statistics(stage_map[None], pooling)]
    n_channels = min(n_channels, c)
    n_stat = 0 if pooling == "pixel" else len(stats)
    cols = int(image is not None) + n_channels + n_stat
    fig = _figure(fig, (2.6 * cols + 1.2, 3.3))
    axes = np.atleast_1d(fig.subplots(1, cols, width_ratios=[1.0] * (cols - n_stat) + [1.5] * n_stat))
    k = 0
    if image is not None:
        axes[0].imshow(image.squeeze().cpu().numpy(), cmap="gray")
        axes[0].set_title("input image", fontsize="medium")
        axes[0].axis("off")
        k = 1
    vmax = float(stage_map[:n_channels].abs().max()) or 1.0
    for i in range(n_channels):
        axes[k + i].imshow(stage_map[i].cpu().numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                           interpolation="nearest")
        axes[k + i].set_title(f"channel {i} ({h}x{w})", fontsize="medium")
        axes[k + i].set_xticks([])
        axes[k + i].set_yticks([])
    k += n_channels
    for j, stat in enumerate(stats[:n_stat]):
        part = ("width", "height")[j] if pooling == "spatial" else pooling
        im = draw_statistic(axes[k + j], stat, part, f"{LABELS[part]} keeps {tuple(stat.shape)}")
        if im is not None:
            fig.colorbar(im, ax=axes[k + j], shrink=0.8)
    kept = sum(math.prod(s.shape) for s in stats)
    fig.suptitle(f"{LABELS[pooling]} keeps {kept} of the {c * h * w} values of this (C={c}, H={h}, W={w}) "
                 "stage output", fontsize="large")
    return fig


def tile_channels(stage_map: Tensor) -> np.ndarray:
    """One image's map (C, H, W) as a grid of its C channels, NaN between tiles: (rows*(H+1)-1, cols*(W+1)-1)."""
    c, h, w = stage_map.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    data = stage_map.detach().cpu().numpy()
    for i in range(c):
        r, k = divmod(i, cols)
        grid[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = data[i]
    return grid


def all_poolings(stage_map: Tensor, image: Tensor | None = None, fig=None) -> Figure:
    """The six poolings of eqs. (1)-(5) of one image's stage output (C, H, W), side by side.

    POD-pixel: the map itself, its C channels tiled; POD-channel: (H, W); POD-gap: (C,) as bars;
    POD-width: (C, H) drawn as H rows x C columns, so rows stay rows of the image; POD-height:
    (C, W); POD-spatial: each channel's width profile and height profile side by side, (C, H + W).
    Every panel has its own colour scale (red > 0, blue < 0): the sums run over different counts.
    """
    if stage_map.dim() != 3:
        raise ValueError(f"all_poolings expects one sample's map (C, H, W), got {tuple(stage_map.shape)}")
    c, h, w = stage_map.shape
    fig = _figure(fig, (15.0, 7.0))
    layout = [["image", "pixel", "channel", "gap"], ["image", "width", "height", "spatial"]]
    if image is None:
        layout = [row[1:] for row in layout]
    panels = fig.subplot_mosaic(layout, width_ratios=([0.8] if image is not None else []) + [1.0, 1.0, 1.0])
    if image is not None:
        panels["image"].imshow(image.squeeze().cpu().numpy(), cmap="gray")
        panels["image"].set_title("input image", fontsize="medium")
        panels["image"].axis("off")
    stats = {p: [s[0] for s in pooled_statistics(stage_map[None], p)] for p in POOLINGS}
    for name in POOLINGS:
        ax, kept = panels[name], sum(math.prod(s.shape) for s in stats[name])
        title = f"{LABELS[name]}: {kept} values"
        if name == "pixel":
            vmax = float(stage_map.abs().max()) or 1.0
            cmap = plt.get_cmap("RdBu_r").copy()
            cmap.set_bad("white")
            im = ax.imshow(tile_channels(stage_map), cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{title}\n(all {c} channels, each {h}x{w})", fontsize="medium")
            ax.set_xticks([])
            ax.set_yticks([])
        elif name == "spatial":
            data = torch.cat(stats[name], dim=1)                     # (C, H + W): width then height profile
            vmax = float(data.abs().max()) or 1.0
            im = ax.imshow(data.cpu().numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto",
                           interpolation="nearest")
            ax.axvline(h - 0.5, color="black", linewidth=1.5)
            ax.set_title(f"{title}\nwidth profile | height profile", fontsize="medium")
            ax.set_xticks([0, h // 2, h, h + w // 2], ["0", str(h // 2), "0", str(w // 2)])
            ax.set_xlabel("row h   |   column w")
            ax.set_ylabel("channel c")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            im = draw_statistic(ax, stats[name][0], name, f"{title}\nshape {tuple(stats[name][0].shape)}")
        if im is not None:
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"One stage output (C={c}, H={h}, W={w}: {c * h * w} values) and what each pooling keeps of it",
                 fontsize="large")
    return fig


def compare_pooled(old: Tensor, new: Tensor, pooling: str, channel: int = 0, fig=None) -> Figure:
    """Teacher vs student pooled statistic of one sample, and their difference, on one colour scale.

    old, new: (C, H, W) of one sample. For POD-pixel the statistic is the map itself: channel
    `channel` is shown. The title gives that sample's loss (paper form).
    """
    if old.shape != new.shape or old.dim() != 3:
        raise ValueError(f"compare_pooled expects two (C, H, W) maps, got {tuple(old.shape)} and {tuple(new.shape)}")
    parts = ("width", "height") if pooling == "spatial" else (pooling,)
    fig = _figure(fig, (11.0, 3.2 * len(parts) + 0.5))
    axes = fig.subplots(len(parts), 3, squeeze=False)
    for row, part in enumerate(parts):
        a = pooled_statistics(old[None], part)[0][0]
        b = pooled_statistics(new[None], part)[0][0]
        if part == "pixel":
            a, b = a[channel], b[channel]
        what = f"channel {channel}" if part == "pixel" else LABELS[part]
        panels = ((a, "teacher"), (b, "student"), (b - a, "student - teacher"))
        if part == "gap":
            for col, (data, name) in enumerate(panels):
                draw_statistic(axes[row, col], data, "gap", f"{name}: {what}")
            low = min(float(d.min()) for d, _ in panels)
            high = max(float(d.max()) for d, _ in panels)
            pad = 0.05 * (high - low or 1.0)
            for col in range(3):
                axes[row, col].set_ylim(low - pad, high + pad)
            continue
        vmax = max(float(a.abs().max()), float(b.abs().max())) or 1.0
        for col, (data, name) in enumerate(panels):
            im = draw_statistic(axes[row, col], data, "channel" if part == "pixel" else part,
                                 f"{name}: {what}", vmax=vmax)
        fig.colorbar(im, ax=axes[row, :].tolist(), shrink=0.85, label="pooled sum")
    loss = float(pod_distance(old[None], new[None], pooling, "paper"))
    fig.suptitle(f"{LABELS[pooling]} of this sample, teacher vs student: loss {loss:.4g} (paper form)",
                 fontsize="large")
    return fig


def losses_bar(losses: dict[str, float], title: str = "", highlight: str | None = None,
               ylabel: str = "loss / teacher's energy", fig=None) -> Figure:
    """One bar per POD variant, e.g. the output of `pod_losses`; `highlight` gets a black edge."""
    fig = _figure(fig, (7.5, 3.6))
    ax = fig.subplots()
    names = list(losses)
    values = [losses[n] for n in names]
    bars = ax.bar([LABELS.get(n, n) for n in names], values, color=[COLOURS.get(n, "grey") for n in names],
                  edgecolor=["black" if n == highlight else "none" for n in names], linewidth=2.5)
    ax.bar_label(bars, labels=["0 (blind)" if abs(v) < 1e-9 else f"{v:.3g}" for v in values], fontsize="small",
                 padding=2)                                   # below 1e-9: float round-off of an exact 0
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(max(values) * 1.2, 1e-6))
    ax.set_title(title or "POD losses between teacher and student")
    ax.grid(True, axis="y", alpha=0.3)
    return fig


YLABELS = {"teacher": "loss / teacher's energy", "values": "loss / number of pooled values",
           "none": "loss (paper form)"}


def student_view(old: Tensor, kind: str, level: float, pooling: str, sample: int = 0,
                 normalise: str = "teacher", seed: int = 0) -> Figure:
    """The widget of the chapter: perturb the teacher's maps old (B, C, H, W) into a student;
    top, the six POD losses on the batch; bottom, teacher vs student statistic of `pooling` for
    one sample. `level` in [0, 1] is mapped to a strength by `strength_from_level`."""
    strength = strength_from_level(kind, level, old.shape[-1])
    new = perturb(old, kind, strength, torch.Generator().manual_seed(seed))
    rows = 2 if pooling == "spatial" else 1
    fig = plt.figure(figsize=(11.0, 3.8 + 3.2 * rows), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.8, 3.2 * rows])
    losses_bar(pod_losses(old, new, normalise), highlight=pooling, ylabel=YLABELS[normalise], fig=top,
               title=f"Student: the teacher with {describe(kind, strength)}; POD losses over {old.shape[0]} images")
    compare_pooled(old[sample], new[sample], pooling, fig=bottom)
    return fig


def permissiveness_curve(curves: dict[str, list[float]], strengths: Sequence[float], kind: str,
                         normalise: str = "teacher", ax=None) -> Figure:
    """Each POD variant's loss against the perturbation strength (the output of `permissiveness`)."""
    alone = ax is None
    if alone:
        _, ax = plt.subplots(figsize=(7.0, 4.2), layout="constrained")
    for pooling, values in curves.items():
        ax.plot(strengths, values, "--" if pooling == "height" else "-", marker="o", markersize=4,
                color=COLOURS[pooling], label=LABELS[pooling])
    units = {"noise": "noise std / map std", "shift_width": "shift along the width (pixels)",
             "shift_height": "shift along the height (pixels)", "permute_channels": "fraction of channels permuted"}
    ax.set_xlabel(units[kind])
    ax.set_ylabel(YLABELS[normalise])
    ax.set_title(f"student: {kind}", fontsize="medium")
    ax.grid(True, alpha=0.3)
    if alone:
        ax.legend(loc="best", fontsize="small")
    return ax.figure


DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "noise": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
    "shift_width": (0, 1, 2, 3, 4),
    "shift_height": (0, 1, 2, 3, 4),
    "permute_channels": (0.0, 0.125, 0.25, 0.5, 0.75, 1.0),
}


def permissiveness_panels(old: Tensor, title: str, normalise: str = "teacher", seed: int = 0,
                          strengths: dict[str, Sequence[float]] | None = None) -> Figure:
    """One `permissiveness_curve` panel per perturbation of PERTURBATIONS, same teacher maps old (B, C, H, W)."""
    strengths = dict(DEFAULT_STRENGTHS, **(strengths or {}))
    fig, axes = plt.subplots(1, len(PERTURBATIONS), figsize=(4.2 * len(PERTURBATIONS), 4.0), layout="constrained")
    for ax, kind in zip(axes, PERTURBATIONS):
        permissiveness_curve(permissiveness(old, kind, strengths[kind], seed, normalise), strengths[kind],
                             kind, normalise, ax=ax)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(POOLINGS))
    fig.suptitle(title, fontsize="large")
    return fig


def invariance_matrix(old: Tensor, strengths: dict[str, float] | None = None, seed: int = 0) -> Figure:
    """Heat map: rows = perturbations at one strength each, columns = POD variants, cells = the
    loss normalised by the teacher's energy. A 0 is an invariance: that change is invisible."""
    strengths = strengths or {"noise": 0.5, "shift_width": 2, "shift_height": 2, "permute_channels": 0.5}
    values = np.array([[pod_losses(old, perturb(old, k, s, torch.Generator().manual_seed(seed)))[a] for a in POOLINGS]
                       for k, s in strengths.items()])
    fig, ax = plt.subplots(figsize=(8.5, 3.6), layout="constrained")
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            ax.text(j, i, "0 (blind)" if v < 1e-9 else f"{v:.3f}", ha="center", va="center", fontsize="small",
                    color="white" if v < 0.6 * values.max() else "black")
    ax.set_xticks(range(len(POOLINGS)), [LABELS[a].replace("-", "-\n") for a in POOLINGS])
    ax.set_yticks(range(len(strengths)), [describe(k, s) for k, s in strengths.items()])
    fig.colorbar(image, ax=ax, label="loss / teacher's energy")
    ax.set_title("What each POD variant sees (0 = the change is invisible to it)")
    return fig


def most_reactive(old: Tensor, normalise: str = "teacher", seed: int = 0) -> dict[str, str]:
    """{perturbation: the pooling whose loss is largest} at the strongest of DEFAULT_STRENGTHS,
    for teacher maps old (B, C, H, W) and one normalisation of `pod_losses`."""
    out = {}
    for kind, strengths in DEFAULT_STRENGTHS.items():
        losses = pod_losses(old, perturb(old, kind, strengths[-1], torch.Generator().manual_seed(seed)), normalise)
        out[kind] = max(losses, key=losses.get)
    return out


def forms_figure(old: Tensor, noise: float = 0.5, seed: int = 0) -> Figure:
    """POD-spatial, paper form vs authors' form, on the teacher's maps old (B, C, H, W).

    Left: teacher and noisy student both multiplied by s (bigger activations, same relative
    change): the paper form grows as s^2, the authors' form does not move. Right: student =
    a * teacher: the paper form is (a - 1)^2 x energy, the authors' form is blind to a (a != 0).
    """
    noisy = perturb(old, "noise", noise, torch.Generator().manual_seed(seed))
    scales = np.geomspace(0.1, 10.0, 9)
    multipliers = np.linspace(-2.0, 2.0, 17)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.0), layout="constrained")
    for form, colour in (("paper", "tab:orange"), ("authors", "tab:green")):
        left.plot(scales, [float(pod_distance(s * old, s * noisy, "spatial", form)) for s in scales],
                  marker="o", color=colour, label=f"form={form!r}")
        scale = float(pod_distance(old, 0 * old, "spatial", form)) if form == "paper" else 1.0
        right.plot(multipliers, [float(pod_distance(old, a * old, "spatial", form)) / scale for a in multipliers],
                   marker="o", color=colour, label=f"form={form!r}" + (" / its value at a = 0" if scale != 1 else ""))
    left.set(xscale="log", yscale="log", xlabel="s (teacher and student both x s)", ylabel="POD-spatial",
             title=f"Same relative change (noise {noise:g}), growing activations")
    right.set(xlabel="a (student = a x teacher)", ylabel="POD-spatial",
              title="Student = the teacher rescaled (sign flipped when a < 0)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    return fig


def table3b_figure() -> Figure:
    """The paper's Table 3b (CIFAR-100, 50 steps) as bars: accuracy of each pooling, with POD-flat."""
    fig, ax = plt.subplots(figsize=(8.0, 3.8), layout="constrained")
    names = list(TABLE3B)
    x = np.arange(len(names))
    for i, metric in enumerate(("NME", "CNN")):
        bars = ax.bar(x + (i - 0.5) * 0.38, [TABLE3B[n][i] for n in names], width=0.38, label=metric)
        ax.bar_label(bars, fmt="%.2f", fontsize="x-small", padding=1)
    ax.set_xticks(x, ["POD-flat\nonly"] + [f"{LABELS[n]}\n+ flat" for n in names[1:]])
    ax.set_ylim(45, 64)
    ax.set_ylabel("average incremental accuracy (%)")
    ax.set_title("The paper's Table 3b (CIFAR-100, 50 steps of 1 class)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def adaptive_factor_figure(base: int = 50, total: int = 100, steps: Sequence[int] = (50, 25, 10, 5)) -> Figure:
    """sqrt(N/T) of the authors' code across the tasks of each protocol (N seen classes, T new ones)."""
    fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
    for n_steps in steps:
        t_new = (total - base) // n_steps
        seen = [base + t * t_new for t in range(1, n_steps + 1)]
        ax.plot(seen, [adaptive_factor(n, t_new) for n in seen], marker="o", markersize=3,
                label=f"{n_steps} steps of {t_new} class{'es' if t_new > 1 else ''}")
    ax.set_xlabel("N, classes seen after the task (new ones included)")
    ax.set_ylabel("sqrt(N / T)")
    ax.set_title(f"Adaptive factor on both POD terms ({base} base classes, {total} in all)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return fig
