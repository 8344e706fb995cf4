"""Image folders (``folder:PATH``): any ImageFolder tree, at its own size, in memory when it fits.

The size S: a folder whose images all share one size is used at that size (the shorter side
when they are not square); a folder of mixed sizes uses `image_size`, 224 when none is given
(the ImageNet presets' size). An explicit `image_size` always wins.

The recipe follows S:
- small images (S <= SMALL_IMAGE_MAX): every image is decoded to S x S (shorter side resized to
  S, centre crop) and trained with CIFAR's recipe (random crop after 4-pixel padding, flip,
  brightness 63/255), normalised by the folder's own per-channel mean and std, computed once;
- larger images: ImageNet's recipe of the authors' code (`inclearn/lib/data/datasets.py`). The
  DataLoader workers decode each file at full size, then train: RandomResizedCrop(S); test (and
  every feature extraction: herding, imprinting, NME): Resize(S * 256/224) + CenterCrop(S). The
  flip and the brightness jitter of training follow on the device, in batches
  (`augment.AUGMENTATIONS["imagenet"]`), normalised by ImageNet's mean and std.

A small-image folder whose decoded splits fit in `IN_MEMORY_BYTES` is decoded once, by parallel
DataLoader workers, into uint8 tensors (`ArrayDataset`) and then trained like CIFAR-100, from
the device; larger folders, and every ImageNet-recipe folder, stream from disk (`FolderDataset`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from podnet_lib.data.splits import ArrayDataset, DatasetSplits
from podnet_lib.progress import bars_enabled, progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
RECIPES = ("square", "imagenet")   # decode to S x S once | full-size decode + the ImageNet crops
SMALL_IMAGE_MAX = 64               # images of at most this many pixels a side get CIFAR's recipe
DEFAULT_FOLDER_SIZE = 224          # S of a folder of mixed sizes when no image_size is given
IN_MEMORY_BYTES = 1 << 30          # decoded train + val up to 1 GiB: held as one uint8 tensor
TEST_RESIZE = 256 / 224            # ImageNet test: Resize(256) then CenterCrop(224)
PROBE_FIRST = 64                   # images whose size is read before the whole folder is
STATISTICS_SAMPLE = 5000           # images that give a streamed folder's mean and std
PARALLEL_FROM = 1000               # fewer images than this are decoded in this process


def decode_image(path: str, image_size: int, channels: int) -> Tensor:
    """One file -> uint8 (channels, S, S): shorter side resized to S (bilinear), centre S x S crop."""
    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        w, h = img.size
        if (w, h) != (image_size, image_size):
            scale = image_size / min(w, h)
            new_w, new_h = max(image_size, round(w * scale)), max(image_size, round(h * scale))
            img = img.resize((new_w, new_h), Image.BILINEAR)
            left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
            img = img.crop((left, top, left + image_size, top + image_size))
        array = np.asarray(img, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def imagenet_transform(image_size: int, training: bool):
    """The authors' ImageNet crops (torchvision transforms v2) on a full-size PIL image -> uint8 (C, S, S).

    training: RandomResizedCrop(S) (scale 0.08-1, ratio 3/4-4/3); else Resize(S * 256/224) and
    CenterCrop(S). Flip and brightness are applied later, batched on the device.
    """
    from torchvision.transforms import v2

    crop = ([v2.RandomResizedCrop(image_size)] if training else
            [v2.Resize(round(image_size * TEST_RESIZE)), v2.CenterCrop(image_size)])
    return v2.Compose([*crop, v2.PILToTensor()])


class FolderDataset(torch.utils.data.Dataset):
    """A lazy list of image files; item i is (uint8 (channels, S, S), int label), S = image_size.

    recipe "square": decode_image (the same for training and test). recipe "imagenet": the
    file is decoded at full size, then `imagenet_transform(S, training)`. `for_training` gives
    the view that training batches read; the default view is the test one.
    """

    def __init__(self, paths: list[str], labels: Tensor, image_size: int, channels: int,
                 recipe: str = "square", training: bool = False) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        if labels.shape != (len(paths),):
            raise ValueError(f"labels must have shape ({len(paths)},), got {tuple(labels.shape)}")
        if recipe not in RECIPES:
            raise ValueError(f"recipe={recipe!r} is not valid; allowed values: {', '.join(RECIPES)}")
        self.paths = list(paths)
        self.labels = labels.to("cpu", torch.int64)
        self.image_size, self.channels = image_size, channels
        self.recipe, self.training = recipe, training
        self.transform = imagenet_transform(image_size, training) if recipe == "imagenet" else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self.transform is None:
            return decode_image(self.paths[i], self.image_size, self.channels), int(self.labels[i])
        with Image.open(self.paths[i]) as img:
            image = img.convert("L" if self.channels == 1 else "RGB")
        return self.transform(image), int(self.labels[i])

    def with_labels(self, labels: Tensor) -> FolderDataset:
        """The same files with new labels (N,)."""
        return FolderDataset(self.paths, labels, self.image_size, self.channels, self.recipe, self.training)

    def for_training(self, training: bool = True) -> FolderDataset:
        """The same files read with the training (True) or the test (False) transform."""
        if training == self.training:
            return self
        return FolderDataset(self.paths, self.labels, self.image_size, self.channels, self.recipe, training)


def decode_workers() -> int:
    """DataLoader workers for a one-off decode: the usable CPU cores (at most 8); 0 on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cores < 2 else min(cores, 8)


def decode_all(dataset: FolderDataset, desc: str = "decoding") -> ArrayDataset:
    """Every image of a "square" FolderDataset, decoded once in parallel -> uint8 (N, C, S, S) in memory."""
    s = dataset.image_size
    images = torch.empty(len(dataset), dataset.channels, s, s, dtype=torch.uint8)
    workers = decode_workers() if len(dataset) >= PARALLEL_FROM else 0      # starting workers costs ~0.2 s
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=workers)
    done = 0
    for batch, _ in progress(loader, bars_enabled(), desc=desc, leave=False):
        images[done:done + len(batch)] = batch
        done += len(batch)
    return ArrayDataset(images, dataset.labels.clone())


def channel_statistics(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 (N, C, H, W) images on the [0, 1] scale."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be non-empty uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    pixels = images.transpose(0, 1).reshape(images.shape[1], -1).double() / 255.0    # (C, N*H*W)
    return tuple(pixels.mean(dim=1).tolist()), tuple(pixels.std(dim=1, correction=0).tolist())


def _image_size(path: str) -> tuple[int, int]:
    with Image.open(path) as img:           # reads the header only
        return img.size


def probe_sizes(paths: list[str]) -> set[tuple[int, int]]:
    """The distinct (width, height) of the images: a spread sample first, every file only when
    the sample agrees (headers only, so a 5,000-image folder takes a fraction of a second)."""
    step = max(1, len(paths) // PROBE_FIRST)
    sizes = {_image_size(p) for p in paths[::step]}
    if len(sizes) > 1:
        return sizes
    for path in progress(paths, bars_enabled() and len(paths) > 50_000, desc="reading image sizes", leave=False):
        sizes.add(_image_size(path))
        if len(sizes) > 1:
            break
    return sizes


def choose_size(sizes: set[tuple[int, int]], image_size: int | None) -> tuple[int, str]:
    """S and why: an explicit image_size, else the one shared size, else DEFAULT_FOLDER_SIZE."""
    if image_size:
        return image_size, f"image_size={image_size}"
    if len(sizes) == 1:
        (w, h), = sizes
        return min(w, h), "every image's own size" if w == h else f"every image is {w}x{h}: shorter side"
    return DEFAULT_FOLDER_SIZE, f"mixed sizes, so {DEFAULT_FOLDER_SIZE} (set image_size to change it)"


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


def _folder_classes(path: Path, n_classes: int | None, missing: type[Exception], hint: str) -> list[str]:
    layout = f"expected {path}/train/<class>/<image> and {path}/val/<class>/<image>"
    for split in ("train", "val"):
        if not (path / split).is_dir():
            raise missing(f"image folder {path / split} not found; {layout}. {hint}")
    classes = _list_classes(path / "train")
    val_classes = _list_classes(path / "val")
    if classes != val_classes:
        only_train = sorted(set(classes) - set(val_classes))[:5]
        only_val = sorted(set(val_classes) - set(classes))[:5]
        raise ValueError(f"{path}/val must hold the same class folders as {path}/train; "
                         f"only in train: {only_train}, only in val: {only_val}")
    if not classes:
        raise missing(f"no class folders in {path / 'train'}; {layout}")
    if n_classes is not None:
        if not 1 <= n_classes <= len(classes):
            raise ValueError(f"n_classes must be in 1..{len(classes)} for {path}, got {n_classes}")
        classes = classes[:n_classes]
    return classes


def _split_files(path: Path, split: str, classes: list[str], missing: type[Exception]) -> tuple[list[str], Tensor]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = _list_images(path / split / name)
        if not files:
            raise missing(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path / split / name}; "
                          f"expected {path}/{split}/<class>/<image>")
        paths += files
        labels += [label] * len(files)
    return paths, torch.tensor(labels, dtype=torch.int64)


def load_image_folder(path: Path, image_size: int | None = None, n_classes: int | None = None,
                      memory_limit: int = IN_MEMORY_BYTES, missing: type[Exception] = FileNotFoundError,
                      hint: str = "") -> DatasetSplits:
    """An ImageFolder tree ``path/train/<class>/*``, ``path/val/<class>/*`` (ImageNet layout).

    Classes are the sorted sub-folder names of train/; `n_classes` keeps the first n of them
    (ImageNet-100 = the first 100 WordNet ids in sorted order). Channels are 1 when most images
    are grayscale, else 3. Size, recipe and memory as the module docstring says; `memory_limit`
    is the most decoded bytes held in memory (0 always streams). `missing` is the error raised
    for absent files, `hint` ends its message.
    """
    classes = _folder_classes(path, n_classes, missing, hint)
    train_paths, train_labels = _split_files(path, "train", classes, missing)
    test_paths, test_labels = _split_files(path, "val", classes, missing)
    channels = _guess_channels(train_paths)
    size, why = choose_size(probe_sizes(train_paths + test_paths), image_size)
    recipe = "square" if size <= SMALL_IMAGE_MAX else "imagenet"
    train = FolderDataset(train_paths, train_labels, size, channels, recipe)
    test = FolderDataset(test_paths, test_labels, size, channels, recipe)
    decoded = (len(train) + len(test)) * channels * size * size
    if recipe == "imagenet":
        augment, statistics, how = ("imagenet" if channels == 3 else "imagenet-gray"), None, "ImageNet recipe"
    else:
        augment, how = ("cifar" if channels == 3 else "cifar-gray"), "CIFAR recipe, the folder's mean/std"
        if decoded <= memory_limit:
            train, test = decode_all(train, "decoding train"), decode_all(test, "decoding val")
            statistics = channel_statistics(train.images)
        else:
            step = max(1, len(train) // STATISTICS_SAMPLE)
            sample = decode_all(FolderDataset(train_paths[::step], train_labels[::step], size, channels))
            statistics = channel_statistics(sample.images)
    kept = (f"decoded into memory ({decoded / 2**20:.1f} MiB)" if isinstance(train, ArrayDataset)
            else "streamed from disk")
    return DatasetSplits(f"folder:{path}", train, test, len(classes), channels, size, classes, augment,
                         statistics=statistics, note=f"{why}; {how}; {kept}")
