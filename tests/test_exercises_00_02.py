"""Checks of chapters 00 and 02: the library's own answers pass, wrong answers fail, nothing raises."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from podnet_lib.model.classifiers import local_similarity, nca_loss
from podnet_lib.data import make_scenario
from podnet_lib.book.exercises.classifiers import check_cosine_scores, check_local_similarity, check_nca_loss
from podnet_lib.book.exercises.protocol import (
    check_average_incremental_accuracy, check_forgetting, check_task_classes,
)
from podnet_lib.engine.metrics import average_incremental_accuracy, forgetting


def not_implemented(*args):
    raise NotImplementedError


def crashes(*args):
    raise RuntimeError("boom")


# --- chapter 00 ----------------------------------------------------------------------------------
def library_task_classes(n, base, inc):
    s = make_scenario(n, base, inc)
    return [s.task_classes(t) for t in range(s.n_tasks)]


def test_task_classes_right_and_wrong(capsys):
    assert check_task_classes(library_task_classes)
    assert "all 6 cases right" in capsys.readouterr().out
    # a classic slip: the steps start at `increment` instead of after the base task
    assert not check_task_classes(lambda n, b, i: [list(range(b))] + [list(range(s, s + i)) for s in range(i, n - b + i, i)])
    assert "[wrong]" in capsys.readouterr().out
    # the base task forgotten
    assert not check_task_classes(lambda n, b, i: library_task_classes(n, b, i)[1:])
    assert "tasks, expected" in capsys.readouterr().out


def test_average_incremental_accuracy_right_and_wrong(capsys):
    assert check_average_incremental_accuracy(average_incremental_accuracy)
    assert not check_average_incremental_accuracy(lambda a: float(np.mean(a[1:])) if len(a) > 1 else a[0])
    out = capsys.readouterr().out
    assert "the base task, task 0, counts too" in out
    assert not check_average_incremental_accuracy(lambda a: a[-1])       # the final accuracy
    assert "the last accuracy" in capsys.readouterr().out


def test_forgetting_right_and_wrong(capsys):
    assert check_forgetting(forgetting)
    # best accuracy taken right after learning instead of the maximum
    assert not check_forgetting(lambda m: np.array([m[j, j] - m[-1, j] for j in range(m.shape[0] - 1)]))
    assert "largest difference" in capsys.readouterr().out
    assert not check_forgetting(lambda m: np.nanmax(m, axis=0) - m[-1])     # the last task included
    assert "shape" in capsys.readouterr().out


@pytest.mark.parametrize("check", [check_task_classes, check_average_incremental_accuracy, check_forgetting,
                                   check_cosine_scores, check_local_similarity, check_nca_loss])
def test_checks_never_raise(check, capsys):
    assert not check(not_implemented)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check(crashes)
    assert "raised RuntimeError: boom" in capsys.readouterr().out
    assert not check(lambda *a: "nonsense")               # a malformed answer is reported, not raised


# --- chapter 02 ----------------------------------------------------------------------------------
def test_cosine_scores_right_and_wrong():
    assert check_cosine_scores(lambda h, w: F.normalize(h, dim=1) @ F.normalize(w, dim=1).t())
    assert not check_cosine_scores(lambda h, w: h @ w.t())                          # not normalised
    assert not check_cosine_scores(lambda h, w: F.normalize(h, dim=1) @ w.t())      # weights not normalised


def test_local_similarity_right_and_wrong():
    assert check_local_similarity(lambda h, p, k: local_similarity(h, p, k, similarity="cosine"))
    assert not check_local_similarity(lambda h, p, k: local_similarity(h, p, k, similarity="authors"))

    def max_over_proxies(h, p, k):
        cos = F.normalize(h, dim=1) @ F.normalize(p, dim=1).t()
        return cos.view(h.shape[0], -1, k).max(dim=2).values

    assert not check_local_similarity(max_over_proxies)


def test_nca_loss_right_and_wrong():
    assert check_nca_loss(lambda s, y, eta, m: nca_loss(s, y, eta, m, hinge=True, form="paper"))
    assert not check_nca_loss(lambda s, y, eta, m: nca_loss(s, y, eta, m, hinge=True, form="authors"))
    assert not check_nca_loss(lambda s, y, eta, m: nca_loss(s, y, eta, m, hinge=False, form="paper"))
    assert not check_nca_loss(lambda s, y, eta, m: F.cross_entropy(eta * (s - m), y))
    # the margin forgotten: only the first case (margin 0) passes
    assert not check_nca_loss(lambda s, y, eta, m: nca_loss(s, y, eta, 0.0, hinge=True, form="paper"))


def test_check_accepts_float_answers():
    assert check_nca_loss(lambda s, y, eta, m: float(nca_loss(s, y, eta, m, hinge=True, form="paper")))
    assert check_cosine_scores(lambda h, w: (F.normalize(h, dim=1) @ F.normalize(w, dim=1).t()).numpy())


def test_notebook_solutions_pass():
    """The solutions printed in the chapters' <details> blocks."""
    def task_classes(n_classes, base, increment):
        tasks = [list(range(base))]
        for start in range(base, n_classes, increment):
            tasks.append(list(range(start, start + increment)))
        return tasks

    def forgetting_solution(matrix):
        last = matrix.shape[0] - 1
        return np.array([matrix[j:last, j].max() - matrix[last, j] for j in range(last)])

    def cosine_scores(features, weights):
        return F.normalize(features, dim=1) @ F.normalize(weights, dim=1).t()

    def lsc_scores(features, proxies, k):
        cos = cosine_scores(features, proxies).view(features.shape[0], -1, k)
        return (torch.softmax(cos, dim=2) * cos).sum(dim=2)

    def nca_paper(scores, targets, eta, margin):
        rows = torch.arange(len(targets))
        others = (eta * scores).masked_fill(F.one_hot(targets, scores.shape[1]).bool(), float("-inf"))
        loss = torch.logsumexp(others, dim=1) - eta * (scores[rows, targets] - margin)
        return loss.clamp(min=0).mean()

    assert check_task_classes(task_classes)
    assert check_average_incremental_accuracy(lambda a: sum(a) / len(a))
    assert check_forgetting(forgetting_solution)
    assert check_cosine_scores(cosine_scores)
    assert check_local_similarity(lsc_scores)
    assert check_nca_loss(nca_paper)
