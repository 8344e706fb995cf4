"""How a step runs fast on a device: reduced-precision autocast, channels-last memory, `torch.compile`.

None of these changes what is computed, only how: losses are always taken in float32 (the
network's outputs are cast back), and a compiled backbone keeps its parameter names, so
checkpoints of compiled and eager runs are interchangeable.

- `Config.precision`: "auto" picks bf16 autocast on GPUs with native bf16 units (compute
  capability >= 8.0: A100, H100, RTX 30xx and later); fp16 autocast with a gradient scaler on
  older GPUs (T4 is 7.5, V100 7.0), where bf16 is emulated and slower than float32 although
  `torch.cuda.is_bf16_supported()` answers True; float32 on the CPU and on request ("fp32").
  The scaler skips a step whose gradients overflowed and halves its scale; `LossScaling` counts
  those steps so the run can report them.
- `Config.channels_last`: NHWC memory on CUDA, off elsewhere.
- `Config.compile`: "auto" compiles the backbone when the run is long enough to earn back the
  code generation (about 50 s for ResNet-32 on 2 CPU cores; a disk cache shortens later runs):
  `COMPILE_PAYS_FROM` training image-epochs, which the paper's presets and the full-size stand-in
  exceed and digits and the book's fast mode do not. The classifier grows every task and stays
  eager, so the compiled graph is reused across tasks; each task's teacher (a copy of the
  backbone) reuses it too.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import Tensor

from podnet_lib.config import Config, ConfigError
from podnet_lib.model.network import Network
from podnet_lib.registry import Registry

# autocast dtype of each precision (None: no autocast); "auto" is resolved by `choose_precision`
PRECISIONS: Registry[torch.dtype | None] = Registry("precision", {
    "auto": None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None})
COMPILE_CHOICES = ("auto", "true", "false")
NATIVE_BF16 = (8, 0)              # compute capability from which a GPU has bf16 units (Ampere)
COMPILE_PAYS_FROM = 1_000_000     # training image-epochs (epochs x training images) from which "auto" compiles


def choose_precision(requested: str, device: torch.device) -> str:
    """The precision a run uses: `requested`, or for "auto" what the device computes fastest.

    auto -> bf16 on a GPU of compute capability >= 8.0, fp16 on an older GPU, fp32 elsewhere.
    """
    PRECISIONS.check(requested)
    if requested != "auto":
        return requested
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.get_device_capability(device) >= NATIVE_BF16 else "fp16"


def check_compile(value: object) -> str:
    """`Config.compile` as one of COMPILE_CHOICES (saved configs hold true/false as booleans)."""
    name = str(value).lower() if isinstance(value, (bool, str)) else value
    if name not in COMPILE_CHOICES:
        raise ConfigError(f"compile={value!r} is not valid; allowed values: {', '.join(COMPILE_CHOICES)}")
    return name


def choose_compile(requested: object, device: torch.device, image_epochs: int) -> tuple[bool, str]:
    """Whether to compile the backbone, and why (for the run's first line).

    image_epochs: epochs x training images of the run, a lower bound of the images it trains on.
    """
    name = check_compile(requested)
    if name != "auto":
        return name == "true", f"compile={name}"
    if device.type not in ("cuda", "cpu"):
        return False, f"compile=auto: eager on {device.type}"
    pays = image_epochs >= COMPILE_PAYS_FROM
    return pays, (f"compile=auto: {'compiled' if pays else 'eager'}, {image_epochs:,} training image-epochs "
                  f"{'>=' if pays else '<'} {COMPILE_PAYS_FROM:,}")


class LossScaling:
    """Backward and optimizer step through fp16's gradient scaler, or plainly when it is off.

    With the scaler on, the loss is multiplied by a scale before backward so that small fp16
    gradients do not underflow; `unscale` divides the gradients back (before clipping them);
    `step` skips the optimizer step when a gradient is NaN or inf and halves the scale.
    """

    def __init__(self, device_type: str, enabled: bool):
        self.enabled = enabled
        self.scaler = torch.amp.GradScaler(device_type, enabled=enabled)

    def backward(self, loss: Tensor) -> None:
        (self.scaler.scale(loss) if self.enabled else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Gradients back to their true size (before clipping them); a no-op when off."""
        if self.enabled:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> Tensor | None:
        """One optimizer step; with the scaler, a 0-dim bool tensor on the device: True when the
        step was skipped (read with the epoch's losses, so no extra host sync)."""
        if not self.enabled:
            optimizer.step()
            return None
        before = self.scaler._scale.clone()          # the scaler backs off (halves) only after a skipped step
        self.scaler.step(optimizer)
        self.scaler.update()
        return self.scaler._scale < before


@dataclass(frozen=True)
class Acceleration:
    """The speed settings of one device; `for_device` derives them from a Config."""

    device_type: str                 # "cuda", "cpu", "mps": the autocast device
    precision: str = "fp32"          # bf16 | fp16 | fp32: the dtype of autocast forward passes
    channels_last: bool = False      # NHWC memory for weights and input batches
    compile: bool = False            # torch.compile the backbone in place
    compile_backend: str = "inductor"
    compile_reason: str = field(default="", compare=False)   # why `compile` was chosen (the run's first line)

    @classmethod
    def for_device(cls, cfg: Config, device: torch.device, train_images: int = 0) -> Acceleration:
        """Precision and compilation as `choose_precision` and `choose_compile` decide; channels-last
        on CUDA as the config allows. train_images: the training set's size (0 if unknown)."""
        compile, reason = choose_compile(cfg.compile, device, cfg.epochs * train_images)
        return cls(device.type, precision=choose_precision(cfg.precision, device),
                   channels_last=device.type == "cuda" and cfg.channels_last, compile=compile,
                   compile_reason=reason)

    def describe(self, compile: bool = True) -> str:
        """One line: precision, memory format and (unless compile=False) compilation."""
        precision = {"bf16": "bf16 autocast", "fp16": "fp16 autocast + gradient scaler", "fp32": "float32"}
        parts = [f"precision {self.precision} ({precision[self.precision]})"]
        if self.channels_last:
            parts.append("channels-last")
        if compile:
            parts.append(self.compile_reason or ("compiled backbone" if self.compile else "eager"))
        return ", ".join(parts)

    def as_dict(self) -> dict:
        """What a run records in its results (`RunResult.acceleration`)."""
        return {"device": self.device_type, "precision": self.precision, "channels_last": self.channels_last,
                "compile": self.compile, "compile_reason": self.compile_reason}

    def autocast(self) -> AbstractContextManager:
        """Autocast to bf16 or fp16 as `precision` says; a no-op context for fp32."""
        dtype = PRECISIONS[self.precision]
        return nullcontext() if dtype is None else torch.autocast(self.device_type, dtype=dtype)

    def loss_scaling(self) -> LossScaling:
        """The gradient scaler fp16 needs (off for bf16 and fp32: their exponent range is float32's)."""
        return LossScaling(self.device_type, enabled=self.precision == "fp16")

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
