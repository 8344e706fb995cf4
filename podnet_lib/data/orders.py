"""Class orders: which classes arrive in which task (paper Sec. 4).

A class order is a permutation of the dataset's class ids: `order[i]` is the original label
of the class learned in position i, which becomes the incremental label i (see
`scenario.Scenario`). The paper averages CIFAR-100 over three orders and runs ImageNet with one;
the authors published all of them with their code (`options/data/cifar100_3orders.yaml`,
`imagenet100_1order.yaml`, `imagenet1000_1order.yaml`). They are stored as data, in
`published_orders.json` beside this module, and order index k < their number is published
order k. Every higher index (every index for a dataset without published orders) is a
seeded permutation of this project's own, not one the authors used.
"""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Sequence

import torch

ORDERS_FILE = Path(__file__).with_name("published_orders.json")
CIFAR_LIKE = ("cifar100", "synthetic-cifar100", "synthetic-cifar100-full")
FIRST_IMAGENET_WNID = "n01440764"   # the first of ImageNet's sorted WordNet ids
SEED_BASE = 1993                    # seeded order k is torch.randperm seeded with SEED_BASE + k
_WNID = re.compile(r"n\d{8}")


class ClassOrderError(ValueError):
    """An invalid `order` or `n_classes` argument."""


@cache
def published_orders() -> dict[str, tuple[tuple[int, ...], ...]]:
    """The authors' orders: "cifar100" (3 orders of 100), "imagenet100" (1 of 100) and
    "imagenet1000" (1 of 1000), each order a permutation of 0..n-1 in arrival order."""
    data = json.loads(ORDERS_FILE.read_text(encoding="utf-8"))
    return {name: tuple(tuple(order) for order in entry["orders"]) for name, entry in data.items()}


CIFAR100_ORDER_1: tuple[int, ...] = published_orders()["cifar100"][0]   # iCaRL's order, the first of the authors' three


def order_family(dataset: str, n_classes: int, class_names: Sequence[str] | None = None) -> str | None:
    """Which published orders apply: "cifar100" for CIFAR-100 and its stand-ins; "imagenet100" /
    "imagenet1000" for an image folder of 100 / 1000 WordNet-id classes starting at n01440764 (the
    first 100 sorted ids are the authors' ImageNet-100); None otherwise."""
    if dataset in CIFAR_LIKE and n_classes <= 100:
        return "cifar100"
    names = list(class_names or [])
    if (dataset.startswith("folder:") and n_classes in (100, 1000) and len(names) == n_classes
            and names[0] == FIRST_IMAGENET_WNID and all(_WNID.fullmatch(n) for n in names)):
        return f"imagenet{n_classes}"
    return None


def class_order(dataset: str, n_classes: int, order: int = 0,
                class_names: Sequence[str] | None = None) -> list[int]:
    """The class ids of `dataset` in arrival order; a permutation of 0..n_classes-1.

    order k < P, where P is the number of published orders of the dataset (3 for CIFAR-100, 1 for
    ImageNet-100 and -1000, see `order_family`): the authors' order k. With fewer CIFAR classes
    kept, it is restricted to the ids below `n_classes`. Datasets without published orders
    use the natural order 0..n-1 as order 0 (P = 1).
    order k >= P: our own seeded permutation, `torch.randperm(n_classes)` seeded with 1993 + k.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ClassOrderError(f"order must be an integer >= 0 (the published orders first, then seeded "
                              f"permutations), got {order!r}")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ClassOrderError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    family = order_family(dataset, n_classes, class_names)
    published = published_orders()[family] if family else (tuple(range(n_classes)),)
    if order < len(published):
        return [c for c in published[order] if c < n_classes]
    generator = torch.Generator().manual_seed(SEED_BASE + order)
    return torch.randperm(n_classes, generator=generator).tolist()
