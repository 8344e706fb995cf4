"""Data-parallel training under `torchrun` (DistributedDataParallel).

Each rank trains on its own shard of every epoch's shuffled indices and gradients are averaged.
The choices made from features, exemplar selection (herding) and k-means imprinting, run on
rank 0 and are broadcast (`broadcast_object`), so the ranks cannot diverge even where their
kernels round differently; classifier finetuning and evaluation run on every rank from those
identical starting points. Only rank 0 writes files.
With a single process none of this is used.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group that torchrun describes in the environment (nccl on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def shard(order: Tensor, info: DistInfo) -> Tensor:
    """This rank's share of an epoch's order; every rank gets the same count (the tail is dropped)."""
    usable = order.numel() // info.world * info.world
    return order[:usable][info.rank::info.world]


def sync_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every rank."""
    if dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def _to_cpu(obj: Any) -> Any:
    """`obj` with every tensor in it (through dicts, lists and tuples) moved to the CPU."""
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def broadcast_object(obj: T, info: DistInfo) -> T:
    """Rank 0's `obj` (any picklable value; its tensors arrive on the CPU) on every rank.

    With a single process, `obj` itself. Every rank must call it; only rank 0's value is read.
    """
    if not info.enabled:
        return obj
    box = [_to_cpu(obj) if info.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `module` when several processes train, else `module` itself."""
    if not info.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    # a 1-channel stem's weight has two equivalent stride layouts; DDP warns about it harmlessly
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def finish() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
