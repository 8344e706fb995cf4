"""The trained teacher of chapter 01 and a simulated student: stage outputs, perturbations and the
six POD losses of eqs. (1)-(5) between them (the losses always come from `podnet_lib.model.pod`).

Every function takes stage outputs h_l of shape (B, C, H, W), `width` the last axis.
The student f^t is simulated in two ways: `drifted_copy` adds noise to the teacher's weights
(a change of the network), and `perturb` changes the teacher's maps in one controlled way:
- "noise":            h + s * std(h) * N(0, 1), s the noise-to-signal ratio of standard deviations;
- "shift_width":      a circular shift of round(s) pixels along the width (what leaves on the right
                      comes back on the left), so every row keeps its sum: invisible to POD-width;
- "shift_height":     the same along the height: invisible to POD-height;
- "permute_channels": a fraction s in [0, 1] of the channels trade places: invisible to POD-channel.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from podnet_lib.model.backbones import BackboneOutput
from podnet_lib.config import Config
from podnet_lib.data import AUGMENTATIONS, DatasetSplits, normalise
from podnet_lib.model.pod import POOLINGS, pod_distance, pooled_statistics

PERTURBATIONS = ("noise", "shift_width", "shift_height", "permute_channels")
NORMALISATIONS = ("teacher", "values", "none")


# --- a trained backbone and its stage outputs ---------------------------------------------------

def trained_backbone(cfg: Config, run_dir: Path, bars: bool = False) -> nn.Module:
    """The backbone f of the first method of `cfg` after task 0, in eval mode on `cfg.device`.

    Trained once through `podnet_lib.engine.cache.trained_learner`, which caches it under `run_dir`.
    """
    from podnet_lib.engine.cache import trained_learner

    return trained_learner(cfg, run_dir, upto_task=0, bars=bars).net.backbone.eval()


def one_image_per_class(splits: DatasetSplits, n_classes: int = 10) -> tuple[Tensor, Tensor]:
    """The first test image of each of the classes 0..n_classes-1: uint8 (n, C, S, S), labels (n,)."""
    labels = splits.test.labels
    idx = torch.stack([torch.nonzero(labels == c)[0, 0] for c in range(n_classes)])
    return splits.test.images[idx], labels[idx]


@torch.no_grad()
def stage_outputs(backbone: nn.Module, images: Tensor, augment: str = "digits") -> BackboneOutput:
    """The backbone's output for uint8 images (B, C, S, S), on the CPU in float32:
    maps h_1..h_L, each (B, C_l, H_l, W_l), and the embedding h, (B, D)."""
    device = next(backbone.parameters()).device
    out = backbone(normalise(images.to(device), AUGMENTATIONS[augment]))
    return BackboneOutput([m.float().cpu() for m in out.maps], out.features.float().cpu())


@torch.no_grad()
def drifted_copy(backbone: nn.Module, strength: float, seed: int = 0) -> nn.Module:
    """A stand-in for the student f^t: a copy of the teacher whose weight tensors (convolutions)
    each get Gaussian noise of std `strength` x that tensor's std. BatchNorm is left as it is."""
    student = copy.deepcopy(backbone).eval()
    g = torch.Generator().manual_seed(seed)
    for p in student.parameters():
        if p.dim() > 1:
            p.add_(strength * p.std() * torch.randn(p.shape, generator=g).to(p.device))
    return student


# --- the student: a perturbed copy of the teacher's maps ---------------------------------------

def perturb(maps: Tensor, kind: str, strength: float, generator: torch.Generator | None = None) -> Tensor:
    """A student's stage output made from the teacher's: (B, C, H, W) -> (B, C, H, W).

    kind in PERTURBATIONS (see the module docstring); strength 0 returns an identical copy.
    `generator` (a CPU torch.Generator) draws the noise and the permuted channels.
    """
    if kind not in PERTURBATIONS:
        raise ValueError(f"kind={kind!r} is not valid; allowed values: {', '.join(PERTURBATIONS)}")
    if maps.dim() != 4:
        raise ValueError(f"perturb expects (B, C, H, W) maps, got {tuple(maps.shape)}")
    if kind == "noise":
        noise = torch.randn(maps.shape, generator=generator, dtype=maps.dtype).to(maps.device)
        return maps + strength * maps.std() * noise
    if kind in ("shift_width", "shift_height"):
        return torch.roll(maps, shifts=int(round(strength)), dims=3 if kind == "shift_width" else 2)
    channels = maps.shape[1]
    moved = min(channels, int(round(strength * channels)))
    if moved < 2:
        return maps.clone()
    chosen = torch.randperm(channels, generator=generator)[:moved]
    order = torch.arange(channels)
    order[chosen] = torch.roll(chosen, 1)              # a cycle: every chosen channel moves
    return maps[:, order.to(maps.device)]


def pod_losses(old: Tensor, new: Tensor, normalise: str = "teacher") -> dict[str, float]:
    """The six POD losses of eqs. (1)-(5), paper form, between teacher and student maps.

    old, new: (B, C, H, W) -> {pooling: value}. normalise="teacher" divides each loss by the
    teacher's own energy ||P(old)||^2 (the same loss against a student that outputs zeros), so
    1.0 means "a change as large as the statistic itself"; "values" divides by the number of
    pooled values per sample; "none" returns the losses as printed in the paper.
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise={normalise!r} is not valid; allowed values: {', '.join(NORMALISATIONS)}")
    out = {}
    for pooling in POOLINGS:
        loss = float(pod_distance(old, new, pooling, "paper"))
        if normalise == "teacher":
            energy = float(pod_distance(old, torch.zeros_like(old), pooling, "paper"))
            loss = loss / energy if energy > 0 else 0.0
        elif normalise == "values":
            loss = loss / sum(p[0].numel() for p in pooled_statistics(old[:1], pooling))
        out[pooling] = loss
    return out


def kept_values(maps: Sequence[Tensor]) -> dict[str, list[int]]:
    """{pooling: [values per sample its statistic keeps, at each stage]} for maps of shape (B, C, H, W)."""
    return {a: [sum(p[0].numel() for p in pooled_statistics(m[:1], a)) for m in maps] for a in POOLINGS}


def permissiveness(old: Tensor, kind: str, strengths: Sequence[float], seed: int = 0,
                   normalise: str = "teacher") -> dict[str, list[float]]:
    """{pooling: [loss at each strength]} for students perturbed by `kind` at each strength.

    The same generator seed is used for every strength, so the curves differ only by strength.
    """
    curves: dict[str, list[float]] = {a: [] for a in POOLINGS}
    for s in strengths:
        new = perturb(old, kind, s, torch.Generator().manual_seed(seed))
        for a, v in pod_losses(old, new, normalise).items():
            curves[a].append(v)
    return curves


def strength_from_level(kind: str, level: float, width: int) -> float:
    """Map a slider level in [0, 1] to a strength of `kind`: noise std ratio 0..2, a shift of
    0..width/2 pixels, a fraction 0..1 of the channels."""
    if kind == "noise":
        return 2.0 * level
    if kind in ("shift_width", "shift_height"):
        return float(round(level * width / 2))
    return float(level)


def describe(kind: str, strength: float) -> str:
    """A short human phrase for a perturbation, used in titles."""
    return {"noise": f"Gaussian noise, std {strength:.2g} x the map's std",
            "shift_width": f"circular shift by {int(strength)} px along the width",
            "shift_height": f"circular shift by {int(strength)} px along the height",
            "permute_channels": f"{strength:.0%} of the channels permuted"}[kind]
