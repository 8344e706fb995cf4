"""Projected wall time of the paper's CIFAR-100 runs, from a base task and one step really run.

`measure_phases` runs PODNet's base task and its first 1-class step on the generated
CIFAR-shaped stand-in (ResNet-32, LSC, batch 128, every phase of the real loop: imprinting,
training with the teacher, herding, classifier finetuning, NME/CNN evaluation) and turns each
phase's wall time into seconds per image. `project_run` multiplies those by the images each
phase of the full protocol touches (160 epochs a task, 500 training and 100 test images a class,
20 exemplars a class) and sums over the tasks.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from podnet_lib.engine.acceleration import Acceleration
from podnet_lib.config import Config
from podnet_lib.data import make_scenario, synthetic_splits
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.results import TaskResult
from podnet_lib.engine.train import IncrementalLearner

CIFAR_TRAIN_PER_CLASS, CIFAR_TEST_PER_CLASS = 500, 100


@dataclass
class PhaseCosts:
    """Seconds per image of each phase (train and finetune: per image and epoch; imprint: per class)."""

    base_train: float    # the base task's training (no teacher)
    step_train: float    # a step's training (teacher forward + POD + LSC/NCA)
    finetune: float      # class-balanced finetuning of the classifier on the memory
    imprint: float       # a new class's features + k-means of its proxies, per new class
    select: float        # new classes' features + herding, per new-class image
    evaluate: float      # test images, exemplars and their flips embedded; NME and CNN


def task_images(n_seen: int, n_new: int, train_per_class: int, test_per_class: int, memory: int,
                flips: bool = True) -> dict[str, int]:
    """Images each phase of a task touches (train, finetune: per epoch; imprint: classes).

    Training sees the new classes' images and the old classes' exemplars; imprinting runs a
    k-means per new class (from task 1 on); herding embeds the new classes' images; finetuning
    sees every class's exemplars; evaluation embeds the seen classes' test images and the
    exemplars (and their flips) for the NME means.
    """
    new_images, exemplars = n_new * train_per_class, n_seen * min(memory, train_per_class)
    first = n_seen == n_new
    return {
        "train": new_images + (n_seen - n_new) * min(memory, train_per_class),
        "imprint": 0 if first else n_new,
        "select": new_images,
        "finetune": 0 if first else exemplars,
        "evaluate": n_seen * test_per_class + (2 if flips else 1) * exemplars,
    }


def _per_image(seconds: dict[str, float], images: dict[str, int], epochs: int, finetune_epochs: int) -> dict[str, float]:
    passes = {"train": epochs, "finetune": finetune_epochs}
    return {phase: seconds.get(phase, 0.0) / (n * passes.get(phase, 1)) if n else 0.0
            for phase, n in images.items()}


def measure_phases(device: torch.device, accel: Acceleration | None = None, train_per_class: int = 40,
                   test_per_class: int = 10, epochs: int = 2) -> PhaseCosts:
    """Run a 50-class base task and a 1-class step of PODNet on the stand-in; seconds per image.

    A first, unmeasured pass (one epoch) compiles and autotunes whatever the measured one will use.
    """
    cfg: Config = get_preset("cifar100-50steps-nme").replace(dataset="synthetic-cifar100", device=device.type)
    splits = synthetic_splits(n_classes=51, train_per_class=train_per_class, test_per_class=test_per_class)
    scenario = make_scenario(51, 50, 1)
    for run_epochs in (1, epochs):
        run_cfg = cfg.replace(epochs=run_epochs, finetune_epochs=run_epochs)
        with tempfile.TemporaryDirectory() as out:
            learner = IncrementalLearner(run_cfg, "podnet", splits, scenario, Path(out), device, bars=False,
                                         log_tasks=False, accel=accel)
            base, step = learner.run_task(0), learner.run_task(1)
    counts = {n_seen: task_images(n_seen, n_new, train_per_class, test_per_class, cfg.memory_per_class)
              for n_seen, n_new in ((50, 50), (51, 1))}
    base_cost = _per_image(base.phase_seconds, counts[50], epochs, epochs)
    step_cost = _per_image(step.phase_seconds, counts[51], epochs, epochs)
    return PhaseCosts(base_train=base_cost["train"], step_train=step_cost["train"],
                      finetune=step_cost["finetune"], imprint=step_cost["imprint"],
                      select=base_cost["select"], evaluate=step_cost["evaluate"])


def costs_from_run(tasks: list[TaskResult], cfg: Config, train_per_class: int = CIFAR_TRAIN_PER_CLASS,
                   test_per_class: int = CIFAR_TEST_PER_CLASS) -> PhaseCosts:
    """Per-image costs from the tasks of a real run of `cfg` (e.g. a 10-step run at few epochs).

    The base task gives base_train and select; the steps together give step_train, finetune and
    imprint (seconds summed over the steps / images summed over the steps); evaluate comes from
    every task. Divide by the epochs the run used, so the costs project to any epoch count.
    """
    sums: dict[str, float] = {}
    for t in tasks:
        n_new = len(t.new_classes)
        images = task_images(t.n_classes, n_new, train_per_class, test_per_class, cfg.memory_per_class)
        passes = {"train": cfg.epochs, "finetune": cfg.finetune_epochs if t.task > 0 else 0}
        kind = "base" if t.task == 0 else "step"
        for phase, n in images.items():
            key = f"{kind}_{phase}" if phase in ("train", "select") else phase
            sums[f"{key}_s"] = sums.get(f"{key}_s", 0.0) + t.phase_seconds.get(phase, 0.0)
            sums[f"{key}_n"] = sums.get(f"{key}_n", 0.0) + n * passes.get(phase, 1)

    def cost(key: str) -> float:
        return sums.get(f"{key}_s", 0.0) / sums[f"{key}_n"] if sums.get(f"{key}_n") else 0.0

    return PhaseCosts(base_train=cost("base_train"), step_train=cost("step_train"), finetune=cost("finetune"),
                      imprint=cost("imprint"), select=cost("base_select"), evaluate=cost("evaluate"))


def task_seconds(costs: PhaseCosts, images: dict[str, int], epochs: int, finetune_epochs: int,
                 base: bool) -> float:
    """Projected wall time of one task from per-image costs and its image counts."""
    train_cost = costs.base_train if base else costs.step_train
    return (images["train"] * epochs * train_cost + images["finetune"] * finetune_epochs * costs.finetune
            + images["imprint"] * costs.imprint + images["select"] * costs.select
            + images["evaluate"] * costs.evaluate)


def project_run(costs: PhaseCosts, cfg: Config, train_per_class: int = CIFAR_TRAIN_PER_CLASS,
                test_per_class: int = CIFAR_TEST_PER_CLASS, n_classes: int = 100) -> dict[str, float]:
    """Seconds of the run `cfg` describes (base task, first step, total) on a dataset of this size."""
    seconds = []
    for n_seen in range(cfg.base_classes, n_classes + 1, cfg.increment):
        n_new = cfg.base_classes if n_seen == cfg.base_classes else cfg.increment
        images = task_images(n_seen, n_new, train_per_class, test_per_class, cfg.memory_per_class)
        seconds.append(task_seconds(costs, images, cfg.epochs, cfg.finetune_epochs, base=n_new == n_seen))
    return {"base_task_s": seconds[0], "step_task_s": seconds[1] if len(seconds) > 1 else 0.0,
            "total_s": sum(seconds), "tasks": len(seconds)}


def cifar_projections(costs: PhaseCosts) -> dict:
    """The 50-step and 10-step presets projected, with the per-image costs they came from."""
    return {"cifar100_50steps": project_run(costs, get_preset("cifar100-50steps-nme")),
            "cifar100_10steps": project_run(costs, get_preset("cifar100-10steps-nme")),
            "phase_costs_s_per_image": asdict(costs)}
