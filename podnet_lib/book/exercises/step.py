"""Checks for chapter 04's exercises: the loss of a PODNet batch, and imprinting new proxies.

Each `check_...(fn)` calls the student's function on several inputs and compares with the library
(`PODNet.loss_terms`, `ProxyClassifier.imprint`) through the chapters' one harness
(`harness.run_check`), with a hint when a wrong answer matches a known slip.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podnet_lib.book.exercises.harness import Case, Verdict, answer, as_number, run_check
from podnet_lib.config import Config
from podnet_lib.engine.methods import TaskInfo, build_method
from podnet_lib.model.classifiers import LocalSimilarityClassifier, nca_loss
from podnet_lib.model.network import NetOutput, Network
from podnet_lib.model.pod import pod_final

RTOL = 1e-5

BatchLoss = Callable[[NetOutput, NetOutput, Tensor, Tensor, int, int], Tensor]


# --- the loss of a batch -----------------------------------------------------------------------
def _outputs(g: torch.Generator, batch: int, n_classes: int) -> NetOutput:
    """A made-up network output: two stages, a 16-d embedding, scores in [-4, 0] (the authors' LSC range)."""
    maps = [torch.randn(batch, 4, 6, 6, generator=g), torch.randn(batch, 8, 3, 3, generator=g)]
    return NetOutput(maps, torch.randn(batch, 16, generator=g), -4 * torch.rand(batch, n_classes, generator=g))


def _drifted(old: NetOutput, g: torch.Generator, n_classes: int) -> NetOutput:
    """The student: the teacher's maps and embedding plus noise, its own scores."""
    maps = [m + 0.5 * torch.randn(m.shape, generator=g) for m in old.maps]
    features = old.features + 0.5 * torch.randn(old.features.shape, generator=g)
    return NetOutput(maps, features, -4 * torch.rand(old.scores.shape[0], n_classes, generator=g))


def _batch_cases(seed: int = 4) -> list[tuple[str, NetOutput, NetOutput, Tensor, Tensor, int, int]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for batch, n_seen, n_new, eta in ((8, 6, 1, 1.0), (16, 10, 5, 2.5), (12, 51, 1, 0.7)):
        old = _outputs(g, batch, n_seen)
        out = _drifted(old, g, n_seen)
        targets = torch.randint(0, n_seen, (batch,), generator=g)
        cases.append((f"B={batch}, N={n_seen}, T={n_new}, η={eta}", out, old, targets, torch.tensor(eta), n_seen, n_new))
    return cases


def _network_with_scale(scale: Tensor) -> Network:
    """A Network whose classifier carries the scale η (its backbone is never called here)."""
    clf = LocalSimilarityClassifier(16, proxies_per_class=1)
    clf.scale.data.fill_(float(scale))
    return Network(nn.Identity(), clf)


def _batch_loss_hint(got: float, out: NetOutput, old: NetOutput, targets: Tensor, scale: Tensor,
                     n_seen: int, n_new: int, cfg: Config) -> str:
    """Name the likely mistake when `got` matches a known wrong variant."""
    nca = float(nca_loss(out.scores, targets, scale, cfg.nca_margin, cfg.nca_hinge, cfg.nca_form))
    pod = float(pod_final(old.maps, out.maps, old.features, out.features, cfg.lambda_c, cfg.lambda_f,
                          cfg.pod_form, 1.0, cfg.pod_pooling))
    swapped = float(pod_final(old.maps, out.maps, old.features, out.features, cfg.lambda_f, cfg.lambda_c,
                              cfg.pod_form, 1.0, cfg.pod_pooling))
    factor = (n_seen / n_new) ** 0.5
    variants = {
        "this is the NCA loss alone: add POD-final, eq. (7)": nca,
        "POD-final lacks the factor sqrt(N / T) (adaptive_factor)": nca + pod,
        "λc and λf are swapped": nca + factor * swapped,
        "this is POD-final alone: add the NCA loss on out.scores": factor * pod,
    }
    for hint, value in variants.items():
        if abs(got - value) <= RTOL * max(1.0, abs(value)):
            return hint
    return "compare term by term with nca_loss and pod_final, using cfg's forms"


def check_batch_loss(fn: BatchLoss, cfg: Config) -> Verdict:
    """fn(out, old, targets, scale, n_seen, n_new) -> L_LSC + L_POD-final, as `PODNet.loss_terms` summed."""
    method = build_method("podnet", cfg)

    def case(desc: str, out: NetOutput, old: NetOutput, targets: Tensor, scale: Tensor, n_seen: int, n_new: int) -> Case:
        def run() -> str | None:
            terms = method.loss_terms(_network_with_scale(scale), out, old, targets, TaskInfo(1, n_seen, n_new))
            expected = float(sum(terms.values()).detach())
            got = as_number(answer(fn, out, old, targets.clone(), scale.clone(), n_seen, n_new))
            if abs(got - expected) <= RTOL * max(1.0, abs(expected)):
                return None
            hint = _batch_loss_hint(got, out, old, targets, scale, n_seen, n_new, cfg)
            return f"expected {expected:.5f}, got {got:.5f} ({hint})"
        return desc, run

    return run_check("the loss of a PODNet batch (NCA on the LSC scores + POD-final)",
                     [case(*c) for c in _batch_cases()])


# --- imprinting --------------------------------------------------------------------------------
def _imprint_cases(seed: int = 5) -> list[tuple[str, Tensor, Tensor, int, int]]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, k, old_rows, norm in ((40, 8, 2, 6, 0.5), (90, 16, 4, 20, 2.0), (25, 5, 3, 9, 1.3)):
        centres = 3 * torch.randn(k, d, generator=g)
        feats = centres[torch.randint(0, k, (n,), generator=g)] + torch.randn(n, d, generator=g)
        proxies = norm * F.normalize(torch.randn(old_rows, d, generator=g), dim=1) * (1 + 0.3 * torch.rand(old_rows, 1, generator=g))
        cases.append((f"N={n}, D={d}, K={k}", feats, proxies, k, seed + k))
    return cases


def _imprint_hint(got: Tensor, expected: Tensor, reference: float) -> str:
    norms = got.norm(dim=1)
    if torch.allclose(norms, torch.full_like(norms, reference), rtol=1e-4):
        return "every proxy has the reference norm: the authors' code does not normalise the K > 1 centres"
    if torch.allclose(F.normalize(got, dim=1), F.normalize(expected, dim=1), atol=1e-4):
        return "the directions are right, the norms are not: multiply by the mean norm of the existing proxies"
    return "normalise each feature before k-means, and pass the generator to kmeans"


def check_imprint(fn: Callable[[Tensor, Tensor, int, torch.Generator], Tensor]) -> Verdict:
    """fn(features (N, D), proxies (M, D), k, generator) -> (k, D), as `ProxyClassifier.imprint` for one class."""

    def case(desc: str, feats: Tensor, proxies: Tensor, k: int, seed: int) -> Case:
        def run() -> str | None:
            clf = LocalSimilarityClassifier(feats.shape[1], proxies_per_class=k)
            clf.add_classes(proxies.shape[0] // k, proxies[: proxies.shape[0] // k * k])
            expected = clf.imprint([feats], torch.Generator().manual_seed(seed))
            reference = float(clf.proxies.detach().norm(dim=1).mean())
            out = answer(fn, feats.clone(), clf.proxies.detach().clone(), k, torch.Generator().manual_seed(seed))
            got = torch.as_tensor(out, dtype=torch.float32).detach().cpu()
            if got.shape != expected.shape:
                return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
            err = float((got - expected).abs().max())
            if err <= 1e-4:
                return None
            return f"largest difference {err:.4f} ({_imprint_hint(got, expected, reference)})"
        return desc, run

    return run_check("the imprinting of a new class's proxies (k-means, Sec. 3.2)", [case(*c) for c in _imprint_cases()])


__all__ = ["check_batch_loss", "check_imprint"]
