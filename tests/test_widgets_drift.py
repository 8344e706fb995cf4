"""The views of chapter 05: embedding drift, forgetting task by task, the (λc, λf) trade-off, the
loss curves (podnet_lib.book.widgets.{recording, embedding_drift, forgetting, tradeoff, losses})."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from podnet_lib.book.widgets.embedding_drift import drift_view, feature_drift, plot_drift  # noqa: E402
from podnet_lib.book.widgets.forgetting import plot_forgetting_upto, truncate  # noqa: E402
from podnet_lib.book.widgets.losses import epoch_curves, plot_losses  # noqa: E402
from podnet_lib.book.widgets.recording import Recording, record_run, record_runs, recording_path  # noqa: E402
from podnet_lib.book.widgets.tradeoff import plot_tradeoff, tradeoff_runs, tradeoff_table  # noqa: E402
from podnet_lib.engine.metrics import accuracy_matrix  # noqa: E402
from podnet_lib.engine.presets import get_preset  # noqa: E402
from podnet_lib.engine.results import RunResult, TaskResult  # noqa: E402

# digits in two tasks (5 base classes, then the other 5), few epochs: a run takes seconds
TINY = get_preset("digits-fast").replace(increment=5, epochs=3, finetune_epochs=2, device="cpu")


def fake_run(method: str, rows: list[list[float]], old_new: list[tuple[float, float]] | None = None) -> RunResult:
    """A run whose task t scores rows[t] (t + 1 values) on each task's classes, with NME = CNN."""
    tasks = []
    for t, row in enumerate(rows):
        old, new = old_new[t] if old_new else (None, row[-1])
        tasks.append(TaskResult(task=t, n_classes=5 + t, new_classes=[4 + t], acc_nme=float(np.mean(row)),
                                acc_cnn=float(np.mean(row)), task_acc_nme=row, task_acc_cnn=row,
                                old_acc_nme=old, new_acc_nme=new, old_acc_cnn=old, new_acc_cnn=new))
    return RunResult(method=method, config={}, tasks=tasks)


def fake_recording(features: torch.Tensor, labels: torch.Tensor, classes: list[int]) -> Recording:
    rows = [[90.0] * (t + 1) for t in range(features.shape[0])]
    return Recording("fake", classes, labels, features, [], fake_run("fake", rows))


# --- embedding drift -----------------------------------------------------------------------------
def test_base_task_coordinates_are_centred_and_class_means_are_means():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 40, 8, generator=g)
    labels = torch.arange(40) % 4
    points, means = drift_view(fake_recording(features, labels, [0, 1, 2, 3]))
    assert points.shape == (3, 40, 2) and means.shape == (3, 4, 2)
    torch.testing.assert_close(points[0].mean(dim=0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(means[2, 1], points[2, labels == 1].mean(dim=0))


def test_feature_drift_against_a_hand_computation():
    base = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    turned = torch.tensor([[0.0, 3.0], [0.0, 2.0]])            # the first turned by 90°, the second kept
    opposite = -base
    recording = fake_recording(torch.stack([base, base * 5, turned, opposite]), torch.tensor([0, 1]), [0, 1])
    torch.testing.assert_close(feature_drift(recording), torch.tensor([0.0, 0.0, 0.5, 2.0]))


@pytest.fixture(scope="module")
def recording_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    record_runs(TINY, root, ["finetune", "podnet"])
    return root


@pytest.fixture(scope="module")
def recordings(recording_root) -> dict[str, Recording]:
    return record_runs(TINY, recording_root, ["finetune", "podnet"])


@pytest.mark.slow
def test_podnet_embeddings_drift_less_than_finetuning(recordings):
    finetune, podnet = feature_drift(recordings["finetune"]), feature_drift(recordings["podnet"])
    assert finetune[0] == pytest.approx(0.0, abs=1e-6) and podnet[0] == pytest.approx(0.0, abs=1e-6)
    assert float(podnet[-1]) < 0.5 * float(finetune[-1]), (podnet, finetune)


@pytest.mark.slow
def test_a_recording_is_cached_and_matches_its_results(recordings, recording_root):
    podnet = recordings["podnet"]
    assert podnet.features.shape[:2] == (2, len(podnet.labels)) and podnet.classes == [0, 1, 2, 3, 4]
    path = recording_path(TINY, recording_root, "podnet")
    written = path.stat().st_mtime_ns
    again = record_run(TINY, recording_root, "podnet")         # loaded, not trained: same tensors
    assert path.stat().st_mtime_ns == written
    torch.testing.assert_close(again.features, podnet.features)
    assert again.epochs == podnet.epochs
    # the hooks saw every epoch; the last one of each phase is what results.json keeps
    curves = epoch_curves(podnet, 1)
    assert {k: len(v) for k, v in curves["train"].items()} == {"nca": 3, "pod_spatial": 3, "pod_flat": 3}
    assert len(curves["finetune"]["loss"]) == 2
    losses = podnet.result.tasks[1].losses
    for name in ("nca", "pod_spatial", "pod_flat"):
        assert curves["train"][name][-1] == pytest.approx(losses[name])
    assert curves["finetune"]["loss"][-1] == pytest.approx(losses["finetune_loss"])
    assert set(epoch_curves(podnet, 0)) == {"train"} and "pod_flat" not in epoch_curves(podnet, 0)["train"]
    with pytest.raises(ValueError, match="task must be in 0..1"):
        epoch_curves(podnet, 2)


@pytest.mark.slow
def test_drift_and_loss_figures_follow_the_task(recordings):
    pair = [recordings["finetune"], recordings["podnet"]]
    first, last = plot_drift(pair, 0), plot_drift(pair, 1)
    assert len(first.axes) == 3 and "after task 1" in last.axes[1].get_title()
    moved = [c.get_offsets() for c in last.axes[0].collections]
    still = [c.get_offsets() for c in first.axes[0].collections]
    assert not np.allclose(moved[0], still[0])                 # finetuning moved class 0's images
    figure = plot_losses(pair[1], 1)
    assert {line.get_label() for line in figure.axes[0].lines} >= {"train: nca", "train: pod_flat", "finetune: loss"}
    plt.close("all")


# --- forgetting as it happens --------------------------------------------------------------------
ROWS = [[90.0], [70.0, 100.0], [50.0, 80.0, 95.0]]


def test_truncated_matrix_grows_a_row_per_task():
    run = fake_run("m", ROWS)
    full = accuracy_matrix(run)
    for k in range(3):
        matrix = accuracy_matrix(truncate(run, k))
        assert matrix.shape == (k + 1, k + 1)
        assert np.isnan(matrix[np.triu_indices(k + 1, 1)]).all()
        np.testing.assert_array_equal(matrix, full[: k + 1, : k + 1])
    with pytest.raises(ValueError, match="task must be in 0..2"):
        truncate(run, 3)


def test_forgetting_figure_shows_the_row_of_the_task():
    run = fake_run("m", ROWS)
    figure = plot_forgetting_upto(run, "nme", 1)
    bars = [p.get_height() for p in figure.axes[1].patches]
    assert bars == [70.0, 100.0]                                # A[1, 0], A[1, 1]
    assert "average forgetting so far 20.0 points" in figure.axes[1].get_title()   # 90 - 70
    assert [p.get_height() for p in plot_forgetting_upto(run, "cnn", 2).axes[1].patches] == [50.0, 80.0, 95.0]
    plt.close("all")


# --- the (λc, λf) trade-off ----------------------------------------------------------------------
def test_tradeoff_table_has_a_row_per_grid_point_and_means_by_hand():
    rows = [[90.0], [80.0, 60.0], [70.0, 70.0, 40.0]]
    grid = {(c, f): fake_run("podnet", rows, [(None, 90.0), (80.0 - c, 60.0 + f), (70.0 - c, 40.0 + f)])
            for c in (0.0, 3.0, 10.0) for f in (0.0, 1.0)}
    table = tradeoff_table(grid, "nme")
    assert len(table) == 6 and {(r["lambda_c"], r["lambda_f"]) for r in table} == set(grid)
    point = next(r for r in table if r["lambda_c"] == 3.0 and r["lambda_f"] == 1.0)
    assert point["old"] == pytest.approx((77.0 + 67.0) / 2) and point["new"] == pytest.approx((61.0 + 41.0) / 2)
    assert point["all"] == pytest.approx((70.0 + 60.0) / 2)
    after_2 = next(r for r in tradeoff_table(grid, "cnn", task=2) if r["lambda_c"] == 10.0 and r["lambda_f"] == 0.0)
    assert (after_2["old"], after_2["new"]) == (60.0, 40.0)
    with pytest.raises(ValueError, match="task must be in 1..2"):
        tradeoff_table(grid, "nme", task=0)
    figure = plot_tradeoff(table, "nme")
    assert len(figure.axes[2].collections) == 6
    plt.close("all")


@pytest.mark.slow
def test_tradeoff_runs_change_with_the_weights_and_are_cached(tmp_path):
    tiny = TINY.replace(epochs=2, finetune_epochs=1)
    grid = tradeoff_runs(tiny, tmp_path, [0.0, 30.0], [0.0])
    assert set(grid) == {(0.0, 0.0), (30.0, 0.0)}
    a, b = (tradeoff_table(grid, "cnn", task=1)[i] for i in (0, 1))
    assert (a["old"], a["new"]) != (b["old"], b["new"])          # λc changes the run
    assert grid[(30.0, 0.0)].config["lambda_c"] == 30.0
    mtimes = sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("results.json"))
    again = tradeoff_runs(tiny, tmp_path, [0.0, 30.0], [0.0])   # loaded: nothing written
    assert sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("results.json")) == mtimes
    assert math.isclose(again[(30.0, 0.0)].tasks[1].acc_cnn, grid[(30.0, 0.0)].tasks[1].acc_cnn)
