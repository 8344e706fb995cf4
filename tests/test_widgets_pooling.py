"""Chapter 01: the pooling widgets' callbacks (podnet_lib.book.widgets.pooling) and the exercise checks
(podnet_lib.book.exercises.pod)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from podnet_lib.model import pod  # noqa: E402
from podnet_lib.paper import TABLE3B  # noqa: E402
from podnet_lib.model.backbones import build_backbone  # noqa: E402
from podnet_lib.book.exercises.pod import (  # noqa: E402
    check_authors_spatial, check_pod_flat, check_pod_spatial, check_pod_width,
)
from podnet_lib.book.widgets import drift as D  # noqa: E402
from podnet_lib.book.widgets import pooling as W  # noqa: E402


@pytest.fixture
def maps() -> torch.Tensor:
    """Smooth, mostly positive maps (B=3, C=6, H=5, W=7): non-square, so axis swaps show."""
    g = torch.Generator().manual_seed(0)
    return 1.0 + torch.randn(3, 6, 5, 7, generator=g).cumsum(dim=3) * 0.3


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- perturb -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", W.PERTURBATIONS)
def test_strength_zero_changes_nothing(maps, kind):
    out = W.perturb(maps, kind, 0.0, gen())
    assert out.shape == maps.shape
    assert torch.equal(out, maps)


@pytest.mark.parametrize("kind", W.PERTURBATIONS)
def test_perturb_is_reproducible_and_changes_the_maps(maps, kind):
    strength = 0.5 if kind in ("noise", "permute_channels") else 2
    a, b = W.perturb(maps, kind, strength, gen(1)), W.perturb(maps, kind, strength, gen(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a, maps)


def test_noise_strength_is_relative_to_the_map_std(maps):
    noisy = W.perturb(maps, "noise", 0.5, gen())
    assert (noisy - maps).std().item() == pytest.approx(0.5 * maps.std().item(), rel=0.15)


def test_shift_moves_along_the_named_axis(maps):
    assert torch.equal(W.perturb(maps, "shift_width", 2, gen()), torch.roll(maps, 2, dims=3))
    assert torch.equal(W.perturb(maps, "shift_height", 1, gen()), torch.roll(maps, 1, dims=2))


def test_channel_permutation_moves_every_chosen_channel(maps):
    out = W.perturb(maps, "permute_channels", 1.0, gen())
    for c in range(maps.shape[1]):
        assert not torch.equal(out[:, c], maps[:, c])        # a cycle: no chosen channel stays put
    assert torch.allclose(out.sum(dim=1), maps.sum(dim=1), atol=1e-5)


def test_perturb_rejects_bad_arguments(maps):
    with pytest.raises(ValueError, match="kind"):
        W.perturb(maps, "blur", 1.0)
    with pytest.raises(ValueError, match="B, C, H, W"):
        W.perturb(maps[0], "noise", 1.0)


# --- losses and invariances -------------------------------------------------------------------

def test_pod_losses_match_the_library_when_not_normalised(maps):
    new = W.perturb(maps, "noise", 0.3, gen())
    losses = W.pod_losses(maps, new, normalise="none")
    assert list(losses) == list(W.POOLINGS)
    assert losses["width"] == pytest.approx(float(pod.pod_width(maps, new)), rel=1e-6)
    assert losses["height"] == pytest.approx(float(pod.pod_height(maps, new)), rel=1e-6)
    assert losses["spatial"] == pytest.approx(float(pod.pod_spatial(maps, new)), rel=1e-6)


def test_teacher_normalisation_is_one_against_a_zero_student(maps):
    losses = W.pod_losses(maps, torch.zeros_like(maps), normalise="teacher")
    assert all(v == pytest.approx(1.0) for v in losses.values())


def test_values_normalisation_divides_by_the_pooled_count(maps):
    new = W.perturb(maps, "noise", 0.3, gen())
    raw, per_value = W.pod_losses(maps, new, "none"), W.pod_losses(maps, new, "values")
    b, c, h, w = maps.shape
    counts = {"pixel": c * h * w, "channel": h * w, "gap": c, "width": c * h, "height": c * w,
              "spatial": c * (h + w)}
    for axis, n in counts.items():
        assert per_value[axis] == pytest.approx(raw[axis] / n)
    assert W.kept_values([maps])["spatial"] == [c * (h + w)]
    with pytest.raises(ValueError, match="normalise"):
        W.pod_losses(maps, new, "max")


@pytest.mark.parametrize("kind, blind", [
    ("shift_width", {"width", "gap"}),
    ("shift_height", {"height", "gap"}),
    ("permute_channels", {"channel"}),
])
def test_each_perturbation_is_invisible_exactly_to_its_poolings(maps, kind, blind):
    strength = 0.5 if kind == "permute_channels" else 2
    losses = W.pod_losses(maps, W.perturb(maps, kind, strength, gen()))
    for axis, value in losses.items():
        if axis in blind:
            assert value == pytest.approx(0.0, abs=1e-10), axis
        else:
            assert value > 1e-4, axis


def test_permissiveness_grows_with_noise_and_pixel_is_most_rigid(maps):
    curves = W.permissiveness(maps, "noise", [0.0, 0.2, 0.5, 1.0])
    assert all(values[0] == 0.0 for values in curves.values())
    for values in curves.values():
        assert values == sorted(values)
    assert max(curves, key=lambda a: curves[a][-1]) == "pixel"


def test_drifted_copy_changes_the_maps_but_not_the_teacher():
    torch.manual_seed(0)
    net = build_backbone("resnet_digits", in_channels=1).eval()
    before = [p.clone() for p in net.parameters()]
    student = W.drifted_copy(net, 0.1, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    x = torch.randn(2, 1, 12, 12)
    with torch.no_grad():
        assert not torch.allclose(net(x).maps[0], student(x).maps[0])
        assert torch.allclose(net(x).maps[0], W.drifted_copy(net, 0.0)(x).maps[0])


def test_strength_from_level_covers_the_documented_ranges():
    assert W.strength_from_level("noise", 1.0, 32) == 2.0
    assert W.strength_from_level("shift_width", 1.0, 32) == 16
    assert W.strength_from_level("shift_height", 0.5, 8) == 2
    assert W.strength_from_level("permute_channels", 0.25, 8) == 0.25


# --- figures -----------------------------------------------------------------------------------

@pytest.mark.parametrize("pooling", W.POOLINGS)
def test_show_pooling_and_compare_pooled_draw_every_pooling(maps, pooling):
    image = torch.zeros(1, 10, 14, dtype=torch.uint8)
    fig = W.show_pooling(maps[0], pooling, image)
    assert isinstance(fig, Figure)
    assert f"POD-{pooling}" in fig._suptitle.get_text()
    new = W.perturb(maps, "noise", 0.3, gen())
    fig = W.compare_pooled(maps[0], new[0], pooling)
    assert isinstance(fig, Figure)
    assert f"{float(pod.pod_distance(maps[:1], new[:1], pooling)):.4g}" in fig._suptitle.get_text()


def test_all_poolings_draws_six_titled_panels_with_their_counts(maps):
    c, h, w = maps[0].shape
    fig = W.all_poolings(maps[0], torch.zeros(1, 10, 14, dtype=torch.uint8))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("POD-")]
    assert [t.split(":")[0] for t in titles] == [f"POD-{p}" for p in W.POOLINGS]
    counts = {"pixel": c * h * w, "channel": h * w, "gap": c, "width": c * h, "height": c * w, "spatial": c * (h + w)}
    for title, pooling in zip(titles, W.POOLINGS):
        assert f"{counts[pooling]} values" in title, title
    assert len(titles) == 6 and any(ax.get_title() == "input image" for ax in fig.axes)
    without_image = W.all_poolings(maps[0])
    assert not any(ax.get_title() == "input image" for ax in without_image.axes)
    with pytest.raises(ValueError, match="C, H, W"):
        W.all_poolings(maps)


def test_tile_channels_puts_each_channel_in_its_tile(maps):
    grid = W.tile_channels(maps[0])                      # 6 channels of 5 x 7 -> 3 columns, 2 rows
    assert grid.shape == (2 * 6 - 1, 3 * 8 - 1)
    assert grid[0:5, 0:7] == pytest.approx(maps[0, 0].numpy())
    assert grid[6:11, 8:15] == pytest.approx(maps[0, 4].numpy())       # channel 4: row 1, column 1
    assert np.isnan(grid[5, :]).all() and np.isnan(grid[:, 7]).all()


def test_most_reactive_follows_the_normalisation(maps):
    by_teacher = W.most_reactive(maps, "teacher")
    assert set(by_teacher) == set(W.PERTURBATIONS)
    assert by_teacher["shift_width"] not in ("width", "gap")            # blind ones never react most
    assert W.most_reactive(maps, "values")["noise"] != "pixel"          # pixel pools nothing: smallest per value


def test_figure_functions_reject_batched_maps(maps):
    with pytest.raises(ValueError, match="C, H, W"):
        W.show_pooling(maps, "width")
    with pytest.raises(ValueError, match="C, H, W"):
        W.compare_pooled(maps, maps, "width")


@pytest.mark.parametrize("kind", W.PERTURBATIONS)
def test_student_view_and_curves(maps, kind):
    assert isinstance(W.student_view(maps, kind, 0.5, "spatial", sample=1), Figure)
    curves = W.permissiveness(maps, kind, W.DEFAULT_STRENGTHS[kind][:3])
    assert isinstance(W.permissiveness_curve(curves, W.DEFAULT_STRENGTHS[kind][:3], kind), Figure)


def test_summary_figures(maps):
    for fig in (W.permissiveness_panels(maps, "title"), W.invariance_matrix(maps), W.forms_figure(maps),
                W.table3b_figure(), W.adaptive_factor_figure(), W.losses_bar(W.pod_losses(maps, 2 * maps))):
        assert isinstance(fig, Figure)


def test_paper_table_3b_is_quoted_exactly():
    assert TABLE3B["spatial"] == (61.40, 57.98)
    assert TABLE3B["pixel"] == (49.74, 52.34)
    assert max(TABLE3B, key=lambda k: TABLE3B[k][0]) == "spatial"


# --- exercise checks -----------------------------------------------------------------------------

def _not_implemented(old, new):
    raise NotImplementedError


def _authors_spatial(old, new):
    return pod.pod_spatial(old, new, form="authors")


@pytest.mark.parametrize("check, right", [
    (check_pod_width, pod.pod_width),
    (check_pod_spatial, pod.pod_spatial),
    (check_pod_flat, pod.pod_flat),
    (check_authors_spatial, _authors_spatial),
])
def test_the_library_passes_every_check(check, right, capsys):
    assert check(right)
    assert "cases right" in capsys.readouterr().out


def _width_over_height(old, new):                    # the axis swap a student makes
    return (old.sum(dim=2) - new.sum(dim=2)).pow(2).sum(dim=(1, 2)).mean()


def _width_batch_sum(old, new):
    return (old.sum(dim=3) - new.sum(dim=3)).pow(2).sum()


def _authors_unsquared(old, new):
    def q(h):
        return F.normalize(torch.cat([h.sum(dim=3).flatten(1), h.sum(dim=2).flatten(1)], dim=1), dim=1)
    return (q(old) - q(new)).norm(dim=1).mean()


@pytest.mark.parametrize("check, wrong, hint", [
    (check_pod_width, _width_over_height, "POD-height"),
    (check_pod_width, _width_batch_sum, "batch mean"),
    (check_pod_spatial, pod.pod_width, "POD-width alone"),
    (check_pod_spatial, _authors_spatial, "authors' form"),
    (check_pod_flat, lambda o, n: (o - n).norm(dim=1).mean(), "not squared"),
    (check_pod_flat, lambda o, n: pod.pod_flat(o, n, form="authors"), "1 - cosine"),
    (check_authors_spatial, pod.pod_spatial, "paper's form"),
    (check_authors_spatial, _authors_unsquared, "not squared"),
])
def test_a_wrong_function_fails_with_a_hint(check, wrong, hint, capsys):
    assert not check(wrong)
    out = capsys.readouterr().out
    assert "[wrong]" in out and hint in out


@pytest.mark.parametrize("check", [check_pod_width, check_pod_spatial, check_pod_flat, check_authors_spatial])
def test_checks_never_raise(check, capsys):
    assert not check(_not_implemented)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check(lambda o, n: o[99])                            # the student's own error
    assert not check(lambda o, n: None)
    assert not check(lambda o, n: o)                                # not a scalar
    assert not check(lambda o, n: "zero")
    out = capsys.readouterr().out
    assert "raised IndexError" in out and "None" in out and "scalar" in out


# --- the chapter's teacher: trained once, then loaded --------------------------------------------

def test_trained_backbone_trains_once_then_loads(tmp_path, monkeypatch):
    from podnet_lib.engine.train import IncrementalLearner
    from podnet_lib.data import load_dataset
    from podnet_lib.engine.presets import get_preset

    cfg = get_preset("digits-fast").replace(methods=["podnet"], base_classes=10, epochs=1, device="cpu")
    net = W.trained_backbone(cfg, tmp_path / "run")
    assert len(list((tmp_path / "run").glob("podnet-*/checkpoint.pt"))) == 1
    assert not net.training

    def no_training(*args, **kwargs):
        raise AssertionError("the cached checkpoint should have been loaded")

    monkeypatch.setattr(IncrementalLearner, "run_task", no_training)
    again = W.trained_backbone(cfg, tmp_path / "run")
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)

    images, labels = W.one_image_per_class(load_dataset("digits"))
    assert images.dtype == torch.uint8 and labels.tolist() == list(range(10))
    out = W.stage_outputs(again, images)
    assert [tuple(m.shape) for m in out.maps] == [(10, 16, 8, 8), (10, 32, 4, 4), (10, 64, 2, 2), (10, 64, 2, 2)]
    assert tuple(out.features.shape) == (10, 64)


# --- the real students: one teacher, then task 1 by finetune and by PODNet ----------------------

@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """Digits 8x8, base 5 classes, then task 1 by each recipe: a few seconds, cached in a tmp dir."""
    from podnet_lib.engine.presets import get_preset

    cfg = get_preset("digits-fast").replace(epochs=3, finetune_epochs=2, batch_size=16, device="cpu", seed=0)
    root = tmp_path_factory.mktemp("students")
    return cfg, root, D.real_students(cfg, root, per_class=5)


def test_stage_drift_is_pod_spatial_of_each_stage(maps):
    other = W.perturb(maps, "noise", 0.5, gen())
    assert D.stage_drift([maps, maps], [maps, maps]) == [0.0, 0.0]
    assert D.stage_drift([maps], [other]) == [pytest.approx(float(pod.pod_spatial(maps, other, form="authors")))]
    assert D.stage_drift([maps], [other], form="paper") == [pytest.approx(float(pod.pod_spatial(maps, other)))]


def test_each_student_has_one_drift_point_per_epoch(students):
    cfg, _, s = students
    assert set(s.drift) == set(D.STUDENTS) == set(s.nets) == set(s.results)
    expected = {"finetune": ["start"] + ["train"] * cfg.epochs,
                "podnet": ["start"] + ["train"] * cfg.epochs + ["finetune"] * cfg.finetune_epochs}
    for recipe, curve in s.drift.items():
        assert curve.phase == expected[recipe]
        assert curve.epoch[:cfg.epochs + 1] == list(range(cfg.epochs + 1))
        assert len(curve.stages) == 4 and all(len(v) == len(curve.phase) for v in curve.stages)
        assert all(v[0] == pytest.approx(0.0, abs=1e-6) for v in curve.stages)      # before a step: the teacher
        assert all(max(v) > 0.01 for v in curve.stages)                             # then it moves


def test_podnet_student_stays_closer_to_the_teacher_and_remembers(students):
    _, _, s = students
    fine, podnet = s.drift["finetune"], s.drift["podnet"]
    assert podnet.stages[3][-1] < 0.5 * fine.stages[3][-1]                  # stage 4, last epoch
    assert all(p[-1] < f[-1] for p, f in zip(podnet.stages, fine.stages))
    assert s.results["podnet"].old_acc_cnn > s.results["finetune"].old_acc_cnn + 30
    assert s.results["finetune"].new_acc_cnn > 90                            # it did learn the new class


def test_students_start_from_the_teacher_and_load_from_the_cache(students, monkeypatch):
    from podnet_lib.engine.cache import trained_learner
    from podnet_lib.engine.train import IncrementalLearner

    cfg, root, s = students

    def no_training(*args, **kwargs):
        raise AssertionError("the cached students should have been loaded")

    monkeypatch.setattr(IncrementalLearner, "run_task", no_training)
    again = D.real_students(cfg, root, per_class=5)
    for recipe in D.STUDENTS:
        for a, b in zip(s.nets[recipe].state_dict().values(), again.nets[recipe].state_dict().values()):
            assert torch.equal(a, b)
        assert again.drift[recipe] == s.drift[recipe]
    teacher = trained_learner(cfg.replace(methods=("podnet",)), root, upto_task=0)
    probe = D.probe_images(teacher, range(5), 5)
    old = W.stage_outputs(s.teacher.backbone, probe).maps
    for recipe, net in s.nets.items():                  # the last point of a curve is the cached student
        last = D.stage_drift(old, W.stage_outputs(net.backbone, probe).maps)
        assert last == pytest.approx([v[-1] for v in s.drift[recipe].stages], rel=1e-4, abs=1e-6)
        assert net.classifier.group_sizes == [5, 1]


def test_student_figures(students):
    _, _, s = students
    fig = D.drift_figure(s.drift)
    assert [ax.get_title() for ax in fig.axes] == [f"stage {l}" for l in range(1, 5)]
    old = torch.randn(4, 6, 5, 7, generator=gen())
    views = {"finetune": old * 2, "podnet": old * 1.1}
    for pooling in W.POOLINGS:
        fig = D.students_view(old, views, pooling, sample=1)
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert labels == ["finetune student", "podnet student"]
        heights = [p.get_height() for p in fig.axes[0].patches]      # six bars per student, in order
        assert heights[:6] == pytest.approx([1.0] * 6, rel=1e-4)       # student = 2 x teacher: (2 - 1)^2
        assert heights[6:12] == pytest.approx([0.01] * 6, rel=1e-3)    # 1.1 x teacher: 0.1^2
