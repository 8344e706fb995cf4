"""The class-incremental protocol (paper Sec. 4): a base task of B classes, then tasks of
`increment` new classes each, following a class order.

Labels are renamed once: the class at position k of the order gets label k, so the
classes of task t are a contiguous range of labels and "the classes seen so far" is
simply `labels < seen_classes(t)`. CIFAR-100 with 50 base classes and increments of
1/2/5/10 gives the paper's 50/25/10/5-step settings (51/26/11/6 tasks with the base).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence, TypeVar

import torch
from torch import Tensor


class ScenarioError(ValueError):
    """An invalid scenario field (base, increment or class_order)."""


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _check(class_order: tuple[int, ...], base: int, increment: int) -> None:
    """Raise ScenarioError naming the first invalid field and its allowed values."""
    n = len(class_order)
    if n < 1:
        raise ScenarioError("class_order must hold at least one class")
    if not 1 <= base <= n:
        raise ScenarioError(f"base must be in 1..{n} (n_classes), got {base}")
    remaining = n - base
    if remaining > 0 and increment < 1:
        raise ScenarioError(f"increment must be >= 1 when base < n_classes, got {increment}; "
                            f"valid increments: {_divisors(remaining)}")
    if increment < 0:
        raise ScenarioError(f"increment must be >= 0, got {increment}")
    if remaining > 0 and remaining % increment:
        raise ScenarioError(f"increment={increment} does not divide n_classes - base = {remaining}; "
                            f"valid increments: {_divisors(remaining)}")
    counts = Counter(class_order)
    duplicated = sorted(c for c, k in counts.items() if k > 1)
    missing = sorted(set(range(n)) - set(counts))
    outside = sorted(c for c in counts if not 0 <= c < n)
    if duplicated or missing or outside:
        raise ScenarioError(f"class_order must be a permutation of 0..{n - 1}; missing: {missing}, "
                            f"duplicated: {duplicated}, out of range: {outside}")


@dataclass(frozen=True)
class Scenario:
    """B = `base` classes in task 0, then `increment` classes per task, in `class_order`.

    class_order: original class ids; the position of an id in this tuple is its new label.
    """

    class_order: tuple[int, ...]
    base: int
    increment: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_order", tuple(int(c) for c in self.class_order))
        _check(self.class_order, self.base, self.increment)

    @property
    def n_classes(self) -> int:
        return len(self.class_order)

    @property
    def n_tasks(self) -> int:
        """1 + (n_classes - base) / increment; the base task counts as task 0."""
        if self.base == self.n_classes:
            return 1
        return 1 + (self.n_classes - self.base) // self.increment

    def _check_task(self, t: int) -> None:
        if not 0 <= t < self.n_tasks:
            raise ScenarioError(f"task index t must be in 0..{self.n_tasks - 1}, got {t}")

    def task_classes(self, t: int) -> list[int]:
        """The new labels introduced at task t: a contiguous range."""
        self._check_task(t)
        start = 0 if t == 0 else self.base + (t - 1) * self.increment
        return list(range(start, self.seen_classes(t)))

    def seen_classes(self, t: int) -> int:
        """How many classes have been seen after task t: B + t * increment."""
        self._check_task(t)
        return self.base + t * self.increment

    def to_label(self, original: Tensor) -> Tensor:
        """Original class ids (any shape) -> new labels (positions in the order), same device."""
        inverse = torch.empty(self.n_classes, dtype=torch.int64)
        inverse[torch.tensor(self.class_order)] = torch.arange(self.n_classes)
        self._check_range(original, "original class ids")
        return inverse.to(original.device)[original.long()]

    def to_original(self, labels: Tensor) -> Tensor:
        """New labels (any shape) -> original class ids, same device."""
        self._check_range(labels, "labels")
        return torch.tensor(self.class_order, device=labels.device)[labels.long()]

    def task_of(self, labels: Tensor) -> Tensor:
        """New labels (any shape) -> the index of the task that introduced each one."""
        self._check_range(labels, "labels")
        labels = labels.long()
        if self.base == self.n_classes:
            return torch.zeros_like(labels)
        later = 1 + torch.div(labels - self.base, self.increment, rounding_mode="floor")
        return torch.where(labels < self.base, torch.zeros_like(labels), later)

    def _check_range(self, values: Tensor, what: str) -> None:
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= self.n_classes):
            raise ScenarioError(f"{what} must be in 0..{self.n_classes - 1}, got values in "
                                f"{int(values.min())}..{int(values.max())}")


def make_scenario(n_classes: int, base: int, increment: int,
                  class_order: Sequence[int] | None = None) -> Scenario:
    """Build and validate a scenario; `class_order` None means the natural order 0..n-1."""
    order = tuple(range(n_classes)) if class_order is None else tuple(int(c) for c in class_order)
    if len(order) != n_classes:
        raise ScenarioError(f"class_order must have n_classes={n_classes} entries, got {len(order)}")
    return Scenario(order, base, increment)


D = TypeVar("D")


def remap(dataset: D, scenario: Scenario) -> D:
    """The same dataset (ArrayDataset or FolderDataset) with labels = scenario.to_label(labels)."""
    return dataset.with_labels(scenario.to_label(dataset.labels))  # type: ignore[attr-defined]
