"""k-means in PyTorch (k-means++ seeding, Lloyd iterations), batched on the features' device.

Used to imprint the K proxies of a new class (Sec. 3.2). Deterministic for a given generator.
"""
from __future__ import annotations

import torch
from torch import Tensor


def kmeans_plus_plus(points: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """k-means++ seeding: points (N, D) -> k initial centres (k, D), far apart with high probability."""
    n = points.shape[0]
    first = torch.randint(n, (1,), generator=generator).item()
    centres = [points[first]]
    closest = (points - points[first]).pow(2).sum(dim=1)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:                                   # every point already is a centre
            pick = torch.randint(n, (1,), generator=generator).item()
        else:
            probs = (closest / total).cpu()
            pick = torch.multinomial(probs, 1, generator=generator).item()
        centres.append(points[pick])
        closest = torch.minimum(closest, (points - points[pick]).pow(2).sum(dim=1))
    return torch.stack(centres)


def kmeans(points: Tensor, k: int, iterations: int = 50, generator: torch.Generator | None = None) -> Tensor:
    """Cluster points (N, D) into k groups -> centres (k, D).

    With fewer points than clusters, the points are repeated (centres may then coincide).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if points.shape[0] == 0:
        raise ValueError("kmeans needs at least one point")
    if points.shape[0] < k:
        points = points.repeat((k + points.shape[0] - 1) // points.shape[0], 1)
    centres = kmeans_plus_plus(points, k, generator)
    for _ in range(iterations):
        assign = torch.cdist(points, centres).argmin(dim=1)                     # (N,)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(points.dtype)
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centres)  # empty cluster: stay
        if torch.allclose(updated, centres):
            break
        centres = updated
    return centres
