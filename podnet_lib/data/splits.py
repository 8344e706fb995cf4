"""What every dataset loads into: a split held in memory, and the pair of splits with its facts."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from podnet_lib.data.augment import AUGMENTATIONS, AugmentSpec

if TYPE_CHECKING:
    from podnet_lib.data.folders import FolderDataset


@dataclass
class ArrayDataset:
    """A whole split in memory: `images` uint8 (N, C, H, W), `labels` int64 (N,)."""

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be int64 (N,) with N={self.images.shape[0]}, got "
                             f"{self.labels.dtype} {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> ArrayDataset:
        """The same split with both tensors on `device` (e.g. the whole of CIFAR on the GPU)."""
        return ArrayDataset(self.images.to(device), self.labels.to(device))

    def with_labels(self, labels: Tensor) -> ArrayDataset:
        """The same images with new labels (N,), e.g. the positions in a class order."""
        return ArrayDataset(self.images, labels.to(self.labels.device, torch.int64))


@dataclass
class DatasetSplits:
    """A dataset's train and test splits and what the rest of the library needs to know."""

    name: str
    train: ArrayDataset | FolderDataset      # FolderDataset: podnet_lib.data.folders
    test: ArrayDataset | FolderDataset
    n_classes: int
    channels: int
    image_size: int
    class_names: list[str]
    augment: str                 # key into augment.AUGMENTATIONS
    statistics: tuple[tuple[float, ...], tuple[float, ...]] | None = None   # own (mean, std), [0, 1] scale
    note: str = ""               # how the images are read (size, recipe, memory), for the run's first line

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {sorted(AUGMENTATIONS)}, got {self.augment!r}")
        if len(self.class_names) != self.n_classes:
            raise ValueError(f"{len(self.class_names)} class_names for n_classes={self.n_classes}")
        if self.statistics is not None and not len(self.statistics[0]) == len(self.statistics[1]) == self.channels:
            raise ValueError(f"statistics need one mean and one std per channel ({self.channels}), "
                             f"got {self.statistics}")

    def spec(self) -> AugmentSpec:
        """The augmentation of these splits: AUGMENTATIONS[augment], with the dataset's own mean
        and std in place of the recipe's when `statistics` is set."""
        spec = AUGMENTATIONS[self.augment]
        if self.statistics is None:
            return spec
        mean, std = self.statistics
        return dataclasses.replace(spec, mean=tuple(mean), std=tuple(std))
