"""Datasets: every split as uint8 images (N, C, H, W) with int64 labels (N,).

Five names are understood by `load_dataset`:

- ``"digits"``: scikit-learn's bundled 8x8 digits (10 classes), offline, the default;
- ``"cifar100"``: torchvision's CIFAR-100 under `root` (Sec. 4 of the paper);
- ``"folder:PATH"``: any ImageFolder tree ``PATH/train/<class>/*``, ``PATH/val/<class>/*``
  (ImageNet-100 / ImageNet-1000 layout);
- ``"synthetic-cifar100"``: a generated stand-in of CIFAR-100's shape (see `standins`), 20 training
  and 5 test images a class;
- ``"synthetic-cifar100-full"``: the same stand-in at CIFAR-100's size, 500 training and 100 test
  images a class (50,000 + 10,000: timing runs of the paper's protocols without the download).

Small splits are held whole in memory (`ArrayDataset`); image folders are read at their own
size, held in memory when they fit, else streamed (`FolderDataset`): see `folders`. Labels are
the dataset's own class ids; `scenario.remap` turns them into the incremental labels of a class
order.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.config import ConfigError
from podnet_lib.data import folders
from podnet_lib.data.folders import FolderDataset, decode_image  # noqa: F401  (re-exported)
from podnet_lib.data.splits import ArrayDataset, DatasetSplits
from podnet_lib.data.standins import synthetic_splits

STANDIN_SIZES = {"synthetic-cifar100": (20, 5), "synthetic-cifar100-full": (500, 100)}  # train, test a class
DATASET_FORMS = ("digits", "cifar100", "folder:PATH", *STANDIN_SIZES)
OFFLINE_HINT = "The offline preset `digits` works now: `python -m podnet_lib run --preset digits`."


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not on disk; the message says what to fetch and where."""


class DatasetNameError(ConfigError):
    """The dataset name is none of `DATASET_FORMS`."""


def check_dataset_name(name: str) -> str:
    """`name` if it is one of DATASET_FORMS (a `folder:` with a path), else DatasetNameError."""
    if name in DATASET_FORMS[:2] or name in STANDIN_SIZES or (name.startswith("folder:") and len(name) > 7):
        return name
    raise DatasetNameError(f"dataset={name!r} is not valid; allowed values: {', '.join(DATASET_FORMS)}")


def resize_images(images: Tensor, image_size: int) -> Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, S, S) by bilinear interpolation (no-op when S == H == W)."""
    if images.shape[-2:] == (image_size, image_size):
        return images
    resized = F.interpolate(images.float(), size=(image_size, image_size), mode="bilinear",
                            align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)


def keep_first_classes(splits: DatasetSplits, n_classes: int | None) -> DatasetSplits:
    """Keep the samples of classes 0..n-1 only (labels unchanged); None keeps everything."""
    if n_classes is None or n_classes == splits.n_classes:
        return splits
    if not 1 <= n_classes <= splits.n_classes:
        raise ValueError(f"n_classes must be in 1..{splits.n_classes} for {splits.name}, got {n_classes}")

    def subset(ds: ArrayDataset) -> ArrayDataset:
        keep = ds.labels < n_classes
        return ArrayDataset(ds.images[keep], ds.labels[keep])

    return dataclasses.replace(splits, train=subset(splits.train), test=subset(splits.test),
                               n_classes=n_classes, class_names=splits.class_names[:n_classes])


def load_digits_splits(seed: int = 0, image_size: int | None = None) -> DatasetSplits:
    """scikit-learn's digits: 1797 images 8x8, values 0..16 -> uint8 round(x * 255 / 16).

    A stratified split (test_size=0.25, random_state=seed): 1347 train, 450 test images.
    `image_size` (e.g. 32) upsamples bilinearly so feature maps stay large enough to look at.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(np.rint(digits.images * 255.0 / 16.0).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.25,
                                           random_state=seed, stratify=digits.target)
    size = image_size or 8
    images = resize_images(images, size)
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return DatasetSplits("digits", ArrayDataset(images[train_idx], labels[train_idx]),
                         ArrayDataset(images[test_idx], labels[test_idx]), 10, 1, size,
                         [str(k) for k in range(10)], "digits")


def load_cifar100(root: Path, download: bool, image_size: int | None = None) -> DatasetSplits:
    """torchvision's CIFAR-100 under `root`: uint8 (N, 3, 32, 32), 50000 train / 10000 test."""
    import torchvision

    folder = root / "cifar-100-python"
    missing = [f for f in ("train", "test", "meta") if not (folder / f).is_file()]
    if missing and not download:
        raise DatasetNotFoundError(
            f"CIFAR-100 is not in {folder} (missing: {', '.join(missing)}). It is about 170 MB: "
            f"pass `--download` (Config field `download`) once to fetch it into {root}, or place the "
            f"extracted `cifar-100-python/` folder under {root}. {OFFLINE_HINT}")
    try:
        train = torchvision.datasets.CIFAR100(str(root), train=True, download=download)
        test = torchvision.datasets.CIFAR100(str(root), train=False, download=download)
    except (OSError, RuntimeError) as err:
        raise DatasetNotFoundError(
            f"CIFAR-100 could not be {'fetched into' if download else 'read from'} {root} "
            f"({err}). Place the extracted `cifar-100-python/` folder (about 170 MB) under "
            f"{root} by hand, or pass `--download`. {OFFLINE_HINT}") from err

    def arrays(ds) -> ArrayDataset:
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return ArrayDataset(resize_images(images, image_size or 32),
                            torch.tensor(ds.targets, dtype=torch.int64))

    return DatasetSplits("cifar100", arrays(train), arrays(test), 100, 3, image_size or 32,
                         list(train.classes), "cifar")


def load_image_folder(path: Path, image_size: int | None = None, n_classes: int | None = None,
                      memory_limit: int = folders.IN_MEMORY_BYTES) -> DatasetSplits:
    """An ImageFolder tree ``path/train/<class>/*``, ``path/val/<class>/*``: `folders.load_image_folder`
    (own size, CIFAR or ImageNet recipe, in memory when it fits); missing files -> DatasetNotFoundError."""
    return folders.load_image_folder(path, image_size, n_classes, memory_limit, DatasetNotFoundError, OFFLINE_HINT)


def load_dataset(name: str, root: str | Path = "data", download: bool = False, seed: int = 0,
                 image_size: int | None = None, n_classes: int | None = None) -> DatasetSplits:
    """Load a dataset by name: "digits", "cifar100", "folder:PATH" or a stand-in (STANDIN_SIZES).

    root: where downloaded files live (CIFAR-100). download: allow fetching CIFAR-100.
    seed: the digits train/test split and the stand-in's generator. image_size: resize
    (bilinear) to S x S; None keeps the dataset's own size (a folder of mixed sizes: 224).
    n_classes: keep classes 0..n-1 (for folders: the first n sorted
    class names). Missing files raise DatasetNotFoundError with what to do.
    """
    check_dataset_name(name)
    if name == "digits":
        return keep_first_classes(load_digits_splits(seed, image_size), n_classes)
    if name == "cifar100":
        return keep_first_classes(load_cifar100(Path(root), download, image_size), n_classes)
    if name in STANDIN_SIZES:
        train, test = STANDIN_SIZES[name]
        splits = synthetic_splits(train_per_class=train, test_per_class=test, image_size=image_size or 32, seed=seed)
        return keep_first_classes(splits, n_classes)
    if name.startswith("folder:") and len(name) > len("folder:"):
        return load_image_folder(Path(name[len("folder:"):]).expanduser(), image_size, n_classes)
    raise AssertionError(check_dataset_name(name))    # check_dataset_name raised already
