"""The incremental model: a backbone f (stage outputs + embedding) and a growing classifier g."""
from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import Tensor, nn

from podnet_lib.model.backbones import build_backbone
from podnet_lib.model.classifiers import CLASSIFIERS, ProxyClassifier


class NetOutput(NamedTuple):
    """What the model returns for a batch."""

    maps: list[Tensor]   # stage outputs h_l, each (B, C_l, H_l, W_l)
    features: Tensor     # embedding h, (B, D)
    scores: Tensor       # classifier scores, (B, n_classes seen)


class Network(nn.Module):
    """g(f(x)): backbone plus classifier, returning a `NetOutput`."""

    def __init__(self, backbone: nn.Module, classifier: ProxyClassifier):
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier

    def forward(self, x: Tensor) -> NetOutput:
        maps, features = self.backbone(x)
        with torch.autocast(features.device.type, enabled=False):    # cosines in float32, even under bf16
            scores = self.classifier(features.float())
        return NetOutput(maps, features, scores)

    def frozen_copy(self) -> Network:
        """The teacher f^{t-1}: a deep copy in eval mode with no gradients."""
        teacher = copy.deepcopy(self).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher


def build_classifier(kind: str, features_dim: int, proxies_per_class: int = 10, similarity: str = "cosine",
                     scaling: float = 1.0, learn_eta: bool = True) -> ProxyClassifier:
    """`kind` is a name of CLASSIFIERS: linear | cosine (eq. 8) | lsc (the Local Similarity Classifier, eq. 9).

    similarity and scaling shape the LSC's similarity; learn_eta=False fixes the scale η at 1.
    """
    return CLASSIFIERS[kind](features_dim, proxies_per_class, similarity, scaling, learn_eta)


def build_network(backbone: str, in_channels: int, classifier: str, proxies_per_class: int = 10,
                  similarity: str = "cosine", scaling: float = 1.0, learn_eta: bool = True) -> Network:
    """A fresh model with an empty classifier (classes are added task by task)."""
    f = build_backbone(backbone, in_channels=in_channels)
    return Network(f, build_classifier(classifier, f.out_dim, proxies_per_class, similarity, scaling, learn_eta))
