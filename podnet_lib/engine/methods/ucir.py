"""UCIR / LUCIR (Hou et al., CVPR 2019): cosine classifier (eq. 8), less-forget constraint
on the embedding, inter-class separation by margin ranking, imprinted new weights, frozen old
weights, and a class-balanced finetuning of the classifier after each task > 0.

UCIR's own CIFAR-100 schedule: 160 epochs, lr 0.1 divided by 10 after 80 and 120 epochs,
weight decay 5e-4, i.e. the Config's lr and weight decay with step decays at 1/2 and 3/4 of
`cfg.epochs`. Its gradients are not clamped (the PODNet authors' port clamps them).
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from podnet_lib.engine.methods.base import Method, TaskInfo
from podnet_lib.engine.phase import Schedule
from podnet_lib.model.network import NetOutput, Network


class UCIR(Method):
    name = "ucir"
    training_data = "new+memory"
    uses_teacher = True
    schedule = Schedule(milestones=(80 / 160, 120 / 160), gamma=0.1)

    def classifier_kind(self) -> str:
        return "cosine"

    def imprints(self, info: TaskInfo) -> bool:
        return info.task > 0

    def freezes_old_classes(self, info: TaskInfo) -> bool:
        return info.task > 0

    def finetunes_classifier(self, info: TaskInfo) -> bool:
        return self.cfg.finetune_classifier and info.task > 0

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        terms = {"ce": self.classification_loss(net, out.scores, targets)}
        if old is None:
            return terms
        cfg = self.cfg
        weight = cfg.ucir_lambda * math.sqrt(info.n_old / info.n_new)          # λ_base sqrt(|old| / |new|)
        cosine = F.cosine_similarity(old.features, out.features, dim=1)
        terms["less_forget"] = weight * (1.0 - cosine).mean()
        terms["margin_ranking"] = self._margin_ranking(out.scores, targets, info)
        return terms

    def _margin_ranking(self, scores: Tensor, targets: Tensor, info: TaskInfo) -> Tensor:
        """For old-class samples: the target's cosine must beat the K hardest new-class cosines by a margin."""
        is_old = (targets < info.n_old).float()                                 # (B,)
        k = min(self.cfg.ucir_hard_negatives, info.n_new)
        positive = scores.gather(1, targets.unsqueeze(1))                       # (B, 1)
        hardest = scores[:, info.n_old:].topk(k, dim=1).values                  # (B, k)
        hinge = (self.cfg.ucir_margin - positive + hardest).clamp(min=0.0)      # (B, k)
        per_sample = hinge.mean(dim=1) * is_old
        return per_sample.sum() / is_old.sum().clamp(min=1.0)
