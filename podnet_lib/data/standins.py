"""Generated stand-ins for the datasets that must be downloaded (nothing is fetched).

`synthetic_splits` has CIFAR-100's shape (100 classes, uint8 3x32x32) and is learnable:
each class is a fixed smooth random pattern, each image that pattern shifted by a few
pixels plus pixel noise. `write_image_folder` writes a tiny ImageNet-style tree of PNGs
(train/ and val/ with one folder per class) for the `folder:PATH` code path;
`export_image_folder` writes any in-memory splits (e.g. the CIFAR-shaped stand-in) as such a tree.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from podnet_lib.data.splits import ArrayDataset, DatasetSplits

MAX_SHIFT = 4                 # images are class patterns shifted by up to this many pixels
NOISE_STD = 0.2               # per-pixel Gaussian noise, on the [0, 1] scale
TEMPLATE_GRID = 4             # the random patterns are this many cells wide before upsampling
PATTERN_AMPLITUDE = 0.12      # scale of a class pattern around mid-grey, [0, 1] scale


def class_templates(n_classes: int, channels: int, size: int, generator: torch.Generator) -> Tensor:
    """Smooth random patterns, float (K, C, size, size) in [0, 1]: coarse noise upsampled."""
    coarse = torch.randn(n_classes, channels, TEMPLATE_GRID, TEMPLATE_GRID, generator=generator)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return (0.5 + PATTERN_AMPLITUDE * smooth).clamp(0.0, 1.0)


def _sample_images(templates: Tensor, labels: Tensor, image_size: int,
                   generator: torch.Generator) -> Tensor:
    """uint8 (N, C, S, S): a randomly placed S x S window of each label's pattern, plus noise."""
    n = labels.shape[0]
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=generator)
    rows = offsets[:, :1] + torch.arange(image_size)                 # (N, S)
    cols = offsets[:, 1:] + torch.arange(image_size)                 # (N, S)
    big = templates.permute(0, 2, 3, 1)                              # (K, S+2m, S+2m, C)
    windows = big[labels[:, None, None], rows[:, :, None], cols[:, None, :]]  # (N, S, S, C)
    windows = windows.permute(0, 3, 1, 2)
    noisy = windows + NOISE_STD * torch.randn(windows.shape, generator=generator)
    return (noisy.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def synthetic_splits(n_classes: int = 100, train_per_class: int = 20, test_per_class: int = 5,
                     image_size: int = 32, channels: int = 3, seed: int = 0) -> DatasetSplits:
    """A learnable stand-in of CIFAR-100's shape: uint8 (N, channels, S, S), labels 0..K-1.

    Named "synthetic-cifar100" with the "cifar" augmentation (3 channels) or "digits"
    (1 channel). Train and test images of a class share its pattern.
    """
    for name, value in (("n_classes", n_classes), ("train_per_class", train_per_class),
                        ("test_per_class", test_per_class), ("image_size", image_size)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    generator = torch.Generator().manual_seed(seed)
    templates = class_templates(n_classes, channels, image_size + 2 * MAX_SHIFT, generator)

    def split(per_class: int) -> ArrayDataset:
        labels = torch.arange(n_classes).repeat_interleave(per_class)
        return ArrayDataset(_sample_images(templates, labels, image_size, generator), labels)

    train, test = split(train_per_class), split(test_per_class)
    return DatasetSplits("synthetic-cifar100", train, test, n_classes, channels, image_size,
                         [f"class_{k:03d}" for k in range(n_classes)],
                         "cifar" if channels == 3 else "digits")


def class_colour(k: int) -> tuple[int, int, int]:
    """The fill colour of class k in `write_image_folder` (distinct for the first few k)."""
    return ((40 + 60 * k) % 256, (200 - 45 * k) % 256, (90 + 110 * k) % 256)


def _gray(colour: tuple[int, int, int]) -> int:
    """PIL's "RGB" -> "L" conversion (ITU-R 601-2 luma), rounded."""
    r, g, b = colour
    return round((r * 299 + g * 587 + b * 114) / 1000)


def write_image_folder(root: Path, n_classes: int = 4, train_per_class: int = 6,
                       val_per_class: int = 2, image_size: int = 40, mode: str = "RGB",
                       seed: int = 0, same_size: bool = False) -> Path:
    """Write PNGs into root/train/class_XXX and root/val/class_XXX; return root.

    Image i of class k is filled with `class_colour(k)` (its luma when mode="L") plus
    noise of at most 3 grey levels. Every third image is wider than tall (S + 8 by S) and
    every fifth taller than wide, so decoding must resize and centre-crop; same_size=True makes
    every image S x S instead.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for k in range(n_classes):
            folder = root / split / f"class_{k:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            colour = class_colour(k)
            fill = np.array(colour if mode == "RGB" else [_gray(colour)], dtype=np.int16)
            for i in range(per_class):
                height, width = image_size, image_size
                if same_size:
                    pass
                elif i % 3 == 1:
                    width += 8
                elif i % 5 == 4:
                    height += 6
                noise = rng.integers(-3, 4, size=(height, width, fill.shape[0]))
                pixels = np.clip(fill + noise, 0, 255).astype(np.uint8)
                if mode == "L":
                    pixels = pixels[:, :, 0]
                Image.fromarray(pixels).save(folder / f"img_{i:03d}.png")
    return root


def export_image_folder(splits: DatasetSplits, root: Path) -> Path:
    """Write in-memory splits as PNGs: train -> root/train/<class name>/, test -> root/val/<class name>/.

    Grayscale splits are written as "L" images, 3-channel ones as "RGB"; returns root.
    """
    root = Path(root)
    for split, data in (("train", splits.train), ("val", splits.test)):
        if not isinstance(data, ArrayDataset):
            raise TypeError(f"export_image_folder needs in-memory splits, got {type(data).__name__}")
        counts: dict[int, int] = {}
        pixels = data.images.permute(0, 2, 3, 1).numpy()                   # (N, H, W, C)
        for image, label in zip(pixels, data.labels.tolist()):
            folder = root / split / splits.class_names[label]
            if label not in counts:
                folder.mkdir(parents=True, exist_ok=True)
            counts[label] = counts.get(label, 0) + 1
            Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(
                folder / f"img_{counts[label] - 1:04d}.png")
    return root
