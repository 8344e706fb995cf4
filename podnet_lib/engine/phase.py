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
