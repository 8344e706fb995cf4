"""Views of chapter 02: proxies of the Local Similarity Classifier and the NCA loss, eqs. (8)-(10).

Every function returns numbers or a matplotlib Figure; the chapter wires them to sliders.

- `base_learner`: a PODNet model trained on the base task of digits (cached on disk);
- `embed`: embeddings h (and their labels) of some classes;
- `fit_pca` / `project`: a 2-D view of L2-normalised vectors;
- `plot_proxies`: features and trained proxies of a few classes in that 2-D view;
- `sample_margins`: how clearly each sample's true class wins (to pick hard samples);
- `scale_effect` / `plot_scale_effect`: how η changes the class probabilities and the NCA loss;
- `margin_effect` / `plot_margin_effect`: the margin δ in the paper's and in the authors' form;
- `imprint_proxies`, `coverage`, `plot_imprinting`: K proxies imprinted by k-means on a class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from podnet_lib.model.classifiers import LocalSimilarityClassifier, local_similarity, nca_loss
from podnet_lib.config import Config
from podnet_lib.engine.cache import trained_learner
from podnet_lib.engine.train import IncrementalLearner

COLOURS = plt.get_cmap("tab10").colors


# --- a trained model -----------------------------------------------------------------------------
def base_learner(cfg: Config, out_dir: Path, device: torch.device | str = "cpu",
                 bars: bool = False) -> IncrementalLearner:
    """A learner whose network is trained on task 0 (the base classes) with PODNet's classifier.

    Cached by `podnet_lib.engine.cache.trained_learner` under `out_dir` (one folder per
    configuration). The learner holds `net`, `train_set`, `test_set` (labels in class-order
    positions), `spec` and `scenario`.
    """
    return trained_learner(cfg.replace(device=str(device)), out_dir, upto_task=0, method="podnet", bars=bars)


def embed(learner: IncrementalLearner, classes: Sequence[int], split: str = "test") -> tuple[Tensor, Tensor]:
    """Embeddings h of the un-augmented images of `classes`: features (N, D) and labels (N,), on CPU."""
    feats, _, labels = learner.features(split, classes)
    return feats.cpu(), labels.cpu()


# --- a 2-D view ----------------------------------------------------------------------------------
def fit_pca(points: Tensor) -> tuple[Tensor, Tensor]:
    """PCA of L2-normalised points (N, D) -> (mean (D,), components (D, 2)), deterministic (SVD)."""
    x = F.normalize(points.detach().float(), dim=1)
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    components = vh[:2].t()
    signs = torch.sign(components.sum(dim=0))                     # a fixed orientation of each axis
    return mean, components * torch.where(signs == 0, torch.ones_like(signs), signs)


def project(points: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    """L2-normalise points (N, D) and project them on the PCA plane -> (N, 2)."""
    return (F.normalize(points.detach().float(), dim=1) - mean) @ components


def plot_proxies(features: Tensor, labels: Tensor, proxies: Tensor, proxies_per_class: int,
                 classes: Sequence[int], title: str = "") -> Figure:
    """Features (N, D) of `classes` (dots) and their K proxies each (stars), on the PCA plane
    of the normalised features. proxies: (n_classes * K, D), class c's K rows contiguous."""
    mean, comps = fit_pca(features)
    xy = project(features, mean, comps).numpy()
    fig, ax = plt.subplots(figsize=(6.8, 5.4), layout="constrained")
    k = proxies_per_class
    for i, c in enumerate(classes):
        color = COLOURS[i % len(COLOURS)]
        mask = (labels == c).numpy()
        ax.scatter(xy[mask, 0], xy[mask, 1], s=12, alpha=0.45, color=color, label=f"class {c}: images")
        p = project(proxies[c * k:(c + 1) * k], mean, comps).numpy()
        ax.scatter(p[:, 0], p[:, 1], s=260, marker="*", color=color, edgecolor="black", linewidth=1.0,
                   label=f"class {c}: {k} proxies")
    ax.set_xlabel("first principal component (normalised h)")
    ax.set_ylabel("second principal component")
    ax.set_title(title or f"Embeddings and LSC proxies, K = {k} per class")
    ax.legend(fontsize="x-small", ncol=2, loc="best")
    ax.grid(True, alpha=0.3)
    return fig


# --- the scale η ---------------------------------------------------------------------------------
def sample_margins(scores: Tensor, labels: Tensor) -> Tensor:
    """ŷ_y - max_{i != y} ŷ_i for each sample: scores (N, C), labels (N,) -> (N,); < 0 = misclassified."""
    rows = torch.arange(scores.shape[0])
    others = scores.detach().float().clone()
    others[rows, labels] = float("-inf")
    return scores.detach().float()[rows, labels] - others.max(dim=1).values


def scale_effect(scores: Tensor, target: int, eta: float, margin: float = 0.6) -> dict[str, object]:
    """One sample's class scores ŷ (C,) at scale η.

    Returns the probabilities softmax(η ŷ) (C,) and the losses: eq. (10) in the paper's form
    (with hinge), the authors' form (no hinge, their default) and the cross-entropy on η ŷ.
    """
    s = scores.detach().float().view(1, -1)
    y = torch.tensor([int(target)])
    return {
        "probabilities": torch.softmax(eta * s[0], dim=0),
        "nca_paper": float(nca_loss(s, y, eta, margin, hinge=True, form="paper")),
        "nca_authors": float(nca_loss(s, y, eta, margin, hinge=False, form="authors")),
        "cross_entropy": float(F.cross_entropy(eta * s, y)),
    }


def plot_scale_effect(scores: Tensor, target: int, eta: float, margin: float = 0.6,
                      etas: Sequence[float] | None = None) -> Figure:
    """Three panels for one sample: its class scores ŷ_c (eq. 9, η-free), softmax(η ŷ) at the
    chosen η, and the losses of `scale_effect` against η (the chosen η marked)."""
    etas = list(etas) if etas is not None else list(np.linspace(0.25, 32.0, 64))
    now = scale_effect(scores, target, eta, margin)
    curves = {key: [float(scale_effect(scores, target, e, margin)[key]) for e in etas]
              for key in ("nca_paper", "nca_authors", "cross_entropy")}
    n = scores.numel()
    colors = ["tab:green" if c == target else "tab:gray" for c in range(n)]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.8), layout="constrained")
    values = scores.detach().float().numpy()
    axes[0].bar(range(n), values, color=colors)
    axes[0].set_ylim(min(-1.05, float(values.min()) - 0.05), max(1.05, float(values.max()) + 0.05))
    axes[0].set_title("class scores $\\hat y_c$, eq. (9)")
    axes[0].set_ylabel("similarity")
    probs = now["probabilities"].numpy()
    axes[1].bar(range(n), probs, color=colors)
    axes[1].set_ylim(0, 1)
    axes[1].set_title(f"softmax($\\eta \\hat y$), $\\eta$ = {eta:.1f}: p(target) = {probs[target]:.2f}")
    axes[1].set_ylabel("probability")
    for ax in axes[:2]:
        ax.set_xlabel("class (green: the true one)")
        ax.set_xticks(range(n))
    labels = {"nca_paper": f"NCA, paper eq. (10), $\\delta$={margin:g}, hinge",
              "nca_authors": "NCA, authors' code (no hinge)", "cross_entropy": "cross-entropy on $\\eta \\hat y$"}
    styles = {"nca_paper": "-", "nca_authors": "--", "cross_entropy": ":"}
    for key, values in curves.items():
        axes[2].plot(etas, values, linestyle=styles[key], linewidth=2, label=f"{labels[key]}: {now[key]:.3f}")
    axes[2].axvline(eta, color="black", linestyle="--", linewidth=1)
    axes[2].set_xlabel("scale $\\eta$")
    axes[2].set_ylabel("loss of this sample")
    axes[2].set_title("losses against $\\eta$ (value at the dashed line)")
    axes[2].legend(fontsize="x-small")
    axes[2].grid(True, alpha=0.3)
    return fig


# --- the margin δ --------------------------------------------------------------------------------
def margin_effect(scores: Tensor, targets: Tensor, eta: float,
                  margins: Sequence[float]) -> dict[str, list[float]]:
    """Batch NCA loss for each margin δ: paper form (no hinge, so the shift is visible) and authors'."""
    return {
        "margin": [float(m) for m in margins],
        "paper": [float(nca_loss(scores, targets, eta, m, hinge=False, form="paper")) for m in margins],
        "authors": [float(nca_loss(scores, targets, eta, m, hinge=False, form="authors")) for m in margins],
    }


def plot_margin_effect(scores: Tensor, targets: Tensor, eta: float,
                       margins: Sequence[float] | None = None) -> Figure:
    """The two NCA forms against δ: the paper's loss grows by η δ, the authors' stays flat."""
    margins = list(margins) if margins is not None else list(np.linspace(0.0, 1.0, 21))
    values = margin_effect(scores, targets, eta, margins)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    ax.plot(values["margin"], values["paper"], marker="o", markersize=3, label="paper, eq. (10): δ on the target")
    ax.plot(values["margin"], values["authors"], marker="s", markersize=3, label="authors' code: δ on every class")
    ax.axvline(0.6, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("margin $\\delta$ (dotted: 0.6, the paper's value)")
    ax.set_ylabel("NCA loss, batch mean (no hinge)")
    ax.set_title(f"Effect of the margin, $\\eta$ = {eta:.2f}")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


# --- imprinting ----------------------------------------------------------------------------------
def imprint_proxies(class_features: Tensor, k: int, seed: int = 0) -> Tensor:
    """K proxies (k, D), unit norm, imprinted from one class's features (N, D) by k-means
    (Sec. 3.2, "Weight initialization"), through `LocalSimilarityClassifier.imprint`; normalised
    here so that only their directions show (training keeps the centres' own norms)."""
    clf = LocalSimilarityClassifier(class_features.shape[1], proxies_per_class=k)
    return clf.imprint([class_features], torch.Generator().manual_seed(seed), renormalise=True)


def coverage(class_features: Tensor, proxies: Tensor) -> dict[str, float]:
    """How well K proxies (K, D) cover a class's features (N, D).

    nearest_cosine: mean over the features of the cosine to their nearest proxy;
    class_score: mean LSC score ŷ_c of eq. (9) (paper's cosine) of the features for this class.
    """
    cos = F.normalize(class_features.float(), dim=1) @ F.normalize(proxies.float(), dim=1).t()
    score = local_similarity(class_features.float(), proxies.float(), proxies.shape[0], similarity="cosine")
    return {"nearest_cosine": float(cos.max(dim=1).values.mean()), "class_score": float(score.mean())}


def plot_imprinting(class_features: Tensor, k: int, seed: int = 0, max_k: int = 10,
                    name: str = "the new class") -> Figure:
    """Left: a class's normalised features on their PCA plane, coloured by their nearest of K
    imprinted proxies (stars). Right: `coverage` for K = 1..max_k, the chosen K marked."""
    proxies = imprint_proxies(class_features, k, seed)
    mean, comps = fit_pca(class_features)
    xy = project(class_features, mean, comps).numpy()
    nearest = (F.normalize(class_features.float(), dim=1) @ proxies.t()).argmax(dim=1).numpy()
    p = project(proxies, mean, comps).numpy()
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.6), layout="constrained")
    for j in range(k):
        color = COLOURS[j % len(COLOURS)]
        mask = nearest == j
        axes[0].scatter(xy[mask, 0], xy[mask, 1], s=14, alpha=0.6, color=color)
        axes[0].scatter(p[j, 0], p[j, 1], s=300, marker="*", color=color, edgecolor="black", linewidth=1.0)
    axes[0].set_xlabel("first principal component of this class")
    axes[0].set_ylabel("second principal component")
    axes[0].set_title(f"{name}: {len(xy)} images, K = {k} proxies by k-means (stars)")
    axes[0].grid(True, alpha=0.3)
    ks = list(range(1, max_k + 1))
    rows = [coverage(class_features, imprint_proxies(class_features, kk, seed)) for kk in ks]
    axes[1].plot(ks, [r["nearest_cosine"] for r in rows], marker="o", label="cosine to the nearest proxy")
    axes[1].plot(ks, [r["class_score"] for r in rows], marker="s", label="class score $\\hat y_c$, eq. (9)")
    axes[1].axvline(k, color="black", linestyle="--", linewidth=1)
    axes[1].set_xlabel("K, proxies per class")
    axes[1].set_ylabel("mean over the class's images")
    axes[1].set_title("How closely K imprinted proxies fit the class")
    axes[1].set_xticks(ks)
    axes[1].legend(fontsize="small")
    axes[1].grid(True, alpha=0.3)
    return fig
