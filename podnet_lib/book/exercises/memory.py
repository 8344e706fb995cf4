"""Checks for chapter 03's exercises: herding, NME class means and predictions, memory budgets.

Each `check_...(fn)` calls the student's function on several inputs and compares with
`podnet_lib.engine.memory` / `podnet_lib.engine.inference` through the chapters' one harness
(`harness.run_check`).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.book.exercises.harness import Case, Verdict, answer, as_number, run_check
from podnet_lib.engine.inference import class_means, nme_predict
from podnet_lib.engine.memory import exemplars_per_class, herding_selection

ATOL = 1e-5


def _as_long(out: Any) -> Tensor:
    return torch.as_tensor(out).long().flatten().cpu()


def _mean_gap(features: Tensor, idx: Tensor) -> float:
    """Distance between the mean of the picked normalised features and the class mean."""
    normed = F.normalize(features, dim=1)
    return float((normed[idx].mean(0) - normed.mean(0)).norm())


# --- herding -----------------------------------------------------------------------------------
def icarl_herding(features: Tensor, m: int, max_iterations: int = 1000) -> Tensor:
    """iCaRL's original herding update, as in iCaRL's and the authors' code: (min(m, N),) indices.

    w starts at the class mean μ of the normalised features φ; each step takes i = argmax <w, φ_i>
    and updates w <- w + μ - φ_i, even when i was already taken (a repeated hit adds nothing to the
    memory but moves w). The picks are returned in order of first hit. Without repeated hits it
    equals `herding_selection`; after one, the two can differ.
    """
    phi = F.normalize(features.detach().double(), dim=1)
    mu = phi.mean(0)
    w, picked = mu.clone(), []
    target = min(m, len(phi))
    for _ in range(max_iterations):
        if len(picked) == target:
            break
        i = int(torch.argmax(phi @ w))
        if i not in picked:
            picked.append(i)
        w = w + mu - phi[i]
    return torch.tensor(picked, dtype=torch.long)


def _herding_cases(seed: int = 0) -> list[tuple[str, Tensor, int]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, m in ((30, 5, 8), (100, 16, 20), (12, 4, 12), (50, 64, 1), (40, 2, 15)):
        feats = 3.0 * torch.randn(n, d, generator=g) + torch.randn(d, generator=g)   # unequal norms
        cases.append((f"N={n}, D={d}, m={m}", feats, m))
    return cases


def check_herding(fn: Callable[[Tensor, int], Tensor]) -> Verdict:
    """fn(features (N, D), m) -> (min(m, N),) indices in pick order. Either form of herding passes:
    the greedy mean-matching of `herding_selection` (no index twice) or iCaRL's original update
    (`icarl_herding`, the one the authors' code runs); they differ only after a repeated hit."""

    def case(desc: str, feats: Tensor, m: int) -> Case:
        def run() -> str | None:
            got = _as_long(answer(fn, feats.clone(), m))
            expected = herding_selection(feats, m)
            if got.shape != expected.shape:
                return f"expected {min(m, len(feats))} indices, got shape {tuple(got.shape)}"
            if got.unique().numel() != got.numel():
                return f"an index is picked twice: {got.tolist()}"
            if torch.equal(got, expected) or torch.equal(got, icarl_herding(feats, m)):
                return None
            k = int((got != expected).nonzero()[0])
            return (f"pick {k} differs (yours {int(got[k])}, expected {int(expected[k])}); your subset's mean is "
                    f"{_mean_gap(feats, got):.4f} from the class mean, the library's {_mean_gap(feats, expected):.4f}. "
                    "Did you L2-normalise the features first?")
        return desc, run

    return run_check("herding", [case(*c) for c in _herding_cases()])


# --- class means and NME -----------------------------------------------------------------------
def _means_cases(seed: int = 1) -> list[tuple[str, Tensor, Tensor, int]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, c in ((20, 4, 3), (60, 16, 5), (7, 2, 7)):
        labels = torch.cat([torch.arange(c), torch.randint(0, c, (n - c,), generator=g)])
        feats = 2.0 * torch.randn(n, d, generator=g) + labels.float().unsqueeze(1)   # unequal norms
        cases.append((f"N={n}, D={d}, {c} classes", feats, labels, c))
    return cases


def check_class_means(fn: Callable[[Tensor, Tensor, int], Tensor]) -> Verdict:
    """fn(features (N, D), labels (N,), n_classes) -> (n_classes, D) unit class means, as `class_means`."""

    def case(desc: str, feats: Tensor, labels: Tensor, c: int) -> Case:
        def run() -> str | None:
            got = torch.as_tensor(answer(fn, feats.clone(), labels.clone(), c), dtype=torch.float32).cpu()
            expected = class_means(feats, labels, c)
            if got.shape != expected.shape:
                return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
            err = float((got - expected).abs().max())
            if err <= ATOL * 10:
                return None
            hint = ("your means are not unit vectors: renormalise them" if (got.norm(dim=1) - 1).abs().max() > 1e-3
                    else "normalise each feature before averaging")
            return f"largest difference {err:.4f} ({hint})"
        return desc, run

    return run_check("NME class means", [case(*c) for c in _means_cases()])


def _nme_cases(seed: int = 2) -> list[tuple[str, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, c in ((40, 8, 4), (100, 16, 10), (5, 3, 2)):
        means = F.normalize(torch.randn(c, d, generator=g), dim=1)
        feats = 5.0 * torch.rand(n, 1, generator=g) * (torch.randn(n, d, generator=g)
                                                       + 2 * means[torch.randint(0, c, (n,), generator=g)])
        cases.append((f"N={n}, D={d}, C={c}", feats, means))
    return cases


def check_nme_predict(fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """fn(features (N, D), means (C, D)) -> (N,) predicted labels, as `nme_predict`."""

    def case(desc: str, feats: Tensor, means: Tensor) -> Case:
        def run() -> str | None:
            got = _as_long(answer(fn, feats.clone(), means.clone()))
            expected = nme_predict(feats, means)
            if got.shape != expected.shape:
                return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
            wrong = int((got != expected).sum())
            if wrong == 0:
                return None
            return (f"{wrong}/{len(got)} predictions differ "
                    "(the nearest mean is the one at the smallest distance, one label per row)")
        return desc, run

    return run_check("nearest-mean-of-exemplars prediction", [case(*c) for c in _nme_cases()])


# --- memory budgets ----------------------------------------------------------------------------
# (n_seen, M_per, M_total); several M_total / n_seen have a fractional part >= 0.5, so rounding to
# the nearest integer and rounding down (the floor, which keeps the total within budget) differ.
MEMORY_CASES: tuple[tuple[int, int | None, int | None], ...] = (
    (50, 20, None), (100, 20, None), (3, 5, None), (50, None, 2000), (51, None, 2000),
    (30, None, 2000), (70, None, 2000), (3, None, 2000), (7, None, 100), (100, None, 2000),
)


def check_exemplars_per_class(fn: Callable[[int, int | None, int | None], int]) -> Verdict:
    """fn(n_seen, memory_per_class, memory_total) -> images per class, as `exemplars_per_class`."""

    def case(n_seen: int, m_per: int | None, m_total: int | None) -> Case:
        def run() -> str | None:
            got = as_number(answer(fn, n_seen, m_per, m_total))
            expected = exemplars_per_class(n_seen, m_per, m_total)
            if got == expected:
                return None
            hint = ""
            if m_total is not None and got == round(m_total / n_seen):
                hint = (f": rounded to the nearest integer, {got:g} x {n_seen} = {got * n_seen:g} images "
                        f"exceed the budget of {m_total}; round down")
            elif m_total is not None and got == m_total / n_seen:
                hint = ": a number of images is a whole number; round down"
            return f"expected {expected}, got {got:g}{hint}"
        return f"n_seen={n_seen}, memory_per_class={m_per}, memory_total={m_total}", run

    return run_check("memory budget (images kept per class)", [case(*c) for c in MEMORY_CASES])


__all__ = ["check_herding", "check_class_means", "check_nme_predict", "check_exemplars_per_class", "icarl_herding"]
