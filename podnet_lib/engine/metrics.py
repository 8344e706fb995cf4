"""Scores of an incremental run, in percent: accuracy, average incremental accuracy, forgetting, BWT.

- average incremental accuracy: the paper's score (Sec. 4, "Protocol"), the mean of the top-1
  accuracy on all seen classes after every task, base task included;
- accuracy matrix A (T, T): A[t, j] is the accuracy on the classes of task j after task t;
- forgetting (Chaudhry et al., 2018): for each task j < T-1, the best accuracy it ever had
  after being learned, max_{t in [j, T-2]} A[t, j], minus its final accuracy A[T-1, j];
- backward transfer, BWT (Lopez-Paz & Ranzato, 2017): for each task j < T-1, its final accuracy
  A[T-1, j] minus its accuracy just after it was learned A[j, j], averaged; negative when the
  model forgets (and never below minus the forgetting, which takes the best accuracy instead).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from podnet_lib.engine.results import RunResult, check_metric


def _as_predicted_labels(predictions: Tensor, labels: Tensor) -> Tensor:
    """predictions: (N,) labels or (N, C) scores -> (N,) labels; checks N against `labels`."""
    if predictions.dim() == 2:
        predictions = predictions.argmax(dim=1)
    if predictions.dim() != 1 or labels.dim() != 1:
        raise ValueError(f"predictions must be (N,) or (N, C) and labels (N,), got "
                         f"{tuple(predictions.shape)} and {tuple(labels.shape)}")
    if predictions.shape[0] != labels.shape[0]:
        raise ValueError(f"predictions and labels differ in length: "
                         f"{predictions.shape[0]} vs {labels.shape[0]}")
    return predictions


def top1_accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Percent of samples whose predicted label equals the true one.

    predictions: (N,) predicted labels, or (N, C) scores (argmax taken); labels: (N,).
    """
    predictions = _as_predicted_labels(predictions, labels)
    if labels.numel() == 0:
        raise ValueError("labels is empty: accuracy of no sample is undefined")
    return 100.0 * (predictions == labels).double().mean().item()


def group_accuracies(predictions: Tensor, labels: Tensor, groups: Tensor,
                     n_groups: int) -> list[float]:
    """Top-1 accuracy (%) within each group, e.g. groups[i] = task of labels[i].

    predictions: (N,) or (N, C); labels, groups: (N,) with groups in [0, n_groups).
    Returns n_groups values; NaN for a group without samples.
    """
    predictions = _as_predicted_labels(predictions, labels)
    if groups.shape != labels.shape:
        raise ValueError(f"groups must have the shape of labels {tuple(labels.shape)}, "
                         f"got {tuple(groups.shape)}")
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    if groups.numel() and (groups.min() < 0 or groups.max() >= n_groups):
        raise ValueError(f"groups must lie in [0, {n_groups}), got values in "
                         f"[{int(groups.min())}, {int(groups.max())}]")
    groups = groups.long()
    correct = torch.zeros(n_groups, dtype=torch.float64)
    counts = torch.zeros(n_groups, dtype=torch.float64)
    correct.index_add_(0, groups, (predictions == labels).double())
    counts.index_add_(0, groups, torch.ones_like(groups, dtype=torch.float64))
    return [100.0 * c / n if n > 0 else math.nan
            for c, n in zip(correct.tolist(), counts.tolist())]


def average_incremental_accuracy(accuracies: Sequence[float]) -> float:
    """Mean of the accuracy after every task, base task included (Sec. 4, "Protocol")."""
    values = list(accuracies)
    if not values:
        raise ValueError("accuracies is empty: need the accuracy after at least one task")
    if any(v is None for v in values):
        raise ValueError(f"accuracies contains None: {values}")
    return float(np.mean(values))


def accuracy_matrix(run: RunResult, metric: str = "nme") -> np.ndarray:
    """(T, T) array: row t = evaluation after task t, column j = classes of task j.

    Entries above the diagonal (tasks not seen yet) are NaN.
    """
    check_metric(metric)
    n = len(run.tasks)
    matrix = np.full((n, n), np.nan)
    for t, task in enumerate(run.tasks):
        row = getattr(task, f"task_acc_{metric}")
        if row is None:
            raise ValueError(f"run {run.method!r} has no task_acc_{metric} after task {t}")
        if len(row) != t + 1:
            raise ValueError(f"task_acc_{metric} after task {t} must have {t + 1} entries, "
                             f"got {len(row)}")
        matrix[t, : t + 1] = row
    return matrix


def forgetting(matrix: np.ndarray) -> np.ndarray:
    """Forgetting of each task j < T-1: max_{t in [j, T-2]} A[t, j] - A[T-1, j].

    matrix: (T, T) accuracy matrix -> (T-1,) in percentage points; empty when T == 1.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (T, T), got shape {matrix.shape}")
    last = matrix.shape[0] - 1
    return np.array([matrix[j:last, j].max() - matrix[last, j] for j in range(last)])


def average_forgetting(matrix: np.ndarray) -> float:
    """Mean of `forgetting(matrix)`; NaN when there is a single task (nothing to forget)."""
    values = forgetting(matrix)
    return float(values.mean()) if values.size else math.nan


def backward_transfer(matrix: np.ndarray) -> float:
    """BWT = mean over tasks j < T-1 of A[T-1, j] - A[j, j], in percentage points.

    matrix: (T, T) accuracy matrix -> a float; NaN when there is a single task (no old task).
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (T, T), got shape {matrix.shape}")
    last = matrix.shape[0] - 1
    if last == 0:
        return math.nan
    old = np.arange(last)
    return float((matrix[last, old] - matrix[old, old]).mean())


def summary(run: RunResult) -> dict:
    """The run's headline numbers; the NME entries are None when NME was not computed."""
    out: dict = {"method": run.method}
    for metric in ("nme", "cnn"):
        if not run.has_metric(metric):
            out.update({f"avg_inc_acc_{metric}": None, f"final_acc_{metric}": None,
                        f"avg_forgetting_{metric}": None, f"bwt_{metric}": None})
            continue
        accs = run.accuracies(metric)
        out[f"avg_inc_acc_{metric}"] = average_incremental_accuracy(accs)
        out[f"final_acc_{metric}"] = accs[-1]
        matrix = accuracy_matrix(run, metric)
        out[f"avg_forgetting_{metric}"] = average_forgetting(matrix)
        out[f"bwt_{metric}"] = backward_transfer(matrix)
    keys = ("method", "avg_inc_acc_nme", "avg_inc_acc_cnn", "final_acc_nme", "final_acc_cnn",
            "avg_forgetting_nme", "avg_forgetting_cnn", "bwt_nme", "bwt_cnn")
    return {k: out[k] for k in keys}


_COLUMNS = (("avg_inc_acc_nme", "avg inc NME"), ("avg_inc_acc_cnn", "avg inc CNN"),
            ("final_acc_nme", "final NME"), ("final_acc_cnn", "final CNN"),
            ("avg_forgetting_nme", "forget NME"), ("avg_forgetting_cnn", "forget CNN"),
            ("bwt_nme", "BWT NME"), ("bwt_cnn", "BWT CNN"))


def format_accuracy(value: float | None) -> str:
    """A percentage with 2 decimals, or "-" for a number not computed or undefined (None, NaN)."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def summary_table(runs: Sequence[RunResult]) -> str:
    """Fixed-width text table, one row per run, numbers in percent with 2 decimals.

    "-" marks a number that was not computed (NME off) or is undefined (forgetting or BWT of 1 task).
    """
    rows = [summary(run) for run in runs]
    width = max([len("method")] + [len(r["method"]) for r in rows])
    cell = max(len(title) for _, title in _COLUMNS)
    lines = ["  ".join([f"{'method':<{width}}"] + [f"{t:>{cell}}" for _, t in _COLUMNS])]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append("  ".join([f"{r['method']:<{width}}"]
                               + [f"{format_accuracy(r[k]):>{cell}}" for k, _ in _COLUMNS]))
    return "\n".join(lines)
