"""Precision and compilation chosen for the device: bf16 only where the GPU has bf16 units, fp16
with a gradient scaler on older GPUs, float32 on the CPU or on request; compile on long runs only.

CI has no GPU: the device's compute capability is faked; the fp16 scaler runs on the CPU
(`torch.amp.GradScaler("cpu")`).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from podnet_lib.config import Config, ConfigError
from podnet_lib.engine.acceleration import (COMPILE_PAYS_FROM, Acceleration, LossScaling, choose_compile,
                                            choose_precision)
from podnet_lib.data.loading import class_indices
from podnet_lib.engine.experiment import prepare, run_experiment
from podnet_lib.engine.methods import TaskInfo
from podnet_lib.engine.phase import Phase, sgd
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.results import RunResult
from podnet_lib.engine.train import IncrementalLearner
from podnet_lib.engine.validation import validate

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def _gpu(monkeypatch, capability: tuple[int, int]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


@pytest.mark.parametrize("capability, expected", [((9, 0), "bf16"), ((8, 0), "bf16"), ((8, 6), "bf16"),
                                                  ((7, 5), "fp16"), ((7, 0), "fp16")])
def test_auto_precision_follows_the_gpu_generation(monkeypatch, capability, expected):
    _gpu(monkeypatch, capability)        # H100, A100, RTX 3090 | T4, V100
    assert choose_precision("auto", CUDA) == expected
    accel = Acceleration.for_device(Config(), CUDA)
    assert accel.precision == expected and accel.channels_last
    assert f"precision {expected}" in accel.describe()


def test_cpu_and_explicit_requests(monkeypatch):
    assert choose_precision("auto", CPU) == "fp32"
    assert choose_precision("auto", torch.device("mps")) == "fp32"
    _gpu(monkeypatch, (9, 0))
    assert choose_precision("fp32", CUDA) == "fp32" and choose_precision("fp16", CUDA) == "fp16"
    _gpu(monkeypatch, (7, 5))
    assert choose_precision("bf16", CUDA) == "bf16"                 # on request, even where it is emulated
    with pytest.raises(ConfigError, match=r"precision='half' is not valid; allowed values: auto, bf16, fp16, fp32"):
        validate(Config(precision="half"))


def test_saved_configs_with_amp_keep_loading():
    assert Config.from_dict({"amp": False}).precision == "fp32"
    assert Config.from_dict({"amp": True}).precision == "auto"
    assert Config.from_dict({"compile": False}).compile is False
    validate(Config.from_dict({"amp": True, "compile": True}))


def test_autocast_dtype_of_each_precision():
    x, conv = torch.rand(2, 1, 6, 6), torch.nn.Conv2d(1, 2, 3)
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)):
        with Acceleration("cpu", precision=precision).autocast():
            assert conv(x).dtype == dtype, precision


def test_compile_auto_compiles_long_runs_only():
    digits, cifar = get_preset("digits"), get_preset("cifar100-50steps-nme")
    assert choose_compile(digits.compile, CPU, digits.epochs * 1_347)[0] is False
    assert choose_compile(cifar.compile, CUDA, cifar.epochs * 50_000)[0] is True
    full = get_preset("synthetic-cifar100-50steps-full")
    assert Acceleration.for_device(full, CPU, train_images=50_000).compile
    compiled, reason = choose_compile("auto", CPU, COMPILE_PAYS_FROM)
    assert compiled and "compiled" in reason
    assert choose_compile(True, CPU, 0)[0] and not choose_compile("false", CPU, 10**9)[0]
    assert not choose_compile("auto", torch.device("mps"), 10**9)[0]
    with pytest.raises(ConfigError, match=r"compile='maybe' is not valid; allowed values: auto, true, false"):
        validate(Config(compile="maybe"))


def _parameter_and_scaling():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    return w, torch.optim.SGD([w], lr=0.1), LossScaling("cpu", enabled=True)


def test_scaler_skips_a_step_with_inf_gradients_and_says_so():
    w, opt, scaling = _parameter_and_scaling()
    scaling.backward((w * torch.tensor([float("inf"), 1.0])).sum() * 0.0 + torch.sqrt(w - w.detach()).sum())
    skipped = scaling.step(opt)
    assert bool(skipped) and torch.equal(w.detach(), torch.tensor([1.0, -2.0]))     # not applied
    opt.zero_grad()
    scaling.backward((w ** 2).sum())
    assert not bool(scaling.step(opt))
    torch.testing.assert_close(w.detach(), torch.tensor([1.0, -2.0]) - 0.1 * torch.tensor([2.0, -4.0]))


def test_gradients_are_unscaled_before_clipping():
    w, opt, scaling = _parameter_and_scaling()
    scaling.backward((3.0 * w).sum())
    assert w.grad[0] > 1e3                                           # scaled by 65536
    scaling.unscale(opt)
    torch.nn.utils.clip_grad_value_([w], 5.0)
    torch.testing.assert_close(w.grad, torch.tensor([3.0, 3.0]))   # the true gradient, under the clamp
    scaling.step(opt)
    torch.testing.assert_close(w.detach(), torch.tensor([0.7, -2.3]))


def test_without_the_scaler_a_step_is_a_plain_step():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt, scaling = torch.optim.SGD([w], lr=0.5), Acceleration("cpu", precision="bf16").loss_scaling()
    scaling.backward((w * 2).sum())
    assert scaling.step(opt) is None and w.item() == 0.0


def test_fp16_run_reports_the_steps_its_scaler_skipped(tmp_path, capsys):
    cfg = get_preset("digits-fast").replace(methods=("podnet",), device="cpu")
    splits, scenario = prepare(cfg)
    learner = IncrementalLearner(cfg, "podnet", splits, scenario, tmp_path, CPU, bars=False,
                                 accel=Acceleration("cpu", precision="fp16"))
    probe = next(learner.net.backbone.parameters())
    calls = []

    def step_terms(x, y):
        calls.append(1)
        with learner.accel.autocast():
            scores = learner.net(x).scores.float()
        loss = F.cross_entropy(learner.net.classifier.scale * scores, y)
        if len(calls) == 1:                        # a finite loss whose gradient is inf (d sqrt(u) / du at 0)
            loss = loss + torch.sqrt(probe - probe.detach()).sum()
        return {"ce": loss}

    learner.net.classifier.add_classes(5)
    params = [p for p in learner.net.parameters() if p.requires_grad]
    indices = class_indices(learner.train_set.labels, list(range(5))).cpu()[:64]
    phase = Phase("finetune", indices, 1, sgd(params, 0.01, 0.9, 0.0), params, step_terms, clip=5.0)
    learner.run_phase(phase, TaskInfo(task=0, n_seen=5, n_new=5))
    assert learner.skipped_steps["finetune"] >= 1
    assert "fp16 gradient scaler skipped" in capsys.readouterr().out
    assert all(torch.isfinite(p).all() for p in params)


def test_a_run_prints_and_records_its_precision(tmp_path, capsys):
    cfg = get_preset("digits-fast").replace(methods=("podnet",), device="cpu", precision="fp32")
    run_experiment(cfg, tmp_path / "run", stop_after=0, bars=False)
    first = capsys.readouterr().out.splitlines()[0]
    assert "precision fp32" in first and "compile=auto: eager" in first
    saved = RunResult.load(tmp_path / "run" / "podnet")
    assert saved.acceleration["precision"] == "fp32" and saved.acceleration["compile"] is False
    assert saved.config["precision"] == "fp32" and saved.tasks[0].skipped_steps == {}
