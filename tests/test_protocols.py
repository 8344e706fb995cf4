"""The paper's protocols as the authors ran them: presets, the NME variant's classifier, and
the gradient clamp during the classifier's finetuning."""
from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from podnet_lib.engine.experiment import prepare
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.train import IncrementalLearner

CPU = torch.device("cpu")


@pytest.mark.parametrize("steps", [50, 25, 10, 5])
def test_nme_presets_carry_the_authors_nme_options(steps):
    """podnet_nme_cifar100.yaml: λc 5, classifier scaling 3, no learned η; the CNN options keep 3 / 1 / learned."""
    for suffix in ("", "-order1", "-order2"):
        nme = get_preset(f"cifar100-{steps}steps-nme{suffix}")
        cnn = get_preset(f"cifar100-{steps}steps-cnn{suffix}")
        assert (nme.lambda_c, nme.lsc_scaling, nme.learn_eta) == (5.0, 3.0, False)
        assert (cnn.lambda_c, cnn.lsc_scaling, cnn.learn_eta) == (3.0, 1.0, True)
        assert nme.class_order == cnn.class_order == (int(suffix[-1]) if suffix else 0)


def test_imagenet_presets_weight_decay():
    """podnet_cnn_imagenet1000.yaml sets weight decay 1e-4; the ImageNet-100 options keep 5e-4."""
    assert get_preset("imagenet1000-10steps").weight_decay == pytest.approx(1e-4)
    assert get_preset("imagenet1000-5steps").weight_decay == pytest.approx(1e-4)
    assert get_preset("imagenet100-50steps").weight_decay == pytest.approx(5e-4)


def _learner(tmp_path, **changes) -> IncrementalLearner:
    cfg = get_preset("digits-fast").replace(epochs=1, finetune_epochs=1, device="cpu", **changes)
    splits, scenario = prepare(cfg)
    return IncrementalLearner(cfg, "podnet", splits, scenario, tmp_path, CPU, bars=False, log_tasks=False)


def test_eta_stays_fixed_in_training_when_not_learned(tmp_path):
    fixed = _learner(tmp_path / "fixed", lsc_scaling=3.0, learn_eta=False)
    learned = _learner(tmp_path / "learned")
    for learner in (fixed, learned):
        learner.run_task(0)
    assert fixed.net.classifier.scaling == 3.0
    assert fixed.net.classifier.scale.item() == 1.0
    assert learned.net.classifier.scale.item() != pytest.approx(1.0, abs=1e-4)


def _largest_gradients(learner: IncrementalLearner) -> dict[str, float]:
    """Run task 0 and task 1; the largest |gradient| an optimizer step saw, per phase."""
    largest: dict[str, float] = {}
    current = {"phase": ""}
    run_phase = learner.run_phase

    def spy(phase, info):
        current["phase"] = phase.name
        return run_phase(phase, info)

    def before_step(optimizer, args, kwargs):
        grads = [p.grad.abs().max().item() for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        largest[current["phase"]] = max([largest.get(current["phase"], 0.0)] + grads)

    learner.run_phase = spy
    handle = register_optimizer_step_pre_hook(before_step)
    try:
        learner.run_task(0)
        learner.run_task(1)
    finally:
        handle.remove()
    return largest


def test_gradient_clamp_is_active_during_the_classifier_finetuning(tmp_path):
    """The authors' clamp hooks stay on the parameters, so the finetuning is clamped too."""
    clip = 1e-4
    clamped = _largest_gradients(_learner(tmp_path / "clamped", grad_clip=clip))
    free = _largest_gradients(_learner(tmp_path / "free", grad_clip=0.0))
    assert 0.0 < clamped["finetune"] <= clip and clamped["train"] <= clip
    assert free["finetune"] > 10 * clip
