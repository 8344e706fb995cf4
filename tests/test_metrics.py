"""Results files, accuracies, average incremental accuracy and forgetting, checked by hand."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from podnet_lib.engine.metrics import (accuracy_matrix, average_forgetting, average_incremental_accuracy,
                                backward_transfer, forgetting, group_accuracies, summary, summary_table,
                                top1_accuracy)
from podnet_lib.engine.results import RunResult, TaskResult


def make_run(method: str = "podnet", nme: bool = True) -> RunResult:
    """3 tasks: 4 base classes, then 2 + 2; per-task accuracies chosen by hand."""
    rows_nme = [[90.0], [80.0, 70.0], [60.0, 65.0, 50.0]]
    rows_cnn = [[88.0], [70.0, 75.0], [50.0, 60.0, 70.0]]
    acc_nme, acc_cnn = [90.0, 76.0, 60.0], [88.0, 71.0, 56.0]
    tasks = []
    for t, new in enumerate([[0, 1, 2, 3], [4, 5], [6, 7]]):
        tasks.append(TaskResult(
            task=t, n_classes=new[-1] + 1, new_classes=new,
            acc_nme=acc_nme[t] if nme else None, acc_cnn=acc_cnn[t],
            task_acc_nme=rows_nme[t] if nme else None, task_acc_cnn=rows_cnn[t],
            old_acc_nme=None if t == 0 or not nme else 77.5,
            new_acc_nme=rows_nme[t][-1] if nme else None,
            old_acc_cnn=None if t == 0 else 66.0, new_acc_cnn=rows_cnn[t][-1],
            losses={"nca": 1.5 - t * 0.25, "pod_spatial": 0.1 * t}, seconds=2.0 + t))
    return RunResult(method=method, config={"seed": 1, "increments": (4, 2, 2)}, tasks=tasks)


# --- results files ----------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    run = make_run()
    run.save(tmp_path / "run")
    loaded = RunResult.load(tmp_path / "run")
    assert loaded.method == "podnet"
    assert loaded.config == {"seed": 1, "increments": [4, 2, 2]}      # tuples become lists
    assert loaded.tasks == run.tasks
    assert RunResult.load(tmp_path / "run" / "results.json").tasks == run.tasks
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["tasks"][1]["task_acc_nme"] == [80.0, 70.0]
    assert data["tasks"][0]["old_acc_cnn"] is None


def test_csv_contents(tmp_path):
    make_run().save(tmp_path)
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert list(rows[0])[:4] == ["task", "n_classes", "acc_nme", "acc_cnn"]
    assert {"old_acc_nme", "new_acc_cnn", "loss_nca", "loss_pod_spatial", "seconds"} <= set(rows[0])
    assert [int(r["n_classes"]) for r in rows] == [4, 6, 8]
    assert float(rows[1]["acc_nme"]) == 76.0
    assert float(rows[2]["loss_nca"]) == 1.0
    assert rows[0]["old_acc_nme"] == ""                               # None: an empty cell
    assert float(rows[2]["seconds"]) == 4.0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_nan_survives_as_strict_json(tmp_path):
    run = make_run()
    run.tasks[1].task_acc_cnn = [math.nan, 75.0]
    run.save(tmp_path)
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text
    assert math.isnan(RunResult.load(tmp_path).tasks[1].task_acc_cnn[0])


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        RunResult.load(tmp_path)
    bad = tmp_path / "other.json"
    bad.write_text("this is not json")
    with pytest.raises(ValueError, match="other.json"):
        RunResult.load(bad)
    bad.write_text(json.dumps({"method": "x", "config": {}}))
    with pytest.raises(ValueError, match="other.json.*'tasks'"):
        RunResult.load(bad)


def test_from_dict_names_missing_key():
    d = make_run().to_dict()
    del d["tasks"][2]["acc_cnn"]
    with pytest.raises(ValueError, match=r"tasks\[2\].*'acc_cnn'"):
        RunResult.from_dict(d)


def test_accuracies_metric_choice():
    run = make_run()
    assert run.accuracies("cnn") == [88.0, 71.0, 56.0]
    assert run.accuracies() == [90.0, 76.0, 60.0]
    with pytest.raises(ValueError, match="metric must be one of"):
        run.accuracies("top5")
    with pytest.raises(ValueError, match="no nme accuracy"):
        make_run(nme=False).accuracies("nme")


# --- accuracies -------------------------------------------------------------------------------

def test_top1_accuracy_labels_and_scores():
    labels = torch.tensor([0, 1, 2, 3])
    assert top1_accuracy(torch.tensor([0, 1, 0, 0]), labels) == 50.0
    scores = torch.tensor([[5.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 0, 5.0, 0], [9.0, 0, 0, 0]])
    assert top1_accuracy(scores, labels) == 75.0
    with pytest.raises(ValueError, match="differ in length"):
        top1_accuracy(torch.tensor([0, 1]), labels)


def test_group_accuracies_by_hand():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    preds = torch.tensor([0, 0, 2, 3, 1, 5])
    groups = torch.tensor([0, 0, 1, 1, 1, 1])             # task 0: labels 0-1, task 1: labels 2-5
    assert group_accuracies(preds, labels, groups, 2) == pytest.approx([50.0, 75.0])
    third = group_accuracies(preds, labels, groups, 3)
    assert third[:2] == pytest.approx([50.0, 75.0]) and math.isnan(third[2])
    with pytest.raises(ValueError, match="groups must lie in"):
        group_accuracies(preds, labels, groups, 1)


def test_average_incremental_accuracy_by_hand():
    assert average_incremental_accuracy([90.0, 76.0, 60.0]) == pytest.approx(226 / 3)
    assert average_incremental_accuracy([64.0]) == 64.0           # the base task counts
    with pytest.raises(ValueError, match="empty"):
        average_incremental_accuracy([])


def test_accuracy_matrix_rows_and_blank_upper_triangle():
    m = accuracy_matrix(make_run(), "nme")
    assert m.shape == (3, 3)
    np.testing.assert_array_equal(m[np.tril_indices(3)], [90, 80, 70, 60, 65, 50])
    assert np.isnan(m[np.triu_indices(3, k=1)]).all()
    assert accuracy_matrix(make_run(), "cnn")[2, 2] == 70.0
    run = make_run()
    run.tasks[1].task_acc_nme = [80.0]
    with pytest.raises(ValueError, match="2 entries"):
        accuracy_matrix(run)


def test_forgetting_by_hand():
    m = np.array([[90, np.nan, np.nan], [80, 70, np.nan], [60, 65, 50]], dtype=float)
    np.testing.assert_allclose(forgetting(m), [30.0, 5.0])    # max(90, 80) - 60, 70 - 65
    assert average_forgetting(m) == pytest.approx(17.5)
    assert forgetting(np.array([[42.0]])).size == 0
    assert math.isnan(average_forgetting(np.array([[42.0]])))
    # a task that improves later has negative forgetting
    np.testing.assert_allclose(forgetting(np.array([[50, np.nan], [60, 40]])), [-10.0])


def test_backward_transfer_by_hand():
    # task 0 peaks after task 1 (90) but BWT compares with just after it was learned (80)
    m = np.array([[80.0, np.nan, np.nan], [90.0, 70.0, np.nan], [60.0, 65.0, 50.0]])
    assert backward_transfer(m) == pytest.approx(((60 - 80) + (65 - 70)) / 2)      # -12.5
    assert average_forgetting(m) == pytest.approx(((90 - 60) + (70 - 65)) / 2)     # 17.5, not 12.5
    assert backward_transfer(np.array([[50.0, np.nan], [60.0, 40.0]])) == pytest.approx(10.0)
    assert math.isnan(backward_transfer(np.array([[42.0]])))
    with pytest.raises(ValueError, match="square"):
        backward_transfer(np.zeros((2, 3)))


def test_summary_and_table():
    s = summary(make_run())
    assert s["avg_inc_acc_nme"] == pytest.approx(226 / 3)
    assert s["avg_inc_acc_cnn"] == pytest.approx(215 / 3)
    assert s["final_acc_cnn"] == 56.0
    assert s["avg_forgetting_nme"] == pytest.approx(17.5)
    assert s["avg_forgetting_cnn"] == pytest.approx((38.0 + 15.0) / 2)
    assert s["bwt_nme"] == pytest.approx(((60 - 90) + (65 - 70)) / 2)
    assert s["bwt_cnn"] == pytest.approx(((50 - 88) + (60 - 75)) / 2)
    no_nme = summary(make_run("finetune", nme=False))
    assert no_nme["avg_inc_acc_nme"] is None and no_nme["avg_inc_acc_cnn"] is not None
    assert no_nme["bwt_nme"] is None and no_nme["bwt_cnn"] == s["bwt_cnn"]

    table = summary_table([make_run(), make_run("finetune", nme=False)])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[2].startswith("podnet") and lines[3].startswith("finetune")
    assert lines[2].split()[1:] == ["75.33", "71.67", "60.00", "56.00", "17.50", "26.50",
                                    "-17.50", "-26.50"]
    assert lines[3].split()[1:] == ["-", "71.67", "-", "56.00", "-", "26.50", "-", "-26.50"]
    assert len({len(line) for line in lines}) == 1                   # fixed width
