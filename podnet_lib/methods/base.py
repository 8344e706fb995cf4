"""What a method is: a recipe over the one shared training loop (podnet_lib.train).

A method says which classifier it uses, which data it trains on, whether it needs the
previous model as a teacher, how new classes' weights start, which loss terms it adds, and
whether the classifier is finetuned on the balanced memory after a task. It never owns a loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from podnet_lib.config import Config
from podnet_lib.network import NetOutput, Network


@dataclass(frozen=True)
class TaskInfo:
    """Where we are in the run."""

    task: int        # 0 = base task
    n_seen: int      # N: classes seen after this task, new ones included
    n_new: int       # T: classes introduced by this task

    @property
    def n_old(self) -> int:
        return self.n_seen - self.n_new


class Method:
    """The hooks every method fills in. Defaults describe plain fine-tuning."""

    name: ClassVar[str] = "method"
    training_data: ClassVar[str] = "new+memory"   # "new" | "new+memory" | "seen"
    uses_teacher: ClassVar[bool] = False          # needs f^{t-1} during training
    clips_gradients: ClassVar[bool] = False       # clamp gradients to [-grad_clip, grad_clip]

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def classifier_kind(self) -> str:
        """linear | cosine | lsc."""
        return "linear"

    def imprints(self, info: TaskInfo) -> bool:
        """Whether new classes' weights start from their features (else random)."""
        return False

    def freezes_old_classes(self, info: TaskInfo) -> bool:
        """Whether old classes' weights stay fixed during the main training of a task."""
        return False

    def finetunes_classifier(self, info: TaskInfo) -> bool:
        """Whether the classifier is finetuned on the class-balanced memory after the task."""
        return False

    def classification_loss(self, net: Network, scores: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy on the classifier's (scaled) scores."""
        return F.cross_entropy(net.classifier.scale * scores, targets)

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        """The named loss terms of a batch; the loop sums them. `old` is the teacher's output."""
        return {"ce": self.classification_loss(net, out.scores, targets)}
