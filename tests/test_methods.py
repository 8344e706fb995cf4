"""Loss recipes of each method, checked on hand-made network outputs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from podnet_lib.config import Config
from podnet_lib.engine.methods import METHODS, TaskInfo, build_method
from podnet_lib.model.network import NetOutput, build_network


def _output(seed: int, n_classes: int = 6, batch: int = 4) -> NetOutput:
    g = torch.Generator().manual_seed(seed)
    maps = [torch.randn(batch, 3, 4, 4, generator=g), torch.randn(batch, 5, 2, 2, generator=g)]
    return NetOutput(maps, torch.randn(batch, 8, generator=g), torch.rand(batch, n_classes, generator=g) * 2 - 1)


@pytest.fixture
def net():
    n = build_network("resnet_digits", 1, "lsc", proxies_per_class=2)
    n.classifier.add_classes(6)
    return n


def test_podnet_distillation_is_zero_when_student_equals_teacher(net):
    method = build_method("podnet", Config())
    out = _output(0)
    teacher = NetOutput(out.maps, out.features, out.scores[:, :5])
    terms = method.loss_terms(net, out, teacher, torch.tensor([0, 1, 5, 5]), TaskInfo(1, 6, 1))
    assert set(terms) == {"nca", "pod_spatial", "pod_flat"}
    assert terms["pod_spatial"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["pod_flat"].item() == pytest.approx(0.0, abs=1e-6)


def test_podnet_weights_follow_the_config(net):
    out, old = _output(0), _output(1, n_classes=5)
    y, info = torch.tensor([0, 1, 5, 5]), TaskInfo(1, 6, 1)
    base = build_method("podnet", Config(lambda_c=1.0, lambda_f=1.0, adaptive_factor=False)).loss_terms(net, out, old, y, info)
    heavy = build_method("podnet", Config(lambda_c=3.0, lambda_f=2.0, adaptive_factor=True)).loss_terms(net, out, old, y, info)
    assert heavy["pod_spatial"].item() == pytest.approx(3.0 * math.sqrt(6) * base["pod_spatial"].item(), rel=1e-5)
    assert heavy["pod_flat"].item() == pytest.approx(2.0 * math.sqrt(6) * base["pod_flat"].item(), rel=1e-5)
    none = build_method("podnet", Config(lambda_c=0.0)).loss_terms(net, out, old, y, info)
    assert "pod_spatial" not in none


def test_podnet_nca_switches_change_the_loss(net):
    out, y, info = _output(0), torch.tensor([0, 1, 5, 5]), TaskInfo(0, 6, 6)
    paper = build_method("podnet", Config(nca_form="paper", nca_hinge=False)).loss_terms(net, out, None, y, info)
    no_margin = build_method("podnet", Config(nca_form="paper", nca_margin=0.0, nca_hinge=False)).loss_terms(net, out, None, y, info)
    authors = build_method("podnet", Config(nca_form="authors")).loss_terms(net, out, None, y, info)
    authors0 = build_method("podnet", Config(nca_form="authors", nca_margin=0.0)).loss_terms(net, out, None, y, info)
    assert paper["nca"] > no_margin["nca"]
    assert authors["nca"].item() == pytest.approx(authors0["nca"].item())
    ce = build_method("podnet", Config(classification_loss="ce")).loss_terms(net, out, None, y, info)
    assert ce["nca"].item() == pytest.approx(F.cross_entropy(out.scores * net.classifier.scale, y).item())


def test_icarl_targets_old_classes_with_teacher_sigmoids(net):
    out, old = _output(0), _output(1, n_classes=5)
    y, info = torch.tensor([5, 5, 0, 2]), TaskInfo(1, 6, 1)
    terms = build_method("icarl", Config()).loss_terms(net, out, old, y, info)
    goal = F.one_hot(y, 6).float()
    goal[:, :5] = torch.sigmoid(old.scores)
    # iCaRL's reduction: the mean over batch x classes (its reference code; the PODNet authors' port too)
    p = torch.sigmoid(out.scores)
    by_hand = -(goal * p.log() + (1 - goal) * (1 - p).log()).sum() / (4 * 6)
    assert terms["bce"].item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_ucir_terms_by_hand(net):
    cfg = Config(ucir_lambda=5.0, ucir_margin=0.5, ucir_hard_negatives=1)
    out = _output(0)
    old = NetOutput(out.maps, out.features.clone(), out.scores[:, :4])
    scores = torch.tensor([[0.9, 0.0, 0.0, 0.0, 0.8, 0.1],       # old sample: hardest new 0.8 -> 0.5 - 0.9 + 0.8 = 0.4
                           [0.0, 0.2, 0.0, 0.0, 0.1, 0.0],       # old sample: 0.5 - 0.2 + 0.1 = 0.4
                           [0.0, 0.0, 0.0, 0.0, 0.9, 0.0],       # new sample: ignored
                           [0.0, 0.0, 0.0, 0.0, 0.0, 0.9]])
    out = NetOutput(out.maps, out.features, scores)
    y, info = torch.tensor([0, 1, 4, 5]), TaskInfo(1, 6, 2)
    terms = build_method("ucir", cfg).loss_terms(net, out, old, y, info)
    assert terms["less_forget"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["margin_ranking"].item() == pytest.approx(0.4, abs=1e-6)


def test_lwf_distillation_zero_when_outputs_match(net):
    out = _output(0)
    old = NetOutput(out.maps, out.features, out.scores[:, :5])
    terms = build_method("lwf", Config()).loss_terms(net, out, old, torch.tensor([5, 5, 5, 5]), TaskInfo(1, 6, 1))
    assert terms["kd"].item() == pytest.approx(0.0, abs=1e-6)


def test_registry_and_recipes():
    assert set(METHODS) == {"podnet", "finetune", "joint", "icarl", "ucir", "lwf"}
    cfg = Config()
    assert build_method("finetune", cfg).training_data == "new"
    assert build_method("joint", cfg).training_data == "seen"
    podnet = build_method("podnet", cfg)
    assert podnet.uses_teacher and podnet.clips_gradients and podnet.classifier_kind() == "lsc"
    assert podnet.finetunes_classifier(TaskInfo(1, 6, 1)) and not podnet.finetunes_classifier(TaskInfo(0, 5, 5))
    assert not build_method("podnet", cfg.replace(finetune_classifier=False)).finetunes_classifier(TaskInfo(1, 6, 1))
    with pytest.raises(ValueError, match="method='bic'.*allowed values"):
        build_method("bic", cfg)


def _learning_rates(method: str, cfg: Config) -> list[float]:
    """The main training's lr in each epoch, from the method's own schedule."""
    schedule = build_method(method, cfg).schedule
    opt = schedule.optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler, rates = schedule.scheduler(opt, cfg.epochs), []
    for _ in range(cfg.epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


def test_baselines_follow_their_own_papers_schedules():
    """iCaRL: lr 2.0, /5 after 49 and 63 of 70 epochs, wd 1e-5; UCIR: lr 0.1, /10 after 80 and 120 of 160."""
    icarl = _learning_rates("icarl", Config(epochs=70))
    assert icarl[0] == pytest.approx(2.0) and icarl[48] == pytest.approx(2.0)
    assert icarl[49] == pytest.approx(0.4) and icarl[62] == pytest.approx(0.4) and icarl[63] == pytest.approx(0.08)
    schedule = build_method("icarl", Config()).schedule
    opt = schedule.optimizer([torch.nn.Parameter(torch.zeros(1))], 0.1, 0.9, 5e-4)
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(1e-5)
    ucir = _learning_rates("ucir", Config())
    assert ucir[79] == pytest.approx(0.1) and ucir[80] == pytest.approx(0.01) and ucir[120] == pytest.approx(0.001)
    podnet = _learning_rates("podnet", Config())          # cosine annealing, the authors' PODNet options
    assert podnet[0] == pytest.approx(0.1) and podnet[80] == pytest.approx(0.05) and podnet[-1] < 1e-4
    assert _learning_rates("finetune", Config()) == podnet
    assert build_method("ucir", Config()).finetunes_classifier(TaskInfo(1, 6, 1))
    assert not build_method("ucir", Config()).finetunes_classifier(TaskInfo(0, 5, 5))
    assert not build_method("ucir", Config()).clips_gradients
