"""A phase of a task: one SGD loop over some samples (the main training, or a finetuning).

The incremental loop (`podnet_lib.engine.train`) runs every phase the same way: shuffled
batches, augmentation, the phase's loss terms, one optimizer step, optional gradient clamp,
the loss terms averaged per epoch. A method builds the phases it needs; it never owns a loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

StepTerms = Callable[[Tensor, Tensor], "dict[str, Tensor]"]   # (images, labels) -> named loss terms


@dataclass
class Phase:
    """What one SGD phase trains, on which samples, and for how long."""

    name: str                        # "train" | "finetune": the log's label and the random stream
    indices: Tensor                  # (N,) dataset indices of the samples it trains on
    epochs: int
    optimizer: torch.optim.Optimizer
    params: list[Tensor]             # the parameters the optimizer updates (and the clamp touches)
    step_terms: StepTerms            # a batch's named loss terms; the loop sums them
    clip: float = 0.0                # clamp gradients to [-clip, clip]; 0 = off
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None   # stepped once per epoch
    sharded: bool = False            # under torchrun each rank trains on its shard of every batch


def sgd(params: list[Tensor], lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """The optimizer of every phase (Sec. 4: SGD with momentum)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@dataclass(frozen=True)
class Schedule:
    """How a method's main training sets its learning rate, relative to the Config's `lr`,
    `weight_decay` and `epochs` (whose defaults are PODNet's CIFAR-100 options).

    The default is PODNet's: cosine annealing from `lr` to 0 over the task's epochs. A method
    whose own paper prescribes another recipe states it here (iCaRL, UCIR), so that on the paper's
    CIFAR-100 protocol it gets exactly that recipe, and keeps its proportions on other presets.
    """

    milestones: tuple[float, ...] = ()   # fractions of the epochs at which lr is multiplied by gamma; () = cosine
    gamma: float = 0.1                   # the step decay factor at each milestone
    lr_factor: float = 1.0               # the method's lr = lr_factor * cfg.lr
    weight_decay_factor: float = 1.0     # the method's weight decay = weight_decay_factor * cfg.weight_decay

    def optimizer(self, params: list[Tensor], lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
        """SGD with this schedule's learning rate and weight decay (`lr`, `weight_decay`: the Config's)."""
        return sgd(params, self.lr_factor * lr, momentum, self.weight_decay_factor * weight_decay)

    def epochs_of_milestones(self, epochs: int) -> list[int]:
        """The epochs (0-based, of `epochs`) from which each decay applies: round(fraction * epochs)."""
        return [round(f * epochs) for f in self.milestones]

    def scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
        """Stepped once per epoch: step decay at the milestones, or cosine annealing without them."""
        if self.milestones:
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, self.epochs_of_milestones(epochs), self.gamma)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
