"""Baselines: finetune (lower bound), joint (upper bound), iCaRL, LwF."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.engine.methods.base import Method, TaskInfo
from podnet_lib.model.network import NetOutput, Network


class Finetune(Method):
    """Trains on the new classes only, with cross-entropy: the forgetting lower bound.

    Exemplars are still selected after each task, only so that NME can be reported.
    """

    name = "finetune"
    training_data = "new"


class Joint(Method):
    """Trains on all the data of every class seen so far: the upper bound."""

    name = "joint"
    training_data = "seen"


class ICaRL(Method):
    """iCaRL (Rebuffi et al., 2017): sigmoid outputs, new classes one-hot, old classes
    distilled from the previous model's sigmoid outputs; trained on new data + exemplars."""

    name = "icarl"
    training_data = "new+memory"
    uses_teacher = True

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        goal = F.one_hot(targets, out.scores.shape[1]).float()
        if old is not None:
            goal[:, : info.n_old] = torch.sigmoid(old.scores)
        bce = F.binary_cross_entropy_with_logits(out.scores, goal, reduction="none").sum(dim=1).mean()
        return {"bce": bce}


class LwF(Method):
    """Learning without Forgetting (Li and Hoiem, 2016): cross-entropy on new data plus
    knowledge distillation of the old classes' softened outputs; no memory."""

    name = "lwf"
    training_data = "new"
    uses_teacher = True

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        terms = {"ce": self.classification_loss(net, out.scores, targets)}
        if old is not None:
            t = self.cfg.distill_temperature
            student = F.log_softmax(out.scores[:, : info.n_old] / t, dim=1)
            teacher = F.softmax(old.scores / t, dim=1)
            terms["kd"] = F.kl_div(student, teacher, reduction="batchmean") * t * t
        return terms
