"""Checks for chapter 02 (the classifiers of Sec. 3.2, eqs. (8)-(10)).

- `check_cosine_scores(fn)`: the cosine similarities <θ_c, h> of eq. (8);
- `check_local_similarity(fn)`: the LSC class scores ŷ_c of eq. (9);
- `check_nca_loss(fn)`: the NCA loss of eq. (10), paper form (margin δ on the target only).

Each check compares the student's function with `podnet_lib.model.classifiers` on several inputs
through the chapters' one harness (`harness.run_check`).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from podnet_lib.model.classifiers import CosineClassifier, local_similarity, nca_loss
from podnet_lib.book.exercises.harness import Verdict, answer, compare_arrays, run_check


def _inputs(seed: int, batch: int, dim: int, rows: int, scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """Random features (batch, dim) and weights (rows, dim), not normalised (norms vary)."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, dim, generator=g) * (0.5 + torch.rand(batch, 1, generator=g)) * scale
    weights = torch.randn(rows, dim, generator=g) * (0.5 + 2 * torch.rand(rows, 1, generator=g))
    return features, weights


def _tensor_case(fn: Callable[..., Any], args: tuple, expected: Tensor, atol: float = 1e-5) -> Callable[[], str | None]:
    def run() -> str | None:
        got = answer(fn, *[a.clone() if isinstance(a, Tensor) else a for a in args])
        return compare_arrays(got, expected.detach().numpy(), atol=atol)
    return run


# --- eq. (8) -------------------------------------------------------------------------------------
def check_cosine_scores(fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """fn(features (B, D), weights (C, D)) -> (B, C) cosine similarities <θ_c, h> (eq. 8, before η
    and the softmax). Compared with `CosineClassifier`."""
    cases = []
    for seed, (b, d, c) in enumerate([(1, 2, 3), (4, 8, 5), (16, 64, 10)]):
        features, weights = _inputs(seed, b, d, c, scale=3.0)
        clf = CosineClassifier(d)
        clf.add_classes(c, weights)
        with torch.no_grad():
            expected = clf(features)
        cases.append((f"B={b}, D={d}, C={c} (vectors of various norms)", _tensor_case(fn, (features, weights), expected)))
    return run_check("cosine scores, eq. (8)", cases)


# --- eq. (9) -------------------------------------------------------------------------------------
def check_local_similarity(fn: Callable[[Tensor, Tensor, int], Tensor]) -> Verdict:
    """fn(features (B, D), proxies (C * K, D), K) -> (B, C) class scores ŷ_c of eq. (9), with the
    cosine as similarity and the K proxies of a class contiguous. Compared with
    `local_similarity(..., similarity="cosine")`."""
    cases = []
    for seed, (b, d, c, k) in enumerate([(1, 2, 2, 2), (5, 8, 3, 1), (6, 16, 4, 3), (8, 64, 10, 10)]):
        features, proxies = _inputs(100 + seed, b, d, c * k)
        expected = local_similarity(features, proxies, k, similarity="cosine")
        cases.append((f"B={b}, D={d}, {c} classes, K={k}", _tensor_case(fn, (features, proxies, k), expected)))
    return run_check("LSC class scores, eq. (9)", cases)


# --- eq. (10) ------------------------------------------------------------------------------------
def check_nca_loss(fn: Callable[[Tensor, Tensor, float, float], Tensor | float]) -> Verdict:
    """fn(scores (B, C), targets (B,), eta, margin) -> scalar: the batch mean of eq. (10), the
    paper's form: margin δ on the target only, the target left out of the denominator, hinge.
    Compared with `nca_loss(..., form="paper", hinge=True)`."""
    g = torch.Generator().manual_seed(7)
    cases = []
    settings = [  # (description, B, C, eta, margin)
        ("one sample, no margin", 1, 3, 1.0, 0.0),
        ("margin 0.6, eta 1", 6, 5, 1.0, 0.6),
        ("margin 0.6, eta 8 (some samples under the hinge)", 8, 4, 8.0, 0.6),
        ("margin 0.3, eta 16, ten classes", 12, 10, 16.0, 0.3),
    ]
    for description, b, c, eta, margin in settings:
        scores = torch.rand(b, c, generator=g) * 2 - 1
        targets = torch.randint(c, (b,), generator=g)
        if "hinge" in description:                       # make the target clearly win for half the batch
            scores[: b // 2, :] = -0.5
            scores[torch.arange(b // 2), targets[: b // 2]] = 0.9
        expected = nca_loss(scores, targets, eta, margin, hinge=True, form="paper")
        cases.append((description, _tensor_case(fn, (scores, targets, eta, margin), expected)))
    return run_check("NCA loss, eq. (10), paper form", cases)
