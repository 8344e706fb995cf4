"""Checks for chapter 00 (the class-incremental protocol, paper Sec. 4).

- `check_task_classes(fn)`: which labels each task introduces, for (n_classes, base, increment);
- `check_average_incremental_accuracy(fn)`: the paper's score;
- `check_forgetting(fn)`: forgetting of each task from an accuracy matrix.

Each check calls the student's function on several cases, compares with the library
(`podnet_lib.data.make_scenario`, `podnet_lib.engine.metrics`), prints which case is right or wrong and
by how much, and returns True or False. A check never raises: an exception in the student's
function is printed as the answer to that case. The helpers `run_cases` and `student_call` are
shared with the other chapters' checks.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from podnet_lib.data import make_scenario
from podnet_lib.engine.metrics import average_incremental_accuracy, forgetting

NOT_IMPLEMENTED = object()     # what `student_call` returns when the function is still a stub


class StudentError(Exception):
    """The student's function raised; the message says what it raised."""


def student_call(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), with NotImplementedError -> NOT_IMPLEMENTED and any other error -> StudentError."""
    try:
        return fn(*args)
    except NotImplementedError:
        return NOT_IMPLEMENTED
    except Exception as err:  # the student's code may raise anything: report it, never re-raise
        raise StudentError(f"raised {type(err).__name__}: {err}") from err


def run_cases(name: str, cases: Sequence[tuple[str, Callable[[], str | None]]]) -> bool:
    """Run each (description, case) pair; a case returns None when right, else what is wrong.

    Prints one line per case and a verdict; returns True when every case is right. Stops at
    the first case whose function is not implemented yet. Never raises.
    """
    right = 0
    for description, case in cases:
        try:
            problem = case()
        except StudentError as err:
            problem = str(err)
        except Exception as err:  # a malformed answer (wrong type, shape...) is a wrong answer
            problem = f"could not compare the answer ({type(err).__name__}: {err})"
        if problem is NOT_IMPLEMENTED:
            print(f"{name}: not implemented yet (replace `raise NotImplementedError` with your code)")
            return False
        if problem is None:
            right += 1
            print(f"  ok     {description}")
        else:
            print(f"  WRONG  {description}: {problem}")
    passed = right == len(cases)
    verdict = "all cases right" if passed else f"{len(cases) - right} of {len(cases)} cases wrong"
    print(f"{name}: {verdict}.")
    return passed


def compare_arrays(got: Any, expected: np.ndarray, atol: float = 1e-4) -> str | None:
    """None when `got` matches `expected` (same shape, values within atol, NaN where NaN)."""
    got_arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if got_arr.shape != expected.shape:
        return f"shape {got_arr.shape}, expected {expected.shape}"
    if not np.array_equal(np.isnan(got_arr), np.isnan(expected)):
        return f"NaN in different places: got {np.round(got_arr, 4).tolist()}, expected {np.round(expected, 4).tolist()}"
    if got_arr.size == 0:
        return None
    diff = np.abs(np.nan_to_num(got_arr) - np.nan_to_num(expected))
    worst = int(diff.argmax())
    if diff.flat[worst] > atol:
        return (f"largest difference {diff.flat[worst]:.4g} at index {np.unravel_index(worst, diff.shape)} "
                f"(got {got_arr.flat[worst]:.4f}, expected {expected.flat[worst]:.4f})")
    return None


# --- task classes --------------------------------------------------------------------------------
def _short(labels: list[int]) -> str:
    """A long list of labels as '[0, 1, 2, ..., 48, 49]'."""
    if len(labels) <= 8:
        return str(labels)
    return "[" + ", ".join(map(str, labels[:3])) + ", ..., " + ", ".join(map(str, labels[-2:])) + "]"


TASK_CASES = ((10, 5, 1), (10, 4, 2), (100, 50, 10), (100, 50, 1), (20, 10, 5), (6, 6, 1))


def check_task_classes(fn: Callable[[int, int, int], Sequence[Sequence[int]]]) -> bool:
    """fn(n_classes, base, increment) -> one list of labels per task (task 0 = the base task).

    Labels are positions in the class order, so task 0 holds 0..base-1. Compared with
    `make_scenario(n_classes, base, increment).task_classes(t)` for every t.
    """

    def case(n: int, base: int, inc: int) -> Callable[[], Any]:
        def run() -> Any:
            got = student_call(fn, n, base, inc)
            if got is NOT_IMPLEMENTED:
                return got
            scenario = make_scenario(n, base, inc)
            expected = [scenario.task_classes(t) for t in range(scenario.n_tasks)]
            got = [[int(c) for c in task] for task in got]
            if len(got) != len(expected):
                return f"{len(got)} tasks, expected {len(expected)} (the base task counts as task 0)"
            for t, (g, e) in enumerate(zip(got, expected)):
                if g != e:
                    return f"task {t} introduces {_short(g)}, expected {_short(e)}"
            return None
        return run

    return run_cases("check_task_classes", [
        (f"n_classes={n}, base={b}, increment={i}", case(n, b, i)) for n, b, i in TASK_CASES])


# --- average incremental accuracy ----------------------------------------------------------------
ACCURACY_CASES = (
    [80.0],
    [90.0, 60.0, 45.0],
    [93.8, 82.0, 77.9, 72.7, 67.9, 72.9],
    [float(v) for v in np.linspace(75.0, 52.0, 51)],     # 50 steps: 51 tasks
)


def check_average_incremental_accuracy(fn: Callable[[Sequence[float]], float]) -> bool:
    """fn(accuracies) -> the average incremental accuracy, accuracies[t] = top-1 (%) after task t."""

    def case(accs: list[float]) -> Callable[[], Any]:
        def run() -> Any:
            got = student_call(fn, list(accs))
            if got is NOT_IMPLEMENTED:
                return got
            expected = average_incremental_accuracy(accs)
            got = float(got)
            if not math.isclose(got, expected, abs_tol=1e-6):
                hint = ""
                if len(accs) > 1 and math.isclose(got, float(np.mean(accs[1:])), abs_tol=1e-6):
                    hint = " (the base task, task 0, counts too)"
                return f"got {got:.4f}, expected {expected:.4f}, off by {got - expected:+.4f}{hint}"
            return None
        return run

    return run_cases("check_average_incremental_accuracy", [
        (f"{len(a)} task(s)", case(a)) for a in ACCURACY_CASES])


# --- forgetting ----------------------------------------------------------------------------------
def _matrix(rows: list[list[float]]) -> np.ndarray:
    """Lower-triangular rows -> (T, T) accuracy matrix with NaN above the diagonal."""
    n = len(rows)
    out = np.full((n, n), np.nan)
    for t, row in enumerate(rows):
        out[t, : len(row)] = row
    return out


FORGETTING_CASES = (
    ("one task", _matrix([[90.0]])),
    ("finetune-like, old tasks drop to 0", _matrix([[90, ], [0, 100], [0, 0, 100], [0, 0, 0, 100]])),
    ("a task improves before it drops", _matrix([[70], [85, 90], [80, 60, 95], [40, 75, 70, 99]])),
    ("a task ends above its start", _matrix([[60], [55, 80], [65, 70, 90]])),
)


def check_forgetting(fn: Callable[[np.ndarray], Sequence[float]]) -> bool:
    """fn(matrix) -> forgetting of each task j < T-1, matrix (T, T) with A[t, j] = accuracy on
    task j's classes after task t (NaN above the diagonal). Compared with `metrics.forgetting`."""

    def case(matrix: np.ndarray) -> Callable[[], Any]:
        def run() -> Any:
            got = student_call(fn, matrix.copy())
            if got is NOT_IMPLEMENTED:
                return got
            return compare_arrays(got, forgetting(matrix))
        return run

    return run_cases("check_forgetting", [(d, case(m)) for d, m in FORGETTING_CASES])
