"""PODNet (Sec. 3): LSC + NCA (eqs. 8-10) and POD-final distillation (eq. 7), with the
authors' recipe around them: imprinted new proxies, frozen old proxies, clamped gradients and a
class-balanced finetuning of the classifier after each task."""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from podnet_lib.engine.methods.base import Method, TaskInfo
from podnet_lib.model.classifiers import nca_loss
from podnet_lib.model.network import NetOutput, Network
from podnet_lib.model.pod import adaptive_factor, pod_final


class PODNet(Method):
    """L = L_LSC + L_POD-final (Sec. 3.3), with the authors' training recipe
    (`options/podnet/podnet_cnn_cifar100.yaml`).

    Old proxies are frozen while a task trains; new proxies are imprinted by k-means; gradients
    are clamped, in the finetuning too; after each task > 0 the classifier is finetuned on the
    balanced memory (`Method.balanced_finetuning`).
    Each switch between paper and authors' code is a Config field (pod_form, nca_form, ...).
    """

    name = "podnet"
    training_data = "new+memory"
    uses_teacher = True
    clips_gradients = True

    def classifier_kind(self) -> str:
        return self.cfg.classifier

    def classifier_options(self) -> dict[str, Any]:
        """The LSC's similarity and scaling, and whether η is learned (the NME options fix it at 1)."""
        cfg = self.cfg
        return {"similarity": cfg.lsc_similarity, "scaling": cfg.lsc_scaling, "learn_eta": cfg.learn_eta}

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

    def distillation_factor(self, info: TaskInfo) -> float:
        """The authors' sqrt(N / T) multiplying eq. (7), or 1 with `adaptive_factor=False`."""
        return adaptive_factor(info.n_seen, info.n_new) if self.cfg.adaptive_factor else 1.0

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        """NCA on the LSC scores (eq. 10); from task 1 on, POD-final (eq. 7) logged as its two
        halves: pod_spatial + pod_flat == pod_final(..., lambda_c, lambda_f, factor)."""
        terms = {"nca": self.classification_loss(net, out.scores, targets)}
        if old is None:
            return terms
        cfg = self.cfg
        factor = self.distillation_factor(info)
        for name, lambda_c, lambda_f in (("pod_spatial", cfg.lambda_c, 0.0), ("pod_flat", 0.0, cfg.lambda_f)):
            if lambda_c or lambda_f:
                terms[name] = pod_final(old.maps, out.maps, old.features, out.features, lambda_c, lambda_f,
                                        cfg.pod_form, factor, cfg.pod_pooling)
        return terms
