"""Cosine and Local Similarity classifiers with the NCA loss, Sec. 3.2, eqs. (8)-(10).

Both classifiers return similarity scores (B, n_classes) in [-1, 1] and keep the learned scale η
as a separate parameter `scale`: the loss (NCA or cross-entropy) multiplies by it.

Proxies are stored one group per task (a ParameterList), so the proxies of old classes can be
frozen while the new ones train, and new groups can be imprinted from features (k-means).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podnet_lib.model.kmeans import kmeans
from podnet_lib.registry import Registry

NCA_FORMS: Registry[str] = Registry("nca_form", {
    "paper": "eq. (10) exactly: margin on the target only",
    "authors": "the authors' code: the margin is subtracted from every class and cancels",
})
SIMILARITIES: Registry[str] = Registry("lsc_similarity", {
    "cosine": "eq. (9) as printed",
    "authors": "the authors' code: 2 cos - 2",
})


def local_similarity(
    features: Tensor, proxies: Tensor, proxies_per_class: int, gamma: float = 1.0, similarity: str = "cosine",
    scaling: float = 1.0,
) -> Tensor:
    """Local similarity scores, eq. (9).

    features: (B, D) embeddings h; proxies: (n_classes * K, D), the K proxies of a class
    contiguous -> (B, n_classes) scores ŷ_c = sum_k s_{c,k} <θ_{c,k}, h>, where <.,.> is the
    similarity and s_{c,k} = softmax_k(gamma * <θ_{c,k}, h>) (gamma = 1 in eq. (9)).
    similarity="cosine" is the paper's cosine; "authors" is the authors' code: minus the squared
    distance of the normalised vectors, 2 cos - 2, which acts as cosine with the scale doubled.
    scaling: the normalised h and θ are both multiplied by it first, so the similarity becomes
    scaling² cos ("cosine") or 2 scaling² cos - 2 scaling² ("authors"); the authors' NME options
    (`options/podnet/podnet_nme_cifar100.yaml`) use 3, a proxy softmax about 9 times sharper.
    """
    k = proxies_per_class
    if proxies.shape[0] % k:
        raise ValueError(f"proxies ({proxies.shape[0]}) is not a multiple of proxies_per_class ({k})")
    SIMILARITIES.check(similarity, "similarity")
    h = scaling * F.normalize(features, dim=1)
    theta = scaling * F.normalize(proxies, dim=1)
    sim = h @ theta.t()                                                         # (B, n_classes * K)
    if similarity == "authors":                                                 # -||h - θ||² = 2<h,θ> - 2s²
        sim = 2.0 * sim - 2.0 * scaling ** 2
    sim = sim.view(features.shape[0], -1, k)                                    # (B, n_classes, K)
    weights = torch.softmax(gamma * sim, dim=2)                                 # s_{c,k}
    return (weights * sim).sum(dim=2)


def nca_loss(
    scores: Tensor,
    targets: Tensor,
    scale: Tensor | float,
    margin: float = 0.6,
    hinge: bool = True,
    form: str = "paper",
) -> Tensor:
    """NCA loss on classifier scores, eq. (10). `scale` is η, `margin` is δ.

    scores: (B, n_classes) similarities ŷ; targets: (B,) labels -> scalar, batch mean.

    form="paper" is eq. (10) exactly: [-log exp(η(ŷ_y - δ)) / sum_{i != y} exp(η ŷ_i)]_+ with the
    margin on the target only, the target excluded from the denominator, and the hinge [.]_+
    when `hinge` is true.
    form="authors" is what the authors' public code computes: δ is subtracted from *every*
    class, so it cancels out (a known bug: the margin has no effect); the scores are shifted by
    their row maximum, and the target's term in the denominator is replaced by exp(0) = 1, so
    loss = -(z_y - log(1 + sum_{i != y} exp z_i)) with z = η(ŷ - δ) - max_i η(ŷ_i - δ);
    the hinge is applied only when asked (their default: no hinge).
    """
    NCA_FORMS.check(form, "form")
    if scores.dim() != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"nca_loss expects scores (B, C) and targets (B,), got {tuple(scores.shape)} and {tuple(targets.shape)}")
    rows = torch.arange(scores.shape[0], device=scores.device)
    is_target = F.one_hot(targets, scores.shape[1]).bool()
    if form == "paper":
        logits = scale * scores
        numerator = logits[rows, targets] - scale * margin
        denominator = torch.logsumexp(logits.masked_fill(is_target, float("-inf")), dim=1)
        losses = denominator - numerator
    else:
        z = scale * (scores - margin)
        z = z - z.max(dim=1, keepdim=True).values
        others = z.masked_fill(is_target, 0.0)                  # the target's slot becomes exp(0)
        losses = torch.logsumexp(others, dim=1) - z[rows, targets]
    if hinge:
        losses = losses.clamp(min=0.0)
    return losses.mean()


class ProxyClassifier(nn.Module):
    """Shared machinery: proxy groups per task, a learned scale η, freezing and imprinting."""

    def __init__(self, features_dim: int, proxies_per_class: int, scale_init: float = 1.0, learn_eta: bool = True):
        super().__init__()
        if proxies_per_class < 1:
            raise ValueError(f"proxies_per_class must be >= 1, got {proxies_per_class}")
        self.features_dim = features_dim
        self.proxies_per_class = proxies_per_class
        self.groups = nn.ParameterList()
        self.scale = nn.Parameter(torch.tensor(float(scale_init)), requires_grad=learn_eta)    # η; fixed if not learned

    @property
    def group_sizes(self) -> list[int]:
        """Number of classes in each proxy group, in the order they were added."""
        return [g.shape[0] // self.proxies_per_class for g in self.groups]

    @property
    def n_classes(self) -> int:
        return sum(self.group_sizes)

    @property
    def proxies(self) -> Tensor:
        """All proxies, (n_classes * K, D), the K proxies of each class contiguous."""
        return torch.cat(list(self.groups), dim=0)

    def add_classes(self, n: int, init: Tensor | None = None) -> None:
        """Append a group of proxies for n new classes: `init` (n * K, D), or random (task 0)."""
        rows = n * self.proxies_per_class
        if init is None:
            init = torch.empty(rows, self.features_dim)
            nn.init.kaiming_normal_(init, nonlinearity="linear")
        if init.shape != (rows, self.features_dim):
            raise ValueError(f"init must have shape {(rows, self.features_dim)}, got {tuple(init.shape)}")
        device = self.scale.device
        self.groups.append(nn.Parameter(init.detach().clone().to(device)))

    def freeze_old(self, frozen: bool = True) -> None:
        """Stop (or restart) gradients to every proxy group but the newest."""
        for group in list(self.groups)[:-1]:
            group.requires_grad_(not frozen)

    def imprint(self, class_features: list[Tensor], generator: torch.Generator | None = None,
                renormalise: bool = False) -> Tensor:
        """Initial proxies for new classes by imprinting (Sec. 3.2, "Weight initialization").

        class_features: one (N_c, D) tensor of embeddings per new class -> (n_new * K, D).
        Each class's L2-normalised features are clustered into K groups by k-means, and the centres
        are multiplied by the mean norm of the existing proxies (1 when there are none).
        As in the authors' code, K > 1 centres are not normalised first: a mean of unit vectors is
        shorter than 1, the more so the more spread its cluster, and so is its proxy; with K = 1 the
        single proxy is the normalised class mean. renormalise=True normalises every centre, so
        each new proxy has exactly the reference norm. The LSC's scores depend only on directions;
        the norms change the step size of a proxy's gradient and its weight decay.
        """
        reference = self.proxies.detach().norm(dim=1).mean().item() if len(self.groups) else 1.0
        rows = []
        for feats in class_features:
            centres = kmeans(F.normalize(feats.detach().float(), dim=1), self.proxies_per_class, generator=generator)
            if renormalise or self.proxies_per_class == 1:
                centres = F.normalize(centres, dim=1)
            rows.append(centres * reference)
        return torch.cat(rows, dim=0)


class CosineClassifier(ProxyClassifier):
    """Cosine classifier of UCIR, eq. (8): one proxy θ_c per class, score <θ_c, h> (cosine).

    The softmax of eq. (8) with the scale η is applied by the loss: forward returns cosines.
    """

    def __init__(self, features_dim: int, scale_init: float = 1.0, learn_eta: bool = True):
        super().__init__(features_dim, proxies_per_class=1, scale_init=scale_init, learn_eta=learn_eta)

    def forward(self, features: Tensor) -> Tensor:
        """features (B, D) -> cosine similarities (B, n_classes)."""
        return F.normalize(features, dim=1) @ F.normalize(self.proxies, dim=1).t()


class LocalSimilarityClassifier(ProxyClassifier):
    """Local Similarity Classifier (LSC), eq. (9): K proxies per class (paper default K = 10).

    `gamma` is the temperature of the softmax over a class's proxies (1 in eq. (9)); `scaling`
    multiplies the normalised features and proxies (see `local_similarity`); `learn_eta=False`
    keeps η at `scale_init` instead of training it (the authors' NME options have no learned η).
    """

    def __init__(
        self,
        features_dim: int,
        proxies_per_class: int = 10,
        gamma: float = 1.0,
        scale_init: float = 1.0,
        similarity: str = "cosine",
        scaling: float = 1.0,
        learn_eta: bool = True,
    ):
        super().__init__(features_dim, proxies_per_class, scale_init, learn_eta)
        self.gamma = gamma
        self.similarity = similarity
        self.scaling = scaling

    def forward(self, features: Tensor) -> Tensor:
        """features (B, D) -> local similarity scores (B, n_classes)."""
        return local_similarity(features, self.proxies, self.proxies_per_class, self.gamma, self.similarity,
                                self.scaling)


class LinearClassifier(ProxyClassifier):
    """A plain fully connected layer, grown one group per task (for iCaRL, finetune, joint).

    Scores are logits <θ_c, h> + b_c; the scale η is fixed at 1. Biases live in `biases`.
    """

    def __init__(self, features_dim: int):
        super().__init__(features_dim, proxies_per_class=1, scale_init=1.0)
        self.scale.requires_grad_(False)
        self.biases = nn.ParameterList()

    def add_classes(self, n: int, init: Tensor | None = None) -> None:
        super().add_classes(n, init)
        self.biases.append(nn.Parameter(torch.zeros(n, device=self.scale.device)))

    def freeze_old(self, frozen: bool = True) -> None:
        super().freeze_old(frozen)
        for bias in list(self.biases)[:-1]:
            bias.requires_grad_(not frozen)

    def forward(self, features: Tensor) -> Tensor:
        """features (B, D) -> logits (B, n_classes)."""
        return features @ self.proxies.t() + torch.cat(list(self.biases))


def _linear(features_dim: int, proxies_per_class: int, similarity: str, scaling: float,
            learn_eta: bool) -> ProxyClassifier:
    return LinearClassifier(features_dim)


def _cosine(features_dim: int, proxies_per_class: int, similarity: str, scaling: float,
            learn_eta: bool) -> ProxyClassifier:
    return CosineClassifier(features_dim, learn_eta=learn_eta)


def _lsc(features_dim: int, proxies_per_class: int, similarity: str, scaling: float,
         learn_eta: bool) -> ProxyClassifier:
    return LocalSimilarityClassifier(features_dim, proxies_per_class, similarity=similarity, scaling=scaling,
                                     learn_eta=learn_eta)


# name -> build(features_dim, proxies_per_class, similarity, scaling, learn_eta); LSC is PODNet's, eq. (9).
# similarity and scaling shape the LSC only; learn_eta applies to both cosine classifiers.
CLASSIFIERS: Registry[Callable[[int, int, str, float, bool], ProxyClassifier]] = Registry("classifier", {
    "linear": _linear, "cosine": _cosine, "lsc": _lsc,
})
