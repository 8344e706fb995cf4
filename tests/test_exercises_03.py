"""Chapter 03: the exercise checks (herding, NME, memory budget) and the widget callbacks."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from podnet_lib.book.exercises.memory import (  # noqa: E402
    _herding_cases, check_class_means, check_exemplars_per_class, check_herding, check_nme_predict, icarl_herding,
)
from podnet_lib.engine.inference import class_means, nme_predict  # noqa: E402
from podnet_lib.engine.memory import exemplars_per_class, herding_selection, random_selection  # noqa: E402
from podnet_lib.book.widgets import memory as views  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- the checks accept the library and reject wrong answers -------------------------------------
def test_library_functions_pass_every_check(capsys):
    assert check_herding(herding_selection)
    assert check_class_means(class_means)
    assert check_nme_predict(nme_predict)
    assert check_exemplars_per_class(exemplars_per_class)
    out = capsys.readouterr().out
    assert out.count("✓") == 4 and "[wrong]" not in out


def test_herding_without_normalisation_fails_and_says_where(capsys):
    def unnormalised(features, m):
        mu = features.mean(0)
        picked, total = [], torch.zeros_like(mu)
        for k in range(min(m, len(features))):
            gap = ((total + features) / (k + 1) - mu).norm(dim=1)
            gap[picked] = float("inf")
            i = int(gap.argmin())
            picked.append(i)
            total = total + features[i]
        return torch.tensor(picked)

    assert not check_herding(unnormalised)
    out = capsys.readouterr().out
    assert "[wrong]" in out and "differs" in out


def test_both_herding_updates_pass_and_they_differ_on_some_case():
    """iCaRL's original update (the authors') may revisit a sample; the check accepts it and the
    library's greedy form, and at least one case tells them apart (else accepting both means nothing)."""
    assert check_herding(herding_selection)
    assert check_herding(icarl_herding)
    assert any(not torch.equal(herding_selection(f, m), icarl_herding(f, m)) for _, f, m in _herding_cases())


def test_random_picks_and_repeated_picks_fail(capsys):
    assert not check_herding(lambda f, m: random_selection(len(f), m, torch.Generator().manual_seed(0)))
    assert not check_herding(lambda f, m: torch.zeros(min(m, len(f)), dtype=torch.long))
    assert "picked twice" in capsys.readouterr().out


def test_unwritten_broken_or_silent_functions_never_raise(capsys):
    def unwritten(*args):
        raise NotImplementedError

    def broken(*args):
        raise RuntimeError("boom")

    for check in (check_herding, check_class_means, check_nme_predict, check_exemplars_per_class):
        assert not check(unwritten)
        assert "not implemented yet" in capsys.readouterr().out
        assert not check(broken)
        assert "RuntimeError: boom" in capsys.readouterr().out
        assert not check(lambda *a: None)
        assert "returned None" in capsys.readouterr().out


def test_class_means_without_normalising_fail():
    assert not check_class_means(lambda f, y, n: torch.stack([f[y == c].mean(0) for c in range(n)]))
    # normalised at the end only: the mean of raw features points elsewhere
    assert not check_class_means(lambda f, y, n: torch.nn.functional.normalize(
        torch.stack([f[y == c].mean(0) for c in range(n)]), dim=1))


def test_nme_with_the_farthest_mean_or_the_wrong_axis_fails():
    assert not check_nme_predict(lambda f, means: torch.cdist(f, means).argmax(dim=1))
    assert not check_nme_predict(lambda f, means: torch.cdist(f, means).argmin(dim=0))
    # with unit means, normalising the features does not change the nearest mean: both pass
    assert check_nme_predict(lambda f, means: torch.cdist(f, means).argmin(dim=1))


def test_memory_total_without_floor_or_sharing_fails(capsys):
    assert not check_exemplars_per_class(lambda n, per, total: per if per is not None else total / n)
    assert not check_exemplars_per_class(lambda n, per, total: per or total)
    capsys.readouterr()
    assert not check_exemplars_per_class(lambda n, per, total: per if per is not None else round(total / n))
    assert "exceed the budget" in capsys.readouterr().out


# --- widget callbacks -------------------------------------------------------------------------------
def _clustered(n: int = 120, d: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) + 2 * torch.randn(d, generator=g)


def test_herding_gap_is_below_random_and_reaches_zero_with_every_sample():
    feats = _clustered()
    gaps = views.selection_gaps(feats, 40, n_draws=10)
    assert gaps["m"].tolist() == list(range(1, 41))
    assert (gaps["herding"][9:] < gaps["random_mean"][9:]).all()
    assert gaps["herding"][19] < 0.5 * gaps["random_mean"][19]
    full = views.prefix_gaps(feats, herding_selection(feats, len(feats)))
    assert full[-1] == pytest.approx(0.0, abs=1e-5)           # all samples: the class mean itself


def test_selection_gaps_cap_at_the_class_size():
    gaps = views.selection_gaps(_clustered(n=15), 60, n_draws=3)
    assert len(gaps["herding"]) == 15


def test_herding_views_return_figures():
    feats = _clustered(n=30)
    images = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8)
    assert isinstance(views.herding_view(feats, images, m=5, m_max=20, n_draws=3), Figure)
    assert isinstance(views.herding_view(feats, images, m=1, m_max=20, n_draws=3), Figure)
    rows = {"herding": herding_selection(feats, 12), "random": random_selection(30, 12)}
    assert isinstance(views.plot_exemplars(images, rows, m=12), Figure)
    assert isinstance(views.plot_selection_gaps(views.selection_gaps(feats, 20, 3), m_mark=10), Figure)


def test_agreement_counts_partition_the_test_set():
    labels = torch.tensor([0, 1, 2, 3, 4])
    nme = torch.tensor([0, 1, 0, 3, 0])
    cnn = torch.tensor([0, 0, 2, 0, 0])
    counts = views.agreement_counts(nme, cnn, labels)
    assert counts == {"both right": 1, "only NME right": 2, "only CNN right": 1, "both wrong": 1}


def test_prediction_views_return_figures_with_and_without_disagreement():
    images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    assert isinstance(views.plot_prediction_histogram({"NME": labels, "CNN": torch.full((6,), 2)}, labels, 3), Figure)
    assert isinstance(views.plot_disagreements(images, labels, labels, torch.full((6,), 2)), Figure)
    assert isinstance(views.plot_disagreements(images, labels, labels, labels), Figure)


def test_memory_schedule_on_the_cifar_50_step_protocol():
    fixed = views.memory_schedule(50, 1, 100, 20, None)
    shared = views.memory_schedule(50, 1, 100, None, 2000)
    assert fixed["n_seen"][0] == 50 and fixed["n_seen"][-1] == 100 and len(fixed["n_seen"]) == 51
    assert (fixed["per_class"] == 20).all()
    assert fixed["total"][0] == 1000 and fixed["total"][-1] == 2000
    assert shared["per_class"][0] == 40 and shared["per_class"][-1] == 20
    assert (shared["total"] <= 2000).all() and (shared["total"] >= fixed["total"]).all()
    assert np.array_equal(views.memory_schedule(10, 5, 20, 3, None)["n_seen"], [10, 15, 20])
    assert isinstance(views.plot_memory_budgets(), Figure)
