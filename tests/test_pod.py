"""POD, eqs. (1)-(7): hand computations, zeros, invariances and the permissiveness ordering."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from podnet_lib.model.pod import (
    adaptive_factor, pod_channel, pod_distance, pod_final, pod_flat, pod_gap, pod_height,
    pod_pixel, pod_spatial, pod_width,
)

ALL = [pod_pixel, pod_channel, pod_gap, pod_width, pod_height, pod_spatial]


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    old = torch.randn(3, 4, 5, 6, generator=g)
    new = old + 0.3 * torch.randn(3, 4, 5, 6, generator=g)
    return old, new


def test_hand_computation_on_a_tiny_tensor():
    # one sample, one channel, H=2 rows, W=2 columns; old = 0, new = [[1, 2], [3, 4]]
    old = torch.zeros(1, 1, 2, 2)
    new = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert pod_pixel(old, new).item() == pytest.approx(1 + 4 + 9 + 16)
    assert pod_channel(old, new).item() == pytest.approx(1 + 4 + 9 + 16)        # one channel: pooled = itself
    assert pod_gap(old, new).item() == pytest.approx(10.0**2)
    assert pod_width(old, new).item() == pytest.approx(3.0**2 + 7.0**2)        # row sums 3 and 7
    assert pod_height(old, new).item() == pytest.approx(4.0**2 + 6.0**2)       # column sums 4 and 6
    assert pod_spatial(old, new).item() == pytest.approx(58.0 + 52.0)


def test_channel_pooling_by_hand_with_two_channels():
    old = torch.zeros(1, 2, 1, 2)
    new = torch.tensor([[[[1.0, 2.0]], [[3.0, -2.0]]]])                        # channel sums: 4, 0
    assert pod_channel(old, new).item() == pytest.approx(16.0)
    assert pod_gap(old, new).item() == pytest.approx(3.0**2 + 1.0**2)


def test_batch_mean_not_sum():
    old = torch.zeros(2, 1, 1, 1)
    new = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)
    assert pod_pixel(old, new).item() == pytest.approx((1 + 9) / 2)


@pytest.mark.parametrize("fn", ALL)
def test_zero_when_teacher_equals_student(fn, pair):
    old, _ = pair
    assert fn(old, old.clone()).item() == 0.0
    assert fn(*pair).item() > 0.0


def test_authors_forms_zero_when_equal_and_finite_gradient(pair):
    old, _ = pair
    new = old.clone().requires_grad_(True)
    loss = pod_spatial(old, new, form="authors") + pod_flat(old.mean((2, 3)), new.mean((2, 3)), form="authors")
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert torch.isfinite(new.grad).all()


def test_channel_permutation_is_invisible_to_pod_channel(pair):
    old, _ = pair
    permuted = old[:, torch.randperm(old.shape[1], generator=torch.Generator().manual_seed(1))]
    assert pod_channel(old, permuted).item() == pytest.approx(0.0, abs=1e-5)
    assert pod_pixel(old, permuted).item() > 0.1


def test_width_permutation_is_invisible_to_pod_width_not_to_pod_height(pair):
    old, _ = pair
    shuffled = old[..., torch.tensor([5, 3, 1, 0, 2, 4])]
    assert pod_width(old, shuffled).item() == pytest.approx(0.0, abs=1e-5)
    assert pod_height(old, shuffled).item() > 0.1
    assert pod_gap(old, shuffled).item() == pytest.approx(0.0, abs=1e-4)       # gap pools width too


def test_height_permutation_is_invisible_to_pod_height(pair):
    old, _ = pair
    shuffled = old[:, :, torch.tensor([4, 2, 0, 1, 3])]
    assert pod_height(old, shuffled).item() == pytest.approx(0.0, abs=1e-5)
    assert pod_width(old, shuffled).item() > 0.1


def test_permissiveness_ordering(pair):
    """Pixel >= spatial >= gap once each pooled sum is turned into a mean (Cauchy-Schwarz).

    With sums, pooling n values multiplies a squared difference by at most n, so:
    W * pixel >= width, H * pixel >= height, H * width >= gap, W * height >= gap.
    """
    old, new = pair
    _, _, h, w = old.shape
    pixel, width, height, gap = pod_pixel(old, new), pod_width(old, new), pod_height(old, new), pod_gap(old, new)
    assert pixel >= width / w and pixel >= height / h
    assert width / w >= gap / (h * w) and height / h >= gap / (h * w)
    spatial_mean = width / w**2 + height / h**2                                # POD-spatial of mean profiles
    assert 2 * pixel >= spatial_mean >= 2 * gap / (h * w) ** 2
    assert pod_spatial(old, new) == pytest.approx((width + height).item())


def test_pod_flat_forms_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    assert pod_flat(a, b).item() == pytest.approx((2.0 + 1.0) / 2)
    assert pod_flat(a, b, form="authors").item() == pytest.approx((1.0 + 0.0) / 2)


def test_authors_spatial_by_hand():
    old = torch.zeros(1, 1, 2, 2)
    old[0, 0, 0, 0] = 1.0                               # squared: row sums (1, 0), column sums (1, 0)
    new = torch.zeros(1, 1, 2, 2)
    new[0, 0, 1, 1] = 2.0                               # squared: row sums (0, 4), column sums (0, 4)
    a = F.normalize(torch.tensor([[1.0, 0, 1, 0]]), dim=1)
    b = F.normalize(torch.tensor([[0.0, 4, 0, 4]]), dim=1)
    expected = (a - b).norm().item()
    assert pod_spatial(old, new, form="authors").item() == pytest.approx(expected)
    assert expected == pytest.approx(math.sqrt(2.0))


def test_pod_final_combines_stages_and_flat(pair):
    old, new = pair
    maps_old, maps_new = [old, old * 2], [new, new * 2]
    emb_old, emb_new = old.mean((2, 3)), new.mean((2, 3))
    spatial = (pod_spatial(old, new) + pod_spatial(old * 2, new * 2)) / 2
    flat = pod_flat(emb_old, emb_new)
    got = pod_final(maps_old, maps_new, emb_old, emb_new, lambda_c=3.0, lambda_f=1.0, factor=2.0)
    assert got.item() == pytest.approx((2.0 * (3.0 * spatial + flat)).item(), rel=1e-5)
    only_flat = pod_final(maps_old, maps_new, emb_old, emb_new, lambda_c=0.0, lambda_f=1.0)
    assert only_flat.item() == pytest.approx(flat.item())
    pixel = pod_final(maps_old, maps_new, emb_old, emb_new, lambda_c=1.0, lambda_f=0.0, pooling="pixel")
    assert pixel.item() == pytest.approx(((pod_pixel(old, new) + pod_pixel(old * 2, new * 2)) / 2).item(), rel=1e-5)


def test_pod_final_argument_order_matters_for_gradients(pair):
    """Swapping old and new would push the teacher; the gradient must reach the student only."""
    old, new = pair
    new = new.clone().requires_grad_(True)
    loss = pod_final([old], [new], old.mean((2, 3)), new.mean((2, 3)), form="authors")
    loss.backward()
    assert new.grad is not None and new.grad.abs().sum() > 0


def test_adaptive_factor():
    assert adaptive_factor(51, 1) == pytest.approx(math.sqrt(51))
    assert adaptive_factor(60, 10) == pytest.approx(math.sqrt(6))
    with pytest.raises(ValueError, match="n_new"):
        adaptive_factor(5, 0)


def test_bad_arguments_name_the_field(pair):
    old, new = pair
    with pytest.raises(ValueError, match="form.*allowed values: paper, authors"):
        pod_spatial(old, new, form="mine")
    with pytest.raises(ValueError, match="pooling.*allowed values"):
        pod_distance(old, new, pooling="diagonal")
    with pytest.raises(ValueError, match="same shape"):
        pod_pixel(old, new[:, :2])
