"""The views of chapter 02 (podnet_lib.book.widgets.proxies): numbers first, then that figures build."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from podnet_lib.model.classifiers import nca_loss  # noqa: E402
from podnet_lib.engine.presets import get_preset  # noqa: E402
from podnet_lib.engine.train import IncrementalLearner  # noqa: E402
from podnet_lib.book.widgets import proxies as W  # noqa: E402


def clusters(n_per: int = 30, dim: int = 16, n: int = 3, seed: int = 0) -> torch.Tensor:
    """n tight clusters around orthogonal directions -> (n * n_per, dim)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:n] * 5
    return torch.cat([c + 0.05 * torch.randn(n_per, dim, generator=g) for c in centres])


def test_pca_recovers_a_plane():
    g = torch.Generator().manual_seed(1)
    # points on a 2-D great circle of the sphere in 10-D: the plane is exact
    angles = torch.rand(50, generator=g) * 2 * math.pi
    points = torch.zeros(50, 10)
    points[:, 3], points[:, 7] = torch.cos(angles), torch.sin(angles)
    mean, comps = W.fit_pca(points * 3.0)
    xy = W.project(points, mean, comps)
    assert xy.shape == (50, 2) and comps.shape == (10, 2)
    centred = F.normalize(points, dim=1) - mean
    torch.testing.assert_close(xy.pow(2).sum(), centred.pow(2).sum(), rtol=1e-4, atol=1e-4)
    m2, c2 = W.fit_pca(points)
    torch.testing.assert_close(c2, comps)                      # deterministic, sign fixed


def test_sample_margins():
    scores = torch.tensor([[0.9, 0.1, 0.2], [0.1, 0.5, 0.7]])
    margins = W.sample_margins(scores, torch.tensor([0, 1]))
    torch.testing.assert_close(margins, torch.tensor([0.7, -0.2]))


def test_scale_effect_numbers():
    scores = torch.tensor([0.8, 0.1, -0.3, 0.2])
    low, high = W.scale_effect(scores, 0, 1.0, 0.6), W.scale_effect(scores, 0, 16.0, 0.6)
    assert float(low["probabilities"].sum()) == pytest.approx(1.0)
    assert float(high["probabilities"][0]) > float(low["probabilities"][0])     # η sharpens the softmax
    s, y = scores.view(1, -1), torch.tensor([0])
    assert low["nca_paper"] == pytest.approx(float(nca_loss(s, y, 1.0, 0.6, hinge=True, form="paper")))
    assert low["nca_authors"] == pytest.approx(float(nca_loss(s, y, 1.0, 0.6, hinge=False, form="authors")))
    assert low["cross_entropy"] == pytest.approx(float(F.cross_entropy(s, y)))
    # the target wins: the authors' form is cross-entropy
    assert high["nca_authors"] == pytest.approx(high["cross_entropy"], rel=1e-5)


def test_margin_effect_paper_moves_authors_does_not():
    g = torch.Generator().manual_seed(3)
    scores, targets = torch.rand(20, 5, generator=g) * 2 - 1, torch.randint(5, (20,), generator=g)
    eta = 4.0
    values = W.margin_effect(scores, targets, eta, [0.0, 0.3, 0.6])
    assert values["authors"][0] == pytest.approx(values["authors"][2], abs=1e-6)
    assert values["paper"][2] - values["paper"][0] == pytest.approx(eta * 0.6, rel=1e-5)
    assert values["paper"][1] - values["paper"][0] == pytest.approx(eta * 0.3, rel=1e-5)


def test_imprint_proxies_cover_the_modes():
    feats = clusters()
    proxies = W.imprint_proxies(feats, 3, seed=0)
    assert proxies.shape == (3, 16)
    torch.testing.assert_close(proxies.norm(dim=1), torch.ones(3))
    # three proxies land on the three modes: every feature has a proxy at cosine ~1
    assert W.coverage(feats, proxies)["nearest_cosine"] > 0.99
    one = W.coverage(feats, W.imprint_proxies(feats, 1, seed=0))
    assert one["nearest_cosine"] < 0.7
    assert one["nearest_cosine"] == pytest.approx(one["class_score"], abs=1e-6)   # K = 1: the same number
    torch.testing.assert_close(W.imprint_proxies(feats, 3, seed=0), proxies)      # reproducible


def test_figures_build():
    feats = clusters(n_per=10, n=2)
    labels = torch.arange(2).repeat_interleave(10)
    proxies = torch.cat([W.imprint_proxies(feats[labels == c], 2) for c in (0, 1)])
    figures = [
        W.plot_proxies(feats, labels, proxies, 2, [0, 1]),
        W.plot_scale_effect(torch.tensor([0.5, -0.2, 0.1]), 2, 4.0, 0.6, etas=[1.0, 2.0, 4.0]),
        W.plot_scale_effect(torch.tensor([-0.5, -3.2, -1.0]), 0, 4.0),               # authors' range
        W.plot_margin_effect(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]), 2.0),
        W.plot_imprinting(feats, 2, max_k=4),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
        fig.canvas.draw()
        plt.close(fig)


def test_base_learner_is_cached(tmp_path, monkeypatch):
    cfg = get_preset("digits-podnet").replace(epochs=1, proxies_per_class=2, lsc_similarity="cosine")
    first = W.base_learner(cfg, tmp_path)
    assert len(list(tmp_path.glob("podnet-*/checkpoint.pt"))) == 1
    assert first.net.classifier.proxies.shape == (5 * 2, first.net.backbone.out_dim)

    def no_training(self, t):
        raise AssertionError("the cached network should have been loaded")

    monkeypatch.setattr(IncrementalLearner, "run_task", no_training)
    second = W.base_learner(cfg, tmp_path)
    for (name, a), (_, b) in zip(first.net.state_dict().items(), second.net.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    feats, labels = W.embed(second, [0, 1])
    assert feats.shape[0] == labels.shape[0] > 0 and set(labels.tolist()) == {0, 1}
    # another configuration is not served from the cache
    with pytest.raises(AssertionError, match="cached network"):
        W.base_learner(cfg.replace(epochs=2), tmp_path)
