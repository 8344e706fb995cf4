"""What a method is: a recipe over the one shared training loop (podnet_lib.engine.train).

A method says which classifier it uses, which data it trains on, whether it needs the
previous model as a teacher, how new classes' weights start (`before_task`), which loss terms
it adds (`loss_terms`), how its main training sets the learning rate (`schedule`), and what it
does once the task's exemplars are chosen (`after_task`: the class-balanced finetuning of the
classifier, for PODNet and UCIR). It never owns a loop: the learner runs its phases.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from podnet_lib.config import Config
from podnet_lib.engine.phase import Phase, Schedule, sgd
from podnet_lib.model.network import NetOutput, Network

if TYPE_CHECKING:
    from podnet_lib.engine.train import IncrementalLearner


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
    schedule: ClassVar[Schedule] = Schedule()     # the main training's lr schedule (cosine)

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def classifier_kind(self) -> str:
        """linear | cosine | lsc."""
        return "linear"

    def classifier_options(self) -> dict[str, Any]:
        """Keyword options of `build_network` for this method's classifier (similarity, scaling,
        learn_eta); the builder's defaults when empty."""
        return {}

    def imprints(self, info: TaskInfo) -> bool:
        """Whether new classes' weights start from their features (else random)."""
        return False

    def freezes_old_classes(self, info: TaskInfo) -> bool:
        """Whether old classes' weights stay fixed during the main training of a task."""
        return False

    def finetunes_classifier(self, info: TaskInfo) -> bool:
        """Whether the classifier is finetuned on the class-balanced memory after the task."""
        return False

    def before_task(self, learner: IncrementalLearner, info: TaskInfo) -> None:
        """Add the new classes' weights (imprinted from their features when `imprints`, else
        random) and freeze the old classes' weights when `freezes_old_classes`. Imprinting runs on
        rank 0 and is broadcast under torchrun (`learner.on_main`)."""
        clf = learner.net.classifier
        init = None
        if self.imprints(info):
            new = learner.scenario.task_classes(info.task)

            def imprint() -> Tensor:
                feats, _, labels = learner.features("train", new)
                return clf.imprint([feats[labels == c] for c in new], learner.generator(info.task, "imprint"))

            init = learner.on_main(imprint)
        clf.add_classes(info.n_new, init)
        clf.freeze_old(self.freezes_old_classes(info))

    def after_task(self, learner: IncrementalLearner, info: TaskInfo) -> dict[str, float]:
        """Work after the main training and the exemplar selection; returns loss terms to log.
        By default: the class-balanced finetuning, when `finetunes_classifier`."""
        return self.balanced_finetuning(learner, info) if self.finetunes_classifier(info) else {}

    def balanced_finetuning(self, learner: IncrementalLearner, info: TaskInfo) -> dict[str, float]:
        """Class-balanced finetuning of the classifier on the exemplars (the same number per class).

        The backbone is frozen but stays in train mode (its BatchNorm statistics follow the
        exemplars), every class's weights train, η does not; the gradient clamp stays on for a
        method that clamps; a constant learning rate `finetune_lr` for `finetune_epochs` (the
        authors' `finetuning_config`: PODNet's and UCIR's option files alike).
        """
        cfg, net = self.cfg, learner.net
        clf = net.classifier
        clf.freeze_old(False)
        params = list(clf.groups)

        def step_terms(x: Tensor, y: Tensor) -> dict[str, Tensor]:
            with torch.no_grad(), learner.accel.autocast():
                features = net.backbone(x).features.float()
            return {"loss": self.classification_loss(net, clf(features), y)}

        phase = Phase("finetune", learner.store.all_indices(), cfg.finetune_epochs,
                      sgd(params, cfg.finetune_lr, cfg.momentum, cfg.weight_decay), params, step_terms,
                      clip=cfg.grad_clip if self.clips_gradients else 0.0)
        return {f"finetune_{k}": v for k, v in learner.run_phase(phase, info).items()}

    def classification_loss(self, net: Network, scores: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy on the classifier's (scaled) scores."""
        return F.cross_entropy(net.classifier.scale * scores, targets)

    def loss_terms(self, net: Network, out: NetOutput, old: NetOutput | None, targets: Tensor,
                   info: TaskInfo) -> dict[str, Tensor]:
        """The named loss terms of a batch; the loop sums them. `old` is the teacher's output."""
        return {"ce": self.classification_loss(net, out.scores, targets)}
