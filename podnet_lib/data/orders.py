"""Class orders: which classes arrive in which task (paper Sec. 4).

A class order is a permutation of the dataset's class ids; position k in it becomes the
incremental label k (see `scenario.Scenario`). CIFAR-100's order 1 is the iCaRL order
the paper (and the authors' implementation) use.
"""
from __future__ import annotations

import torch

# iCaRL's CIFAR-100 order, the paper's class order 1.
CIFAR100_ORDER_1: tuple[int, ...] = (
    87, 0, 52, 58, 44, 91, 68, 97, 51, 15, 94, 92, 10, 72, 49, 78, 61, 14, 8, 86,
    84, 96, 18, 24, 32, 45, 88, 11, 4, 67, 69, 66, 77, 47, 79, 93, 29, 50, 57, 83,
    17, 81, 41, 12, 37, 59, 25, 20, 80, 73, 1, 28, 6, 46, 62, 82, 53, 9, 31, 75,
    38, 63, 33, 74, 27, 22, 36, 3, 16, 21, 60, 19, 70, 90, 89, 43, 5, 42, 65, 76,
    40, 30, 23, 85, 2, 95, 56, 48, 71, 64, 98, 13, 99, 7, 34, 55, 54, 26, 35, 39,
)

CIFAR_LIKE = ("cifar100", "synthetic-cifar100", "synthetic-cifar100-full")
SEED_BASE = 1993             # order k >= 1 is torch.randperm seeded with SEED_BASE + k


class ClassOrderError(ValueError):
    """An invalid `order` or `n_classes` argument."""


def class_order(dataset: str, n_classes: int, order: int = 0) -> list[int]:
    """The class ids of `dataset` in arrival order; a permutation of 0..n_classes-1.

    order 0: CIFAR100_ORDER_1 for "cifar100" and its stand-ins (restricted to the
    ids below `n_classes` when fewer classes are kept), the natural order 0..n-1 for every
    other dataset. order >= 1: `torch.randperm(n_classes)` from a generator seeded with
    1993 + order. These seeded orders are this project's own; they are not the paper's
    orders 2 and 3, which were not published with it.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ClassOrderError(f"order must be an integer >= 0 (0 = the dataset's reference "
                              f"order, k >= 1 = seeded permutation k), got {order!r}")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ClassOrderError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    if order == 0:
        if dataset in CIFAR_LIKE and n_classes <= len(CIFAR100_ORDER_1):
            return [c for c in CIFAR100_ORDER_1 if c < n_classes]
        return list(range(n_classes))
    generator = torch.Generator().manual_seed(SEED_BASE + order)
    return torch.randperm(n_classes, generator=generator).tolist()
