"""Rehearsal memory: exemplar selection (iCaRL herding, random) and the exemplar store.

The paper (Sec. 4) keeps M_per = 20 images per old class; M_total (e.g. 2000) spreads a fixed
budget over the classes seen so far, so early tasks keep more images per class. Both are real
here: `exemplars_per_class` turns either budget into the m used after each task.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.registry import Registry


def herding_selection(features: Tensor, m: int) -> Tensor:
    """iCaRL herding: pick m samples whose running mean stays closest to the class mean.

    features: (N, D) embeddings of one class's un-augmented images -> (min(m, N),) int64 indices
    in pick order (keeping the first m' < m of them is herding with budget m'). Features are
    L2-normalised first; each step picks the unpicked sample that brings the mean of the picked
    set closest to the class mean. No index is picked twice.
    """
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    feats = F.normalize(features.detach().float(), dim=1)
    n = feats.shape[0]
    m = min(m, n)
    target = feats.mean(dim=0)                                   # μ, (D,)
    picked = torch.empty(m, dtype=torch.long, device=feats.device)
    available = torch.ones(n, dtype=torch.bool, device=feats.device)
    running = torch.zeros_like(target)                           # sum of picked features
    for k in range(m):
        # mean of the set if sample i were added: (running + f_i) / (k + 1)
        candidate_means = (running.unsqueeze(0) + feats) / (k + 1)
        dist = (candidate_means - target).pow(2).sum(dim=1)
        dist = dist.masked_fill(~available, float("inf"))
        i = torch.argmin(dist)
        picked[k] = i
        available[i] = False
        running = running + feats[i]
    return picked.cpu()


def random_selection(n: int, m: int, generator: torch.Generator | None = None) -> Tensor:
    """m distinct indices among n, in random order: (min(m, n),) int64."""
    return torch.randperm(n, generator=generator)[: min(m, n)]


def _herding(features: Tensor, m: int, generator: torch.Generator) -> Tensor:
    return herding_selection(features, m)


def _random(features: Tensor, m: int, generator: torch.Generator) -> Tensor:
    return random_selection(features.shape[0], m, generator)


# name -> select(features (N, D) of one class, m, generator) -> indices in pick order
SELECTIONS: Registry[Callable[[Tensor, int, torch.Generator], Tensor]] = Registry("selection", {
    "herding": _herding, "random": _random,
})


def exemplars_per_class(n_seen: int, memory_per_class: int | None, memory_total: int | None) -> int:
    """Images kept per class after a task with n_seen classes.

    Exactly one budget is set: memory_per_class (M_per, paper default 20) or memory_total
    (M_total, e.g. 2000, shared equally: floor(M_total / n_seen)).
    """
    if (memory_per_class is None) == (memory_total is None):
        raise ValueError("set exactly one of memory_per_class and memory_total "
                         f"(got memory_per_class={memory_per_class}, memory_total={memory_total})")
    if n_seen <= 0:
        raise ValueError(f"n_seen must be > 0, got {n_seen}")
    if memory_per_class is not None:
        return memory_per_class
    return memory_total // n_seen


class ExemplarStore:
    """Per class, the dataset indices of its exemplars in selection order.

    A class's full ranking is kept so that a shrinking M_total budget keeps the first m of them.
    """

    def __init__(self) -> None:
        self.rankings: dict[int, Tensor] = {}
        self.m = 0                                     # images per class currently kept

    def add(self, label: int, ranked_indices: Tensor) -> None:
        """Store the ranking (dataset indices, best first) of a new class."""
        self.rankings[int(label)] = ranked_indices.long().cpu()

    def set_budget(self, m: int) -> None:
        self.m = m

    def indices(self, label: int) -> Tensor:
        """The kept exemplars of one class: its first m ranked indices."""
        return self.rankings[label][: self.m]

    def all_indices(self) -> Tensor:
        """Every kept exemplar, classes in label order: (n_exemplars,) int64."""
        if not self.rankings:
            return torch.empty(0, dtype=torch.long)
        return torch.cat([self.indices(c) for c in sorted(self.rankings)])

    def __len__(self) -> int:
        return sum(len(self.indices(c)) for c in self.rankings)

    def state_dict(self) -> dict:
        return {"m": self.m, "rankings": {str(c): r for c, r in self.rankings.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.m = int(state["m"])
        self.rankings = {int(c): r.long() for c, r in state["rankings"].items()}
