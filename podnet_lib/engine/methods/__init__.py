"""Methods as recipes over one training loop; `METHODS` maps a name to its class."""
from __future__ import annotations

from podnet_lib.config import Config
from podnet_lib.engine.methods.base import Method, TaskInfo
from podnet_lib.engine.methods.baselines import ICaRL, Finetune, Joint, LwF
from podnet_lib.engine.methods.podnet import PODNet
from podnet_lib.engine.methods.ucir import UCIR
from podnet_lib.registry import Registry

METHODS: Registry[type[Method]] = Registry("method", {
    "podnet": PODNet,
    "finetune": Finetune,
    "joint": Joint,
    "icarl": ICaRL,
    "ucir": UCIR,
    "lwf": LwF,
})


def build_method(name: str, cfg: Config) -> Method:
    return METHODS[name](cfg)


__all__ = ["METHODS", "Method", "TaskInfo", "build_method"]
