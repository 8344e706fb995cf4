"""The figures of a run directory: accuracy curves, accuracy matrices and forgetting, as PNG files."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from podnet_lib.engine.results import RunResult
from podnet_lib.report.plots import plot_accuracy_curves, plot_accuracy_matrix, plot_forgetting, save_figure


def write_figures(runs: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """accuracy_curves_{nme,cnn}.png, accuracy_matrix_<method>.png and forgetting.png under
    out_dir; returns the paths written (runs without a finished task are left out)."""
    out_dir = Path(out_dir)
    complete = [r for r in runs if r.tasks]
    written = [save_figure(plot_accuracy_curves(complete, metric), out_dir / f"accuracy_curves_{metric}.png")
               for metric in ("nme", "cnn")]
    for r in complete:
        written.append(save_figure(plot_accuracy_matrix(r, "nme"), out_dir / f"accuracy_matrix_{r.method}.png"))
    if any(len(r.tasks) > 1 for r in complete):
        written.append(save_figure(plot_forgetting(complete, "nme"), out_dir / "forgetting.png"))
    return written
