"""The incremental loop shared by every method (Sec. 4 "Protocol").

For each task t: (1) copy the model as teacher f^{t-1}; (2) the method's `before_task` adds
the new classes' weights (imprinted or random); (3) train on the method's data with SGD and the
method's schedule (cosine for PODNet); (4) select exemplars of the new classes (herding); (5) the
method's `after_task` (PODNet, UCIR: class-balanced finetuning of the classifier); (6) evaluate
NME and CNN on all seen classes; (7) write results (with the wall time of each phase) and a checkpoint. Every random draw of
task t comes from generators seeded by (seed, t), so a run resumed from its checkpoint gives
the same numbers as one that was not interrupted.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import torch
from torch import Tensor

from podnet_lib.engine.acceleration import Acceleration
from podnet_lib.engine.checkpoint import check_same_run, load_checkpoint, save_checkpoint
from podnet_lib.config import Config, ConfigError
from podnet_lib.data import ArrayDataset, DatasetSplits, Scenario, augment, remap
from podnet_lib.data.loading import class_indices, iterate_batches
from podnet_lib.engine.distributed import DistInfo, broadcast_object, shard, sync_buffers, wrap
from podnet_lib.engine.inference import class_means, extract, nme_predict
from podnet_lib.engine.loggers import RunLogger
from podnet_lib.engine.memory import SELECTIONS, ExemplarStore, exemplars_per_class
from podnet_lib.engine.methods import Method, TaskInfo, build_method
from podnet_lib.engine.phase import Phase
from podnet_lib.engine.metrics import group_accuracies, top1_accuracy
from podnet_lib.model.network import NetOutput, Network, build_network
from podnet_lib.progress import log, progress
from podnet_lib.engine.results import RunResult, TaskResult

T = TypeVar("T")
EpochHook = Callable[["IncrementalLearner", TaskInfo, Phase, int, "dict[str, float]"], None]
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
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not valid; allowed values: auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device={name!r} is not available here (no CUDA GPU); allowed values: auto, cpu")
        if device.index is not None and device.index >= count:
            allowed = ", ".join(["auto", "cpu", "cuda"] + [f"cuda:{i}" for i in range(count)])
            raise ConfigError(f"device={name!r} is not available here ({count} CUDA GPU{'s' * (count > 1)}); "
                              f"allowed values: {allowed}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device={name!r} is not available here (no Apple GPU); allowed values: auto, cpu")
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
                 log_tasks: bool = True, accel: Acceleration | None = None, logger: RunLogger | None = None):
        self.cfg, self.scenario, self.device, self.dist = cfg, scenario, device, dist
        self.logger = logger if dist.is_main else None       # optional live log (`--log tensorboard`)
        self.accel = accel or Acceleration.for_device(cfg, device, train_images=len(splits.train))
        self.scaling = self.accel.loss_scaling()             # fp16's gradient scaler (a pass-through otherwise)
        self.skipped_steps: dict[str, int] = {}              # this task's steps the scaler skipped, per phase
        self.log_tasks = log_tasks
        # called after every epoch of every phase as hook(learner, info, phase, epoch, mean loss terms)
        self.epoch_hooks: list[EpochHook] = []
        if self.logger is not None:
            self.epoch_hooks.append(self._log_epoch)
        self.bars = bars and dist.is_main
        self.method: Method = build_method(method, cfg)
        self.out_dir = Path(out_dir)
        self.spec = splits.spec()                            # the recipe, with the dataset's own mean/std
        self.train_set = self._place(remap(splits.train, scenario))
        self.test_set = self._place(remap(splits.test, scenario))
        self.in_channels = splits.channels
        self.store = ExemplarStore()
        self.result = RunResult(method=method, config=cfg.to_dict(), tasks=[], acceleration=self.accel.as_dict())
        torch.manual_seed(task_seed(cfg.seed, 0, "init"))
        self.net: Network = self._new_network()

    # --- set-up --------------------------------------------------------------------------------
    def _place(self, dataset):
        return dataset.to(self.device) if isinstance(dataset, ArrayDataset) else dataset

    def _new_network(self) -> Network:
        cfg = self.cfg
        net = build_network(cfg.backbone, self.in_channels, self.method.classifier_kind(),
                            cfg.proxies_per_class, **self.method.classifier_options()).to(self.device)
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
        self.skipped_steps = {}
        teacher = self.accel.network(self.net.frozen_copy()) if (self.method.uses_teacher and t > 0) else None
        with _timed(phases, "imprint"):
            self.method.before_task(self, info)
        with _timed(phases, "train"):
            losses = self._fit(info, self._training_indices(info), teacher)
        with _timed(phases, "select"):
            self._select_exemplars(info)
        with _timed(phases, "finetune"):
            losses.update(self.method.after_task(self, info))
        with _timed(phases, "evaluate"):
            record = self._evaluate(info, losses, 0.0)
        record.seconds, record.phase_seconds = time.perf_counter() - began, phases
        record.skipped_steps = dict(self.skipped_steps)
        self.result.tasks.append(record)
        self._save(t)
        if self.logger is not None:
            self.logger.task(self.method.name, record)
        log(self._task_line(record), self.dist.is_main and self.log_tasks)
        return record

    def _log_epoch(self, learner: IncrementalLearner, info: TaskInfo, phase: Phase, epoch: int,
                   means: dict[str, float]) -> None:
        """The live logger's epoch event; its step (task x epochs + epoch) is the same on a resumed run."""
        self.logger.epoch(self.method.name, phase.name, info.task * phase.epochs + epoch, means)

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
        """The main training of a task: every trainable parameter, the method's schedule per task
        (cosine annealing for PODNet)."""
        cfg, schedule = self.cfg, self.method.schedule
        params = [p for p in self.net.parameters() if p.requires_grad]
        opt = schedule.optimizer(params, cfg.lr, cfg.momentum, cfg.weight_decay)
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

        phase = Phase("train", indices, cfg.epochs, opt, params, step_terms,
                      clip=cfg.grad_clip if self.method.clips_gradients else 0.0,
                      scheduler=schedule.scheduler(opt, cfg.epochs), sharded=True)
        means = self.run_phase(phase, info)
        sync_buffers(self.net)
        return means

    def _batches(self, indices: Tensor, gen: torch.Generator, sharded: bool):
        """One epoch of (uint8 images, labels): shuffled by `gen`; each rank's shard under torchrun."""
        cfg = self.cfg
        if not (sharded and self.dist.enabled):
            return iterate_batches(self.train_set, indices, cfg.batch_size, shuffle=True, generator=gen,
                                   device=self.device, num_workers=cfg.num_workers, training=True)
        order = shard(indices[torch.randperm(indices.numel(), generator=gen)], self.dist)
        return iterate_batches(self.train_set, order, max(1, cfg.batch_size // self.dist.world), shuffle=False,
                               device=self.device, num_workers=cfg.num_workers, training=True)

    def generator(self, task: int, stream: str) -> torch.Generator:
        """The random generator of one purpose (STREAMS) in one task of this run."""
        return generator(self.cfg.seed, task, stream)

    def run_phase(self, phase: Phase, info: TaskInfo) -> dict[str, float]:
        """Run a phase's SGD epochs; loss terms are summed on the device and read once per epoch.

        Returns the last epoch's mean of each loss term.
        """
        cfg, gen = self.cfg, self.generator(info.task, phase.name)
        aug_gen = gen
        if phase.sharded and self.dist.enabled:              # ranks share the order, not the augmentations
            aug_gen = torch.Generator().manual_seed(task_seed(cfg.seed, info.task, phase.name) + 7919 * self.dist.rank)
        self.net.train()
        means: dict[str, float] = {}
        bar = progress(range(phase.epochs), self.bars, desc=f"task {info.task} {phase.name}", leave=False)
        for epoch in bar:
            sums: dict[str, Tensor] = {}
            first_bad: dict[str, Tensor] = {}        # step at which a term first stopped being finite
            batches, skipped = 0, 0
            for x, y in self._batches(phase.indices, gen, phase.sharded):
                x = self.accel.batch(augment(x, self.spec, aug_gen))
                terms = phase.step_terms(x, y)
                phase.optimizer.zero_grad(set_to_none=True)
                self.scaling.backward(sum(terms.values()))
                if phase.clip:
                    self.scaling.unscale(phase.optimizer)        # clamp the true gradients, not scaled ones
                    torch.nn.utils.clip_grad_value_(phase.params, phase.clip)
                was_skipped = self.scaling.step(phase.optimizer)  # None without the fp16 scaler
                if was_skipped is not None:
                    skipped = skipped + was_skipped
                for k, v in terms.items():
                    v = v.detach()
                    sums[k] = sums.get(k, 0.0) + v
                    bad = torch.where(torch.isfinite(v), float("inf"), float(batches))
                    first_bad[k] = torch.minimum(first_bad[k], bad) if k in first_bad else bad
                batches += 1
            means = {k: float(v) / max(batches, 1) for k, v in sums.items()}   # one host sync per epoch
            self._check_finite(means, {k: float(v) for k, v in first_bad.items()}, info.task, epoch, phase.name)
            self._count_skipped(int(skipped), info.task, epoch, phase.name)
            for hook in self.epoch_hooks:
                hook(self, info, phase, epoch, means)
            if phase.scheduler is not None:
                phase.scheduler.step()
        return means

    def _count_skipped(self, skipped: int, task: int, epoch: int, stream: str) -> None:
        """Record (and log) the steps fp16's scaler skipped because a gradient was NaN or inf."""
        if skipped:
            self.skipped_steps[stream] = self.skipped_steps.get(stream, 0) + skipped
            log(f"[{self.method.name}] task {task}, epoch {epoch} ({stream}): the fp16 gradient scaler skipped "
                f"{skipped} step(s) with NaN/inf gradients and lowered its scale", self.dist.is_main and self.log_tasks)

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
    def features(self, split: str, classes: Sequence[int] | None = None,
                 flip: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """Embeddings, scores and labels of un-augmented images of one split, in the current model.

        split: "train" | "test" | "memory" (the exemplars); classes: class positions to keep
        (None = all of the split); flip: mirror the images first.
        -> features (N, D) and scores (N, n_classes) on the device, labels (N,).
        """
        if split not in ("train", "test", "memory"):
            raise ValueError(f"split={split!r} is not valid; allowed values: train, test, memory")
        dataset = self.test_set if split == "test" else self.train_set
        if split == "memory":
            idx = self.store.all_indices()
            if classes is not None:
                idx = idx[torch.isin(dataset.labels[idx.to(dataset.labels.device)].cpu(), torch.as_tensor(classes))]
        else:
            idx = (class_indices(dataset.labels, list(classes)) if classes is not None
                   else torch.arange(len(dataset))).cpu()
        return extract(self.net, dataset, idx, self.spec, self.device, self.cfg.eval_batch_size, flip=flip,
                       num_workers=self.cfg.num_workers)

    def on_main(self, compute: Callable[[], T]) -> T:
        """`compute()` on rank 0 only, its result given to every rank (under torchrun), so that a
        choice made from features (exemplars, imprinted proxies) cannot differ between ranks."""
        return broadcast_object(compute() if self.dist.is_main else None, self.dist)

    def _select_exemplars(self, info: TaskInfo) -> None:
        """Choose each new class's exemplars (herding by default, on rank 0) and trim old classes to m."""
        cfg = self.cfg
        m = exemplars_per_class(info.n_seen, cfg.memory_per_class or None, cfg.memory_total or None)
        new = self.scenario.task_classes(info.task)

        def choose() -> dict[int, Tensor]:
            idx = class_indices(self.train_set.labels, new).cpu()
            select, gen = SELECTIONS[cfg.selection], self.generator(info.task, "select")
            feats, _, labels = self.features("train", new)
            own = self.train_set.labels[idx.to(self.train_set.labels.device)].cpu()
            return {c: idx[own == c][select(feats[labels == c], m, gen).cpu()] for c in new}

        chosen = self.on_main(choose)
        for c in new:
            self.store.add(c, chosen[c])
        self.store.set_budget(m)

    def _evaluate(self, info: TaskInfo, losses: dict[str, float], seconds: float) -> TaskResult:
        n_seen = info.n_seen
        feats, scores, labels = self.features("test", range(n_seen))
        ex_feats, _, ex_labels = self.features("memory")
        flipped = self.features("memory", flip=True)[0] if self.spec.flip else None
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
        self.result.acceleration = self.accel.as_dict()      # this leg's settings (a resume may change them)
        torch.set_rng_state(state["rng"])
        return int(state["task"]) + 1
