"""Batching: pick a task's samples by label, then walk them in (shuffled) batches.

In-memory splits (`ArrayDataset`) are sliced directly: one permutation of the indices
per epoch, then contiguous slices, with no per-image Python. Image folders
(`FolderDataset`) go through a torch DataLoader with workers, which decode and (for the
ImageNet recipe) crop. Both kinds walk the indices in the same order for the same generator state.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch import Tensor

from podnet_lib.data.folders import FolderDataset
from podnet_lib.data.splits import ArrayDataset


def class_indices(labels: Tensor, classes: Sequence[int] | Tensor) -> Tensor:
    """int64 (M,) indices, ascending, of the samples whose label (N,) is in `classes`."""
    wanted = torch.as_tensor(classes, dtype=torch.int64, device=labels.device)
    return torch.isin(labels, wanted).nonzero().flatten()


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches `iterate_batches` yields for n indices."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def _epoch_order(indices: Tensor, shuffle: bool, generator: torch.Generator | None) -> Tensor:
    """indices (M,) in the order of this epoch: one randperm from the CPU generator, or as is."""
    indices = indices.to("cpu", torch.int64).flatten()
    if not shuffle:
        return indices
    return indices[torch.randperm(indices.numel(), generator=generator)]


def _array_batches(dataset: ArrayDataset, order: Tensor, batch_size: int, device: torch.device,
                   drop_last: bool) -> Iterator[tuple[Tensor, Tensor]]:
    order = order.to(dataset.images.device)
    for b in range(num_batches(order.numel(), batch_size, drop_last)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        yield (dataset.images[idx].to(device, non_blocking=True),
               dataset.labels[idx].to(device, non_blocking=True))


def _folder_batches(dataset: FolderDataset, order: Tensor, batch_size: int, device: torch.device,
                    drop_last: bool, num_workers: int) -> Iterator[tuple[Tensor, Tensor]]:
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=order.tolist(), drop_last=drop_last,
        num_workers=num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False)
    for images, labels in loader:
        yield images.to(device, non_blocking=True), labels.to(device, torch.int64, non_blocking=True)


def iterate_batches(dataset: ArrayDataset | FolderDataset, indices: Tensor, batch_size: int, *,
                    shuffle: bool, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu", drop_last: bool = False,
                    num_workers: int = 0, training: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch over `indices`: yields (uint8 images (B, C, H, W), int64 labels (B,)) on `device`.

    shuffle draws one permutation from the CPU `generator` (the same generator state gives
    the same batches for both dataset kinds). drop_last skips a last, smaller batch.
    num_workers and training only matter for FolderDataset: decoding happens in those worker
    processes, with the training transform (ImageNet recipe: RandomResizedCrop) when `training`,
    else the test one (Resize + CenterCrop).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    device = torch.device(device)
    order = _epoch_order(indices, shuffle, generator)
    if isinstance(dataset, ArrayDataset):
        return _array_batches(dataset, order, batch_size, device, drop_last)
    if isinstance(dataset, FolderDataset):
        return _folder_batches(dataset.for_training(training), order, batch_size, device, drop_last, num_workers)
    raise TypeError(f"dataset must be an ArrayDataset or a FolderDataset, got {type(dataset).__name__}")
