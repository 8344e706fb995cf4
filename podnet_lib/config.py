"""Run configuration: one flat dataclass, validated before any training starts.

Defaults are the paper's CIFAR-100 settings (Sec. 4) as the authors' code runs them
(`options/podnet/podnet_cnn_cifar100.yaml`); `podnet_lib.engine.presets` names the paper's
protocols and the fast offline ones. This module imports nothing of the package: each field's
allowed names live in the registry that builds them, and `podnet_lib.engine.validation` checks
a whole Config against them.
Where the paper and the authors' code differ, a field chooses (`pod_form`, `nca_form`,
`lsc_similarity`, `nca_hinge`, `finetune_classifier`); the defaults follow the code that
produced the published numbers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any


class ConfigError(ValueError):
    """A configuration field has a value outside what is allowed."""


@dataclass(frozen=True)
class Config:
    # --- data and protocol (Sec. 4 "Protocol") ---
    dataset: str = "cifar100"          # digits | cifar100 | folder:PATH | synthetic-cifar100[-full]
    data_root: str = "data"            # where datasets live (see data/README.md)
    download: bool = False             # let torchvision download CIFAR-100 (never by default)
    image_size: int = 0                # 0 = the dataset's own size (a folder of mixed sizes: 224)
    dataset_classes: int = 0           # 0 = all; n keeps the first n classes (ImageNet-100: 100)
    class_order: int = 0               # 0-2 the authors' CIFAR-100 orders (0 on ImageNet); higher: our seeded ones
    base_classes: int = 50             # B, classes of the base task
    increment: int = 1                 # classes added per step (50 steps of 1 class)
    memory_per_class: int = 20         # M_per of the paper; 0 to use memory_total instead
    memory_total: int = 0              # M_total (e.g. 2000); 0 to use memory_per_class
    selection: str = "herding"         # herding | random
    # --- model ---
    backbone: str = "resnet32"         # see podnet_lib.model.backbones.BACKBONES
    proxies_per_class: int = 10        # K of eq. (9)
    lsc_similarity: str = "authors"    # cosine (eq. 9 as printed) | authors (2 cos - 2)
    lsc_scaling: float = 1.0           # features and proxies times this before the LSC similarity (3 in the NME options)
    learn_eta: bool = True             # learn the NCA scale η (CNN options); False: η fixed at 1 (NME options)
    # --- methods ---
    methods: tuple[str, ...] = ("podnet",)   # see podnet_lib.engine.methods.METHODS
    lambda_c: float = 3.0              # λc of eq. (7), POD-spatial weight (CIFAR; 8 on ImageNet)
    lambda_f: float = 1.0              # λf of eq. (7), POD-flat weight (CIFAR; 10 on ImageNet)
    pod_form: str = "authors"          # paper | authors: see podnet_lib.model.pod
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
    # --- optimisation (the authors' CIFAR-100 options) ---
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
    precision: str = "auto"            # auto | bf16 | fp16 | fp32: auto = bf16 on GPUs >= 8.0, fp16 + scaler on older ones, fp32 on CPU
    channels_last: bool = True         # channels-last memory format on CUDA (ignored on CPU)
    compile: bool | str = "auto"       # auto | true | false: auto compiles the backbone on long runs only (first step ~50 s)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (unknown names -> ConfigError naming them)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}; "
                              f"known fields: {', '.join(f.name for f in fields(self))}")
        if isinstance(changes.get("methods"), list):
            changes["methods"] = tuple(changes["methods"])
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """The inverse of to_dict (JSON lists become tuples); unknown fields -> ConfigError.

        Configs saved before `precision` existed hold `amp` (true: reduced precision where it pays).
        """
        d = dict(d)
        if "amp" in d:
            d.setdefault("precision", "auto" if d.pop("amp") else "fp32")
        return cls().replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def config_key(cfg: Config) -> str:
    """A short hash of every field: a changed config never reuses another one's results."""
    text = json.dumps(cfg.to_dict(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]
