"""Inference: Nearest-Mean-of-Exemplars (NME, iCaRL) and CNN (classifier scores, UCIR).

NME: each class is represented by the mean of the L2-normalised embeddings of its exemplars
(and of their horizontal flips where flips make sense), renormalised; a test image goes to
the nearest mean. CNN: the arg-max of the classifier's scores.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podnet_lib.data.augment import AugmentSpec, hflip, normalise
from podnet_lib.data.loading import iterate_batches


@torch.inference_mode()
def extract(
    net: nn.Module,
    dataset,
    indices: Tensor,
    spec: AugmentSpec,
    device: torch.device | str,
    batch_size: int = 256,
    flip: bool = False,
    num_workers: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Embeddings and classifier scores of un-augmented images, in `indices` order.

    net: a `Network` (returns .features and .scores); dataset: ArrayDataset or FolderDataset.
    Returns features (N, D) and scores (N, n_classes) on `device`, and labels (N,).
    flip=True embeds the mirrored images instead.
    """
    was_training = net.training
    net.eval()
    feats, scores, labels = [], [], []
    for x, y in iterate_batches(dataset, indices, batch_size, shuffle=False, device=device, num_workers=num_workers):
        x = normalise(x, spec)
        out = net(hflip(x) if flip else x)
        feats.append(out.features.float())
        scores.append(out.scores.float())
        labels.append(y)
    net.train(was_training)
    if not feats:
        return torch.empty(0), torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(scores), torch.cat(labels)


def class_means(features: Tensor, labels: Tensor, n_classes: int, flipped: Tensor | None = None) -> Tensor:
    """NME class means: (N, D) features of exemplars (+ their flips) -> (n_classes, D), unit norm.

    Each embedding is L2-normalised, the mean of a class's normalised embeddings (and of its
    flips' embeddings, averaged together) is taken and renormalised. A class with no exemplar
    gets a zero mean (it then never wins).
    """
    normed = F.normalize(features, dim=1)
    if flipped is not None:
        normed = (normed + F.normalize(flipped, dim=1)) / 2
    sums = torch.zeros(n_classes, features.shape[1], device=features.device).index_add_(0, labels.to(features.device), normed)
    return F.normalize(sums, dim=1)


def nme_predict(features: Tensor, means: Tensor) -> Tensor:
    """Nearest mean of exemplars: features (N, D), means (C, D) -> predicted labels (N,).

    Distance between L2-normalised features and the (unit) class means.
    """
    return torch.cdist(F.normalize(features, dim=1), means).argmin(dim=1)


def cnn_predict(scores: Tensor) -> Tensor:
    """CNN inference: arg-max of the classifier scores (N, C) -> labels (N,)."""
    return scores.argmax(dim=1)
