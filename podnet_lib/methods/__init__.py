"""Methods as recipes over one training loop; `METHODS` maps a name to its class."""
from __future__ import annotations

from podnet_lib.config import Config
from podnet_lib.methods.base import Method, TaskInfo
from podnet_lib.methods.baselines import ICaRL, Finetune, Joint, LwF
from podnet_lib.methods.podnet import PODNet
from podnet_lib.methods.ucir import UCIR

METHODS: dict[str, type[Method]] = {
    "podnet": PODNet,
    "finetune": Finetune,
    "joint": Joint,
    "icarl": ICaRL,
    "ucir": UCIR,
    "lwf": LwF,
}


def build_method(name: str, cfg: Config) -> Method:
    if name not in METHODS:
        raise ValueError(f"method={name!r} is not valid; allowed values: {', '.join(METHODS)}")
    return METHODS[name](cfg)


__all__ = ["METHODS", "Method", "TaskInfo", "build_method"]
