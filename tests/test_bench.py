"""The benchmark's arithmetic and its output format (figures themselves are not asserted: no timed tests)."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch

from podnet_lib.engine.acceleration import Acceleration
from podnet_lib.bench import (OthersLoad, Throughputs, compiled_figures, format_table, measure_steps, median_range,
                              run_benchmark)
from podnet_lib.engine.methods.podnet import PODNet
from podnet_lib.config import Config
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.results import TaskResult
from podnet_lib.projection import (PhaseCosts, cifar_projections, costs_from_run, measure_phases, project_run,
                                  task_images)


def test_task_images_by_hand():
    base = task_images(n_seen=50, n_new=50, train_per_class=500, test_per_class=100, memory=20)
    assert base == {"train": 25_000, "imprint": 0, "select": 25_000, "finetune": 0, "evaluate": 5_000 + 2 * 1_000}
    step = task_images(n_seen=55, n_new=5, train_per_class=500, test_per_class=100, memory=20)
    assert step == {"train": 2_500 + 50 * 20, "imprint": 5, "select": 2_500, "finetune": 55 * 20,
                    "evaluate": 5_500 + 2 * 55 * 20}


def test_projection_by_hand():
    costs = PhaseCosts(base_train=1.0, step_train=2.0, finetune=3.0, imprint=5.0, select=7.0, evaluate=11.0)
    cfg = Config(base_classes=2, increment=1, epochs=2, finetune_epochs=1, memory_per_class=1)
    p = project_run(costs, cfg, train_per_class=10, test_per_class=2, n_classes=3)
    base = 20 * 2 * 1.0 + 20 * 7.0 + (2 * 2 + 2 * 2) * 11.0
    step = (10 + 2) * 2 * 2.0 + 3 * 1 * 3.0 + 1 * 5.0 + 10 * 7.0 + (3 * 2 + 2 * 3) * 11.0
    assert (p["base_task_s"], p["step_task_s"], p["tasks"]) == (pytest.approx(base), pytest.approx(step), 2)
    assert p["total_s"] == pytest.approx(base + step)
    fifty = project_run(costs, get_preset("cifar100-50steps-nme"))
    assert fifty["tasks"] == 51 and fifty["total_s"] > project_run(costs, get_preset("cifar100-10steps-nme"))["total_s"]


def test_costs_from_a_real_run_by_hand():
    """Per-image costs recovered from a run's phase seconds (the GPU check's stand-in run)."""
    cfg = Config(base_classes=2, increment=1, epochs=2, finetune_epochs=3, memory_per_class=1)
    base = TaskResult(task=0, n_classes=2, new_classes=[0, 1], acc_nme=None, acc_cnn=0.0, task_acc_nme=None,
                      task_acc_cnn=[], phase_seconds={"train": 20 * 2 * 1.0, "select": 20 * 1.0, "evaluate": 8 * 11.0})
    step = TaskResult(task=1, n_classes=3, new_classes=[2], acc_nme=None, acc_cnn=0.0, task_acc_nme=None,
                      task_acc_cnn=[], phase_seconds={"train": 12 * 2 * 2.0, "finetune": 3 * 3 * 3.0, "imprint": 5.0,
                                                      "select": 10 * 1.0, "evaluate": 12 * 11.0})
    costs = costs_from_run([base, step], cfg, train_per_class=10, test_per_class=2)
    assert asdict(costs) == pytest.approx(asdict(PhaseCosts(base_train=1.0, step_train=2.0, finetune=3.0,
                                                            imprint=5.0, select=1.0, evaluate=11.0)))


def test_phases_are_measured_on_a_real_base_task_and_step():
    costs = measure_phases(torch.device("cpu"), train_per_class=4, test_per_class=2, epochs=1)
    for name, value in asdict(costs).items():
        assert 0 < value < 10, name


def test_podnet_step_is_slower_than_a_plain_step():
    torch.manual_seed(0)
    t = measure_steps(torch.device("cpu"), batch=16, steps=2, warmup=1, rounds=3)
    assert t.podnet_img_s < t.plain_img_s and t.eval_img_s > t.podnet_img_s
    assert t.rounds == 3 and t.step_ratio > 1
    for name in ("plain", "podnet", "step_ratio"):
        low, high = t.ranges[name]
        assert low <= {"plain": t.plain_img_s, "podnet": t.podnet_img_s, "step_ratio": t.step_ratio}[name] <= high


def test_podnet_step_is_the_library_recipe(monkeypatch):
    """The benchmark times `PODNet.loss_terms` itself: a change of the recipe reaches it."""
    calls = []
    real = PODNet.loss_terms
    monkeypatch.setattr(PODNet, "loss_terms", lambda self, *a: calls.append(a[-1]) or real(self, *a))
    measure_steps(torch.device("cpu"), batch=4, steps=1, warmup=0, rounds=2)
    assert len(calls) == 1 + 2 and calls[0].task == 1 and calls[0].n_new == 1      # first step + one a round


def test_share_of_cpu_used_by_other_processes():
    spin = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    with OthersLoad() as load:
        child = subprocess.Popen([sys.executable, "-c", spin])
        child.wait()
    if load.share is None:
        pytest.skip("no /proc/stat here")
    assert load.share >= 0.6 / os.cpu_count()              # the child kept about one CPU busy
    assert median_range([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)


@pytest.fixture(scope="module")
def cpu_figures():
    return run_benchmark("cpu", batch=8, steps=1, main_job=False, standin_per_class=4)


def test_benchmark_reports_the_promised_figures(cpu_figures):
    figures = dict(cpu_figures)
    assert figures["cifar100_50steps"]["tasks"] == 51 and figures["cifar100_10steps"]["tasks"] == 11
    for key in ("plain_img_s", "podnet_img_s", "step_ratio", "data_ratio", "device", "peak_memory_mb"):
        assert key in figures
    low, high = figures["ranges"]["step_ratio"]
    assert low <= figures["step_ratio"] <= high and figures["rounds"] == 5
    table = format_table(figures)
    assert "step ratio" in table and "CIFAR-100 50 steps" in table
    assert f"{figures['step_ratio']:.2f} ({low:.2f}-{high:.2f})" in table and "of the CPUs meanwhile" in table


def test_compiled_steps_are_measured_and_reported(cpu_figures):
    compiled = Acceleration("cpu", compile=True, compile_backend="aot_eager")
    t = measure_steps(torch.device("cpu"), compiled, batch=8, steps=1, warmup=1, rounds=1)
    assert t.first_podnet_s > 0 and t.podnet_img_s > 0
    figures = dict(cpu_figures)
    eager = Throughputs(plain_img_s=100.0, podnet_img_s=t.podnet_img_s / 2, finetune_img_s=1.0, eval_img_s=1.0,
                        first_podnet_s=0.1)
    costs = PhaseCosts(base_train=1.0, step_train=2.0, finetune=3.0, imprint=5.0, select=7.0, evaluate=11.0)
    figures["compiled"] = compiled_figures(t, eager, cifar_projections(costs))
    table = format_table(figures)
    assert "compiled backbone" in table and f"{t.first_podnet_s:.1f} s / 0.10 s" in table and "x2.00 eager" in table
