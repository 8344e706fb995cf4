"""The benchmark's arithmetic and its output format (figures themselves are not asserted: no timed tests)."""
from __future__ import annotations

import pytest
import torch

from podnet_lib.bench import Throughputs, format_table, measure_steps, project_cifar, run_benchmark


def test_projection_by_hand():
    t = Throughputs(plain_img_s=1000.0, podnet_img_s=500.0, finetune_img_s=2000.0, eval_img_s=4000.0)
    p = project_cifar(t, steps=1, epochs=2, finetune_epochs=1, per_class_train=10, per_class_test=2, memory=1)
    base = 50 * 10 * 2 / 1000 + (50 * 2 + 2 * 50 * 1 + 50 * 10) / 4000
    step = (50 * 10 + 50 * 1) * 2 / 500 + 100 * 1 * 1 / 2000 + (100 * 2 + 2 * 100 * 1 + 50 * 10) / 4000
    assert p["base_task_s"] == pytest.approx(base)
    assert p["step_task_s"] == pytest.approx(step)
    assert p["total_s"] == pytest.approx(base + step)
    assert project_cifar(t, 50)["total_s"] > project_cifar(t, 10)["total_s"]


def test_podnet_step_is_slower_than_a_plain_step():
    torch.manual_seed(0)
    t = measure_steps(torch.device("cpu"), batch=16, steps=2, warmup=1)
    assert t.podnet_img_s < t.plain_img_s and t.eval_img_s > t.podnet_img_s


def test_benchmark_reports_the_promised_figures(tmp_path):
    figures = run_benchmark("cpu", batch=8, steps=1, main_job=False, out_dir=tmp_path)
    for key in ("plain_img_s", "podnet_img_s", "step_ratio", "data_ratio", "device", "peak_memory_mb"):
        assert key in figures
    assert figures["step_ratio"] == pytest.approx(figures["plain_img_s"] / figures["podnet_img_s"])
    table = format_table(figures)
    assert "step ratio" in table and "CIFAR-100 50 steps" in table
