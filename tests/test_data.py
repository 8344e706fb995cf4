"""Tests of podnet_lib.data: datasets, class orders, the scenario, augmentation, batching."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from podnet_lib.data.augment import (
    AUGMENTATIONS,
    AugmentError,
    AugmentParams,
    AugmentSpec,
    apply_params,
    augment,
    augment_one,
    draw_params,
    hflip,
    normalise,
)
from podnet_lib.data.datasets import (
    DATASET_FORMS,
    ArrayDataset,
    DatasetNameError,
    DatasetNotFoundError,
    DatasetSplits,
    FolderDataset,
    load_dataset,
    load_image_folder,
)
from podnet_lib.data.folders import channel_statistics, imagenet_transform
from podnet_lib.data.loading import class_indices, iterate_batches, num_batches
from podnet_lib.data.orders import CIFAR100_ORDER_1, ClassOrderError, class_order
from podnet_lib.data.scenario import ScenarioError, make_scenario, remap
from podnet_lib.data.standins import class_colour, export_image_folder, synthetic_splits, write_image_folder

PLAIN = AugmentSpec(crop_padding=1, flip=False, brightness=0.0, mean=(0.0,), std=(1.0,))


# ----------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_shapes_and_values(digits):
    from sklearn.datasets import load_digits

    assert digits.train.images.shape == (1347, 1, 8, 8) and digits.test.images.shape == (450, 1, 8, 8)
    assert digits.train.images.dtype == torch.uint8 and digits.train.labels.dtype == torch.int64
    assert (digits.n_classes, digits.channels, digits.image_size, digits.augment) == (10, 1, 8, "digits")
    allowed = {int(np.rint(v * 255 / 16)) for v in range(17)}       # 0..16 -> 0..255
    assert set(torch.unique(digits.train.images).tolist()) <= allowed
    assert digits.train.images.max() == 255
    # Train and test together hold every image of scikit-learn's set, as a multiset of labels.
    all_counts = np.bincount(load_digits().target)
    counts = torch.bincount(digits.train.labels) + torch.bincount(digits.test.labels)
    assert counts.tolist() == all_counts.tolist()


def test_digits_split_is_stratified_and_seed_controlled(digits):
    totals = torch.bincount(digits.train.labels) + torch.bincount(digits.test.labels)
    test_counts = torch.bincount(digits.test.labels)
    assert ((test_counts - 0.25 * totals).abs() <= 1).all()
    again = load_dataset("digits", seed=0)
    assert torch.equal(again.test.images, digits.test.images)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(other.test.images, digits.test.images)
    assert ((torch.bincount(other.test.labels) - 0.25 * totals).abs() <= 1).all()


def test_digits_upsampling_and_class_subset(digits):
    big = load_dataset("digits", image_size=32, n_classes=5)
    assert big.train.images.shape[1:] == (1, 32, 32) and big.image_size == 32
    assert big.n_classes == 5 and big.class_names == ["0", "1", "2", "3", "4"]
    assert int(big.train.labels.max()) == 4
    assert len(big.train) == int((digits.train.labels < 5).sum())
    # Bilinear upsampling keeps the mean brightness of each image (within rounding).
    small = digits.train.images[digits.train.labels < 5].float().mean()
    assert abs(big.train.images.float().mean() - small) < 2.0


def test_unknown_dataset_name_lists_the_allowed_forms():
    with pytest.raises(DatasetNameError) as err:
        load_dataset("cifar10")
    for form in DATASET_FORMS:
        assert form in str(err.value)
    assert isinstance(err.value, ValueError)


def test_missing_cifar100_says_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar100", root=tmp_path, download=False)
    message = str(err.value)
    for needed in ("digits", "--download", "cifar-100-python", "170 MB", str(tmp_path)):
        assert needed in message
    assert isinstance(err.value, FileNotFoundError)


def test_splits_reject_unknown_augmentation(digits):
    with pytest.raises(ValueError, match="augment"):
        DatasetSplits("x", digits.train, digits.test, 10, 1, 8, [str(k) for k in range(10)], "mnist")


# ----------------------------------------------------------------------------- image folders
@pytest.fixture(scope="module")
def rgb_tree(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("rgb"), n_classes=4, mode="RGB")


@pytest.fixture(scope="module")
def gray_tree(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("gray"), n_classes=3, mode="L")


def test_folder_rgb_shapes_labels_and_pixels(rgb_tree):
    splits = load_dataset(f"folder:{rgb_tree}", image_size=32)   # small: decoded into memory, CIFAR recipe
    assert isinstance(splits.train, ArrayDataset) and isinstance(splits.test, ArrayDataset)
    assert (splits.n_classes, splits.channels, splits.image_size, splits.augment) == (4, 3, 32, "cifar")
    assert splits.class_names == ["class_000", "class_001", "class_002", "class_003"]
    assert (len(splits.train), len(splits.test)) == (24, 8)
    assert torch.bincount(splits.train.labels).tolist() == [6, 6, 6, 6]
    assert splits.train.images.shape == (24, 3, 32, 32) and splits.train.images.dtype == torch.uint8
    for i in (0, 1, 7, 23):                         # image 1 of each class is 48 x 40: resized
        image, label = splits.train.images[i], int(splits.train.labels[i])
        expected = torch.tensor(class_colour(label), dtype=torch.float32)
        assert (image.float().mean(dim=(1, 2)) - expected).abs().max() < 2.0
    assert splits.note.startswith("image_size=32; CIFAR recipe")


def test_folder_grayscale_and_default_size(gray_tree):
    splits = load_dataset(f"folder:{gray_tree}")                # mixed sizes, none given: 224, ImageNet recipe
    assert (splits.channels, splits.image_size, splits.augment) == (1, 224, "imagenet-gray")
    assert isinstance(splits.train, FolderDataset) and splits.statistics is None
    assert splits.note.startswith("mixed sizes, so 224") and "streamed" in splits.note
    image, label = splits.test[3]
    assert image.shape == (1, 224, 224) and label == 1
    r, g, b = class_colour(1)
    assert abs(image.float().mean() - (0.299 * r + 0.587 * g + 0.114 * b)) < 2.0


def test_folder_keeps_first_sorted_classes(rgb_tree):
    splits = load_dataset(f"folder:{rgb_tree}", image_size=16, n_classes=2)
    assert splits.class_names == ["class_000", "class_001"] and splits.n_classes == 2
    assert len(splits.train) == 12 and int(splits.train.labels.max()) == 1
    with pytest.raises(ValueError, match="n_classes"):
        load_dataset(f"folder:{rgb_tree}", n_classes=5)


def test_folder_val_class_mismatch_and_missing_split(tmp_path):
    root = write_image_folder(tmp_path / "tree", n_classes=2, train_per_class=2, val_per_class=1)
    shutil.move(str(root / "val" / "class_001"), str(root / "val" / "class_xyz"))
    with pytest.raises(ValueError, match="class_xyz"):
        load_dataset(f"folder:{root}")
    shutil.rmtree(root / "val")
    with pytest.raises(DatasetNotFoundError, match="val"):
        load_dataset(f"folder:{root}")
    with pytest.raises(DatasetNotFoundError, match="train/<class>"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")


@pytest.mark.parametrize("channels, recipe", [(3, "cifar"), (1, "cifar-gray")])
def test_folder_of_one_size_is_read_at_that_size_with_its_own_statistics(tmp_path, channels, recipe):
    """Images that all share one size are used at that size (no resize), with CIFAR's recipe
    normalised by the folder's own mean and std."""
    source = synthetic_splits(n_classes=3, train_per_class=4, test_per_class=2, image_size=12, channels=channels)
    splits = load_dataset(f"folder:{export_image_folder(source, tmp_path / 'tree')}")
    assert (splits.image_size, splits.channels, splits.augment) == (12, channels, recipe)
    assert splits.note.startswith("every image's own size; CIFAR recipe") and "into memory" in splits.note
    assert torch.equal(splits.train.images, source.train.images) and torch.equal(splits.test.labels, source.test.labels)
    pixels = source.train.images.double() / 255                                      # by hand, (N, C, H, W)
    mean = [pixels[:, c].mean().item() for c in range(channels)]
    std = [((pixels[:, c] - mean[c]) ** 2).mean().sqrt().item() for c in range(channels)]
    assert np.allclose(splits.statistics[0], mean) and np.allclose(splits.statistics[1], std)
    spec = splits.spec()
    assert (spec.crop_padding, spec.flip, spec.mean, spec.std) == (4, True, splits.statistics[0], splits.statistics[1])
    assert spec.mean != AUGMENTATIONS[recipe].mean


def test_large_small_image_folder_streams_with_the_same_statistics(tmp_path):
    source = synthetic_splits(n_classes=2, train_per_class=5, test_per_class=2, image_size=10)
    root = export_image_folder(source, tmp_path / "tree")
    held, streamed = load_image_folder(root), load_image_folder(root, memory_limit=0)
    assert isinstance(streamed.train, FolderDataset) and streamed.train.recipe == "square"
    assert streamed.augment == "cifar" and "streamed" in streamed.note
    assert np.allclose(streamed.statistics, held.statistics)
    assert torch.equal(streamed.train[3][0], held.train.images[3])
    with pytest.raises(ValueError, match="statistics"):
        DatasetSplits("x", held.train, held.test, 2, 3, 10, ["a", "b"], "cifar", statistics=((0.5,), (0.2,)))
    assert np.allclose(channel_statistics(torch.full((2, 1, 3, 3), 51, dtype=torch.uint8)), ((0.2,), (0.0,)))


def test_imagenet_recipe_crops_in_the_workers(tmp_path):
    """Test view: Resize(S * 256/224) then CenterCrop(S); train view: RandomResizedCrop(S) of the
    full-size image; iterate_batches(training=True) reads the train view."""
    from PIL import Image

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    ramp = np.repeat(np.repeat((np.arange(128) * 2).astype(np.uint8)[None, :, None], 128, 0), 3, 2)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    paths = [str(tmp_path / "noise.png"), str(tmp_path / "ramp.png")]
    data = FolderDataset(paths, torch.tensor([0, 1]), 56, 3, recipe="imagenet")
    expected = np.asarray(Image.fromarray(noise).resize((64, 64), Image.BILINEAR))[4:60, 4:60]   # 64 = 56 * 256/224
    assert torch.equal(data[0][0], torch.from_numpy(expected.copy()).permute(2, 0, 1))
    assert torch.equal(imagenet_transform(56, False)(Image.fromarray(noise[:64, :64])).permute(1, 2, 0),
                       torch.from_numpy(noise[4:60, 4:60]))
    torch.manual_seed(0)
    train = data.for_training()
    spans = [int(x[0].float().mean(0).max() - x[0].float().mean(0).min()) for x in (train[1][0] for _ in range(20))]
    assert all(train[1][0].shape == (3, 56, 56) for _ in range(3))
    test_span = int(data[1][0][0].float().mean(0).max() - data[1][0][0].float().mean(0).min())   # ~ 7/8 of 254
    assert 200 < test_span < 240 and min(spans) < 150 and max(spans) > 180 and len(set(spans)) > 10
    batches = [x for x, _ in iterate_batches(data, torch.arange(2), 2, shuffle=False)]
    assert torch.equal(batches[0], torch.stack([data[0][0], data[1][0]]))
    trained = [x for x, _ in iterate_batches(data, torch.arange(2), 2, shuffle=False, training=True)]
    assert not torch.equal(trained[0], batches[0])


# ----------------------------------------------------------------------------- class orders
def test_cifar_order_is_a_permutation():
    assert sorted(CIFAR100_ORDER_1) == list(range(100))
    assert CIFAR100_ORDER_1[:3] == (87, 0, 52) and CIFAR100_ORDER_1[-1] == 39


def test_class_orders():
    assert class_order("cifar100", 100) == list(CIFAR100_ORDER_1)
    assert class_order("synthetic-cifar100", 100) == list(CIFAR100_ORDER_1)
    assert class_order("digits", 10) == list(range(10))
    # Fewer CIFAR classes keep the iCaRL order's relative ranking of ids 0..9.
    assert class_order("cifar100", 10) == [0, 8, 4, 1, 6, 9, 3, 5, 2, 7]
    first, second = class_order("digits", 10, order=1), class_order("digits", 10, order=2)
    assert sorted(first) == list(range(10)) and first != list(range(10)) and first != second
    assert first == class_order("digits", 10, order=1)
    with pytest.raises(ClassOrderError, match="order"):
        class_order("digits", 10, order=-1)


def test_cifar_orders_are_the_authors_three():
    """options/data/cifar100_3orders.yaml: orders 0, 1 and 2, in that order; 3 on are our seeded ones."""
    orders = [class_order("cifar100", 100, order=k) for k in range(3)]
    assert orders[0] == list(CIFAR100_ORDER_1)
    assert orders[1][:6] == [58, 30, 93, 69, 21, 77] and orders[1][-3:] == [23, 64, 61]
    assert orders[2][:6] == [71, 54, 45, 32, 4, 8] and orders[2][-3:] == [85, 43, 11]
    assert all(sorted(o) == list(range(100)) for o in orders)
    ours = class_order("cifar100", 100, order=3)
    assert sorted(ours) == list(range(100)) and ours not in orders
    assert ours == class_order("digits", 100, order=3)                  # the same seeded permutation
    assert class_order("synthetic-cifar100", 100, order=2) == orders[2]


def test_imagenet_orders_are_the_authors_for_wordnet_folders():
    """imagenet100_1order.yaml and imagenet1000_1order.yaml, for trees of sorted WordNet ids."""
    def wnids(n: int) -> list[str]:
        return ["n01440764"] + [f"n{1440765 + i:08d}" for i in range(n - 1)]
    in100 = class_order("folder:x", 100, 0, wnids(100))
    assert in100[:5] == [68, 56, 78, 8, 23] and in100[-3:] == [49, 57, 33] and sorted(in100) == list(range(100))
    in1000 = class_order("folder:x", 1000, 0, wnids(1000))
    assert in1000[:5] == [54, 7, 894, 512, 126] and in1000[-3:] == [945, 697, 417]
    assert sorted(in1000) == list(range(1000))
    assert class_order("folder:x", 100, 0, [f"class{i:03d}" for i in range(100)]) == list(range(100))
    assert class_order("folder:x", 100, 0, wnids(101)[1:]) == list(range(100))   # not the first 100 ids
    assert class_order("folder:x", 100, 1, wnids(100)) == class_order("digits", 100, 1)    # ours


# ----------------------------------------------------------------------------- scenario
@pytest.mark.parametrize("n, base, inc, tasks, last", [
    (100, 50, 1, 51, [99]), (100, 50, 10, 6, list(range(90, 100))), (10, 5, 1, 6, [9]),
    (10, 10, 1, 1, list(range(10))),
])
def test_scenario_tasks(n, base, inc, tasks, last):
    s = make_scenario(n, base, inc)
    assert s.n_tasks == tasks and s.n_classes == n
    assert s.task_classes(0) == list(range(base))
    assert s.task_classes(tasks - 1) == last
    assert s.seen_classes(tasks - 1) == n
    assert [s.seen_classes(t) for t in range(tasks)] == [base + t * inc for t in range(tasks)]
    covered = sum((s.task_classes(t) for t in range(tasks)), [])
    assert covered == list(range(n))
    with pytest.raises(ScenarioError, match="t must be"):
        s.task_classes(tasks)


def test_scenario_task_of():
    s = make_scenario(100, 50, 10)
    labels = torch.tensor([0, 49, 50, 59, 60, 99])
    assert s.task_of(labels).tolist() == [0, 0, 1, 1, 2, 5]
    assert make_scenario(5, 5, 0).task_of(torch.arange(5)).tolist() == [0] * 5


def test_class_order_and_remap_round_trip():
    s = make_scenario(100, 50, 10, class_order("cifar100", 100))
    original = torch.arange(100)
    assert s.to_label(torch.tensor([87, 0, 52, 39])).tolist() == [0, 1, 2, 99]
    assert torch.equal(s.to_original(s.to_label(original)), original)
    assert torch.equal(s.to_label(s.to_original(original)), original)
    data = synthetic_splits(n_classes=100, train_per_class=2, test_per_class=1, image_size=8)
    mapped = remap(data.train, s)
    assert mapped.images is data.train.images
    assert torch.equal(s.to_original(mapped.labels), data.train.labels)
    assert mapped.labels[data.train.labels == 87].tolist() == [0, 0]
    with pytest.raises(ScenarioError, match="0..99"):
        s.to_label(torch.tensor([100]))


@pytest.mark.parametrize("kwargs, field", [
    (dict(n_classes=10, base=0, increment=1), "base"),
    (dict(n_classes=10, base=11, increment=1), "base"),
    (dict(n_classes=10, base=5, increment=0), "increment"),
    (dict(n_classes=10, base=4, increment=4), r"increment.*valid increments: \[1, 2, 3, 6\]"),
    (dict(n_classes=4, base=2, increment=1, class_order=[0, 1, 1, 3]), r"class_order.*missing: \[2\]"),
    (dict(n_classes=4, base=2, increment=1, class_order=[0, 1, 2]), "class_order"),
    (dict(n_classes=3, base=1, increment=1, class_order=[0, 1, 5]), r"class_order.*out of range: \[5\]"),
])
def test_bad_scenarios_name_the_field(kwargs, field):
    with pytest.raises(ScenarioError, match=field):
        make_scenario(**kwargs)


# ----------------------------------------------------------------------------- augmentation
def _params(top: int, left: int, flip: bool = False, factor: float = 1.0) -> AugmentParams:
    return AugmentParams(torch.tensor([[top, left]]), torch.tensor([flip]), torch.tensor([factor]))


def test_crop_of_a_known_image_at_known_offsets():
    x = torch.arange(1, 17, dtype=torch.uint8).view(1, 1, 4, 4)
    top_left = apply_params(x, PLAIN, _params(0, 0))[0, 0] * 255
    expected = torch.zeros(4, 4)
    expected[1:, 1:] = x[0, 0, :3, :3].float()
    assert torch.allclose(top_left, expected)
    bottom_right = apply_params(x, PLAIN, _params(2, 2))[0, 0] * 255
    expected = torch.zeros(4, 4)
    expected[:3, :3] = x[0, 0, 1:, 1:].float()
    assert torch.allclose(bottom_right, expected)
    centre = apply_params(x, PLAIN, _params(1, 1))[0, 0] * 255
    assert torch.allclose(centre, x[0, 0].float())


def test_flip_is_exact():
    x = torch.randint(0, 256, (2, 3, 5, 7), dtype=torch.uint8)
    assert torch.equal(hflip(x)[..., 0], x[..., 6]) and torch.equal(hflip(hflip(x)), x)
    spec = AugmentSpec(0, True, 0.0, (0.0,) * 3, (1.0,) * 3)
    params = AugmentParams(torch.zeros(2, 2, dtype=torch.int64), torch.tensor([True, False]),
                           torch.ones(2))
    out = apply_params(x, spec, params)
    assert torch.equal(out[0], hflip(x[0]).float() / 255) and torch.equal(out[1], x[1].float() / 255)


def test_normalize_and_brightness_of_constant_images():
    spec = AUGMENTATIONS["cifar"]
    out = normalise(torch.full((2, 3, 4, 4), 128, dtype=torch.uint8), spec)
    for c in range(3):
        assert torch.allclose(out[:, c], torch.tensor((128 / 255 - spec.mean[c]) / spec.std[c]))
    one = AugmentSpec(0, False, 0.5, (0.5,), (0.25,))
    white = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    clamped = apply_params(white, one, _params(0, 0, factor=1.2))       # 1.2 -> clamp to 1
    assert torch.allclose(clamped, torch.tensor((1.0 - 0.5) / 0.25))
    dimmed = apply_params(torch.full((1, 1, 2, 2), 200, dtype=torch.uint8), one, _params(0, 0, factor=0.5))
    assert torch.allclose(dimmed, torch.tensor((100 / 255 - 0.5) / 0.25))


def test_channel_mismatch_is_a_clear_error():
    with pytest.raises(AugmentError, match="channels"):
        normalise(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), AUGMENTATIONS["cifar"])
    with pytest.raises(AugmentError, match="channels"):
        augment(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), AUGMENTATIONS["digits"],
                torch.Generator().manual_seed(0))
    with pytest.raises(AugmentError, match="mean and std"):
        AugmentSpec(0, False, 0.0, (0.5, 0.5), (1.0,))


def test_batched_equals_per_image_with_the_same_draws():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    spec = AUGMENTATIONS["cifar"]
    params = draw_params(64, spec, torch.Generator().manual_seed(3))
    assert params.flips.any() and not params.flips.all()
    batched = apply_params(x, spec, params)
    single = torch.stack([augment_one(x[i], spec, params=params[i]) for i in range(64)])
    assert torch.equal(batched, single)
    again = augment(x, spec, torch.Generator().manual_seed(3))
    assert torch.equal(again, batched)
    assert not torch.equal(augment(x, spec, torch.Generator().manual_seed(4)), batched)


def test_batched_statistics_match_per_image_draws():
    spec, n = AUGMENTATIONS["cifar"], 2000
    batch = draw_params(n, spec, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    single = [draw_params(1, spec, gen) for _ in range(n)]
    one_by_one = AugmentParams(torch.cat([p.offsets for p in single]),
                               torch.cat([p.flips for p in single]), torch.cat([p.factors for p in single]))
    for p in (batch, one_by_one):
        assert p.offsets.min() == 0 and p.offsets.max() == 8
        assert abs(p.offsets.float().mean() - 4.0) < 0.2
        assert abs(p.flips.float().mean() - 0.5) < 0.05
        assert p.factors.min() >= 1 - 63 / 255 and p.factors.max() <= 1 + 63 / 255
        assert abs(p.factors.mean() - 1.0) < 0.02
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    batched = augment(image.expand(n, 3, 32, 32).contiguous(), spec, torch.Generator().manual_seed(0))
    looped = torch.stack([augment_one(image, spec, gen) for _ in range(n)])
    assert abs(batched.mean() - looped.mean()) < 0.02
    assert abs(batched.std() - looped.std()) < 0.02
    assert not draw_params(n, AUGMENTATIONS["digits"], torch.Generator().manual_seed(0)).flips.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_augment_is_device_independent():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    spec = AUGMENTATIONS["cifar"]
    cpu = augment(x, spec, torch.Generator().manual_seed(0))
    gpu = augment(x.cuda(), spec, torch.Generator().manual_seed(0))
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-6)


# ----------------------------------------------------------------------------- stand-ins
def test_synthetic_shapes_and_determinism():
    s = synthetic_splits()
    assert (s.name, s.augment, s.n_classes) == ("synthetic-cifar100", "cifar", 100)
    assert (s.channels, s.image_size) == (3, 32)
    assert s.train.images.shape == (2000, 3, 32, 32) and s.test.images.shape == (500, 3, 32, 32)
    assert s.train.images.dtype == torch.uint8
    assert torch.bincount(s.train.labels).tolist() == [20] * 100
    assert torch.equal(load_dataset("synthetic-cifar100").train.images, s.train.images)
    assert not torch.equal(synthetic_splits(seed=1).train.images, s.train.images)


def test_full_size_standin_has_cifar100s_size_and_order():
    full = load_dataset("synthetic-cifar100-full", n_classes=20)          # 20 classes keep the test short
    assert full.train.images.shape == (20 * 500, 3, 32, 32) and full.test.images.shape == (20 * 100, 3, 32, 32)
    assert class_order("synthetic-cifar100-full", 100) == list(CIFAR100_ORDER_1)


@pytest.mark.parametrize("channels", [3, 1])
def test_synthetic_is_learnable_by_nearest_class_mean(channels):
    s = synthetic_splits(channels=channels)
    train, test = s.train.images.float().flatten(1), s.test.images.float().flatten(1)
    means = torch.stack([train[s.train.labels == k].mean(0) for k in range(100)])
    accuracy = (torch.cdist(test, means).argmin(1) == s.test.labels).float().mean()
    assert accuracy > 0.5                            # chance is 0.01


# ----------------------------------------------------------------------------- batching
def test_class_indices_and_num_batches():
    labels = torch.tensor([3, 1, 3, 0, 2])
    assert class_indices(labels, [3, 0]).tolist() == [0, 2, 3]
    assert class_indices(labels, torch.tensor([7])).tolist() == []
    assert (num_batches(10, 3, False), num_batches(10, 3, True), num_batches(9, 3, False)) == (4, 3, 3)
    with pytest.raises(ValueError, match="batch_size"):
        num_batches(10, 0, False)


def _epoch(dataset, indices, seed, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    return list(iterate_batches(dataset, indices, 4, shuffle=True, generator=gen, **kwargs))


def test_iterate_array_batches_covers_each_index_once():
    n = 30
    data = ArrayDataset(torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous(),
                        torch.arange(n))                  # label i == index i
    indices = torch.arange(3, 26)
    batches = _epoch(data, indices, seed=0)
    assert [len(y) for _, y in batches] == [4] * 5 + [3]
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == indices.tolist() and seen.tolist() != indices.tolist()
    assert all(torch.equal(x[:, 0, 0, 0].long(), y) for x, y in batches)
    assert all(x.dtype == torch.uint8 and y.dtype == torch.int64 for x, y in batches)
    assert torch.equal(torch.cat([y for _, y in _epoch(data, indices, seed=0)]), seen)
    assert not torch.equal(torch.cat([y for _, y in _epoch(data, indices, seed=1)]), seen)
    dropped = _epoch(data, indices, seed=0, drop_last=True)
    assert len(dropped) == num_batches(23, 4, True) == 5
    ordered = list(iterate_batches(data, indices, 10, shuffle=False))
    assert torch.equal(torch.cat([y for _, y in ordered]), indices)


def test_iterate_folder_batches_matches_array_order(rgb_tree):
    splits = load_image_folder(rgb_tree, image_size=8, memory_limit=0)       # streamed
    folder = splits.train.with_labels(torch.arange(len(splits.train)))
    indices = torch.arange(2, 22)
    batches = _epoch(folder, indices, seed=0, num_workers=1)
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == indices.tolist()
    assert batches[0][0].shape == (4, 3, 8, 8) and batches[0][0].dtype == torch.uint8
    assert torch.equal(batches[0][0][1], folder[int(seen[1])][0])
    assert torch.equal(torch.cat([y for _, y in _epoch(folder, indices, seed=0)]), seen)
    arrays = ArrayDataset(torch.zeros(len(folder), 1, 1, 1, dtype=torch.uint8), torch.arange(len(folder)))
    assert torch.equal(torch.cat([y for _, y in _epoch(arrays, indices, seed=0)]), seen)


def test_cifar100_conversion_with_a_fake_torchvision_set(tmp_path, monkeypatch):
    import torchvision

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test", "meta"):
        (folder / name).write_bytes(b"")

    class FakeCifar:                                   # torchvision's layout: (N, 32, 32, 3) uint8
        def __init__(self, root, train, download):
            n = 6 if train else 2
            self.data = np.arange(n * 32 * 32 * 3, dtype=np.uint8).reshape(n, 32, 32, 3)
            self.targets = list(range(n))
            self.classes = [f"c{k}" for k in range(100)]

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", FakeCifar)
    splits = load_dataset("cifar100", root=tmp_path)
    assert splits.train.images.shape == (6, 3, 32, 32) and splits.test.images.shape == (2, 3, 32, 32)
    raw = FakeCifar(None, True, False).data
    assert torch.equal(splits.train.images[4, 2], torch.from_numpy(raw[4, :, :, 2]))
    assert (splits.n_classes, splits.augment, splits.class_names[3]) == (100, "cifar", "c3")
    assert splits.train.labels.dtype == torch.int64

    def broken(root, train, download):
        raise RuntimeError("Dataset not found or corrupted.")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", broken)
    with pytest.raises(DatasetNotFoundError, match="read from"):
        load_dataset("cifar100", root=tmp_path)
