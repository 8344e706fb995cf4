"""A diagram of PODNet (the idea of the paper's Fig. 2 and Fig. 3), drawn with matplotlib.

Two copies of the ConvNet f: the teacher f^{t-1} (frozen) above, the student f^t below. POD-spatial
(eq. 5) compares each stage output h_l, pooled over the width and over the height; POD-flat
(eq. 6) compares the embeddings h; together, averaged over the stages and weighted, they form
POD-final (eq. 7). The student's h goes to the LSC g (eq. 9): K proxies per class, one score per
class, trained with the NCA loss (eq. 10). The total loss of Sec. 3.3 is L_LSC + L_POD-final.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

PARTS = ("pod", "lsc")          # what `highlight` can emphasise
COLOURS = {"teacher": "#9aa5b1", "student": "#4c78a8", "pod": "#e45756", "lsc": "#54a24b", "text": "#222222"}
STAGES = 3                      # stages drawn (a ResNet-32 has 3, a ResNet-18 4)


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, colour: str, bold: bool = False,
         size: float = 9.0) -> None:
    """A rounded box centred on (x, y) with `text` inside."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=colour, edgecolor="none", alpha=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, color="white",
            fontweight="bold" if bold else "normal")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str = "#555555",
           style: str = "-|>", dashed: bool = False) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour, lw=1.4,
                                 linestyle="--" if dashed else "-", shrinkA=2, shrinkB=2))


def _network(ax: Axes, y: float, who: str, colour: str) -> list[float]:
    """One row: image -> stages -> embedding; returns the x of each stage and of the embedding."""
    ax.text(0.15, y, "image\n$\\mathbf{x}$", ha="center", va="center", fontsize=9, color=COLOURS["text"])
    xs = [1.45 + 1.55 * i for i in range(STAGES)] + [1.45 + 1.55 * STAGES + 0.2]
    previous = 0.45
    for i, x in enumerate(xs[:-1]):
        _arrow(ax, (previous, y), (x - 0.55, y))
        _box(ax, x, y, 1.1, 0.62, f"stage {i + 1}\n$\\mathbf{{h}}_{i + 1}^{{{who}}}$", colour)
        previous = x + 0.55
    _arrow(ax, (previous, y), (xs[-1] - 0.5, y))
    _box(ax, xs[-1], y, 1.0, 0.62, f"embedding\n$\\mathbf{{h}}^{{{who}}}$", colour)
    return xs


def _proxies(ax: Axes, x: float, y: float, colour: str) -> None:
    """Three classes drawn as circles, each with K = 3 proxies (stars) inside."""
    for j, dy in enumerate((0.55, 0.0, -0.55)):
        ax.add_patch(Circle((x + 0.05, y + dy), 0.22, facecolor="white", edgecolor=colour, lw=1.3))
        for k, (px, py) in enumerate(((-0.09, 0.06), (0.08, 0.08), (0.0, -0.09))):
            ax.plot(x + 0.05 + px, y + dy + py, marker="*", color=colour, markersize=6)
        ax.text(x + 0.36, y + dy, f"class {j}", fontsize=7.5, va="center", color=COLOURS["text"])


def plot_method_diagram(highlight: str | None = None) -> Figure:
    """PODNet at task t, as boxes and arrows; `highlight` ("pod" or "lsc") fades the other part."""
    if highlight is not None and highlight not in PARTS:
        raise ValueError(f"highlight must be one of {PARTS} or None, got {highlight!r}")
    alpha = {part: 1.0 if highlight in (None, part) else 0.35 for part in PARTS}
    fig, ax = plt.subplots(figsize=(12.5, 5.6), layout="constrained")
    ax.set(xlim=(-0.2, 11.9), ylim=(-1.1, 4.6))
    ax.axis("off")
    top, bottom = 3.5, 0.5
    xs = _network(ax, top, "t-1", COLOURS["teacher"])
    _network(ax, bottom, "t", COLOURS["student"])
    ax.text(-0.15, top + 0.62, "teacher $f^{t-1}$ (the model after task t-1, frozen)", fontsize=9.5,
            color=COLOURS["teacher"], fontweight="bold")
    ax.text(-0.15, bottom - 0.7, "student $f^{t}$ (trained at task t, starts as a copy of the teacher)",
            fontsize=9.5, color=COLOURS["student"], fontweight="bold")

    pod = COLOURS["pod"]
    for i, x in enumerate(xs[:-1]):
        _arrow(ax, (x, top - 0.33), (x, 2.35), pod, dashed=True)
        _arrow(ax, (x, bottom + 0.33), (x, 1.65), pod, dashed=True)
        _box(ax, x, 2.0, 1.3, 0.55, f"POD-spatial\neq. (5), $\\ell$={i + 1}", pod, size=8.5)
    _arrow(ax, (xs[-1], top - 0.33), (xs[-1], 2.35), pod, dashed=True)
    _arrow(ax, (xs[-1], bottom + 0.33), (xs[-1], 1.65), pod, dashed=True)
    _box(ax, xs[-1], 2.0, 1.15, 0.55, "POD-flat\neq. (6)", pod, size=8.5)
    ax.text(9.0, 3.55, "POD-final, eq. (7):\n" + r"$\frac{\lambda_c}{L-1}\sum_\ell$ POD-spatial $+\ \lambda_f$ POD-flat",
            ha="left", va="center", fontsize=9.5, color=pod)
    ax.text(9.0, 2.3, "POD-spatial sums each map over\nthe width, then over the height,\nand compares the two profiles",
            ha="left", va="center", fontsize=8.5, color=pod, style="italic")

    lsc = COLOURS["lsc"]
    _arrow(ax, (xs[-1] + 0.5, bottom), (9.35, bottom), lsc)
    _proxies(ax, 9.6, bottom, lsc)
    ax.text(9.75, bottom + 0.95, "LSC $g$, eq. (9): K proxies\n$\\theta_{c,k}$ per class", ha="center",
            fontsize=8.5, color=lsc)
    _box(ax, 11.05, bottom, 0.95, 0.55, "scores\n$\\hat{y}_c$", lsc, size=8.5)
    _arrow(ax, (10.45, bottom), (10.57, bottom), lsc)
    ax.text(11.05, bottom - 0.55, "NCA loss\neq. (10)", ha="center", va="top", fontsize=8.5, color=lsc)
    ax.text(5.6, -1.05, r"total loss (Sec. 3.3): $\mathcal{L} = \mathcal{L}_{\mathrm{LSC}} + \mathcal{L}_{\mathrm{POD\text{-}final}}$",
            ha="center", fontsize=10.5, color=COLOURS["text"])
    for artist in ax.patches + ax.texts + ax.lines:      # fade the part not being introduced
        part = _part_of(artist)
        if part and alpha[part] < 1:
            artist.set_alpha(alpha[part])
    ax.set_title("PODNet at task t: POD keeps the student's stage outputs near the teacher's, "
                 "the LSC classifies with K proxies per class", fontsize=11)
    return fig


def _part_of(artist: object) -> str | None:
    """Which part an artist belongs to, from its colour: "pod", "lsc" or None."""
    from matplotlib.colors import to_hex

    for getter in ("get_facecolor", "get_color", "get_edgecolor"):
        get = getattr(artist, getter, None)
        if get is None:
            continue
        try:
            colour = to_hex(get(), keep_alpha=False)
        except (ValueError, TypeError):
            continue
        for part in PARTS:
            if colour == COLOURS[part]:
                return part
    return None


__all__ = ["plot_method_diagram", "PARTS"]
