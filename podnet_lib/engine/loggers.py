"""Optional live logging of a run (`run --log tensorboard`): accuracies per task, losses per epoch.

A logger receives two kinds of event from `IncrementalLearner`:
- `task(method, record)`: the `TaskResult` after each task (accuracies on all, old and new classes);
- `epoch(method, phase, step, losses)`: the mean of each loss term over one epoch of a phase
  ("train", "finetune"); `step` = task x epochs of the phase + epoch, the same on a resumed run.
The files in the run directory stay the record of a run; a logger only shows it as it goes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from podnet_lib.config import ConfigError
from podnet_lib.engine.results import METRICS, TaskResult
from podnet_lib.registry import Registry


class RunLogger(Protocol):
    def task(self, method: str, record: TaskResult) -> None: ...

    def epoch(self, method: str, phase: str, step: int, losses: dict[str, float]) -> None: ...

    def close(self) -> None: ...


class TensorBoardLogger:
    """Event files under <run dir>/tensorboard/<method>/, read by `tensorboard --logdir <run dir>`.

    Scalars: accuracy_<nme|cnn>/{all,old,new} against the task, loss_<phase>/<term> against
    the epoch step.
    """

    def __init__(self, out_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("log='tensorboard' needs the tensorboard package, which is not installed; install "
                              "it (pip install tensorboard, or the [tensorboard] extra) or drop --log") from None
        self._writer_class = SummaryWriter
        self.root = Path(out_dir) / "tensorboard"
        self._writers: dict = {}

    def _writer(self, method: str):
        if method not in self._writers:                    # created on first use: no folder before training
            self._writers[method] = self._writer_class(log_dir=str(self.root / method))
        return self._writers[method]

    def task(self, method: str, record: TaskResult) -> None:
        writer = self._writer(method)
        for metric in METRICS:
            for part in ("", "old_", "new_"):
                value = getattr(record, f"{part}acc_{metric}")
                if value is not None:
                    writer.add_scalar(f"accuracy_{metric}/{part.rstrip('_') or 'all'}", value, record.task)
        writer.flush()

    def epoch(self, method: str, phase: str, step: int, losses: dict[str, float]) -> None:
        writer = self._writer(method)
        for term, value in losses.items():
            writer.add_scalar(f"loss_{phase}/{term}", value, step)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


LOGGERS: Registry[type] = Registry("log", {"tensorboard": TensorBoardLogger})


def make_logger(name: str, out_dir: Path) -> RunLogger:
    """The logger called `name` (LOGGERS), writing under `out_dir`; a missing package -> ConfigError."""
    return LOGGERS[name](out_dir)
