"""Run configuration: one flat dataclass, validated before any training starts.

Defaults are the paper's CIFAR-100 settings as the authors' code runs them (design.md);
`presets.py` names the paper's protocols and the fast offline ones.
Where the paper and the authors' code differ, a field chooses (`pod_form`, `nca_form`,
`lsc_similarity`, `nca_hinge`, `finetune_classifier`); the defaults follow the code that
produced the published numbers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from podnet_lib.backbones import BACKBONES
from podnet_lib.data.datasets import DATASET_FORMS
from podnet_lib.pod import POOLINGS

METHOD_NAMES = ("podnet", "finetune", "joint", "icarl", "ucir", "lwf")


class ConfigError(ValueError):
    """A configuration field has a value outside what is allowed."""


@dataclass
class Config:
    # --- data and protocol (Sec. 4 "Protocol") ---
    dataset: str = "cifar100"          # digits | cifar100 | folder:PATH | synthetic-cifar100[-full]
    data_root: str = "data"            # where datasets live (see data/README.md)
    download: bool = False             # let torchvision download CIFAR-100 (never by default)
    image_size: int = 0                # 0 = the dataset's own size
    dataset_classes: int = 0           # 0 = all; n keeps the first n classes (ImageNet-100: 100)
    class_order: int = 0               # 0 = the paper's order 1 for CIFAR-100; >= 1 our seeded orders
    base_classes: int = 50             # B, classes of the base task
    increment: int = 1                 # classes added per step (50 steps of 1 class)
    memory_per_class: int = 20         # M_per of the paper; 0 to use memory_total instead
    memory_total: int = 0              # M_total (e.g. 2000); 0 to use memory_per_class
    selection: str = "herding"         # herding | random
    # --- model ---
    backbone: str = "resnet32"         # see podnet_lib.backbones.BACKBONES
    proxies_per_class: int = 10        # K of eq. (9)
    lsc_similarity: str = "authors"    # cosine (eq. 9 as printed) | authors (2 cos - 2)
    # --- methods ---
    methods: list[str] = field(default_factory=lambda: ["podnet"])
    lambda_c: float = 3.0              # λc of eq. (7), POD-spatial weight (CIFAR; 8 on ImageNet)
    lambda_f: float = 1.0              # λf of eq. (7), POD-flat weight (CIFAR; 10 on ImageNet)
    pod_form: str = "authors"          # paper | authors: see podnet_lib.pod
    pod_pooling: str = "spatial"       # which pooling of eqs. (1)-(5) (Table 3b ablation)
    adaptive_factor: bool = True       # multiply POD by sqrt(N/T) as the authors' code does
    classifier: str = "lsc"            # PODNet's classifier: lsc | cosine (Table 3a)
    nca_form: str = "authors"          # paper (eq. 10 exactly) | authors
    nca_margin: float = 0.6            # δ of eq. (10)
    nca_hinge: bool = False            # the hinge [.]_+ of eq. (10)
    classification_loss: str = "nca"   # nca | ce (LSC-CE of Table 3a)
    imprint: bool = True               # k-means imprinting of new proxies
    finetune_classifier: bool = True   # class-balanced finetuning of the classifier after each task > 0
    finetune_epochs: int = 20
    finetune_lr: float = 0.05          # 0.01 on ImageNet
    ucir_lambda: float = 5.0           # UCIR's less-forget weight λ_base
    ucir_margin: float = 0.5           # UCIR's margin-ranking margin
    ucir_hard_negatives: int = 2       # UCIR's K hardest new-class scores
    distill_temperature: float = 2.0   # LwF's temperature
    # --- optimisation (design.md) ---
    epochs: int = 160
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0             # gradients clamped to [-clip, clip]; 0 = off
    # --- run ---
    seed: int = 1
    device: str = "auto"               # auto | cpu | cuda | cuda:N | mps
    num_workers: int = 2               # DataLoader workers for folder datasets
    eval_batch_size: int = 256
    amp: bool = True                   # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True         # channels-last memory format on CUDA (ignored on CPU)
    compile: bool = False              # torch.compile the backbone (first step ~50 s; pays on long runs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (unknown names -> ConfigError naming them)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}; "
                              f"known fields: {', '.join(f.name for f in fields(self))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        return cls().replace(**d)


def config_key(cfg: Config) -> str:
    """A short hash of every field: a changed config never reuses another one's results."""
    text = json.dumps(cfg.to_dict(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: {', '.join(map(str, allowed))}")


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: numbers >= {low}")


def validate(cfg: Config) -> None:
    """Raise ConfigError for the first bad field, naming it and its allowed values."""
    if not isinstance(cfg.methods, (list, tuple)) or not cfg.methods:
        raise ConfigError(f"methods={cfg.methods!r} is not valid; give one or more of {', '.join(METHOD_NAMES)}")
    for m in cfg.methods:
        _choice("methods", m, METHOD_NAMES)
    if not (cfg.dataset in DATASET_FORMS or cfg.dataset.startswith("folder:")):
        raise ConfigError(f"dataset={cfg.dataset!r} is not valid; allowed values: {', '.join(DATASET_FORMS)}")
    _choice("backbone", cfg.backbone, tuple(BACKBONES))
    _choice("classifier", cfg.classifier, ("lsc", "cosine"))
    _choice("lsc_similarity", cfg.lsc_similarity, ("cosine", "authors"))
    _choice("pod_form", cfg.pod_form, ("paper", "authors"))
    _choice("nca_form", cfg.nca_form, ("paper", "authors"))
    _choice("pod_pooling", cfg.pod_pooling, tuple(POOLINGS))
    _choice("classification_loss", cfg.classification_loss, ("nca", "ce"))
    _choice("selection", cfg.selection, ("herding", "random"))
    if not (cfg.device in ("auto", "cpu", "cuda", "mps") or cfg.device.startswith("cuda:")):
        raise ConfigError(f"device={cfg.device!r} is not valid; allowed values: auto, cpu, cuda, cuda:N, mps")
    if (cfg.memory_per_class > 0) == (cfg.memory_total > 0):
        raise ConfigError(f"memory_per_class={cfg.memory_per_class}, memory_total={cfg.memory_total}: set exactly one "
                          "of them to a positive number (the other to 0)")
    for name in ("base_classes", "increment", "epochs", "batch_size", "proxies_per_class", "eval_batch_size"):
        _at_least(name, getattr(cfg, name), 1)
    for name in ("memory_per_class", "memory_total", "finetune_epochs", "image_size", "dataset_classes",
                 "class_order", "num_workers", "lambda_c", "lambda_f", "nca_margin", "grad_clip",
                 "weight_decay", "momentum", "ucir_lambda", "ucir_margin"):
        _at_least(name, getattr(cfg, name), 0)
    for name in ("lr", "finetune_lr", "distill_temperature"):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name}={getattr(cfg, name)!r} is not valid; allowed values: numbers > 0")
    _at_least("ucir_hard_negatives", cfg.ucir_hard_negatives, 1)
