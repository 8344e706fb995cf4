"""Named configurations: the paper's protocols (Sec. 4) and fast offline ones.

`PRESETS[name]` is (one-line description, Config). The paper's CIFAR-100 presets exist for
50/25/10/5 steps, NME and CNN variants (the NME variant uses λc = 5, an LSC scaling of 3 and a
fixed η, as the authors' NME options do), each with the authors' class order 0, 1 or 2
(`...-order1`, `...-order2` names). The ImageNet presets use the authors' published order.
"""
from __future__ import annotations

from podnet_lib.config import Config, ConfigError
from podnet_lib.paper import PODNET_CIFAR100

DIGITS = Config(
    dataset="digits", backbone="resnet_digits", base_classes=5, increment=1,
    memory_per_class=20, epochs=30, batch_size=64, lr=0.05, finetune_epochs=10,
    proxies_per_class=4, class_order=0, num_workers=0,
)



# Many small tasks, as in the paper's 50-step protocol: 2 base classes, then 8 steps of one class.
# Only the protocol differs from DIGITS; every method keeps its own defaults.
DIGITS_HARD = DIGITS.replace(base_classes=2, methods=("podnet", "finetune", "lwf", "icarl", "ucir"))

def _cifar(steps: int, variant: str, order: int) -> Config:
    """`options/podnet/podnet_{cnn,nme}_cifar100.yaml`: the NME options differ by λc = 5, a scaling
    of 3 inside the LSC similarity and no learned η."""
    nme = variant == "nme"
    return Config(
        dataset="cifar100", backbone="resnet32", base_classes=50, increment=50 // steps,
        lambda_c=5.0 if nme else 3.0, lambda_f=1.0, class_order=order,
        lsc_scaling=3.0 if nme else 1.0, learn_eta=not nme,
    )


def _imagenet(n_classes: int, steps: int) -> Config:
    base = n_classes // 2
    return Config(
        dataset="folder:data/imagenet", dataset_classes=n_classes if n_classes < 1000 else 0, image_size=224,
        backbone="resnet18_imagenet", base_classes=base, increment=base // steps,
        lambda_c=8.0, lambda_f=10.0, epochs=90, batch_size=64, lr=0.05, finetune_lr=0.01,
        weight_decay=1e-4 if n_classes == 1000 else 5e-4,     # podnet_cnn_imagenet1000.yaml: 1e-4
    )


def _build() -> dict[str, tuple[str, Config]]:
    presets: dict[str, tuple[str, Config]] = {
        "digits": ("main job: digits 8x8, base 5 + 5 steps of 1 class, PODNet vs finetune, iCaRL, joint (CPU, ~2 min)",
                   DIGITS.replace(methods=("podnet", "finetune", "icarl", "joint"))),
        "digits-podnet": ("PODNet alone on digits, same protocol as `digits`", DIGITS),
        "digits-hard": ("the paper's regime on digits: base 2 + 8 steps of 1 class, 20 exemplars a class; PODNet vs "
                        "finetune, LwF, iCaRL, UCIR, each with its own defaults (CPU, 1-2 min)",
                        DIGITS_HARD),
        "digits-fast": ("digits with few epochs (tests, notebooks' fast mode): seconds",
                        DIGITS.replace(epochs=6, finetune_epochs=3)),
        "synthetic-cifar100": ("generated CIFAR-shaped stand-in (100 classes, 3x32x32), ResNet-32, 10 steps, 2 epochs",
                               _cifar(10, "cnn", 0).replace(dataset="synthetic-cifar100", epochs=2,
                                                             finetune_epochs=1)),
    }
    for steps in (50, 10):
        presets[f"synthetic-cifar100-{steps}steps-full"] = (
            f"timing run for a GPU: the paper's CIFAR-100 {steps}-step protocol (160 epochs) on a generated "
            "stand-in of CIFAR-100's size, no download", _cifar(steps, "nme", 0).replace(dataset="synthetic-cifar100-full"))
    for steps in (50, 25, 10, 5):
        for variant in ("nme", "cnn"):
            for order in (0, 1, 2):
                suffix = "" if order == 0 else f"-order{order}"
                name = f"cifar100-{steps}steps-{variant}{suffix}"
                text = (f"paper, CIFAR-100: 50 base classes + {steps} steps of {50 // steps}, ResNet-32, "
                        f"{variant.upper()} variant, class order {order}")
                presets[name] = (text, _cifar(steps, variant, order))
    for steps in (50, 25, 10, 5):
        presets[f"imagenet100-{steps}steps"] = (
            f"paper, ImageNet-100 (first 100 classes of data/imagenet): 50 base + {steps} steps, ResNet-18",
            _imagenet(100, steps))
    for steps in (10, 5):
        presets[f"imagenet1000-{steps}steps"] = (
            f"paper, ImageNet-1000 (data/imagenet): 500 base + {steps} steps, ResNet-18", _imagenet(1000, steps))
    return presets


PRESETS: dict[str, tuple[str, Config]] = _build()


def get_preset(name: str) -> Config:
    """The Config of a named preset (a fresh copy); unknown names list the allowed ones."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r} is not valid; allowed values: {', '.join(PRESETS)}")
    return PRESETS[name][1].replace()


def paper_reference(cfg: Config, method: str) -> dict[str, float] | None:
    """The paper's average incremental accuracy for this protocol, when it is one of the paper's."""
    if method != "podnet" or cfg.base_classes != 50:
        return None
    steps = 50 // cfg.increment
    if cfg.dataset == "cifar100" and steps in PODNET_CIFAR100:
        nme, cnn = PODNET_CIFAR100[steps]
        return {"nme": nme, "cnn": cnn}
    return None
