"""How a step runs fast on a device: bf16 autocast, channels-last memory, `torch.compile`.

None of these changes what is computed, only how: losses are always taken in float32 (the
network's outputs are cast back), and a compiled backbone keeps its parameter names, so
checkpoints of compiled and eager runs are interchangeable.

- bf16 autocast and channels-last are on by default on CUDA (`Config.amp`, `Config.channels_last`)
  and off elsewhere: a CPU without bf16 units runs bf16 slower than float32.
- `Config.compile` compiles the backbone in place, once per run. The classifier grows every
  task and stays eager, so the compiled graph is reused across tasks; each task's teacher (a copy
  of the backbone) reuses it too. The first compiled step pays for code generation (about 50 s
  for ResNet-32 on 2 CPU cores; a disk cache shortens later runs), which short runs never earn back.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import Tensor

from podnet_lib.config import Config
from podnet_lib.model.network import Network


@dataclass(frozen=True)
class Acceleration:
    """The speed settings of one device; `for_device` derives them from a Config."""

    device_type: str                 # "cuda", "cpu", "mps": the autocast device
    amp: bool = False                # bf16 autocast for forward passes
    channels_last: bool = False      # NHWC memory for weights and input batches
    compile: bool = False            # torch.compile the backbone in place
    compile_backend: str = "inductor"

    @classmethod
    def for_device(cls, cfg: Config, device: torch.device) -> Acceleration:
        """bf16 and channels-last where they pay (CUDA), as the config allows; compile as asked."""
        cuda = device.type == "cuda"
        return cls(device.type, amp=cuda and cfg.amp, channels_last=cuda and cfg.channels_last, compile=cfg.compile)

    def autocast(self) -> AbstractContextManager:
        """bf16 autocast when `amp`, a no-op context otherwise."""
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp)

    def batch(self, x: Tensor) -> Tensor:
        """An input batch (B, C, H, W) in the memory format the weights use."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def network(self, net: Network) -> Network:
        """Put a (student or teacher) network in this memory format and compile its backbone."""
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.compile:
            net.backbone.compile(backend=self.compile_backend)
        return net
