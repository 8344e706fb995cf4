"""Classifiers and NCA, eqs. (8)-(10), and imprinting."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from podnet_lib.model.classifiers import (
    CosineClassifier, LocalSimilarityClassifier, local_similarity, nca_loss,
)
from podnet_lib.model.kmeans import kmeans


def test_local_similarity_by_hand():
    h = torch.tensor([[1.0, 0.0]])
    proxies = torch.tensor([[1.0, 0.0], [0.0, 1.0],      # class 0: cosines 1 and 0
                            [-1.0, 0.0], [0.0, 2.0]])    # class 1: cosines -1 and 0
    got = local_similarity(h, proxies, proxies_per_class=2)
    s0 = math.exp(1) / (math.exp(1) + 1)
    s1 = math.exp(-1) / (math.exp(-1) + 1)
    assert got[0, 0].item() == pytest.approx(s0 * 1 + (1 - s0) * 0)
    assert got[0, 1].item() == pytest.approx(s1 * -1)


def test_lsc_with_one_proxy_equals_cosine_classifier():
    torch.manual_seed(0)
    lsc, cos = LocalSimilarityClassifier(8, proxies_per_class=1), CosineClassifier(8)
    init = torch.randn(5, 8)
    lsc.add_classes(5, init)
    cos.add_classes(5, init)
    h = torch.randn(7, 8)
    torch.testing.assert_close(lsc(h), cos(h))


def test_nca_paper_form_by_hand():
    scores = torch.tensor([[0.5, 0.2, -0.1]])
    y = torch.tensor([0])
    eta, delta = 2.0, 0.6
    expected = -math.log(math.exp(eta * (0.5 - delta)) / (math.exp(eta * 0.2) + math.exp(eta * -0.1)))
    assert nca_loss(scores, y, eta, margin=delta, hinge=False).item() == pytest.approx(expected)
    assert nca_loss(scores, y, eta, margin=delta, hinge=True).item() == pytest.approx(max(expected, 0.0))
    easy = torch.tensor([[0.9, -0.9, -0.9]])
    assert nca_loss(easy, y, 16.0, margin=0.0, hinge=True).item() == 0.0           # hinge clips
    assert nca_loss(easy, y, 16.0, margin=0.0, hinge=False).item() < 0.0


def test_nca_authors_form_by_hand():
    scores = torch.tensor([[0.5, 0.2, -0.1]])
    y = torch.tensor([0])
    eta = 2.0
    z = [eta * s for s in (0.5, 0.2, -0.1)]
    z = [v - max(z) for v in z]
    expected = -(z[0] - math.log(1.0 + math.exp(z[1]) + math.exp(z[2])))
    got = nca_loss(scores, y, eta, margin=0.6, hinge=False, form="authors")
    assert got.item() == pytest.approx(expected)


def test_margin_changes_paper_loss_but_not_authors_loss():
    g = torch.Generator().manual_seed(0)
    s, y = torch.rand(6, 4, generator=g) * 2 - 1, torch.tensor([0, 1, 2, 3, 0, 1])
    assert nca_loss(s, y, scale=1.0, margin=0.6, hinge=False) > nca_loss(s, y, scale=1.0, margin=0.0, hinge=False)
    torch.testing.assert_close(nca_loss(s, y, 1.0, margin=0.6, hinge=False, form="authors"),
                               nca_loss(s, y, 1.0, margin=0.0, hinge=False, form="authors"))


def test_nca_gradient_pushes_target_up():
    s = torch.zeros(1, 3, requires_grad=True)
    nca_loss(s, torch.tensor([1]), scale=4.0, margin=0.1).backward()
    assert s.grad[0, 1] < 0 and s.grad[0, 0] > 0 and s.grad[0, 2] > 0


def test_nca_bad_form():
    with pytest.raises(ValueError, match="form.*paper, authors"):
        nca_loss(torch.zeros(1, 2), torch.tensor([0]), 1.0, form="x")


def _clusters(n_per: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.eye(6)[:3] * 5 + torch.randn(3, 6, generator=g) * 0.1, dim=1)
    pts = torch.cat([c + 0.05 * torch.randn(n_per, 6, generator=g) for c in centres])
    return pts, centres


def test_kmeans_finds_separated_clusters():
    pts, centres = _clusters()
    found = kmeans(pts, 3, generator=torch.Generator().manual_seed(0))
    match = F.normalize(found, dim=1) @ centres.t()
    assert (match.max(dim=0).values > 0.99).all()


def test_imprinting_puts_proxies_at_cluster_centres_with_existing_norm():
    pts, centres = _clusters()
    clf = LocalSimilarityClassifier(6, proxies_per_class=3)
    clf.add_classes(2, torch.randn(6, 6) * 3.0)
    reference = clf.proxies.norm(dim=1).mean().detach()
    init = clf.imprint([pts * 7.0], generator=torch.Generator().manual_seed(0))    # scale of features is irrelevant
    assert init.shape == (3, 6)
    # the authors' imprinting: k-means centres of the normalised features times the mean proxy norm,
    # not normalised first (each centre of unit vectors is a little shorter than 1)
    expected = kmeans(F.normalize(pts, dim=1), 3, generator=torch.Generator().manual_seed(0)) * reference
    torch.testing.assert_close(init, expected)
    assert (init.norm(dim=1) < reference).all() and (init.norm(dim=1) > 0.95 * reference).all()
    match = F.normalize(init, dim=1) @ centres.t()
    assert (match.max(dim=0).values > 0.99).all()
    unit = clf.imprint([pts], generator=torch.Generator().manual_seed(0), renormalise=True)
    torch.testing.assert_close(unit.norm(dim=1), reference.expand(3), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(F.normalize(unit, dim=1), F.normalize(init, dim=1))
    clf.add_classes(1, init)
    assert clf.n_classes == 3 and clf.group_sizes == [2, 1]


def test_imprinting_one_proxy_is_the_normalised_class_mean():
    pts, _ = _clusters()
    clf = CosineClassifier(6)
    clf.add_classes(1, torch.tensor([[0.0, 2.0, 0.0, 0.0, 0.0, 0.0]]))
    init = clf.imprint([pts])
    torch.testing.assert_close(init[0], 2.0 * F.normalize(F.normalize(pts, dim=1).mean(dim=0), dim=0))


def test_lsc_scaling_by_hand():
    """scaling s multiplies h and θ after normalisation: 2 s² cos - 2 s² ("authors"), s² cos ("cosine")."""
    h = torch.tensor([[1.0, 0.0]])
    proxies = torch.tensor([[1.0, 0.0], [0.0, 1.0],      # class 0: cosines 1 and 0
                            [-1.0, 0.0], [0.0, 2.0]])    # class 1: cosines -1 and 0
    got = local_similarity(h, proxies, proxies_per_class=2, similarity="authors", scaling=3.0)
    a, b = 2 * 9 * 1 - 18, 2 * 9 * 0 - 18                 # class 0: 0 and -18
    w = math.exp(a) / (math.exp(a) + math.exp(b))
    assert got[0, 0].item() == pytest.approx(w * a + (1 - w) * b, rel=1e-6)
    c, d = 2 * 9 * -1 - 18, -18.0                         # class 1: -36 and -18
    w = math.exp(c) / (math.exp(c) + math.exp(d))
    assert got[0, 1].item() == pytest.approx(w * c + (1 - w) * d, rel=1e-6)
    plain = local_similarity(h, proxies, proxies_per_class=2, similarity="cosine", scaling=3.0)
    w = math.exp(9) / (math.exp(9) + 1)
    assert plain[0, 0].item() == pytest.approx(9 * w, rel=1e-6)
    # the authors' negative squared distance of the scaled vectors, for one proxy per class
    g = torch.Generator().manual_seed(0)
    feats, theta = torch.randn(4, 5, generator=g), torch.randn(3, 5, generator=g)
    distance = torch.cdist(3.0 * F.normalize(feats, dim=1), 3.0 * F.normalize(theta, dim=1)).pow(2)
    torch.testing.assert_close(local_similarity(feats, theta, 1, similarity="authors", scaling=3.0), -distance,
                               rtol=1e-5, atol=1e-4)


def test_eta_is_not_trained_when_not_learned():
    torch.manual_seed(0)
    fixed = LocalSimilarityClassifier(4, proxies_per_class=2, learn_eta=False, scaling=3.0)
    learned = LocalSimilarityClassifier(4, proxies_per_class=2)
    h, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for clf in (fixed, learned):
        clf.add_classes(3)
        opt = torch.optim.SGD([p for p in clf.parameters() if p.requires_grad], lr=0.5)
        for _ in range(5):
            opt.zero_grad()
            nca_loss(clf(h), y, clf.scale, form="authors", hinge=False).backward()
            opt.step()
    assert fixed.scale.item() == 1.0 and not fixed.scale.requires_grad
    assert learned.scale.item() != pytest.approx(1.0, abs=1e-4)


def test_gradients_reach_only_unfrozen_proxies():
    clf = LocalSimilarityClassifier(4, proxies_per_class=2)
    clf.add_classes(2)
    clf.add_classes(1)
    clf.freeze_old()
    loss = nca_loss(clf(torch.randn(5, 4)), torch.tensor([0, 1, 2, 2, 0]), clf.scale)
    loss.backward()
    assert clf.groups[0].grad is None
    assert clf.groups[1].grad is not None and clf.groups[1].grad.abs().sum() > 0
    assert clf.scale.grad is not None
    clf.freeze_old(False)
    assert clf.groups[0].requires_grad


def test_add_classes_checks_shape():
    clf = LocalSimilarityClassifier(4, proxies_per_class=2)
    with pytest.raises(ValueError, match="shape"):
        clf.add_classes(2, torch.zeros(3, 4))
