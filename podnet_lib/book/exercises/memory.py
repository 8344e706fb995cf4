"""Checks for chapter 03's exercises: herding, NME class means and predictions, memory budgets.

Each `check_...(fn)` calls the student's function on several inputs, compares with
`podnet_lib.engine.memory` / `podnet_lib.engine.inference`, prints which case is right or wrong and by how
much, and returns True or False. It never raises: a `NotImplementedError` prints
"not implemented yet", any other error is reported with its line number.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.book.exercises.calling import Stop, as_number, call, verdict
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
def _herding_cases(seed: int = 0) -> list[tuple[str, Tensor, int]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, m in ((30, 5, 8), (100, 16, 20), (12, 4, 12), (50, 64, 1)):
        feats = 3.0 * torch.randn(n, d, generator=g) + torch.randn(d, generator=g)   # unequal norms
        cases.append((f"N={n}, D={d}, m={m}", feats, m))
    return cases


def check_herding(fn: Callable[[Tensor, int], Tensor]) -> bool:
    """fn(features (N, D), m) -> (m,) indices in pick order, as `herding_selection`."""
    print("Checking herding (iCaRL's greedy exemplar selection):")
    passed, cases = 0, _herding_cases()
    try:
        for desc, feats, m in cases:
            expected = herding_selection(feats, m)
            ok, out = call(fn, desc, feats.clone(), m)
            if not ok:
                continue
            got = _as_long(out)
            if got.shape != expected.shape:
                print(f"  [wrong] {desc}: expected {m} indices, got shape {tuple(got.shape)}")
                continue
            if got.unique().numel() != got.numel():
                print(f"  [wrong] {desc}: an index is picked twice: {got.tolist()}")
                continue
            if torch.equal(got, expected):
                print(f"  [ok]    {desc}: {got[:6].tolist()}{' ...' if m > 6 else ''}")
                passed += 1
                continue
            k = int((got != expected).nonzero()[0])
            print(f"  [wrong] {desc}: pick {k} differs (yours {int(got[k])}, expected {int(expected[k])}); "
                  f"your subset's mean is {_mean_gap(feats, got):.4f} from the class mean, the library's "
                  f"{_mean_gap(feats, expected):.4f}. Did you L2-normalise the features first?")
    except Stop:
        return False
    return verdict("the library's herding_selection", passed, len(cases))


# --- class means and NME -----------------------------------------------------------------------
def _means_cases(seed: int = 1) -> list[tuple[str, Tensor, Tensor, int]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, c in ((20, 4, 3), (60, 16, 5), (7, 2, 7)):
        labels = torch.cat([torch.arange(c), torch.randint(0, c, (n - c,), generator=g)])
        feats = 2.0 * torch.randn(n, d, generator=g) + labels.float().unsqueeze(1)   # unequal norms
        cases.append((f"N={n}, D={d}, {c} classes", feats, labels, c))
    return cases


def check_class_means(fn: Callable[[Tensor, Tensor, int], Tensor]) -> bool:
    """fn(features (N, D), labels (N,), n_classes) -> (n_classes, D) unit class means, as `class_means`."""
    print("Checking the NME class means:")
    passed, cases = 0, _means_cases()
    try:
        for desc, feats, labels, c in cases:
            expected = class_means(feats, labels, c)
            ok, out = call(fn, desc, feats.clone(), labels.clone(), c)
            if not ok:
                continue
            got = torch.as_tensor(out, dtype=torch.float32).cpu()
            if got.shape != expected.shape:
                print(f"  [wrong] {desc}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
                continue
            err = float((got - expected).abs().max())
            if err <= ATOL * 10:
                print(f"  [ok]    {desc}: largest difference {err:.1e}")
                passed += 1
                continue
            norms = got.norm(dim=1)
            hint = ("your means are not unit vectors: renormalise them" if (norms - 1).abs().max() > 1e-3
                    else "normalise each feature before averaging")
            print(f"  [wrong] {desc}: largest difference {err:.4f} ({hint})")
    except Stop:
        return False
    return verdict("the library's class_means", passed, len(cases))


def check_nme_predict(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """fn(features (N, D), means (C, D)) -> (N,) predicted labels, as `nme_predict`."""
    print("Checking nearest-mean-of-exemplars prediction:")
    g = torch.Generator().manual_seed(2)
    cases = []
    for n, d, c in ((40, 8, 4), (100, 16, 10), (5, 3, 2)):
        means = F.normalize(torch.randn(c, d, generator=g), dim=1)
        feats = 5.0 * torch.rand(n, 1, generator=g) * (torch.randn(n, d, generator=g) + 2 * means[torch.randint(0, c, (n,), generator=g)])
        cases.append((f"N={n}, D={d}, C={c}", feats, means))
    passed = 0
    try:
        for desc, feats, means in cases:
            expected = nme_predict(feats, means)
            ok, out = call(fn, desc, feats.clone(), means.clone())
            if not ok:
                continue
            got = _as_long(out)
            if got.shape != expected.shape:
                print(f"  [wrong] {desc}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
                continue
            wrong = int((got != expected).sum())
            if wrong == 0:
                print(f"  [ok]    {desc}: all {len(got)} predictions agree")
                passed += 1
            else:
                print(f"  [wrong] {desc}: {wrong}/{len(got)} predictions differ "
                      "(the nearest mean is the one at the smallest distance, one label per row)")
    except Stop:
        return False
    return verdict("the library's nme_predict", passed, len(cases))


# --- memory budgets ----------------------------------------------------------------------------
MEMORY_CASES: tuple[tuple[int, int | None, int | None], ...] = (
    (50, 20, None), (100, 20, None), (50, None, 2000), (51, None, 2000), (100, None, 2000),
    (7, None, 100), (3, 5, None),
)


def check_exemplars_per_class(fn: Callable[[int, int | None, int | None], int]) -> bool:
    """fn(n_seen, memory_per_class, memory_total) -> images per class, as `exemplars_per_class`."""
    print("Checking the memory budget (images kept per class):")
    passed = 0
    try:
        for n_seen, m_per, m_total in MEMORY_CASES:
            desc = f"n_seen={n_seen}, memory_per_class={m_per}, memory_total={m_total}"
            expected = exemplars_per_class(n_seen, m_per, m_total)
            ok, out = call(fn, desc, n_seen, m_per, m_total)
            if not ok:
                continue
            got = as_number(out, desc)
            if got is None:
                continue
            if got == expected:
                print(f"  [ok]    {desc}: {expected}")
                passed += 1
            else:
                print(f"  [wrong] {desc}: expected {expected}, got {out} (off by {got - expected:+g})")
    except Stop:
        return False
    return verdict("the library's exemplars_per_class", passed, len(MEMORY_CASES))


__all__ = ["check_herding", "check_class_means", "check_nme_predict", "check_exemplars_per_class"]
