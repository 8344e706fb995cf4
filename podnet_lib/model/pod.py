"""Pooled Outputs Distillation (POD), Sec. 3.1, eqs. (1)-(7).

Every spatial function takes the teacher's (`old`, model t-1) and the student's (`new`, model t)
stage outputs h_l of shape (B, C, H, W), PyTorch's layout: `width` is the last axis (dim 3),
`height` the one before it (dim 2). Each returns a scalar: the batch mean of the per-sample loss.

Two forms exist for POD-spatial, POD-flat and POD-final:
- form="paper":   the equations as printed, squared differences of summed statistics.
- form="authors": what the authors' public code computes: the activations are squared, pooled,
  concatenated, L2-normalised per sample, and compared with a Euclidean (not squared) distance;
  POD-flat is the mean of (1 - cosine). Its scale is independent of the feature magnitudes,
  which is why the published weights (lambda_c = 3, lambda_f = 1) fit it and not the paper form.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.registry import Registry

FORMS: Registry[str] = Registry("pod_form", {
    "paper": "the equations as printed",
    "authors": "the authors' code: squared, pooled, L2-normalised, Euclidean distance",
})


# --- what each pooling keeps ------------------------------------------------------------------

def _pool_pixel(x: Tensor) -> list[Tensor]:
    return [x]                                      # (B, C, H, W): nothing pooled


def _pool_channel(x: Tensor) -> list[Tensor]:
    return [x.sum(dim=1)]                           # (B, H, W): channels pooled


def _pool_gap(x: Tensor) -> list[Tensor]:
    return [x.sum(dim=(2, 3))]                      # (B, C): space pooled


def _pool_width(x: Tensor) -> list[Tensor]:
    return [x.sum(dim=3)]                           # (B, C, H): width pooled


def _pool_height(x: Tensor) -> list[Tensor]:
    return [x.sum(dim=2)]                           # (B, C, W): height pooled


def _pool_spatial(x: Tensor) -> list[Tensor]:
    return _pool_width(x) + _pool_height(x)         # both profiles, eq. (5)


POOLINGS: Registry[Callable[[Tensor], list[Tensor]]] = Registry("pod_pooling", {
    "pixel": _pool_pixel,
    "channel": _pool_channel,
    "gap": _pool_gap,
    "width": _pool_width,
    "height": _pool_height,
    "spatial": _pool_spatial,
})


def pooled_statistics(x: Tensor, pooling: str) -> list[Tensor]:
    """The pooled statistics a POD variant compares: (B, C, H, W) -> list of (B, ...) tensors."""
    return POOLINGS[POOLINGS.check(pooling, "pooling")](x)


def _check_pair(old: Tensor, new: Tensor) -> None:
    if old.shape != new.shape:
        raise ValueError(f"old and new must have the same shape, got {tuple(old.shape)} and {tuple(new.shape)}")
    if old.dim() != 4:
        raise ValueError(f"POD expects stage outputs of shape (B, C, H, W), got {tuple(old.shape)}")


# --- the two forms ----------------------------------------------------------------------------

def pod_distance(old: Tensor, new: Tensor, pooling: str = "spatial", form: str = "paper") -> Tensor:
    """POD between two stage outputs for any pooling of eqs. (1)-(5).

    old, new: (B, C, H, W) -> scalar, the batch mean of the per-sample loss.
    form="paper": sum over pooled positions of the squared difference of the pooled sums.
    form="authors": pool the squared activations, concatenate, L2-normalise per sample,
    Euclidean distance.
    """
    _check_pair(old, new)
    FORMS.check(form, "form")
    if form == "paper":
        per_sample = sum(
            (a - b).pow(2).flatten(1).sum(dim=1)
            for a, b in zip(pooled_statistics(old, pooling), pooled_statistics(new, pooling))
        )
        return per_sample.mean()
    a = torch.cat([p.flatten(1) for p in pooled_statistics(old.pow(2), pooling)], dim=1)
    b = torch.cat([p.flatten(1) for p in pooled_statistics(new.pow(2), pooling)], dim=1)
    return _euclidean(F.normalize(a, dim=1), F.normalize(b, dim=1)).mean()


def _euclidean(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise ||a - b||_2, (B, D) -> (B,), with a zero (not NaN) gradient where a == b."""
    squared = (a - b).pow(2).sum(dim=1)
    safe = torch.where(squared > 0, squared, torch.ones_like(squared))
    return torch.where(squared > 0, safe.sqrt(), torch.zeros_like(squared))


# --- eqs. (1)-(5), one public name each --------------------------------------------------------

def pod_pixel(old: Tensor, new: Tensor) -> Tensor:
    """POD-pixel, eq. (1): every activation compared; the most rigid variant.

    old, new: (B, C, H, W) -> scalar.
    """
    return pod_distance(old, new, "pixel")


def pod_channel(old: Tensor, new: Tensor) -> Tensor:
    """POD-channel, eq. (2): channels summed, the spatial map compared.

    old, new: (B, C, H, W) -> scalar. Ignores any permutation of the channels.
    """
    return pod_distance(old, new, "channel")


def pod_gap(old: Tensor, new: Tensor) -> Tensor:
    """POD-gap, eq. (3): space summed (global average pooling up to a factor H*W), channels compared.

    old, new: (B, C, H, W) -> scalar. Ignores where in the image a channel fires.
    """
    return pod_distance(old, new, "gap")


def pod_width(old: Tensor, new: Tensor) -> Tensor:
    """POD-width, eq. (4): each channel summed over the width, its profile along the height compared.

    old, new: (B, C, H, W) -> scalar. Ignores permutations along the width.
    """
    return pod_distance(old, new, "width")


def pod_height(old: Tensor, new: Tensor) -> Tensor:
    """POD-height, the twin of eq. (4): each channel summed over the height.

    old, new: (B, C, H, W) -> scalar. Ignores permutations along the height.
    """
    return pod_distance(old, new, "height")


def pod_spatial(old: Tensor, new: Tensor, form: str = "paper") -> Tensor:
    """POD-spatial, eq. (5): POD-width + POD-height.

    old, new: (B, C, H, W) -> scalar.
    form="paper" is eq. (5) as printed; form="authors" is the normalised Euclidean form of the
    authors' code (squared activations, width and height sums concatenated, L2-normalised).
    """
    return pod_distance(old, new, "spatial", form)


def pod_flat(old_emb: Tensor, new_emb: Tensor, form: str = "paper") -> Tensor:
    """POD-flat, eq. (6): distillation of the final embedding h.

    old_emb, new_emb: (B, D) -> scalar.
    form="paper": ||h_old - h_new||^2, batch mean; form="authors": mean of (1 - cosine).
    """
    FORMS.check(form, "form")
    if old_emb.shape != new_emb.shape or old_emb.dim() != 2:
        raise ValueError(f"POD-flat expects two (B, D) embeddings, got {tuple(old_emb.shape)} and {tuple(new_emb.shape)}")
    if form == "paper":
        return (old_emb - new_emb).pow(2).sum(dim=1).mean()
    return (1.0 - F.cosine_similarity(old_emb, new_emb, dim=1)).mean()


# --- eq. (7) ------------------------------------------------------------------------------------

def adaptive_factor(n_seen: int, n_new: int) -> float:
    """sqrt(N / T) of the authors' code: N classes seen so far (new included), T new classes.

    Distillation grows as the new task gets small relative to what must be remembered.
    """
    if n_new <= 0 or n_seen < n_new:
        raise ValueError(f"adaptive_factor needs 0 < n_new <= n_seen, got n_seen={n_seen}, n_new={n_new}")
    return math.sqrt(n_seen / n_new)


def pod_terms(
    old_maps: Sequence[Tensor],
    new_maps: Sequence[Tensor],
    old_emb: Tensor,
    new_emb: Tensor,
    form: str = "paper",
    pooling: str = "spatial",
    spatial: bool = True,
    flat: bool = True,
) -> tuple[Tensor, Tensor]:
    """The two unweighted halves of eq. (7) in one pass over the stages.

    Returns (mean over stages of the pooled distance, POD-flat); a half that is switched off
    (spatial=False or flat=False) is a zero tensor and costs nothing.
    """
    if len(old_maps) != len(new_maps) or not old_maps:
        raise ValueError(f"pod_final needs as many old as new stage outputs (>= 1), got {len(old_maps)} and {len(new_maps)}")
    zero = new_emb.new_zeros(())
    spatial_loss = (sum(pod_distance(o, n, pooling, form) for o, n in zip(old_maps, new_maps)) / len(old_maps)
                    if spatial else zero)
    flat_loss = pod_flat(old_emb, new_emb, form) if flat else zero
    return spatial_loss, flat_loss


def pod_final(
    old_maps: Sequence[Tensor],
    new_maps: Sequence[Tensor],
    old_emb: Tensor,
    new_emb: Tensor,
    lambda_c: float = 3.0,
    lambda_f: float = 1.0,
    form: str = "paper",
    factor: float = 1.0,
    pooling: str = "spatial",
) -> Tensor:
    """POD-final, eq. (7): lambda_c * mean over stages of POD-spatial + lambda_f * POD-flat.

    old_maps, new_maps: lists of (B, C_l, H_l, W_l) stage outputs; old_emb, new_emb: (B, D).
    `lambda_c` is λc, `lambda_f` is λf. `factor` multiplies both terms: pass
    adaptive_factor(N, T) for the authors' sqrt(N/T). `pooling` swaps POD-spatial for another
    variant of eqs. (1)-(5) (the ablation of Table 3b); lambda_c = 0 or lambda_f = 0 drop a term.
    """
    spatial, flat = pod_terms(old_maps, new_maps, old_emb, new_emb, form, pooling,
                              spatial=bool(lambda_c), flat=bool(lambda_f))
    return factor * (lambda_c * spatial + lambda_f * flat)
