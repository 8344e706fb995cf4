"""What a run leaves on disk: one record per task, saved as plain JSON and CSV.

A run's directory holds
- results.json: the whole `RunResult` (method, configuration, every `TaskResult`),
  readable with `json.load` or `RunResult.load`;
- results.csv: one row per task (task, n_classes, accuracies, old/new accuracies,
  losses as `loss_<name>`, seconds, and seconds of each phase as `seconds_<phase>`), readable with `pandas.read_csv` or `csv`.

Accuracies are top-1 percentages (0-100). Labels are positions in the class order, so
task 0 holds labels 0..B-1, task 1 the next ones, and so on. NME accuracies are None when
NME inference was not run. In the JSON file a NaN (a task whose classes had no test
sample) is written as null and read back as NaN.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("nme", "cnn")
JSON_NAME = "results.json"
CONFIG_NAME = "config.json"        # a run directory's configuration (engine.experiment writes it)
CSV_NAME = "results.csv"
FORMAT_TAG = "podnet_lib.engine.results"
FORMAT_VERSION = 1


@dataclass
class TaskResult:
    """Evaluation after one task (task 0 is the base task)."""

    task: int                            # 0 = base task
    n_classes: int                       # classes seen after this task
    new_classes: list[int]               # labels introduced at this task
    acc_nme: float | None                # top-1 (%) on all seen classes, NME inference
    acc_cnn: float                       # top-1 (%) on all seen classes, classifier inference
    task_acc_nme: list[float] | None     # entry j: top-1 (%) on the classes of task j, j = 0..task
    task_acc_cnn: list[float]
    old_acc_nme: float | None = None     # classes of tasks < task (None at task 0)
    new_acc_nme: float | None = None     # this task's classes
    old_acc_cnn: float | None = None
    new_acc_cnn: float | None = None
    losses: dict[str, float] = field(default_factory=dict)   # mean of each term, last epoch
    seconds: float = 0.0                 # wall time of the task
    phase_seconds: dict[str, float] = field(default_factory=dict)   # imprint, train, select, finetune, evaluate
    skipped_steps: dict[str, int] = field(default_factory=dict)     # per phase: steps fp16's scaler skipped (NaN/inf gradients)


_REQUIRED_TASK_KEYS = tuple(f.name for f in dataclasses.fields(TaskResult)
                            if f.default is dataclasses.MISSING
                            and f.default_factory is dataclasses.MISSING)
_TASK_LIST_KEYS = ("task_acc_nme", "task_acc_cnn")


def check_metric(metric: str) -> str:
    """Return `metric` if it is one of METRICS, else raise a ValueError naming the choices."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric


def _plain(value: Any, where: str) -> Any:
    """Convert `value` to JSON types (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(list(value))]
    raise TypeError(f"{where} has type {type(value).__name__}, which cannot be saved as JSON")


def _nan_to_none(value: Any) -> Any:
    """Replace non-finite floats by None, recursively, so the JSON file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def _task_from_dict(d: dict, index: int) -> TaskResult:
    if not isinstance(d, dict):
        raise ValueError(f"tasks[{index}] must be a dict, got {type(d).__name__}")
    for key in _REQUIRED_TASK_KEYS:
        if key not in d:
            raise ValueError(f"tasks[{index}] is missing the key {key!r}")
    known = {f.name for f in dataclasses.fields(TaskResult)}
    kwargs = {k: v for k, v in d.items() if k in known}
    for key in _TASK_LIST_KEYS:                       # null inside a list means NaN
        if kwargs.get(key) is not None:
            kwargs[key] = [math.nan if v is None else float(v) for v in kwargs[key]]
    kwargs["new_classes"] = [int(c) for c in kwargs["new_classes"]]
    kwargs["losses"] = {k: (math.nan if v is None else float(v))
                        for k, v in (kwargs.get("losses") or {}).items()}
    return TaskResult(**kwargs)


def _write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it onto `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@dataclass
class RunResult:
    """A whole incremental run: the method's name, its configuration, one TaskResult per task."""

    method: str
    config: dict
    tasks: list[TaskResult]
    acceleration: dict = field(default_factory=dict)   # what the run used: precision, channels-last, compile

    def to_dict(self) -> dict:
        """Plain JSON types only (the configuration is converted, e.g. tuples become lists)."""
        return {
            "format": FORMAT_TAG,
            "version": FORMAT_VERSION,
            "method": self.method,
            "config": _plain(self.config, "config"),
            "acceleration": _plain(self.acceleration, "acceleration"),
            "tasks": [_plain(dataclasses.asdict(t), f"tasks[{i}]")
                      for i, t in enumerate(self.tasks)],
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunResult:
        """Inverse of `to_dict`; a ValueError names the first missing key."""
        if not isinstance(d, dict):
            raise ValueError(f"a run result must be a dict, got {type(d).__name__}")
        for key in ("method", "config", "tasks"):
            if key not in d:
                raise ValueError(f"run result is missing the key {key!r}")
        if not isinstance(d["tasks"], list):
            raise ValueError(f"'tasks' must be a list, got {type(d['tasks']).__name__}")
        tasks = [_task_from_dict(t, i) for i, t in enumerate(d["tasks"])]
        return cls(method=str(d["method"]), config=dict(d["config"]), tasks=tasks,
                   acceleration=dict(d.get("acceleration") or {}))

    def csv_rows(self) -> list[dict]:
        """One flat dict per task: the rows of results.csv (None where not computed)."""
        loss_names: list[str] = []
        for t in self.tasks:
            loss_names += [n for n in t.losses if n not in loss_names]
        phase_names: list[str] = []
        for t in self.tasks:
            phase_names += [n for n in t.phase_seconds if n not in phase_names]
        rows = []
        for t in self.tasks:
            row = {"task": t.task, "n_classes": t.n_classes,
                   "acc_nme": t.acc_nme, "acc_cnn": t.acc_cnn,
                   "old_acc_nme": t.old_acc_nme, "new_acc_nme": t.new_acc_nme,
                   "old_acc_cnn": t.old_acc_cnn, "new_acc_cnn": t.new_acc_cnn}
            row.update({f"loss_{n}": t.losses.get(n) for n in loss_names})
            row["seconds"] = t.seconds
            row.update({f"seconds_{n}": t.phase_seconds.get(n) for n in phase_names})
            rows.append(row)
        return rows

    def save(self, directory: Path) -> None:
        """Write `directory`/results.json and `directory`/results.csv, each atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_nan_to_none(self.to_dict()), indent=2, allow_nan=False)
        _write_atomic(directory / JSON_NAME, text + "\n")

        rows = self.csv_rows()
        buffer = io.StringIO()
        columns = list(rows[0]) if rows else ["task", "n_classes", "acc_nme", "acc_cnn", "seconds"]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        _write_atomic(directory / CSV_NAME, buffer.getvalue())

    @classmethod
    def load(cls, directory_or_file: Path) -> RunResult:
        """Read results.json from a run directory, or the JSON file given directly."""
        path = Path(directory_or_file)
        if path.is_dir():
            path = path / JSON_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a results file (not valid JSON: {err})") from err
        if isinstance(data, dict) and data.get("format", FORMAT_TAG) != FORMAT_TAG:
            raise ValueError(f"{path} is not a results file (format {data.get('format')!r})")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path} is not a results file: {err}") from err

    def accuracies(self, metric: str = "nme") -> list[float]:
        """Top-1 accuracy (%) on all seen classes after each task, for `metric` in METRICS."""
        check_metric(metric)
        values = [getattr(t, f"acc_{metric}") for t in self.tasks]
        if any(v is None for v in values):
            missing = [t.task for t, v in zip(self.tasks, values) if v is None]
            raise ValueError(f"run {self.method!r} has no {metric} accuracy for tasks {missing}")
        return [float(v) for v in values]

    @property
    def n_classes(self) -> list[int]:
        """Classes seen after each task: the x axis of an accuracy curve."""
        return [t.n_classes for t in self.tasks]

    def has_metric(self, metric: str) -> bool:
        """True when every task carries `metric` accuracies (overall and per task)."""
        check_metric(metric)
        return bool(self.tasks) and all(
            getattr(t, f"acc_{metric}") is not None and getattr(t, f"task_acc_{metric}") is not None
            for t in self.tasks)
