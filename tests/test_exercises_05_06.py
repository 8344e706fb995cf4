"""The exercise harness, and the checks of chapters 05 (predict, run, check) and 06 (ablation grid)."""
from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest

from podnet_lib.book.exercises.experiments import (
    check_gain_over_baselines, check_prediction, check_table3a_config, gain_over_baselines,
)
from podnet_lib.book.exercises.harness import Verdict, answer, run_check
from podnet_lib.book.exercises.protocol import check_average_incremental_accuracy
from podnet_lib.engine.metrics import average_incremental_accuracy
from podnet_lib.engine.results import RunResult, TaskResult
from podnet_lib.report.ablations import table3a_configs


# --- the harness ---------------------------------------------------------------------------------
def test_a_passing_check_prints_one_line_and_shows_nothing():
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        verdict = check_average_incremental_accuracy(average_incremental_accuracy)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("✓") and "all 4 cases right" in lines[0]
    assert isinstance(verdict, Verdict) and verdict        # true, for code that wants the outcome
    assert repr(verdict) == ""                             # nothing printed under a notebook cell
    shown = io.StringIO()
    with redirect_stdout(shown):
        verdict._ipython_display_()                        # what IPython calls instead of printing the repr
    assert shown.getvalue() == ""


def test_a_failing_check_prints_the_wrong_cases_then_its_verdict(capsys):
    verdict = check_average_incremental_accuracy(lambda a: a[-1])
    lines = capsys.readouterr().out.splitlines()
    assert not verdict and verdict.right == 1 and verdict.total == 4       # one task: a[-1] is the mean
    assert all(line.startswith("  [wrong]") for line in lines[:-1]) and len(lines) == 4
    assert lines[-1] == "✗ average incremental accuracy: 3 of 4 cases wrong."


def test_the_students_exception_is_reported_not_raised(capsys):
    def broken(*args):
        return [][1]

    verdict = run_check("demo", [("a case", lambda: answer(broken, 1)), ("another", lambda: None)])
    out = capsys.readouterr().out
    assert not verdict and verdict.right == 1
    assert "raised IndexError: list index out of range (line" in out
    assert not run_check("demo", [("a case", lambda: answer(lambda: None))])
    assert "returned None" in capsys.readouterr().out


def test_a_stub_is_reported_once_and_stops_the_check(capsys):
    def stub(*args):
        raise NotImplementedError

    calls = []
    verdict = run_check("demo", [("first", lambda: answer(stub)), ("second", lambda: calls.append(1))])
    assert not verdict and not verdict.written and calls == []
    assert capsys.readouterr().out.count("\n") == 1


# --- chapter 05: predictions checked against saved results --------------------------------------
def _run(method: str, old_nme: list[float], old_cnn: list[float]) -> RunResult:
    tasks = [TaskResult(task=t, n_classes=5 + t, new_classes=[4 + t], acc_nme=90.0, acc_cnn=90.0,
                        task_acc_nme=[90.0] * (t + 1), task_acc_cnn=[90.0] * (t + 1),
                        old_acc_nme=None if t == 0 else old_nme[t - 1],
                        old_acc_cnn=None if t == 0 else old_cnn[t - 1]) for t in range(len(old_nme) + 1)]
    return RunResult(method=method, config={}, tasks=tasks)


RUNS = {"podnet": _run("podnet", [95.0, 90.0], [93.0, 88.0]),
        "finetune": _run("finetune", [60.0, 40.0], [0.0, 0.0])}


def test_prediction_right_and_wrong_with_the_numbers(capsys):
    assert check_prediction("podnet", RUNS, ("podnet", "finetune"), task=2, metric="cnn")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "podnet 88.0 %" in out and "finetune 0.0 %" in out
    assert not check_prediction("finetune", RUNS, ("podnet", "finetune"), task=1, metric="nme")
    assert "podnet keeps them better" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, pair, task", [
    (None, ("podnet", "finetune"), 1),                 # no prediction made yet
    ("icarl", ("podnet", "finetune"), 1),              # names neither method
    ("podnet", ("podnet", "icarl"), 1),                # a method that is not in the run
])
def test_prediction_mistakes_are_reported_not_raised(prediction, pair, task, capsys):
    assert not check_prediction(prediction, RUNS, pair, task=task)
    assert capsys.readouterr().out.startswith("…")


# --- chapter 06: the ablation grid ---------------------------------------------------------------
def test_table3a_check_accepts_the_library_and_rejects_hard_coded_weights(capsys):
    assert check_table3a_config(lambda base, name: table3a_configs(base)[name])

    def hard_coded(base, name):
        head, *terms = name.split(" + ")
        return base.replace(classifier="cosine" if head == "cosine" else "lsc",
                            classification_loss="nca" if head == "lsc" else "ce",
                            lambda_f=1.0 if "flat" in terms else 0.0, lambda_c=3.0 if "spatial" in terms else 0.0)

    capsys.readouterr()
    assert not check_table3a_config(hard_coded)
    assert "lambda_c=3.0 (expected 5.0)" in capsys.readouterr().out
    assert not check_table3a_config(lambda base, name: base)


def test_gain_check_accepts_the_reference_and_rejects_comparing_with_podnets_other_row():
    assert check_gain_over_baselines(gain_over_baselines)
    assert not check_gain_over_baselines(
        lambda t, ours: {m: t[ours][m] - max(t[k][m] for k in t if k != ours) for m in t[ours]})


@pytest.mark.parametrize("check", [check_table3a_config, check_gain_over_baselines])
def test_checks_never_raise(check, capsys):
    def unwritten(*args):
        raise NotImplementedError

    assert not check(unwritten)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check(lambda *a: {}["x"])
    assert "KeyError" in capsys.readouterr().out
    assert not check(lambda *a: None)
