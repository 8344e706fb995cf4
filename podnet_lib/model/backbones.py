"""Backbones that return their stage outputs: ResNet-32 (CIFAR), ResNet-18 (ImageNet), a digits net.

PODNet distils the output h_l of every stage of a ResNet (Sec. 3.1, eqs. 1-6) and the final
embedding h (POD-flat), so every backbone here returns a `BackboneOutput`:

    maps:     [h_1, ..., h_L], each (B, C_l, H_l, W_l), taken BEFORE any ReLU
    features: h, (B, D), the global average pool of the last map (also pre-ReLU)

Design facts implemented (paper Sec. 4 "Implementation details" and the authors' code):
- "We remove the ReLU activation at the last block of each ResNet end-of-stage to provide a
  signed input to POD": no stage ends with a ReLU, so every map is signed.
- ResNet-32 for CIFAR-100: a 3x3 stem to 16 channels + BN + ReLU; stages of 5, 5 and 4 basic
  blocks at 16, 32, 64 channels (the first block of stages 2 and 3 halves the resolution),
  then one extra 64-channel block as stage 4; D = 64.
  Type-A shortcuts (stride-2 subsampling + zero channels, no parameters) and NO ReLU after
  any residual addition. The next block therefore receives the signed output of the previous
  one: the only ReLUs of the network are the stem's and the one inside each block, between
  its two convolutions. We keep that choice (it is what the authors' network computes) rather
  than adding a ReLU at the input of each block.
- ResNet-18 for ImageNet: [2, 2, 2, 2] basic blocks at 64/128/256/512 channels, projection
  (1x1 conv + BN) shortcuts. Inside a stage the addition is followed by a ReLU as usual; the
  last block of each stage has none. D = 512. `small_stem=True` replaces the 7x7 stride-2
  conv + max-pool by a 3x3 stride-1 conv (the authors' stem; see `resnet18` for the pool).
- Kaiming-normal convolutions (fan-out), BN gamma 1 / beta 0, except the last BN gamma of
  each block, which starts at 0 so that a fresh block is the identity on its shortcut path.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.registry import Registry


class BackboneOutput(NamedTuple):
    """What every backbone returns."""

    maps: list[Tensor]  # stage outputs h_l, each (B, C_l, H_l, W_l), pre-ReLU
    features: Tensor  # final embedding h, (B, D): spatial mean of maps[-1]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BN follows)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class ShortcutA(nn.Module):
    """Type-A shortcut: keep every `stride`-th pixel, append zero channels. No parameters.

    (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride)); channels C_in.. are zero.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"out_channels must be >= in_channels ({in_channels}), got {out_channels}")
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[..., :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # pads dim 1 at its end


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Type-B shortcut: 1x1 conv (stride `stride`) + BN."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, then a ReLU only if `relu_after_add`.

    (B, C_in, H, W) -> (B, C_out, H / stride, W / stride). `shortcut` is "A" (parameter-free)
    or "B" (projection); it is the identity when shape does not change. With `zero_init` the
    last BN gamma starts at 0, so a fresh block returns shortcut(x) (then the optional ReLU).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        shortcut: str = "A",
        relu_after_add: bool = False,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        self.conv_a = conv3x3(in_channels, out_channels, stride)
        self.bn_a = nn.BatchNorm2d(out_channels)
        self.conv_b = conv3x3(out_channels, out_channels)
        self.bn_b = nn.BatchNorm2d(out_channels)
        self.relu_after_add = relu_after_add
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ShortcutA(in_channels, out_channels, stride)
        elif shortcut == "B":
            self.shortcut = projection_shortcut(in_channels, out_channels, stride)
        else:
            raise ValueError(f"shortcut must be one of ['A', 'B'], got {shortcut!r}")
        init_weights(self)
        if zero_init:
            nn.init.zeros_(self.bn_b.weight)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn_a(self.conv_a(x)))
        y = self.bn_b(self.conv_b(y))
        y = y + self.shortcut(x)
        return F.relu(y) if self.relu_after_add else y


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan-out, ReLU gain) for convs; BN gamma 1, beta 0. In place."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _check_in_channels(in_channels: int) -> None:
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")


def _check_shape(in_channels: int, blocks: tuple[int, ...], widths: tuple[int, ...]) -> None:
    """A network's input channels, and one block count >= 1 per stage width."""
    _check_in_channels(in_channels)
    if len(blocks) != len(widths) or min(blocks, default=0) < 1:
        raise ValueError(f"blocks must give a count >= 1 for each of widths {widths}, got {blocks}")


def _run_stages(stem: nn.Module, stages: nn.ModuleList, x: Tensor) -> BackboneOutput:
    """x (B, C_in, H, W) -> BackboneOutput; each map is the raw output of one stage."""
    x = stem(x)
    maps = []
    for stage in stages:
        x = stage(x)
        maps.append(x)
    return BackboneOutput(maps=maps, features=x.mean(dim=(2, 3)))


class CifarResNet(nn.Module):
    """The CIFAR ResNet of iCaRL / PODNet, returning its stage outputs (see the module docstring).

    blocks[i] basic blocks at widths[i] channels; stages after the first halve the resolution
    in their first block. `extra_block` appends one more block at widths[-1] as its own stage.
    x (B, in_channels, H, W) -> maps of (B, widths[i], H / 2^i, W / 2^i), features (B, widths[-1]).
    """

    def __init__(
        self,
        blocks: tuple[int, ...] = (5, 5, 4),
        extra_block: bool = True,
        widths: tuple[int, ...] = (16, 32, 64),
        in_channels: int = 3,
        zero_init_residual: bool = True,
    ) -> None:
        super().__init__()
        _check_shape(in_channels, blocks, widths)
        self.stem = nn.Sequential(conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU())
        init_weights(self.stem)
        block = partial(BasicBlock, shortcut="A", relu_after_add=False, zero_init=zero_init_residual)
        stages, prev = [], widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            layers = [block(prev, width, stride)] + [block(width, width) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            prev = width
        if extra_block:
            stages.append(nn.Sequential(block(prev, prev)))
        self.stages = nn.ModuleList(stages)
        self.stage_channels: tuple[int, ...] = tuple(widths) + ((widths[-1],) if extra_block else ())
        self.out_dim: int = widths[-1]

    def forward(self, x: Tensor) -> BackboneOutput:
        return _run_stages(self.stem, self.stages, x)


class ImageNetResNet(nn.Module):
    """ResNet-18-style network with projection shortcuts, returning its stage outputs.

    Inside a stage each residual addition is followed by a ReLU; the last block of each stage
    has none, so the maps are signed. `max_pool=None` means: pool after the 7x7 stem only.
    x (B, in_channels, 224, 224) -> maps 56, 28, 14, 7 (7x7 stem); features (B, widths[-1]).
    """

    def __init__(
        self,
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        widths: tuple[int, ...] = (64, 128, 256, 512),
        in_channels: int = 3,
        small_stem: bool = False,
        max_pool: bool | None = None,
        zero_init_residual: bool = True,
    ) -> None:
        super().__init__()
        _check_shape(in_channels, blocks, widths)
        if small_stem:
            conv = conv3x3(in_channels, widths[0])
        else:
            conv = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        stem = [conv, nn.BatchNorm2d(widths[0]), nn.ReLU()]
        use_pool = (not small_stem) if max_pool is None else max_pool
        if use_pool:
            stem.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        init_weights(self.stem)
        stages, prev = [], widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(n):
                layers.append(BasicBlock(
                    prev if j == 0 else width,
                    width,
                    stride=2 if (i > 0 and j == 0) else 1,
                    shortcut="B",
                    relu_after_add=j < n - 1,  # no ReLU at the end of a stage
                    zero_init=zero_init_residual,
                ))
            stages.append(nn.Sequential(*layers))
            prev = width
        self.stages = nn.ModuleList(stages)
        self.stage_channels: tuple[int, ...] = tuple(widths)
        self.out_dim: int = widths[-1]

    def forward(self, x: Tensor) -> BackboneOutput:
        return _run_stages(self.stem, self.stages, x)


def resnet32(in_channels: int = 3) -> CifarResNet:
    """The paper's CIFAR-100 ResNet-32: 5+5+4 blocks + 1 extra, widths 16/32/64, ~0.46 M params."""
    return CifarResNet(blocks=(5, 5, 4), extra_block=True, widths=(16, 32, 64), in_channels=in_channels)


def resnet18(in_channels: int = 3, small_stem: bool = False, max_pool: bool | None = None) -> ImageNetResNet:
    """ResNet-18 for ImageNet. `small_stem=True`: 3x3 stride-1 stem, no max-pool by default.

    The authors' ImageNet network is small_stem=True with max_pool=True (224 -> maps 112..14).
    """
    return ImageNetResNet(in_channels=in_channels, small_stem=small_stem, max_pool=max_pool)


def resnet_digits(in_channels: int = 1) -> CifarResNet:
    """The CIFAR design scaled down for 8x8 digits: 1+1+1 blocks + 1 extra (maps 8, 4, 2, 2)."""
    return CifarResNet(blocks=(1, 1, 1), extra_block=True, widths=(16, 32, 64), in_channels=in_channels)


BACKBONES: Registry[Callable[..., nn.Module]] = Registry("backbone", {
    "resnet32": resnet32,
    "resnet18": resnet18,
    "resnet18_small_stem": partial(resnet18, small_stem=True),
    "resnet18_imagenet": partial(resnet18, small_stem=True, max_pool=True),   # the authors' ImageNet net
    "resnet_digits": resnet_digits,
})


def build_backbone(name: str, in_channels: int = 3) -> nn.Module:
    """Build the backbone registered under `name` in BACKBONES."""
    return BACKBONES[name](in_channels=in_channels)
