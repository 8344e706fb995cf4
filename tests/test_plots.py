"""Figures: what each plot draws, its labels, and that save_figure writes a PNG."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from podnet_lib.report.plots import (plot_accuracy_curves, plot_accuracy_matrix,  # noqa: E402
                              plot_forgetting, save_figure)
from podnet_lib.engine.results import RunResult, TaskResult  # noqa: E402


def make_run(method: str, n_tasks: int, drop: float) -> RunResult:
    """n_tasks tasks of 10 classes; task j loses `drop` points per later task."""
    tasks = []
    for t in range(n_tasks):
        row = [80.0 - drop * (t - j) for j in range(t + 1)]
        acc = float(np.mean(row))
        tasks.append(TaskResult(t, 10 * (t + 1), list(range(10 * t, 10 * t + 10)), acc, acc - 1,
                                row, [r - 1 for r in row]))
    return RunResult(method, {}, tasks)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_accuracy_curves_one_line_per_run():
    runs = [make_run("podnet", 4, 2.0), make_run("finetune", 4, 10.0)]
    fig = plot_accuracy_curves(runs, "nme")
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [10, 20, 30, 40])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), runs[1].accuracies("nme"))
    assert ax.get_xlabel() and "%" in ax.get_ylabel() and ax.get_title()
    assert ax.get_ylim() == (0.0, 100.0)
    avg = np.mean(runs[0].accuracies("nme"))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"podnet (avg {avg:.2f})", f"finetune (avg {np.mean(runs[1].accuracies('nme')):.2f})"]


def test_accuracy_curves_on_given_axes_and_title():
    fig, (left, right) = plt.subplots(1, 2)
    out = plot_accuracy_curves([make_run("podnet", 3, 1.0)], "cnn", ax=right, title="CNN")
    assert out is fig and len(right.lines) == 1 and not left.lines
    assert right.get_title() == "CNN"
    with pytest.raises(ValueError, match="metric must be one of"):
        plot_accuracy_curves([make_run("podnet", 3, 1.0)], "top5")


def test_accuracy_matrix_image_annotations_and_colorbar():
    run = make_run("podnet", 4, 5.0)
    fig = plot_accuracy_matrix(run)
    ax, cbar_ax = fig.axes
    assert len(ax.images) == 1
    data = ax.images[0].get_array()
    assert data.mask[0, 3] and not data.mask[3, 0]                    # upper triangle blank
    assert data[3, 0] == pytest.approx(65.0)
    assert len(ax.texts) == 10                                        # 4 * 5 / 2 cells written
    assert ax.get_xlabel() == "classes of task j" and ax.get_ylabel() == "after task t"
    assert cbar_ax.get_ylabel() == "accuracy (%)"
    big = plot_accuracy_matrix(make_run("podnet", 14, 1.0))
    assert not big.axes[0].texts                                      # too many tasks to annotate


def test_forgetting_bars_per_run():
    runs = [make_run("podnet", 5, 2.0), make_run("finetune", 5, 10.0)]
    fig = plot_forgetting(runs)
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * 4                                   # tasks 0..3 for each run
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights[-1] == pytest.approx(40.0)                         # finetune, task 0: 4 * 10
    assert ax.get_xlabel() and "percentage points" in ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 2


def test_save_figure_writes_png(tmp_path):
    fig = plot_accuracy_curves([make_run("podnet", 3, 1.0)])
    path = save_figure(fig, tmp_path / "sub" / "curves.png")
    assert path == tmp_path / "sub" / "curves.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert not plt.fignum_exists(fig.number)                          # closed


def test_forgetting_single_task_run_draws_no_bar():
    fig = plot_forgetting([make_run("podnet", 1, 0.0)])
    ax = fig.axes[0]
    assert len(ax.patches) == 0 and "nothing to forget" in ax.texts[0].get_text()
