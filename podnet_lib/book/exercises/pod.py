"""Checks for chapter 01's exercises (POD, Sec. 3.1, eqs. (4)-(6) and the authors' form).

Each `check_...(fn)` calls the student's function on several random tensors (non-square maps
among them, so that a sum over the wrong axis shows), compares with `podnet_lib.model.pod`
through the chapters' one harness (`harness.run_check`); a wrong answer that matches a known slip
gets a hint.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.book.exercises.harness import Case, Verdict, answer, compare_numbers, run_check
from podnet_lib.model.pod import pod_distance, pod_flat, pod_height, pod_spatial, pod_width

MAP_SHAPES = ((2, 3, 4, 5), (1, 1, 3, 7), (4, 8, 6, 2), (3, 5, 5, 5))    # (B, C, H, W)
EMB_SHAPES = ((2, 8), (5, 3), (1, 64))                                     # (B, D)
RTOL, ATOL = 1e-4, 1e-5


def _map_cases(seed: int = 0) -> list[tuple[str, Tensor, Tensor]]:
    """(description, old, new) pairs of stage outputs; the last one has new == old."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for shape in MAP_SHAPES:
        old = torch.randn(shape, generator=g)
        new = old + 0.5 * torch.randn(shape, generator=g)
        b, c, h, w = shape
        cases.append((f"B={b}, C={c}, H={h}, W={w}", old, new))
    old = torch.randn(2, 3, 4, 5, generator=g)
    cases.append(("new == old (the loss must be 0)", old, old.clone()))
    return cases


def _emb_cases(seed: int = 0) -> list[tuple[str, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for b, d in EMB_SHAPES:
        old = torch.randn(b, d, generator=g)
        cases.append((f"B={b}, D={d}", old, old + 0.5 * torch.randn(b, d, generator=g)))
    old = torch.randn(3, 4, generator=g)
    cases.append(("new == 2 * old (same direction, twice as long)", old, 2 * old))
    return cases


def _scalar_check(title: str, student: Callable, reference: Callable, cases, hints: dict[str, Callable]) -> Verdict:
    """Compare student(old, new) with reference(old, new) case by case, through the harness."""

    def case(desc: str, old: Tensor, new: Tensor) -> Case:
        def run() -> str | None:
            got = answer(student, old.clone(), new.clone())
            wrong = {text: float(test(old, new)) for text, test in hints.items()}
            return compare_numbers(got, float(reference(old, new)), wrong, RTOL, ATOL)
        return desc, run

    return run_check(title, [case(d, o, n) for d, o, n in cases])


def _authors(old: Tensor, new: Tensor) -> Tensor:
    return pod_spatial(old, new, form="authors")


def _batch_size(old: Tensor) -> int:
    return old.shape[0]


def check_pod_width(fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """Check POD-width, eq. (4): fn(old, new) with (B, C, H, W) inputs -> scalar batch mean."""
    hints = {
        "this is POD-height: you summed over the height (dim 2); the width is the last axis (dim 3)": pod_height,
        "you summed the per-sample losses over the batch; eq. (4) is per sample, take the batch mean":
            lambda o, n: pod_width(o, n) * _batch_size(o),
        "this is POD-pixel: nothing was summed over the width before the difference":
            lambda o, n: pod_distance(o, n, "pixel"),
        "this is POD-gap: sum over the width only, the profile along the height is what POD-width keeps":
            lambda o, n: pod_distance(o, n, "gap"),
    }
    return _scalar_check("POD-width, eq. (4)", fn, pod_width, _map_cases(0), hints)


def check_pod_spatial(fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """Check POD-spatial, eq. (5), paper form: fn(old, new) with (B, C, H, W) inputs -> scalar."""
    hints = {
        "this is POD-width alone: eq. (5) adds POD-height": pod_width,
        "this is POD-height alone: eq. (5) adds POD-width": pod_height,
        "you summed the per-sample losses over the batch; take the batch mean":
            lambda o, n: pod_spatial(o, n) * _batch_size(o),
        "this is half of eq. (5): the two terms are added, not averaged": lambda o, n: pod_spatial(o, n) / 2,
        "this is the authors' form; this exercise asks for the paper's eq. (5)": _authors,
    }
    return _scalar_check("POD-spatial, eq. (5), paper form", fn, pod_spatial, _map_cases(1), hints)


def check_pod_flat(fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """Check POD-flat, eq. (6), paper form: fn(old_emb, new_emb) with (B, D) inputs -> scalar."""
    hints = {
        "the distance is not squared: eq. (6) uses ||h_old - h_new||^2":
            lambda o, n: (o - n).norm(dim=1).mean(),
        "you summed over the batch; take the batch mean": lambda o, n: pod_flat(o, n) * _batch_size(o),
        "you averaged over the D dimensions too; sum them, average only over the batch":
            lambda o, n: pod_flat(o, n) / o.shape[1],
        "this is the authors' form (1 - cosine); this exercise asks for eq. (6)":
            lambda o, n: pod_flat(o, n, form="authors"),
    }
    return _scalar_check("POD-flat, eq. (6), paper form", fn, pod_flat, _emb_cases(2), hints)


def _authors_variant(old: Tensor, new: Tensor, square: bool = True, normalise: bool = True,
                     squared_distance: bool = False) -> Tensor:
    """The authors' POD-spatial with one step changed: the slips the hints recognise."""
    def stat(x: Tensor) -> Tensor:
        x = x.pow(2) if square else x
        v = torch.cat([x.sum(dim=3).flatten(1), x.sum(dim=2).flatten(1)], dim=1)
        return F.normalize(v, dim=1) if normalise else v
    d = (stat(old) - stat(new)).pow(2).sum(dim=1)
    return (d if squared_distance else d.sqrt()).mean()


def check_authors_spatial(fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """Check POD-spatial in the authors' form: fn(old, new) with (B, C, H, W) inputs -> scalar."""
    hints = {
        "the distance is squared: the authors' form uses the Euclidean distance itself (no square)":
            lambda o, n: _authors_variant(o, n, squared_distance=True),
        "the activations were not squared before pooling": lambda o, n: _authors_variant(o, n, square=False),
        "the pooled vectors were not L2-normalised per sample": lambda o, n: _authors_variant(o, n, normalise=False),
        "this is the paper's form; this exercise asks for the authors' form": pod_spatial,
        "you summed over the batch; take the batch mean": lambda o, n: _authors(o, n) * _batch_size(o),
    }
    return _scalar_check("POD-spatial, authors' form", fn, _authors, _map_cases(3), hints)
