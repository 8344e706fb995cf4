"""Checks for chapter 00: the class-incremental protocol and its scores (paper Sec. 4, "Protocol").

- `check_task_classes(fn)`: which labels each task introduces, for (n_classes, base, increment);
- `check_average_incremental_accuracy(fn)`: the paper's score, the mean of a_0 .. a_S;
- `check_forgetting(fn)`: the forgetting F_j of each task from an accuracy matrix.

Each compares the student's function with the library (`podnet_lib.data.make_scenario`,
`podnet_lib.engine.metrics`) through the chapters' one harness (`harness.run_check`).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from podnet_lib.book.exercises.harness import Case, Verdict, answer, as_number, compare_arrays, run_check
from podnet_lib.data import make_scenario
from podnet_lib.engine.metrics import average_incremental_accuracy, forgetting


# --- task classes --------------------------------------------------------------------------------
def _short(labels: list[int]) -> str:
    """A long list of labels as '[0, 1, 2, ..., 48, 49]'."""
    if len(labels) <= 8:
        return str(labels)
    return "[" + ", ".join(map(str, labels[:3])) + ", ..., " + ", ".join(map(str, labels[-2:])) + "]"


TASK_CASES = ((10, 5, 1), (10, 4, 2), (100, 50, 10), (100, 50, 1), (20, 10, 5), (6, 6, 1))


def check_task_classes(fn: Callable[[int, int, int], Sequence[Sequence[int]]]) -> Verdict:
    """fn(n_classes, base, increment) -> one list of labels per task (task 0 = the base task).

    Labels are positions in the class order, so task 0 holds 0..base-1. Compared with
    `make_scenario(n_classes, base, increment).task_classes(t)` for every t.
    """

    def case(n: int, base: int, inc: int) -> Case:
        def run() -> str | None:
            got = [[int(c) for c in task] for task in answer(fn, n, base, inc)]
            scenario = make_scenario(n, base, inc)
            expected = [scenario.task_classes(t) for t in range(scenario.n_tasks)]
            if len(got) != len(expected):
                return f"{len(got)} tasks, expected {len(expected)} (the base task counts as task 0)"
            for t, (g, e) in enumerate(zip(got, expected)):
                if g != e:
                    return f"task {t} introduces {_short(g)}, expected {_short(e)}"
            return None
        return f"n_classes={n}, base={base}, increment={inc}", run

    return run_check("task classes", [case(n, b, i) for n, b, i in TASK_CASES])


# --- average incremental accuracy ----------------------------------------------------------------
ACCURACY_CASES: tuple[tuple[float, ...], ...] = (
    (80.0,),
    (70.0, 40.0),
    (93.8, 82.0, 77.9, 72.7, 67.9, 72.9),
    tuple(float(v) for v in np.linspace(75.0, 52.0, 51)),     # 50 steps: 51 tasks
)


def check_average_incremental_accuracy(fn: Callable[[list[float]], float]) -> Verdict:
    """fn(accuracies) -> the average incremental accuracy; accuracies[t] = a_t, top-1 (%) after task t."""

    def case(accs: tuple[float, ...]) -> Case:
        def run() -> str | None:
            got = as_number(answer(fn, list(accs)))
            expected = average_incremental_accuracy(accs)
            if math.isclose(got, expected, abs_tol=1e-6):
                return None
            hint = ""
            if len(accs) > 1 and math.isclose(got, float(np.mean(accs[1:])), abs_tol=1e-6):
                hint = " (the base task, task 0, counts too)"
            elif math.isclose(got, accs[-1], abs_tol=1e-6):
                hint = " (this is the last accuracy; the score averages every task)"
            return f"got {got:.4f}, expected {expected:.4f}{hint}"
        return f"{len(accs)} task(s)", run

    return run_check("average incremental accuracy", [case(a) for a in ACCURACY_CASES])


# --- forgetting ----------------------------------------------------------------------------------
def _matrix(rows: list[list[float]]) -> np.ndarray:
    """Lower-triangular rows -> (S+1, S+1) accuracy matrix with NaN above the diagonal."""
    n = len(rows)
    out = np.full((n, n), np.nan)
    for t, row in enumerate(rows):
        out[t, : len(row)] = row
    return out


def _random_matrix(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _matrix([list(rng.uniform(20, 100, size=t + 1)) for t in range(n)])


FORGETTING_CASES: tuple[tuple[str, np.ndarray], ...] = (
    ("one task", _matrix([[90.0]])),
    ("finetune-like, old tasks drop to 0", _matrix([[90], [0, 100], [0, 0, 100], [0, 0, 0, 100]])),
    ("a task improves before it drops", _matrix([[70], [85, 90], [80, 60, 95], [40, 75, 70, 99]])),
    ("a task ends above its start", _matrix([[60], [55, 80], [65, 70, 90]])),
    ("6 tasks, random accuracies", _random_matrix(6, 0)),
)


def check_forgetting(fn: Callable[[np.ndarray], Sequence[float]]) -> Verdict:
    """fn(matrix) -> forgetting F_j of each task j < S, matrix (S+1, S+1) with A[t, j] = accuracy on
    task j's classes after task t (NaN above the diagonal). Compared with `metrics.forgetting`."""

    def case(description: str, matrix: np.ndarray) -> Case:
        def run() -> str | None:
            problem = compare_arrays(answer(fn, matrix.copy()), forgetting(matrix))
            if problem and "shape" not in problem:
                problem += " (the best accuracy of task j is over the rows j .. S-1, the last row excluded)"
            return problem
        return description, run

    return run_check("forgetting", [case(d, m) for d, m in FORGETTING_CASES])


__all__ = ["check_task_classes", "check_average_incremental_accuracy", "check_forgetting"]
