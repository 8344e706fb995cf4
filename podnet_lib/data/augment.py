"""Training augmentation, batched on the batch's own device.

The CIFAR recipe of the authors' implementation: random 32x32 crop of the image padded
by 4 zero pixels, horizontal flip with p=0.5, brightness jitter 63/255, then
normalisation by the dataset mean/std. Here one call handles a whole uint8 batch
(B, C, H, W): every random number is drawn on the CPU from the caller's
`torch.Generator` (so results do not depend on the device), then the crop and the flip
are a single gather with index arithmetic; no Python loop runs over images.

`augment_one` is the plain per-image reference with the same semantics; the tests
check the batched path against it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


class AugmentError(ValueError):
    """The spec does not fit the images (channel count) or is itself invalid."""


@dataclass(frozen=True)
class AugmentSpec:
    crop_padding: int            # random crop after zero padding by this many pixels (CIFAR: 4)
    flip: bool                   # horizontal flip with p=0.5 (off for digits: not mirror-symmetric)
    brightness: float            # multiply [0, 1] pixels by U[1-b, 1+b], clamp (CIFAR: 63/255)
    mean: tuple[float, ...]      # per-channel mean of [0, 1] pixels
    std: tuple[float, ...]       # per-channel standard deviation of [0, 1] pixels

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise AugmentError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if not 0.0 <= self.brightness <= 1.0:
            raise AugmentError(f"brightness must be in [0, 1], got {self.brightness}")
        if len(self.mean) != len(self.std) or not self.mean:
            raise AugmentError(f"mean and std need one value per channel, got {self.mean}, {self.std}")
        if min(self.std) <= 0:
            raise AugmentError(f"std values must be > 0, got {self.std}")


AUGMENTATIONS: dict[str, AugmentSpec] = {
    # The authors' CIFAR-100 recipe (see the module docstring).
    "cifar": AugmentSpec(4, True, 63 / 255, (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    # Digits: a 1-pixel shift, no flip; mean/std of the 8x8 train pixels (seed-0 split).
    "digits": AugmentSpec(1, False, 0.2, (0.3053,), (0.3758,)),
    # Grayscale small-image folders: the CIFAR recipe; the folder's own mean/std replace these
    # (`DatasetSplits.statistics`), as they do for 3-channel folders.
    "cifar-gray": AugmentSpec(4, True, 63 / 255, (0.4782,), (0.2667,)),
    # ImageNet: the random-resized crop happens in the DataLoader workers
    # (`folders.imagenet_transform`), so no padding here; flip and brightness follow in batches.
    "imagenet": AugmentSpec(0, True, 63 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # Grayscale image folders: ImageNet's recipe with its channel-averaged mean/std.
    "imagenet-gray": AugmentSpec(0, True, 63 / 255, (0.449,), (0.226,)),
}


@dataclass(frozen=True)
class AugmentParams:
    """The random draws for B images: crop `offsets` (B, 2) as (top, left) into the padded
    image, `flips` (B,) bool, brightness `factors` (B,) float32. All on the CPU."""

    offsets: Tensor
    flips: Tensor
    factors: Tensor

    def __getitem__(self, i: int) -> AugmentParams:
        return AugmentParams(self.offsets[i:i + 1], self.flips[i:i + 1], self.factors[i:i + 1])


def _check_channels(x: Tensor, spec: AugmentSpec) -> None:
    if x.dtype != torch.uint8 or x.dim() < 3:
        raise AugmentError(f"images must be uint8 (..., C, H, W), got {x.dtype} {tuple(x.shape)}")
    if x.shape[-3] != len(spec.mean):
        raise AugmentError(f"images have {x.shape[-3]} channels but the spec's mean/std have "
                           f"{len(spec.mean)}; pick the augmentation that matches the dataset")


def _to_unit_then_normalise(x: Tensor, spec: AugmentSpec, factors: Tensor | None = None) -> Tensor:
    """uint8 (..., C, H, W) -> float32 (x/255 [* factor, clamped] - mean) / std."""
    unit = x.float() / 255.0
    if factors is not None:
        unit = (unit * factors.view(-1, *([1] * (unit.dim() - 1)))).clamp_(0.0, 1.0)
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return (unit - mean) / std


def normalise(x: Tensor, spec: AugmentSpec) -> Tensor:
    """Test-time path: uint8 (B, C, H, W) -> float32 (B, C, H, W), (x/255 - mean) / std."""
    _check_channels(x, spec)
    return _to_unit_then_normalise(x, spec)


def hflip(x: Tensor) -> Tensor:
    """Mirror (..., H, W) along the width axis."""
    return x.flip(-1)


def draw_params(batch: int, spec: AugmentSpec, generator: torch.Generator) -> AugmentParams:
    """Draw, in this order, crop offsets, flip mask and brightness factors for `batch` images."""
    offsets = torch.randint(0, 2 * spec.crop_padding + 1, (batch, 2), generator=generator)
    flips = (torch.rand(batch, generator=generator) < 0.5) & spec.flip
    factors = torch.empty(batch).uniform_(1.0 - spec.brightness, 1.0 + spec.brightness,
                                          generator=generator)
    return AugmentParams(offsets, flips, factors)


def apply_params(x: Tensor, spec: AugmentSpec, params: AugmentParams) -> Tensor:
    """Batched crop + flip + brightness + normalisation: uint8 (B, C, H, W) -> float32.

    The image is padded once; output pixel (i, j) of image b reads padded pixel
    (top_b + i, left_b + j), or (top_b + i, left_b + W - 1 - j) when b is flipped.
    """
    _check_channels(x, spec)
    b, _, h, w = x.shape
    p = spec.crop_padding
    padded = F.pad(x, (p, p, p, p)) if p else x                       # (B, C, H+2p, W+2p)
    offsets = params.offsets.to(x.device)
    flips = params.flips.to(x.device)
    rows = offsets[:, :1] + torch.arange(h, device=x.device)          # (B, H)
    cols = torch.arange(w, device=x.device).expand(b, w)              # (B, W)
    cols = torch.where(flips[:, None], w - 1 - cols, cols) + offsets[:, 1:]
    batch_idx = torch.arange(b, device=x.device)[:, None, None]
    crops = padded.permute(0, 2, 3, 1)[batch_idx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    crops = crops.permute(0, 3, 1, 2)
    return _to_unit_then_normalise(crops, spec, params.factors.to(x.device))


def augment(x: Tensor, spec: AugmentSpec, generator: torch.Generator) -> Tensor:
    """Training path: uint8 (B, C, H, W) -> float32 (B, C, H, W), augmented and normalised.

    `generator` is a CPU torch.Generator; the same seed gives the same batch on any device.
    """
    _check_channels(x, spec)
    return apply_params(x, spec, draw_params(x.shape[0], spec, generator))


def augment_one(x: Tensor, spec: AugmentSpec, generator: torch.Generator | None = None,
                params: AugmentParams | None = None) -> Tensor:
    """Per-image reference: uint8 (C, H, W) -> float32 (C, H, W), same semantics as `augment`.

    Uses `params` (the draws of one image) when given, else draws them from `generator`.
    """
    _check_channels(x, spec)
    if params is None:
        if generator is None:
            raise AugmentError("augment_one needs a generator or params")
        params = draw_params(1, spec, generator)
    _, h, w = x.shape
    p = spec.crop_padding
    top, left = int(params.offsets[0, 0]), int(params.offsets[0, 1])
    padded = F.pad(x, (p, p, p, p)) if p else x
    crop = padded[:, top:top + h, left:left + w]
    if bool(params.flips[0]):
        crop = hflip(crop)
    unit = (crop.float() / 255.0 * float(params.factors[0])).clamp(0.0, 1.0)
    mean = torch.tensor(spec.mean, device=x.device).view(-1, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(-1, 1, 1)
    return (unit - mean) / std
