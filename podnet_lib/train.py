"""The incremental loop shared by every method (Sec. 4 "Protocol").

For each task t: (1) copy the model as teacher f^{t-1}; (2) add the new classes' weights
(imprinted or random); (3) train on the method's data with SGD and a cosine schedule;
(4) select exemplars of the new classes (herding); (5) finetune the classifier on the
balanced memory if the method asks; (6) evaluate NME and CNN on all seen classes;
(7) write results (with the wall time of each phase) and a checkpoint. Every random draw of
task t comes from generators seeded by (seed, t), so a run resumed from its checkpoint gives
the same numbers as one that was not interrupted.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from podnet_lib.acceleration import Acceleration
from podnet_lib.checkpoint import check_same_run, load_checkpoint, save_checkpoint
from podnet_lib.config import Config
from podnet_lib.data import AUGMENTATIONS, ArrayDataset, DatasetSplits, Scenario, augment, remap
from podnet_lib.data.loading import class_indices, iterate_batches
from podnet_lib.distributed import DistInfo, shard, sync_buffers, wrap
from podnet_lib.inference import class_means, extract, nme_predict
from podnet_lib.memory import ExemplarStore, exemplars_per_class, herding_selection, random_selection
from podnet_lib.methods import Method, TaskInfo, build_method
from podnet_lib.metrics import group_accuracies, top1_accuracy
from podnet_lib.network import NetOutput, Network, build_network
from podnet_lib.progress import log, progress
from podnet_lib.results import RunResult, TaskResult

STREAMS = {"init": 0, "train": 1, "finetune": 2, "imprint": 3, "select": 4}


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an unavailable device is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} is not available here (no CUDA GPU); allowed values: auto, cpu")
    return device


def task_seed(seed: int, task: int, stream: str) -> int:
    """A distinct, reproducible seed for each (run seed, task, purpose)."""
    return (seed * 1_000_003 + task * 1_009 + STREAMS[stream]) % (2**63 - 1)


def generator(seed: int, task: int, stream: str) -> torch.Generator:
    return torch.Generator().manual_seed(task_seed(seed, task, stream))


def _as_float(out: NetOutput, copy: bool = False) -> NetOutput:
    """Network outputs in float32 for the losses (autocast may have produced bf16)."""
    convert = (lambda t: t.float().clone()) if copy else (lambda t: t.float())   # noqa: E731
    return NetOutput([convert(m) for m in out.maps], convert(out.features), convert(out.scores))


@contextmanager
def _timed(phases: dict[str, float], name: str):
    """Add the block's wall time to phases[name]. Each phase ends with a host read of its
    results, so its GPU work is finished when the block exits."""
    began = time.perf_counter()
    yield
    phases[name] = phases.get(name, 0.0) + time.perf_counter() - began


class IncrementalLearner:
    """Runs one method through every task of a scenario, checkpointing after each task."""

    def __init__(self, cfg: Config, method: str, splits: DatasetSplits, scenario: Scenario,
                 out_dir: Path, device: torch.device, bars: bool = True, dist: DistInfo = DistInfo(),
                 log_tasks: bool = True, accel: Acceleration | None = None):
        self.cfg, self.scenario, self.device, self.dist = cfg, scenario, device, dist
        self.accel = accel or Acceleration.for_device(cfg, device)
        self.log_tasks = log_tasks
        self.bars = bars and dist.is_main
        self.method: Method = build_method(method, cfg)
        self.out_dir = Path(out_dir)
        self.spec = AUGMENTATIONS[splits.augment]
        self.train_set = self._place(remap(splits.train, scenario))
        self.test_set = self._place(remap(splits.test, scenario))
        self.in_channels = splits.channels
        self.store = ExemplarStore()
        self.result = RunResult(method=method, config=cfg.to_dict(), tasks=[])
        torch.manual_seed(task_seed(cfg.seed, 0, "init"))
        self.net: Network = self._new_network()

    # --- set-up --------------------------------------------------------------------------------
    def _place(self, dataset):
        return dataset.to(self.device) if isinstance(dataset, ArrayDataset) else dataset

    def _new_network(self) -> Network:
        cfg = self.cfg
        net = build_network(cfg.backbone, self.in_channels, self.method.classifier_kind(),
                            cfg.proxies_per_class, cfg.lsc_similarity).to(self.device)
        return self.accel.network(net)

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def _info(self, t: int) -> TaskInfo:
        return TaskInfo(task=t, n_seen=self.scenario.seen_classes(t), n_new=len(self.scenario.task_classes(t)))

    # --- the loop ------------------------------------------------------------------------------
    def run(self, resume: bool = False, stop_after: int | None = None) -> RunResult:
        """Train every task (from the checkpoint's next task when resuming); return the results.

        stop_after=k ends the run after task k, as an interruption would.
        """
        start = self.restore() if resume else 0
        tasks = range(start, self.scenario.n_tasks)
        for t in progress(tasks, self.bars, desc=f"{self.method.name} tasks", initial=start,
                          total=self.scenario.n_tasks):
            self.run_task(t)
            if stop_after is not None and t >= stop_after:
                break
        return self.result

    def run_task(self, t: int) -> TaskResult:
        began = time.perf_counter()
        info, cfg = self._info(t), self.cfg
        torch.manual_seed(task_seed(cfg.seed, t, "init"))
        phases: dict[str, float] = {}
        teacher = self.accel.network(self.net.frozen_copy()) if (self.method.uses_teacher and t > 0) else None
        with _timed(phases, "imprint"):
            self._add_classes(info)
        with _timed(phases, "train"):
            losses = self._fit(info, self._training_indices(info), teacher)
        with _timed(phases, "select"):
            self._select_exemplars(info)
        if self.method.finetunes_classifier(info):
            with _timed(phases, "finetune"):
                ft = self._finetune_classifier(info)
            losses.update({f"finetune_{k}": v for k, v in ft.items()})
        with _timed(phases, "evaluate"):
            record = self._evaluate(info, losses, 0.0)
        record.seconds, record.phase_seconds = time.perf_counter() - began, phases
        self.result.tasks.append(record)
        self._save(t)
        log(self._task_line(record), self.dist.is_main and self.log_tasks)
        return record

    def _add_classes(self, info: TaskInfo) -> None:
        clf = self.net.classifier
        new = self.scenario.task_classes(info.task)
        init = None
        if self.method.imprints(info):
            feats, _, labels = extract(self.net, self.train_set, class_indices(self.train_set.labels, new),
                                       self.spec, self.device, self.cfg.eval_batch_size, num_workers=self.cfg.num_workers)
            init = clf.imprint([feats[labels == c] for c in new], generator(self.cfg.seed, info.task, "imprint"))
        clf.add_classes(len(new), init)
        clf.freeze_old(self.method.freezes_old_classes(info))

    def _training_indices(self, info: TaskInfo) -> Tensor:
        labels = self.train_set.labels
        kind = self.method.training_data
        if kind == "seen":
            return class_indices(labels, list(range(info.n_seen))).cpu()
        new = class_indices(labels, self.scenario.task_classes(info.task)).cpu()
        if kind == "new":
            return new
        return torch.cat([new, self.store.all_indices()])

    def _fit(self, info: TaskInfo, indices: Tensor, teacher: Network | None) -> dict[str, float]:
        """The main training of a task: every trainable parameter, cosine schedule per task."""
        cfg = self.cfg
        params = [p for p in self.net.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        clip = cfg.grad_clip if self.method.clips_gradients else 0.0
        student = wrap(self.net, self.dist, self.device)

        def step_terms(x: Tensor, y: Tensor) -> dict[str, Tensor]:
            with self.accel.autocast():
                out = _as_float(student(x))
                old = None
                if teacher is not None:
                    with torch.inference_mode():
                        old = teacher(x)
                    old = _as_float(old, copy=True)          # leave inference mode: usable by autograd
            return self.method.loss_terms(self.net, out, old, y, info)

        means = self._epochs(info, indices, cfg.epochs, opt, params, clip, step_terms, "train", sched, sharded=True)
        sync_buffers(self.net)
        return means

    def _finetune_classifier(self, info: TaskInfo) -> dict[str, float]:
        """Class-balanced finetuning of the classifier on the exemplars (design.md): backbone
        frozen but in train mode (its BatchNorm statistics follow the exemplars), η fixed."""
        cfg = self.cfg
        clf = self.net.classifier
        clf.freeze_old(False)
        params = list(clf.groups)
        opt = torch.optim.SGD(params, lr=cfg.finetune_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

        def step_terms(x: Tensor, y: Tensor) -> dict[str, Tensor]:
            with torch.no_grad(), self.accel.autocast():
                features = self.net.backbone(x).features.float()
            return {"loss": self.method.classification_loss(self.net, clf(features), y)}

        return self._epochs(info, self.store.all_indices(), cfg.finetune_epochs, opt, params, 0.0,
                            step_terms, "finetune", None, sharded=False)

    def _batches(self, indices: Tensor, gen: torch.Generator, sharded: bool):
        """One epoch of (uint8 images, labels): shuffled by `gen`; each rank's shard under torchrun."""
        cfg = self.cfg
        if not (sharded and self.dist.enabled):
            return iterate_batches(self.train_set, indices, cfg.batch_size, shuffle=True, generator=gen,
                                   device=self.device, num_workers=cfg.num_workers)
        order = shard(indices[torch.randperm(indices.numel(), generator=gen)], self.dist)
        return iterate_batches(self.train_set, order, max(1, cfg.batch_size // self.dist.world), shuffle=False,
                               device=self.device, num_workers=cfg.num_workers)

    def _epochs(self, info, indices, epochs, opt, params, clip, step_terms, stream, sched,
                sharded: bool) -> dict[str, float]:
        """Run SGD epochs; loss terms are accumulated on the device and read once per epoch."""
        cfg, gen = self.cfg, generator(self.cfg.seed, info.task, stream)
        aug_gen = gen
        if sharded and self.dist.enabled:                    # ranks share the order, not the augmentations
            aug_gen = torch.Generator().manual_seed(task_seed(cfg.seed, info.task, stream) + 7919 * self.dist.rank)
        self.net.train()
        means: dict[str, float] = {}
        bar = progress(range(epochs), self.bars, desc=f"task {info.task} {stream}", leave=False)
        for epoch in bar:
            sums: dict[str, Tensor] = {}
            first_bad: dict[str, Tensor] = {}        # step at which a term first stopped being finite
            batches = 0
            for x, y in self._batches(indices, gen, sharded):
                x = augment(x, self.spec, aug_gen)
                x = self.accel.batch(x)
                terms = step_terms(x, y)
                opt.zero_grad(set_to_none=True)
                sum(terms.values()).backward()
                if clip:
                    torch.nn.utils.clip_grad_value_(params, clip)
                opt.step()
                for k, v in terms.items():
                    v = v.detach()
                    sums[k] = sums.get(k, 0.0) + v
                    bad = torch.where(torch.isfinite(v), float("inf"), float(batches))
                    first_bad[k] = torch.minimum(first_bad[k], bad) if k in first_bad else bad
                batches += 1
            means = {k: float(v) / max(batches, 1) for k, v in sums.items()}   # one host sync per epoch
            self._check_finite(means, {k: float(v) for k, v in first_bad.items()}, info.task, epoch, stream)
            if sched is not None:
                sched.step()
        return means

    def _check_finite(self, means: dict[str, float], first_bad: dict[str, float], task: int, epoch: int,
                      stream: str) -> None:
        """Stop on a NaN/inf loss, naming the term that went wrong first."""
        if all(math.isfinite(v) for v in means.values()):
            return
        term = min(first_bad, key=lambda k: first_bad[k])                 # earliest step; ties: first term
        kept = (f"the last good checkpoint (task {task - 1}) is kept at {self.checkpoint_path}"
                if task > 0 else "no task had finished, so no checkpoint was written")
        raise NonFiniteLossError(f"{self.method.name}: loss term '{term}' became {means[term]} in task {task}, "
                                 f"epoch {epoch} ({stream}); {kept}. Try a lower --lr.")

    # --- memory and evaluation -----------------------------------------------------------------
    def _select_exemplars(self, info: TaskInfo) -> None:
        cfg = self.cfg
        m = exemplars_per_class(info.n_seen, cfg.memory_per_class or None, cfg.memory_total or None)
        new = self.scenario.task_classes(info.task)
        idx = class_indices(self.train_set.labels, new).cpu()
        gen = generator(cfg.seed, info.task, "select")
        feats, _, labels = (extract(self.net, self.train_set, idx, self.spec, self.device, cfg.eval_batch_size,
                                    num_workers=cfg.num_workers) if cfg.selection == "herding" else (None, None, None))
        for c in new:
            own = idx[self.train_set.labels[idx.to(self.train_set.labels.device)].cpu() == c]
            if cfg.selection == "herding":
                ranking = herding_selection(feats[labels == c], m)
            else:
                ranking = random_selection(len(own), m, gen)
            self.store.add(c, own[ranking])
        self.store.set_budget(m)

    def _evaluate(self, info: TaskInfo, losses: dict[str, float], seconds: float) -> TaskResult:
        cfg, n_seen = self.cfg, info.n_seen
        test_idx = class_indices(self.test_set.labels, list(range(n_seen))).cpu()
        feats, scores, labels = extract(self.net, self.test_set, test_idx, self.spec, self.device,
                                        cfg.eval_batch_size, num_workers=cfg.num_workers)
        ex_idx = self.store.all_indices()
        ex_feats, _, ex_labels = extract(self.net, self.train_set, ex_idx, self.spec, self.device,
                                         cfg.eval_batch_size, num_workers=cfg.num_workers)
        flipped = (extract(self.net, self.train_set, ex_idx, self.spec, self.device, cfg.eval_batch_size,
                           flip=True, num_workers=cfg.num_workers)[0] if self.spec.flip else None)
        predictions = {
            "nme": nme_predict(feats, class_means(ex_feats, ex_labels, n_seen, flipped)),
            "cnn": scores[:, :n_seen].argmax(dim=1),
        }
        tasks_of = self.scenario.task_of(labels.cpu()).to(labels.device)
        is_new = (labels >= info.n_old).long()
        fields: dict = {}
        for kind, pred in predictions.items():
            fields[f"acc_{kind}"] = top1_accuracy(pred, labels)
            fields[f"task_acc_{kind}"] = group_accuracies(pred, labels, tasks_of, info.task + 1)
            old, new = group_accuracies(pred, labels, is_new, 2)
            fields[f"old_acc_{kind}"] = old if info.task > 0 else None
            fields[f"new_acc_{kind}"] = new
        return TaskResult(task=info.task, n_classes=n_seen, new_classes=self.scenario.task_classes(info.task),
                          losses=losses, seconds=seconds, **fields)

    def _task_line(self, r: TaskResult) -> str:
        losses = " ".join(f"{k}={v:.3f}" for k, v in r.losses.items())
        return (f"[{self.method.name}] task {r.task}: {r.n_classes} classes, acc NME {r.acc_nme:.2f} "
                f"CNN {r.acc_cnn:.2f} | {losses} | {r.seconds:.1f}s")

    # --- checkpoints ---------------------------------------------------------------------------
    def _save(self, t: int) -> None:
        if not self.dist.is_main:
            return
        self.result.save(self.out_dir)
        save_checkpoint(self.checkpoint_path, {
            "method": self.method.name, "task": t, "config": self.cfg.to_dict(),
            "network": self.net.state_dict(), "classifier_groups": self.net.classifier.group_sizes,
            "memory": self.store.state_dict(), "results": self.result.to_dict(),
            "rng": torch.get_rng_state(),
        })

    def restore(self) -> int:
        """Restore the state after the last finished task; return the next task to run."""
        state = load_checkpoint(self.checkpoint_path)
        check_same_run(state["config"], self.cfg.to_dict(), self.checkpoint_path)
        if state["method"] != self.method.name:
            raise ValueError(f"checkpoint {self.checkpoint_path} is for method {state['method']!r}, "
                             f"not {self.method.name!r}")
        net = self._new_network()
        for n in state["classifier_groups"]:
            net.classifier.add_classes(n)
        net.load_state_dict(state["network"])
        self.net = net.to(self.device)
        self.store.load_state_dict(state["memory"])
        self.result = RunResult.from_dict(state["results"])
        torch.set_rng_state(state["rng"])
        return int(state["task"]) + 1
