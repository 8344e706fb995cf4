"""bf16 autocast, channels-last and torch.compile change how a step runs, not what it computes.

CI has no GPU, so the CUDA settings are forced onto the CPU here (CPU autocast runs bf16 too);
compilation uses the `aot_eager` backend (graph capture and autograd tracing without code
generation, seconds instead of a minute); `python -m podnet_lib bench --compile` times inductor.
"""
from __future__ import annotations

import pytest
import torch

from podnet_lib.engine.acceleration import Acceleration
from podnet_lib.config import Config
from podnet_lib.engine.experiment import prepare, set_determinism
from podnet_lib.engine.metrics import average_incremental_accuracy
from podnet_lib.model.network import build_network
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.results import RunResult
from podnet_lib.engine.train import IncrementalLearner

CPU = torch.device("cpu")
FORCED_GPU_SETTINGS = Acceleration("cpu", precision="bf16", channels_last=True)
COMPILED = Acceleration("cpu", compile=True, compile_backend="aot_eager")


def _small_net(seed: int = 0):
    torch.manual_seed(seed)
    net = build_network("resnet_digits", 1, "lsc", 3, "authors")
    net.classifier.add_classes(4)
    return net


def test_speed_settings_follow_the_device_and_the_config(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    on_cuda = Acceleration.for_device(Config(), torch.device("cuda"))
    assert on_cuda.precision == "bf16" and on_cuda.channels_last and not on_cuda.compile
    assert Acceleration.for_device(Config(), CPU) == Acceleration("cpu")
    off = Acceleration.for_device(Config(precision="fp32", channels_last=False, compile=True), torch.device("cuda"))
    assert (off.precision, off.channels_last, off.compile) == ("fp32", False, True)


def test_channels_last_changes_the_layout_not_the_outputs():
    net, x = _small_net(), torch.rand(5, 1, 8, 8)
    expected = net.eval()(x)
    accel = Acceleration("cpu", channels_last=True)
    fast = accel.network(net)
    conv = next(m for m in fast.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert accel.batch(x).is_contiguous(memory_format=torch.channels_last)
    got = fast(accel.batch(x))
    torch.testing.assert_close(got.scores, expected.scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.features, expected.features, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_runs_the_forward_in_bf16_and_losses_stay_float32():
    net, x = _small_net().eval(), torch.rand(5, 1, 8, 8)
    with FORCED_GPU_SETTINGS.autocast():
        out = net(x)
    assert out.maps[0].dtype == torch.bfloat16
    assert out.scores.dtype == torch.float32                  # the classifier's cosines stay float32
    with Acceleration("cpu").autocast():
        assert net(x).maps[0].dtype == torch.float32


def test_compiled_backbone_keeps_parameter_names_outputs_and_gradients():
    eager, compiled = _small_net(), COMPILED.network(_small_net())
    assert list(compiled.state_dict()) == list(eager.state_dict())       # checkpoints interchangeable
    x = torch.rand(6, 1, 8, 8)
    for net in (eager, compiled):
        net(x).scores.sum().backward()
    torch.testing.assert_close(compiled(x).scores, eager(x).scores, rtol=1e-4, atol=1e-5)
    first = next(compiled.backbone.parameters())
    torch.testing.assert_close(first.grad, next(eager.backbone.parameters()).grad, rtol=1e-4, atol=1e-5)
    teacher = COMPILED.network(compiled.frozen_copy())                   # each task's teacher
    with torch.inference_mode():
        torch.testing.assert_close(teacher(x).features, eager.eval()(x).features, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """PODNet on the digits fast preset, trained with each speed setting (and float32 eager)."""
    cfg = get_preset("digits-fast").replace(methods=["podnet"], device="cpu")
    splits, scenario = prepare(cfg)
    set_determinism(CPU)
    root = tmp_path_factory.mktemp("accel")

    def run(name: str, accel: Acceleration | None, **kw) -> RunResult:
        learner = IncrementalLearner(cfg, "podnet", splits, scenario, root / name, CPU, bars=False,
                                     log_tasks=False, accel=accel)
        return learner.run(**kw)

    return {"float32": run("float32", None), "bf16": run("bf16", FORCED_GPU_SETTINGS),
            "compiled": run("compiled", COMPILED), "run": run}


def _aia(run: RunResult, metric: str) -> float:
    return average_incremental_accuracy(run.accuracies(metric))


@pytest.mark.slow
def test_bf16_channels_last_run_matches_float32_within_noise(digits_runs):
    ref, bf16 = digits_runs["float32"], digits_runs["bf16"]
    assert bf16.accuracies("nme") != ref.accuracies("nme")                # bf16 really ran
    for metric in ("nme", "cnn"):
        assert abs(_aia(bf16, metric) - _aia(ref, metric)) < 3.0, metric


@pytest.mark.slow
def test_compiled_run_matches_eager_and_its_checkpoint_resumes_eagerly(digits_runs):
    ref, compiled = digits_runs["float32"], digits_runs["compiled"]
    for metric in ("nme", "cnn"):
        assert abs(_aia(compiled, metric) - _aia(ref, metric)) < 1.0, metric
    run = digits_runs["run"]
    first = run("switch", COMPILED, stop_after=1)                           # interrupted compiled run ...
    resumed = run("switch", None, resume=True)                              # ... finished eagerly
    assert len(resumed.tasks) == len(ref.tasks)
    assert resumed.tasks[:2] == first.tasks[:2]
    for metric in ("nme", "cnn"):
        assert abs(_aia(resumed, metric) - _aia(ref, metric)) < 1.0, metric
