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

Small splits are held whole in memory (`ArrayDataset`); image folders are decoded lazily
(`FolderDataset`). Labels are the dataset's own class ids; `scenario.remap` turns them
into the incremental labels of a class order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from podnet_lib.config import ConfigError
from podnet_lib.data.splits import ArrayDataset, DatasetSplits
from podnet_lib.data.standins import synthetic_splits

STANDIN_SIZES = {"synthetic-cifar100": (20, 5), "synthetic-cifar100-full": (500, 100)}  # train, test a class
DATASET_FORMS = ("digits", "cifar100", "folder:PATH", *STANDIN_SIZES)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
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


class FolderDataset(torch.utils.data.Dataset):
    """A lazy list of image files; item i is (uint8 (channels, S, S), int label), S = image_size.

    Decoding: PIL opens the file, converts it to "L" (channels=1) or "RGB" (channels=3),
    resizes the shorter side to S (bilinear) and crops the centre S x S square.
    """

    def __init__(self, paths: list[str], labels: Tensor, image_size: int, channels: int) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        if labels.shape != (len(paths),):
            raise ValueError(f"labels must have shape ({len(paths)},), got {tuple(labels.shape)}")
        self.paths = list(paths)
        self.labels = labels.to("cpu", torch.int64)
        self.image_size = image_size
        self.channels = channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return decode_image(self.paths[i], self.image_size, self.channels), int(self.labels[i])

    def with_labels(self, labels: Tensor) -> FolderDataset:
        """The same files with new labels (N,)."""
        return FolderDataset(self.paths, labels, self.image_size, self.channels)


def decode_image(path: str, image_size: int, channels: int) -> Tensor:
    """One file -> uint8 (channels, S, S): shorter side resized to S, centre S x S crop."""
    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        w, h = img.size
        scale = image_size / min(w, h)
        new_w, new_h = max(image_size, round(w * scale)), max(image_size, round(h * scale))
        img = img.resize((new_w, new_h), Image.BILINEAR)
        left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
        img = img.crop((left, top, left + image_size, top + image_size))
        array = np.asarray(img, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


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

    return DatasetSplits(splits.name, subset(splits.train), subset(splits.test), n_classes,
                         splits.channels, splits.image_size, splits.class_names[:n_classes],
                         splits.augment)


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


def _list_classes(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir())


def _list_images(class_dir: Path) -> list[str]:
    return sorted(str(p) for p in class_dir.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _guess_channels(paths: list[str], n_probe: int = 9) -> int:
    """1 when most of a few evenly spread images are grayscale ("L" and kin), else 3."""
    step = max(1, len(paths) // n_probe)
    probe = paths[::step][:n_probe]
    gray = 0
    for path in probe:
        with Image.open(path) as img:
            gray += img.mode in GRAYSCALE_MODES
    return 1 if 2 * gray > len(probe) else 3


def load_image_folder(path: Path, image_size: int | None = None,
                      n_classes: int | None = None) -> DatasetSplits:
    """An ImageFolder tree ``path/train/<class>/*``, ``path/val/<class>/*`` (ImageNet layout).

    Classes are the sorted sub-folder names of train/; `n_classes` keeps the first n of them
    (ImageNet-100 = the first 100 WordNet ids in sorted order). Images are decoded lazily
    at `image_size` (default 224); channels are 1 when most images are grayscale, else 3.
    """
    layout = f"expected {path}/train/<class>/<image> and {path}/val/<class>/<image>"
    for split in ("train", "val"):
        if not (path / split).is_dir():
            raise DatasetNotFoundError(f"image folder {path / split} not found; {layout}. {OFFLINE_HINT}")
    classes = _list_classes(path / "train")
    val_classes = _list_classes(path / "val")
    if classes != val_classes:
        only_train = sorted(set(classes) - set(val_classes))[:5]
        only_val = sorted(set(val_classes) - set(classes))[:5]
        raise ValueError(f"{path}/val must hold the same class folders as {path}/train; "
                         f"only in train: {only_train}, only in val: {only_val}")
    if not classes:
        raise DatasetNotFoundError(f"no class folders in {path / 'train'}; {layout}")
    if n_classes is not None:
        if not 1 <= n_classes <= len(classes):
            raise ValueError(f"n_classes must be in 1..{len(classes)} for {path}, got {n_classes}")
        classes = classes[:n_classes]
    size = image_size or 224

    def split_files(split: str) -> tuple[list[str], Tensor]:
        paths, labels = [], []
        for label, name in enumerate(classes):
            files = _list_images(path / split / name)
            if not files:
                raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in "
                                           f"{path / split / name}; {layout}")
            paths += files
            labels += [label] * len(files)
        return paths, torch.tensor(labels, dtype=torch.int64)

    train_paths, train_labels = split_files("train")
    test_paths, test_labels = split_files("val")
    channels = _guess_channels(train_paths)
    return DatasetSplits(f"folder:{path}", FolderDataset(train_paths, train_labels, size, channels),
                         FolderDataset(test_paths, test_labels, size, channels), len(classes),
                         channels, size, classes, "imagenet" if channels == 3 else "imagenet-gray")


def load_dataset(name: str, root: str | Path = "data", download: bool = False, seed: int = 0,
                 image_size: int | None = None, n_classes: int | None = None) -> DatasetSplits:
    """Load a dataset by name: "digits", "cifar100", "folder:PATH" or a stand-in (STANDIN_SIZES).

    root: where downloaded files live (CIFAR-100). download: allow fetching CIFAR-100.
    seed: the digits train/test split and the stand-in's generator. image_size: resize
    (bilinear) to S x S. n_classes: keep classes 0..n-1 (for folders: the first n sorted
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
