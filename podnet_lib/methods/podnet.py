"""PODNet (Sec. 3): LSC + NCA (eqs. 8-10) and POD-final distillation (eq. 7)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from podnet_lib.classifiers import nca_loss
from podnet_lib.methods.base import Method, TaskInfo
from podnet_lib.network import NetOutput, Network
from podnet_lib.pod import adaptive_factor, pod_terms


class PODNet(Method):
    """L = L_LSC + L_POD-final (Sec. 3.3), with the authors' training recipe (design.md).

    Old proxies are frozen while a task trains; new proxies are imprinted by k-means; gradients
    are clamped; after each task > 0 the classifier is finetuned on the balanced memory.
    Each switch between paper and authors' code is a Config field (pod_form, nca_form, ...).
    """

    name = "podnet"
    training_data = "new+memory"
    uses_teacher = True
    clips_gradients = True

    def classifier_kind(self) -> str:
        return self.cfg.classifier

    def imprints(self, info: TaskInfo) -> bool:
        return self.cfg.imprint and info.task > 0

    def freezes_old_classes(self, info: TaskInfo) -> bool:
        return info.task > 0

    def finetunes_classifier(self, info: TaskInfo) -> bool:
        return self.cfg.finetune_classifier and info.task > 0

    def classification_loss(self, net: Network, scores: Tensor, targets: Tensor) -> Tensor:
        cfg = self.cfg
        if cfg.classification_loss == "ce":                           # LSC-CE of Table 3a
            return F.cross_entropy(net.classifier.scale * scores, targets)
        return nca_loss(scores, targets, net.classifier.scale, cfg.nca_margin, cfg.nca_hinge, cfg.nca_form)

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        terms = {"nca": self.classification_loss(net, out.scores, targets)}
        if old is None:
            return terms
        cfg = self.cfg
        factor = adaptive_factor(info.n_seen, info.n_new) if cfg.adaptive_factor else 1.0
        spatial, flat = pod_terms(old.maps, out.maps, old.features, out.features, cfg.pod_form, cfg.pod_pooling,
                                  spatial=bool(cfg.lambda_c), flat=bool(cfg.lambda_f))
        # eq. (7), its two halves logged apart: pod_spatial + pod_flat == pod_final(..., factor)
        if cfg.lambda_c:
            terms["pod_spatial"] = factor * cfg.lambda_c * spatial
        if cfg.lambda_f:
            terms["pod_flat"] = factor * cfg.lambda_f * flat
        return terms
