"""Every field of a Config checked before any training starts.

Named choices are checked by the registry that builds them (methods, backbones, classifiers,
poolings, forms, selections); numbers by their ranges here. The first bad field raises one
ConfigError naming it and its allowed values.
"""
from __future__ import annotations

import dataclasses
import types
import typing

from podnet_lib.config import Config, ConfigError
from podnet_lib.data import check_dataset_name
from podnet_lib.engine.acceleration import PRECISIONS, check_compile
from podnet_lib.engine.memory import SELECTIONS
from podnet_lib.engine.methods import METHODS
from podnet_lib.model.backbones import BACKBONES
from podnet_lib.model.classifiers import CLASSIFIERS, NCA_FORMS, SIMILARITIES
from podnet_lib.model.pod import FORMS, POOLINGS

CLASSIFICATION_LOSSES = ("nca", "ce")          # PODNet's loss on its classifier: NCA (eq. 10) | LSC-CE (Table 3a)
AT_LEAST_ONE = ("base_classes", "increment", "epochs", "batch_size", "proxies_per_class", "eval_batch_size",
                "ucir_hard_negatives")
AT_LEAST_ZERO = ("memory_per_class", "memory_total", "finetune_epochs", "image_size", "dataset_classes",
                 "class_order", "num_workers", "lambda_c", "lambda_f", "nca_margin", "grad_clip",
                 "weight_decay", "momentum", "ucir_lambda", "ucir_margin")
POSITIVE = ("lr", "finetune_lr", "distill_temperature", "lsc_scaling")


def _at_least(name: str, value: float, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: numbers >= {low}")


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: numbers > 0")


def _is_instance(value: object, hint: object) -> bool:
    """Whether `value` fits a Config annotation: bool, int (not bool), float (int allowed), str,
    tuple[str, ...], a union of those, or Literal[...]; other annotations accept anything."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(_is_instance(v, args[0]) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint: object) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(map(str, args))
    if origin is tuple:
        return "a list of strings" if args[0] is str else f"a list ({hint})"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def check_types(cfg: Config) -> None:
    """Each field's value has its annotated type (a config file or a Python caller may give a
    string where a number belongs); the first one that does not -> ConfigError naming it."""
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        value = getattr(cfg, f.name)
        if not _is_instance(value, hints[f.name]):
            raise ConfigError(f"{f.name}={value!r} is not valid; allowed values: {_type_name(hints[f.name])}")


def check_device_name(name: str) -> str:
    if not (name in ("auto", "cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"device={name!r} is not valid; allowed values: auto, cpu, cuda, cuda:N, mps")
    return name


def validate(cfg: Config) -> None:
    """Raise ConfigError for the first bad field, naming it and its allowed values."""
    if not isinstance(cfg.methods, (list, tuple)) or not cfg.methods:
        raise ConfigError(f"methods={cfg.methods!r} is not valid; give one or more of {', '.join(METHODS)}")
    for m in cfg.methods:
        METHODS.check(m, "methods")
    check_types(cfg)
    check_dataset_name(cfg.dataset)
    BACKBONES.check(cfg.backbone)
    CLASSIFIERS.check(cfg.classifier)
    SIMILARITIES.check(cfg.lsc_similarity)
    FORMS.check(cfg.pod_form)
    NCA_FORMS.check(cfg.nca_form)
    POOLINGS.check(cfg.pod_pooling)
    SELECTIONS.check(cfg.selection)
    PRECISIONS.check(cfg.precision)
    check_compile(cfg.compile)
    if cfg.classification_loss not in CLASSIFICATION_LOSSES:
        raise ConfigError(f"classification_loss={cfg.classification_loss!r} is not valid; "
                          f"allowed values: {', '.join(CLASSIFICATION_LOSSES)}")
    check_device_name(cfg.device)
    if (cfg.memory_per_class > 0) == (cfg.memory_total > 0):
        raise ConfigError(f"memory_per_class={cfg.memory_per_class}, memory_total={cfg.memory_total}: set exactly one "
                          "of them to a positive number (the other to 0)")
    for name in AT_LEAST_ONE:
        _at_least(name, getattr(cfg, name), 1)
    for name in AT_LEAST_ZERO:
        _at_least(name, getattr(cfg, name), 0)
    for name in POSITIVE:
        _positive(name, getattr(cfg, name))
