"""Chapter 01's real students: the model after the base task (the teacher f^{t-1}) trained on one
more task by two recipes, and how far each one's stage outputs move away from the teacher's.

- "podnet": the full PODNet recipe: NCA on the LSC, the new class's images plus the memory,
  POD-final (eq. (7)) against the teacher, then the classifier finetuned on the balanced memory;
- "finetune": the library's `finetune` recipe (cross-entropy on the new class's images only,
  no distillation) applied to the *same* network, so its classifier is the teacher's LSC.

Both students start from one checkpoint, so they share their teacher. A student's drift is
POD-spatial (eq. (5), in the authors' form, the quantity PODNet's loss holds) between the
teacher's and the student's stage outputs h_1..h_L on a fixed probe batch of old-class test
images, measured before training and after every epoch. Everything is trained once and cached
under `root`: each student's checkpoint and its drift curve (drift.json).
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from podnet_lib.config import Config, config_key
from podnet_lib.data import AugmentSpec, normalise
from podnet_lib.data.loading import class_indices
from podnet_lib.engine.cache import trained_learner
from podnet_lib.engine.checkpoint import load_checkpoint
from podnet_lib.engine.experiment import prepare
from podnet_lib.engine.methods import TaskInfo
from podnet_lib.engine.phase import Phase
from podnet_lib.engine.results import RunResult, TaskResult
from podnet_lib.engine.train import IncrementalLearner, resolve_device
from podnet_lib.model.network import Network
from podnet_lib.model.pod import pod_distance, pooled_statistics
from podnet_lib.book.widgets.pooling import LABELS, draw_statistic
from podnet_lib.book.widgets.student import pod_losses

STUDENTS = ("finetune", "podnet")                    # the two recipes of task 1
STUDENT_COLOURS = {"finetune": "tab:orange", "podnet": "tab:blue"}
DRIFT_NAME = "drift.json"


@dataclass
class DriftCurve:
    """POD-spatial between teacher and student at each stage, one point per measurement.

    phase[k]: "start" (before any step), "train" (the task's main training) or "finetune"
    (PODNet's classifier finetuning: backbone frozen, its BatchNorm statistics still move);
    epoch[k]: the epoch of that phase just finished (0 for "start");
    stages[l][k]: the drift of stage l + 1 at point k.
    """

    phase: list[str]
    epoch: list[int]
    stages: list[list[float]]


@dataclass
class Students:
    """The teacher, the two students after task 1, their drift curves and accuracies."""

    teacher: Network                     # f^{t-1}, after the base task, eval mode
    nets: dict[str, Network]             # recipe -> f^t after task 1, eval mode
    drift: dict[str, DriftCurve]         # recipe -> its drift while learning task 1
    results: dict[str, TaskResult]       # recipe -> evaluation after task 1
    base: TaskResult                     # the teacher's evaluation after the base task


def probe_images(learner: IncrementalLearner, classes: range, per_class: int) -> Tensor:
    """The first `per_class` test images of each class position in `classes`: uint8 (n, C, S, S)."""
    labels = learner.test_set.labels
    idx = torch.cat([class_indices(labels, [c])[:per_class] for c in classes]).to(labels.device)
    return learner.test_set.images[idx]


def stage_drift(old: list[Tensor], new: list[Tensor], form: str = "authors") -> list[float]:
    """POD-spatial (eq. (5)) of each stage: old, new are lists of (B, C, H, W) -> one float per stage."""
    return [float(pod_distance(a, b, "spatial", form)) for a, b in zip(old, new)]


@torch.no_grad()
def _maps(net: Network, images: Tensor, spec: AugmentSpec) -> list[Tensor]:
    """Stage outputs h_1..h_L of uint8 images (B, C, S, S), in float32 on the CPU, computed in eval
    mode (running BatchNorm statistics); the network's mode is left as it was."""
    was_training = net.training
    net.eval()
    maps = [m.float().cpu() for m in net.backbone(normalise(images, spec)).maps]
    net.train(was_training)
    return maps


def _drift_hook(curve: DriftCurve, teacher_maps: list[Tensor], probe: Tensor):
    """An epoch hook of IncrementalLearner that appends the drift after each epoch to `curve`."""
    def hook(learner: IncrementalLearner, info: TaskInfo, phase: Phase, epoch: int, means: dict) -> None:
        curve.phase.append(phase.name)
        curve.epoch.append(epoch + 1)
        for values, d in zip(curve.stages, stage_drift(teacher_maps, _maps(learner.net, probe, learner.spec))):
            values.append(d)
    return hook


def _adopt(learner: IncrementalLearner, teacher: IncrementalLearner) -> None:
    """Give `learner` the teacher learner's state after the base task: network, memory, results."""
    learner.net = copy.deepcopy(teacher.net)
    learner.store.load_state_dict(teacher.store.state_dict())
    learner.result = RunResult(method=learner.method.name, config=learner.result.config,
                               tasks=list(teacher.result.tasks))


def _load_student(teacher: Network, checkpoint: Path) -> tuple[Network, TaskResult]:
    """A cached student: the teacher's network grown by the saved classes, with the saved weights."""
    state = load_checkpoint(checkpoint)
    net = copy.deepcopy(teacher)
    for n in state["classifier_groups"][len(net.classifier.group_sizes):]:
        net.classifier.add_classes(n)
    net.load_state_dict(state["network"])
    return net.eval(), RunResult.from_dict(state["results"]).tasks[-1]


def _train_student(cfg: Config, recipe: str, teacher: IncrementalLearner, out_dir: Path, probe: Tensor,
                   bars: bool) -> tuple[Network, TaskResult, DriftCurve]:
    """Train task 1 from the teacher's state with `recipe`, measuring the drift after every epoch."""
    splits, scenario = prepare(cfg)
    learner = IncrementalLearner(cfg, recipe, splits, scenario, out_dir, resolve_device(cfg.device), bars,
                                 log_tasks=False)
    _adopt(learner, teacher)
    teacher_maps = _maps(teacher.net, probe, teacher.spec)
    start = stage_drift(teacher_maps, _maps(learner.net, probe, learner.spec))      # 0: the teacher itself
    curve = DriftCurve(["start"], [0], [[d] for d in start])
    learner.epoch_hooks.append(_drift_hook(curve, teacher_maps, probe))
    result = learner.run_task(1)
    (out_dir / DRIFT_NAME).write_text(json.dumps(asdict(curve)))
    return learner.net.eval(), result, curve


def real_students(cfg: Config, root: Path, per_class: int = 10, bars: bool = False) -> Students:
    """The teacher (PODNet after the base task of `cfg`) and its two students after task 1.

    The teacher is cached by `trained_learner` under root; each student under
    root/students-<config hash>-p<per_class>/<recipe>/ (checkpoint.pt, drift.json), so a second
    call loads everything. per_class: probe images per old class for the drift curves.
    """
    cfg = cfg.replace(methods=("podnet",))
    teacher = trained_learner(cfg, root, upto_task=0, bars=bars)
    probe = probe_images(teacher, range(teacher.scenario.seen_classes(0)), per_class)
    nets, drift, results = {}, {}, {}
    for recipe in STUDENTS:
        out_dir = Path(root) / f"students-{config_key(cfg)}-p{per_class}" / recipe
        checkpoint, curve_file = out_dir / "checkpoint.pt", out_dir / DRIFT_NAME
        if checkpoint.is_file() and curve_file.is_file():
            nets[recipe], results[recipe] = _load_student(teacher.net, checkpoint)
            drift[recipe] = DriftCurve(**json.loads(curve_file.read_text()))
        else:
            nets[recipe], results[recipe], drift[recipe] = _train_student(cfg, recipe, teacher, out_dir, probe, bars)
    return Students(teacher.net.eval(), nets, drift, results, teacher.result.tasks[0])


# --- figures ------------------------------------------------------------------------------------

def drift_figure(drift: dict[str, DriftCurve]) -> Figure:
    """One panel per stage: each student's POD-spatial to the teacher after every epoch of task 1.

    The main training's epochs are numbered 1..E; PODNet's classifier-finetuning epochs follow,
    on a grey background.
    """
    n_stages = len(next(iter(drift.values())).stages)
    fig, axes = plt.subplots(1, n_stages, figsize=(3.4 * n_stages, 3.6), layout="constrained", sharey=True)
    axes = np.atleast_1d(axes)
    for recipe, curve in drift.items():
        x = np.arange(len(curve.epoch))
        n_main = 1 + sum(p == "train" for p in curve.phase)
        for l, (ax, values) in enumerate(zip(axes, curve.stages), start=1):
            ax.plot(x[:n_main], values[:n_main], marker="o", markersize=4, color=STUDENT_COLOURS.get(recipe),
                    label=f"{recipe} student")
            if len(x) > n_main:
                ax.plot(x[n_main - 1:], values[n_main - 1:], marker="s", markersize=3, linestyle=":",
                        color=STUDENT_COLOURS.get(recipe))
                ax.axvspan(n_main - 0.5, len(x) - 0.5, color="0.9", zorder=0)
            ax.set_title(f"stage {l}", fontsize="medium")
            ax.set_xlabel("epochs of task 1")
            ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("POD-spatial to the teacher\n(authors' form, probe batch)")
    handles, labels = axes[0].get_legend_handles_labels()
    if any(len(c.epoch) > 1 + sum(p == "train" for p in c.phase) for c in drift.values()):
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.9"))
        labels.append("classifier finetuning (backbone frozen)")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    fig.suptitle("How far each student's stage outputs move from the teacher's while it learns the new class")
    return fig


def students_view(old: Tensor, students: dict[str, Tensor], pooling: str, sample: int = 0,
                  channel: int = 0) -> Figure:
    """Teacher vs each student at one stage.

    old: the teacher's maps (B, C, H, W); students: recipe -> that student's maps, same shape.
    Top: the six POD losses of each student on the batch (paper form / teacher's energy).
    Bottom: the teacher's statistic of `pooling` for image `sample`, then each student's minus
    the teacher's, on the teacher's colour scale, so a saturated colour is a change as large as
    the statistic itself (POD-pixel: channel `channel` of the map; POD-gap: bars).
    """
    parts = ("width", "height") if pooling == "spatial" else (pooling,)
    fig = plt.figure(figsize=(12.0, 3.8 + 3.1 * len(parts)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.8, 3.1 * len(parts)])
    ax = top.subplots()
    losses = {r: pod_losses(old, new) for r, new in students.items()}
    names = list(LABELS)
    x, width = np.arange(len(names)), 0.8 / len(students)
    for i, (recipe, values) in enumerate(losses.items()):
        bars = ax.bar(x + (i - (len(students) - 1) / 2) * width, [values[n] for n in names], width=width,
                      color=STUDENT_COLOURS.get(recipe), label=f"{recipe} student")
        ax.bar_label(bars, fmt="%.2g", fontsize="x-small", padding=1)
    ax.set_xticks(x, [LABELS[n] for n in names], fontweight="normal")
    ax.get_xticklabels()[names.index(pooling)].set_fontweight("bold")
    ax.set_ylabel("loss / teacher's energy")
    ax.set_title(f"POD losses, teacher vs each student, over {old.shape[0]} images (paper form)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    axes = bottom.subplots(len(parts), 1 + len(students), squeeze=False)
    for row, part in enumerate(parts):
        a = _statistic(old[sample], part, channel)
        vmax = float(a.abs().max()) or 1.0
        what = f"channel {channel}" if part == "pixel" else LABELS[part]
        panels = [(a, f"teacher: {what}")] + [(_statistic(new[sample], part, channel) - a, f"{r} - teacher")
                                              for r, new in students.items()]
        kind = "channel" if part == "pixel" else part
        reach = max(float(d.abs().max()) for d, _ in panels) or 1.0      # bars: nothing cut off
        for col, (data, title) in enumerate(panels):
            image = draw_statistic(axes[row, col], data, kind, title, vmax=vmax)
            if kind == "gap":
                axes[row, col].set_ylim(-reach * 1.05, reach * 1.05)
        if image is not None:
            bottom.colorbar(image, ax=axes[row, :].tolist(), shrink=0.85,
                            label="activation" if part == "pixel" else "pooled sum")
    bottom.suptitle(f"{LABELS[pooling]} of one image: the teacher's, and how each student changed it",
                    fontsize="medium")
    return fig


def _statistic(stage_map: Tensor, pooling: str, channel: int) -> Tensor:
    """One image's pooled statistic of a one-part pooling: (C, H, W) -> (H, W), (C,), (C, H) or
    (C, W); for POD-pixel, channel `channel` of the map (H, W)."""
    stat = pooled_statistics(stage_map[None], pooling)[0][0]
    return stat[channel] if pooling == "pixel" else stat
