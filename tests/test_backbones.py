"""Tests for podnet_lib.model.backbones: shapes, signed stage outputs, init, shortcuts, registry."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from podnet_lib.model.backbones import (
    BACKBONES,
    BackboneOutput,
    BasicBlock,
    CifarResNet,
    ImageNetResNet,
    ShortcutA,
    build_backbone,
    resnet18,
    resnet32,
    resnet_digits,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def map_shapes(out: BackboneOutput) -> list[tuple[int, ...]]:
    return [tuple(m.shape) for m in out.maps]


@pytest.fixture(autouse=True)
def seed() -> None:
    torch.manual_seed(0)


def test_resnet32_parameter_count() -> None:
    count = n_params(resnet32())
    assert 450_000 <= count <= 470_000, count
    # 15 blocks of 2 convs, plus the stem: 31 convs; the classifier lives elsewhere.
    assert sum(isinstance(m, nn.Conv2d) for m in resnet32().modules()) == 31


def test_resnet32_stage_shapes_and_attributes() -> None:
    net = resnet32()
    out = net(torch.randn(2, 3, 32, 32))
    assert isinstance(out, BackboneOutput)
    assert map_shapes(out) == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8), (2, 64, 8, 8)]
    assert out.features.shape == (2, 64)
    assert net.out_dim == 64
    assert net.stage_channels == (16, 32, 64, 64)
    assert [len(stage) for stage in net.stages] == [5, 5, 4, 1]


def test_resnet18_stage_shapes_7x7_stem() -> None:
    net = resnet18().eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 224, 224))
    assert map_shapes(out) == [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)]
    assert out.features.shape == (1, 512)
    assert net.out_dim == 512 and net.stage_channels == (64, 128, 256, 512)
    assert any(isinstance(m, nn.MaxPool2d) for m in net.stem)


def test_resnet18_small_stem_shapes() -> None:
    net = build_backbone("resnet18_small_stem")
    conv = net.stem[0]
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.stem)
    out = net(torch.randn(2, 3, 32, 32))
    assert map_shapes(out) == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4)]


def test_resnet18_small_stem_with_max_pool_halves_first_map() -> None:
    out = resnet18(small_stem=True, max_pool=True)(torch.randn(2, 3, 32, 32))
    assert [m.shape[-1] for m in out.maps] == [16, 8, 4, 2]


def test_resnet18_same_parameters_as_standard_resnet18_body() -> None:
    # torchvision's ResNet-18 has 11,689,512 params, of which 513,000 in its 1000-way fc.
    assert n_params(resnet18()) == 11_689_512 - 513_000


def test_resnet_digits_shapes_and_size() -> None:
    net = resnet_digits()
    out = net(torch.randn(4, 1, 8, 8))
    assert map_shapes(out) == [(4, 16, 8, 8), (4, 32, 4, 4), (4, 64, 2, 2), (4, 64, 2, 2)]
    assert net.out_dim == 64 and net.stage_channels == (16, 32, 64, 64)
    assert n_params(net) < 150_000


@pytest.mark.parametrize(
    "name, shape",
    [("resnet32", (3, 3, 32, 32)), ("resnet18_small_stem", (3, 3, 16, 16)), ("resnet_digits", (3, 1, 8, 8))],
)
def test_features_are_spatial_mean_of_last_map(name: str, shape: tuple[int, ...]) -> None:
    out = build_backbone(name, in_channels=shape[1])(torch.randn(shape))
    assert torch.allclose(out.features, out.maps[-1].mean(dim=(2, 3)), atol=1e-6)


@pytest.mark.parametrize(
    "net, shape",
    [
        (CifarResNet(zero_init_residual=False), (4, 3, 32, 32)),
        (ImageNetResNet(small_stem=True, zero_init_residual=False), (4, 3, 16, 16)),
        (CifarResNet(blocks=(1, 1, 1), in_channels=1, zero_init_residual=False), (4, 1, 8, 8)),
    ],
)
def test_stage_outputs_are_signed(net: nn.Module, shape: tuple[int, ...]) -> None:
    out = net(torch.randn(shape))
    for m in out.maps:
        assert (m < 0).any() and (m > 0).any()
    assert (out.features < 0).any()


def test_fresh_resnet32_stage_outputs_follow_the_shortcut_path() -> None:
    # With zero-init gammas every block is its shortcut, so stage 1 equals the stem output
    # and stage 2 is its type-A subsampled, zero-padded copy.
    net = resnet32()
    x = torch.randn(2, 3, 32, 32)
    out = net(x)
    stem = net.stem(x)
    assert torch.equal(out.maps[0], stem)
    assert torch.equal(out.maps[1][:, :16], stem[..., ::2, ::2])
    assert torch.equal(out.maps[1][:, 16:], torch.zeros_like(out.maps[1][:, 16:]))


@pytest.mark.parametrize("train", [True, False])
def test_zero_init_block_is_identity_on_shortcut(train: bool) -> None:
    block = BasicBlock(16, 32, stride=2, shortcut="A").train(train)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block.bn_b.weight, torch.zeros(32))
    assert torch.equal(block(x), block.shortcut(x))
    # and the block taken from the network behaves the same
    net_block = resnet32().stages[2][0]
    y = torch.randn(2, 32, 16, 16)
    assert torch.equal(net_block(y), net_block.shortcut(y))


def test_block_without_zero_init_is_not_identity() -> None:
    block = BasicBlock(16, 16, zero_init=False)
    x = torch.randn(2, 16, 8, 8)
    assert not torch.allclose(block(x), x)


def test_type_a_shortcut_is_parameter_free_and_zero_padded() -> None:
    shortcut = ShortcutA(16, 32, stride=2)
    assert n_params(shortcut) == 0
    x = torch.randn(2, 16, 7, 7)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.equal(y[:, 16:], torch.zeros(2, 16, 4, 4))
    # every down-sampling block of ResNet-32 uses it
    net = resnet32()
    assert isinstance(net.stages[1][0].shortcut, ShortcutA)
    assert isinstance(net.stages[2][0].shortcut, ShortcutA)
    assert all(n_params(b.shortcut) == 0 for stage in net.stages for b in stage)


def test_resnet18_uses_projection_shortcuts_and_relu_inside_stages_only() -> None:
    net = resnet18()
    assert isinstance(net.stages[0][0].shortcut, nn.Identity)
    for stage in net.stages[1:]:
        assert isinstance(stage[0].shortcut, nn.Sequential)
        assert isinstance(stage[0].shortcut[0], nn.Conv2d) and stage[0].shortcut[0].kernel_size == (1, 1)
    for stage in net.stages:
        assert [b.relu_after_add for b in stage] == [True, False]
    assert not any(b.relu_after_add for stage in resnet32().stages for b in stage)


def test_kaiming_init_of_convs() -> None:
    # kaiming_normal_ with fan_out: std = sqrt(2 / (out_channels * k * k)).
    conv = resnet32().stages[2][1].conv_a  # 64 -> 64, 3x3
    expected = (2.0 / (64 * 9)) ** 0.5
    assert abs(conv.weight.std().item() - expected) / expected < 0.05


@pytest.mark.parametrize(
    "name, shape",
    [("resnet32", (2, 3, 32, 32)), ("resnet18", (2, 3, 64, 64)), ("resnet_digits", (2, 1, 8, 8))],
)
def test_gradients_reach_the_stem(name: str, shape: tuple[int, ...]) -> None:
    net = build_backbone(name, in_channels=shape[1])
    out = net(torch.randn(shape))
    target = torch.randn_like(out.features)
    ((out.features - target) ** 2).sum().backward()
    grad = net.stem[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_in_channels_is_respected() -> None:
    net = build_backbone("resnet32", in_channels=1)
    assert net.stem[0].in_channels == 1
    assert net(torch.randn(2, 1, 32, 32)).features.shape == (2, 64)
    with pytest.raises(ValueError, match="in_channels"):
        resnet32(in_channels=0)


def test_unknown_backbone_error_names_field_and_choices() -> None:
    with pytest.raises(ValueError) as info:
        build_backbone("resnet50")
    message = str(info.value)
    assert "backbone" in message and "resnet50" in message
    for name in BACKBONES:
        assert name in message


def test_registry_names() -> None:
    assert set(BACKBONES) == {"resnet32", "resnet18", "resnet18_small_stem", "resnet18_imagenet", "resnet_digits"}


def test_authors_imagenet_network_keeps_the_max_pool_after_its_small_stem() -> None:
    net = build_backbone("resnet18_imagenet").eval()
    out = net(torch.zeros(1, 3, 64, 64))
    assert [m.shape[-1] for m in out.maps] == [32, 16, 8, 4]          # 224 input: 112, 56, 28, 14
    assert net.stem[0].kernel_size == (3, 3) and net.stem[0].stride == (1, 1)


@pytest.mark.parametrize(
    "name, shape",
    [("resnet32", (1, 3, 32, 32)), ("resnet18_small_stem", (1, 3, 16, 16)), ("resnet_digits", (1, 1, 8, 8))],
)
def test_batch_of_one_in_eval_mode(name: str, shape: tuple[int, ...]) -> None:
    net = build_backbone(name, in_channels=shape[1]).eval()
    with torch.no_grad():
        out = net(torch.randn(shape))
    assert out.features.shape == (1, net.out_dim)
    assert len(out.maps) == len(net.stage_channels)
    assert [m.shape[1] for m in out.maps] == list(net.stage_channels)
