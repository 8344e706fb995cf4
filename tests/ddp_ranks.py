"""Run by tests/test_engine.py under `torchrun --nproc_per_node=2` (gloo, CPU).

Two PODNet tasks on digits (task 1 imprints and finetunes), twice: once as the library runs,
once with every rank choosing for itself. Rank 1 sees noisy features, as a rank whose kernels
round differently would, so only choices made on rank 0 and broadcast keep the ranks equal.
Each rank saves its memory and classifier to OUT/<mode>_rank<r>.pt.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from podnet_lib.engine.distributed import finish, init_from_env
from podnet_lib.engine.experiment import prepare
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.train import IncrementalLearner


def perturb_features(learner: IncrementalLearner) -> None:
    """Add noise of the features' own spread to every embedding this rank extracts."""
    clean, noise = learner.features, torch.Generator().manual_seed(99)

    def noisy(*args, **kwargs):
        feats, scores, labels = clean(*args, **kwargs)
        return feats + feats.std() * torch.randn(feats.shape, generator=noise), scores, labels

    learner.features = noisy


def run(out: Path, mode: str) -> None:
    cfg = get_preset("digits-fast").replace(device="cpu", methods=("podnet",), dataset_classes=7, base_classes=5,
                                            increment=2, epochs=1, finetune_epochs=1, memory_per_class=5)
    splits, scenario = prepare(cfg)
    dist = init_from_env("cpu")
    learner = IncrementalLearner(cfg, "podnet", splits, scenario, out / mode, torch.device("cpu"), bars=False,
                                 dist=dist, log_tasks=False)
    if dist.rank == 1:
        perturb_features(learner)
    if mode == "own-choice":
        learner.on_main = lambda compute: compute()
    for t in range(scenario.n_tasks):
        learner.run_task(t)
    state = {"memory": learner.store.state_dict(), "classifier": learner.net.classifier.state_dict()}
    torch.save(state, out / f"{mode}_rank{dist.rank}.pt")


if __name__ == "__main__":
    target = Path(sys.argv[1])
    for name in ("broadcast", "own-choice"):
        run(target, name)
    finish()
