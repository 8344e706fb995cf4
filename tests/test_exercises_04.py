"""Chapter 04: the exercise checks accept the library's answers and name the usual mistakes."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from podnet_lib.book.exercises.step import check_batch_loss, check_imprint
from podnet_lib.engine.presets import get_preset
from podnet_lib.model.classifiers import nca_loss
from podnet_lib.model.kmeans import kmeans
from podnet_lib.model.pod import adaptive_factor, pod_final

CFG = get_preset("digits-fast")


def _loss(factor_of, lambda_c: float = CFG.lambda_c, lambda_f: float = CFG.lambda_f):
    def loss(out, old, targets, scale, n_seen, n_new):
        nca = nca_loss(out.scores, targets, scale, CFG.nca_margin, CFG.nca_hinge, CFG.nca_form)
        return nca + pod_final(old.maps, out.maps, old.features, out.features, lambda_c, lambda_f,
                               CFG.pod_form, factor_of(n_seen, n_new), CFG.pod_pooling)
    return loss


def test_batch_loss_check_accepts_the_loss_and_names_mistakes(capsys):
    assert check_batch_loss(_loss(adaptive_factor), CFG)
    assert "all 3 cases right" in capsys.readouterr().out
    assert not check_batch_loss(_loss(lambda n, t: 1.0), CFG)
    assert "adaptive_factor" in capsys.readouterr().out
    assert not check_batch_loss(_loss(adaptive_factor, CFG.lambda_f, CFG.lambda_c), CFG)
    assert "swapped" in capsys.readouterr().out


def _imprint(renormalise: bool, scaled: bool = True):
    def imprint(features, proxies, k, gen):
        centres = kmeans(F.normalize(features, dim=1), k, generator=gen)
        centres = F.normalize(centres, dim=1) if renormalise else centres
        return centres * proxies.norm(dim=1).mean().item() if scaled else centres
    return imprint


def test_imprint_check_accepts_the_authors_imprinting_and_names_mistakes(capsys):
    assert check_imprint(_imprint(renormalise=False))
    assert "all 3 cases right" in capsys.readouterr().out
    assert not check_imprint(_imprint(renormalise=True))
    assert "does not normalise" in capsys.readouterr().out
    assert not check_imprint(_imprint(renormalise=False, scaled=False))
    assert "mean norm" in capsys.readouterr().out


def test_unwritten_or_broken_answers_never_raise(capsys):
    def unwritten(*args):
        raise NotImplementedError

    assert not check_batch_loss(unwritten, CFG) and not check_imprint(unwritten)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_imprint(lambda f, p, k, g: torch.zeros(k + 1, f.shape[1]))
    assert not check_batch_loss(lambda *args: None, CFG)
    out = capsys.readouterr().out
    assert "expected shape" in out and "returned None" in out
