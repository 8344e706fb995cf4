"""Herding, memory budgets, the exemplar store, NME and CNN inference."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from podnet_lib.engine.inference import class_means, cnn_predict, nme_predict
from podnet_lib.engine.memory import ExemplarStore, exemplars_per_class, herding_selection, random_selection


def _greedy_by_brute_force(features: torch.Tensor, m: int) -> list[int]:
    feats = F.normalize(features, dim=1)
    mu = feats.mean(0)
    picked: list[int] = []
    for _ in range(m):
        best = min((i for i in range(len(feats)) if i not in picked),
                   key=lambda i: ((feats[picked + [i]].mean(0) - mu) ** 2).sum().item())
        picked.append(best)
    return picked


def test_herding_matches_a_brute_force_greedy():
    feats = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    assert herding_selection(feats, 8).tolist() == _greedy_by_brute_force(feats, 8)


def test_herding_has_no_repeats_keeps_order_and_caps_at_n():
    feats = torch.randn(12, 4, generator=torch.Generator().manual_seed(1))
    full = herding_selection(feats, 50)
    assert sorted(full.tolist()) == list(range(12))                       # capped at N, no repeats
    assert herding_selection(feats, 5).tolist() == full[:5].tolist()       # prefix = smaller budget


def test_herding_mean_closer_than_random_on_average():
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(200, 16, generator=g) + torch.randn(16, generator=g)
    mu = F.normalize(feats, dim=1).mean(0)
    dist = lambda idx: (F.normalize(feats[idx], dim=1).mean(0) - mu).norm().item()   # noqa: E731
    herd = dist(herding_selection(feats, 10))
    rand = sum(dist(random_selection(200, 10, g)) for _ in range(20)) / 20
    assert herd < 0.5 * rand


def test_memory_budget_arithmetic():
    assert exemplars_per_class(51, 20, None) == 20
    assert exemplars_per_class(50, None, 2000) == 40
    assert exemplars_per_class(100, None, 2000) == 20
    assert exemplars_per_class(7, None, 100) == 14
    with pytest.raises(ValueError, match="exactly one of memory_per_class and memory_total"):
        exemplars_per_class(10, 20, 2000)
    with pytest.raises(ValueError, match="exactly one"):
        exemplars_per_class(10, None, None)


def test_store_with_total_memory_keeps_the_first_m_of_each_ranking():
    store = ExemplarStore()
    for c in range(2):
        store.add(c, torch.arange(10) + 100 * c)
    store.set_budget(exemplars_per_class(2, None, 20))                    # 10 each
    assert len(store) == 20
    store.add(2, torch.arange(10) + 200)
    store.add(3, torch.arange(10) + 300)
    store.set_budget(exemplars_per_class(4, None, 20))                    # 5 each
    assert store.indices(0).tolist() == [0, 1, 2, 3, 4]
    assert len(store) == 20 and store.all_indices()[:5].tolist() == [0, 1, 2, 3, 4]
    restored = ExemplarStore()
    restored.load_state_dict(store.state_dict())
    assert restored.all_indices().tolist() == store.all_indices().tolist()


def test_per_class_memory_grows_with_classes():
    store = ExemplarStore()
    for c, budget_classes in zip(range(3), itertools.count(1)):
        store.add(c, torch.arange(30) + 100 * c)
        store.set_budget(exemplars_per_class(budget_classes, 20, None))
    assert len(store) == 60


def test_class_means_and_nme_by_hand():
    feats = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    means = class_means(feats, labels, 2)
    torch.testing.assert_close(means[0], F.normalize(torch.tensor([1.0, 1.0]), dim=0))
    expected1 = F.normalize(torch.tensor([0.0, 1.0]) + F.normalize(torch.tensor([1.0, 1.0]), dim=0), dim=0)
    torch.testing.assert_close(means[1], expected1)
    flipped = torch.tensor([[0.0, 2.0], [3.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    both = class_means(feats, labels, 2, flipped)
    torch.testing.assert_close(both[0], F.normalize(torch.tensor([1.0, 1.0]), dim=0))
    queries = torch.tensor([[5.0, 0.1], [0.1, 5.0]])
    fixed = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert nme_predict(queries, fixed).tolist() == [0, 1]
    assert cnn_predict(torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0]])).tolist() == [1, 0]
