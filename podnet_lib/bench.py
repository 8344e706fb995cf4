"""`python -m podnet_lib bench`: the figures behind the speed claims, measured in one run.

1. images/s of a plain cross-entropy step and of a full PODNet step (teacher forward + POD-spatial
   + POD-flat + LSC/NCA + backward, the library's own `PODNet.loss_terms`) for ResNet-32 at batch
   128 on 32x32, and their ratio (floor about 1.33: one extra forward of the teacher), each the
   median of interleaved rounds with its (min, max), beside the share of CPU other processes
   used meanwhile (a shared machine's figures are only as quiet as the machine);
2. images/s of the data path alone (index batching + augmentation on the device) vs the step;
3. per-task wall time of a base task and a step really run on the CIFAR-shaped stand-in, and
   from it the projected wall time of the CIFAR-100 50-step and 10-step presets (160 epochs a
   task, balanced finetuning and evaluation included; `podnet_lib.projection`);
4. peak memory (GPU where present, resident set size on the CPU);
5. the digits main job's wall time;
6. with --compile, the steps and the projection again with the backbone compiled, and the
   seconds the first compiled step takes (code generation), to judge when `Config.compile` pays.
"""
from __future__ import annotations

import dataclasses
import json
import os
import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from podnet_lib.config import Config
from podnet_lib.data import AUGMENTATIONS, augment, synthetic_splits
from podnet_lib.data.loading import iterate_batches
from podnet_lib.engine.acceleration import Acceleration
from podnet_lib.engine.methods import TaskInfo, build_method
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.train import _as_float, resolve_device
from podnet_lib.model.network import build_network
from podnet_lib.projection import cifar_projections, measure_phases


@dataclass
class Throughputs:
    """Images per second of each kind of step: the median over interleaved rounds."""

    plain_img_s: float       # cross-entropy step, no teacher
    podnet_img_s: float      # full PODNET step (the library's recipe, `PODNet.loss_terms`)
    finetune_img_s: float    # classifier-only step (backbone forward without gradients)
    eval_img_s: float        # inference forward
    first_podnet_s: float = 0.0  # the first PODNet step (compilation, cudnn autotuning, allocations)
    step_ratio: float = 0.0      # median over rounds of plain / PODNet
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)   # (min, max) over rounds, per figure
    rounds: int = 1
    others_cpu_share: float | None = None   # share of all CPUs that other processes used meanwhile


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call: Callable[[], None], device: torch.device) -> float:
    began = time.perf_counter()
    call()
    _sync(device)
    return time.perf_counter() - began


def _busy_cpu_seconds() -> float | None:
    """CPU seconds every process of the machine has used since boot (Linux /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)                   # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OthersLoad:
    """Measures the share of the machine's CPUs that other processes used during a block:
    (busy CPU seconds of the machine - this process's CPU seconds) / (wall seconds x CPUs)."""

    def __enter__(self) -> OthersLoad:
        self.share: float | None = None
        self._busy, self._own, self._wall = _busy_cpu_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy = _busy_cpu_seconds()
        if busy is None or self._busy is None:
            return
        others = (busy - self._busy) - (time.process_time() - self._own)
        capacity = (time.perf_counter() - self._wall) * (os.cpu_count() or 1)
        self.share = min(1.0, max(0.0, others / capacity))


def median_range(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max) of some measurements."""
    return statistics.median(values), min(values), max(values)


def measure_steps(device: torch.device, accel: Acceleration | None = None, batch: int = 128, steps: int = 10,
                  warmup: int = 3, n_old: int = 50, n_new: int = 1, rounds: int = 5) -> Throughputs:
    """Throughput of each kind of step for ResNet-32 + LSC (K=10) on 3x32x32 inputs.

    The PODNet step is the library's: `PODNet.loss_terms` of the default Config (NCA on the LSC
    scores, POD-spatial and POD-flat against a frozen teacher, the sqrt(N/T) factor, eq. 7),
    the gradient clamp, and fp16's scaler when the precision is fp16. The four steps are timed
    in `rounds` interleaved rounds of `steps` steps each, so a burst of load from elsewhere hits
    all of them alike; figures are medians, with (min, max) in `ranges`.
    accel: the speed settings (default: what a run on `device` uses).
    """
    cfg = Config()
    accel = accel or Acceleration.for_device(cfg, device)
    amp, scaling = accel.autocast(), accel.loss_scaling()
    method = build_method("podnet", cfg)
    info = TaskInfo(task=1, n_seen=n_old + n_new, n_new=n_new)
    net = accel.network(build_network(cfg.backbone, 3, method.classifier_kind(), cfg.proxies_per_class,
                                      **method.classifier_options()).to(device))
    net.classifier.add_classes(n_old)
    teacher = accel.network(net.frozen_copy())
    net.classifier.add_classes(n_new)
    net.classifier.freeze_old()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    x = accel.batch(torch.randn(batch, 3, 32, 32, device=device))
    y = torch.randint(0, n_old + n_new, (batch,), device=device)

    def plain() -> None:
        with amp:
            out = net(x)
        loss = F.cross_entropy(out.scores.float() * net.classifier.scale, y)
        opt.zero_grad(set_to_none=True)
        scaling.backward(loss)
        scaling.step(opt)

    def podnet() -> None:
        with amp:
            out = _as_float(net(x))
            with torch.inference_mode():
                old = teacher(x)
            old = _as_float(old, copy=True)
        loss = sum(method.loss_terms(net, out, old, y, info).values())
        opt.zero_grad(set_to_none=True)
        scaling.backward(loss)
        scaling.unscale(opt)
        torch.nn.utils.clip_grad_value_(params, cfg.grad_clip)
        scaling.step(opt)

    clf_opt = torch.optim.SGD(list(net.classifier.groups), lr=0.05, momentum=0.9)

    def finetune() -> None:
        with amp, torch.no_grad():
            feats = net.backbone(x).features
        loss = method.classification_loss(net, net.classifier(feats.float()), y)
        clf_opt.zero_grad(set_to_none=True)
        loss.backward()
        clf_opt.step()

    def evaluate() -> None:
        with amp, torch.inference_mode():
            net.eval()
            net(x)
            net.train()

    kinds = {"plain": plain, "podnet": podnet, "finetune": finetune, "evaluate": evaluate}
    first_podnet_s = _timed(podnet, device)
    for step in kinds.values():
        for _ in range(warmup):
            step()
    _sync(device)
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    with OthersLoad() as load:
        for _ in range(rounds):
            for name, step in kinds.items():
                rates[name].append(batch * steps / _timed(lambda: [step() for _ in range(steps)], device))
    rates["step_ratio"] = [p / q for p, q in zip(rates["plain"], rates["podnet"])]
    stats = {k: median_range(v) for k, v in rates.items()}
    return Throughputs(*(stats[k][0] for k in kinds), first_podnet_s=first_podnet_s,
                       step_ratio=stats["step_ratio"][0], ranges={k: v[1:] for k, v in stats.items()},
                       rounds=rounds, others_cpu_share=load.share)


def measure_data_path(device: torch.device, batch: int = 128, batches: int = 50) -> float:
    """Augmented batches per second (as images/s) from the in-memory CIFAR-shaped stand-in."""
    splits = synthetic_splits(n_classes=100, train_per_class=50, test_per_class=1)
    train = splits.train.to(device)
    spec, gen = AUGMENTATIONS["cifar"], torch.Generator().manual_seed(0)
    indices = torch.arange(len(train)).repeat(batch * batches // len(train) + 1)[: batch * batches]

    def epoch() -> None:
        for xb, _ in iterate_batches(train, indices, batch, shuffle=True, generator=gen, device=device):
            augment(xb, spec, gen)

    epoch()                                                              # warm-up
    _sync(device)
    began = time.perf_counter()
    epoch()
    _sync(device)
    return indices.numel() / (time.perf_counter() - began)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # kB on Linux


def time_main_job(out_dir: Path) -> float:
    """Wall time of the README's main job (preset `digits`) on the CPU."""
    from podnet_lib.engine.experiment import run_experiment

    began = time.perf_counter()
    run_experiment(get_preset("digits").replace(device="cpu"), out_dir, bars=False)
    return time.perf_counter() - began


def compiled_figures(compiled: Throughputs, eager: Throughputs, projections: dict) -> dict:
    """The --compile rows: compiled step speeds, first-step cost against eager, projections."""
    return {"plain_img_s": compiled.plain_img_s, "podnet_img_s": compiled.podnet_img_s,
            "step_ratio": compiled.step_ratio, "ranges": compiled.ranges, "first_podnet_s": compiled.first_podnet_s,
            "eager_first_podnet_s": eager.first_podnet_s, "speedup": compiled.podnet_img_s / eager.podnet_img_s,
            **projections}


def run_benchmark(device_name: str = "auto", batch: int = 128, steps: int = 10, main_job: bool = True,
                  out_dir: Path = Path("runs/bench"), compile: bool = False, standin_per_class: int = 40,
                  rounds: int = 5) -> dict:
    """Every figure of the module docstring, as one dict (what --json writes).

    standin_per_class: training images a class of the stand-in on which the tasks are timed.
    """
    device = resolve_device(device_name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    accel = Acceleration.for_device(Config(), device)
    t = measure_steps(device, accel, batch, steps, rounds=rounds)
    data_img_s = measure_data_path(device, batch)
    figures = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "precision": accel.describe(compile=False),
        "batch": batch,
        "rounds": t.rounds,
        "others_cpu_share": t.others_cpu_share,
        "plain_img_s": t.plain_img_s,
        "podnet_img_s": t.podnet_img_s,
        "step_ratio": t.step_ratio,
        "ranges": t.ranges,
        "finetune_img_s": t.finetune_img_s,
        "eval_img_s": t.eval_img_s,
        "data_img_s": data_img_s,
        "data_ratio": data_img_s / t.podnet_img_s,
        **cifar_projections(measure_phases(device, accel, train_per_class=standin_per_class)),
        "peak_memory_mb": peak_memory_mb(device),
    }
    if compile:
        compiled = dataclasses.replace(accel, compile=True)
        figures["compiled"] = compiled_figures(
            measure_steps(device, compiled, batch, steps, rounds=rounds), t,
            cifar_projections(measure_phases(device, compiled, train_per_class=standin_per_class)))
    if main_job:
        figures["digits_main_job_s"] = time_main_job(Path(out_dir) / f"digits-{time.strftime('%Y%m%d-%H%M%S')}")
    return figures


def format_table(f: dict) -> str:
    def hms(s: float) -> str:
        return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"

    def spread(figures: dict, key: str, fmt: str = ".0f") -> str:
        low, high = figures.get("ranges", {}).get(key.removesuffix("_img_s"), (None, None))
        text = f"{figures[key]:{fmt}}"
        return text if low is None else f"{text} ({low:{fmt}}-{high:{fmt}})"

    share = f.get("others_cpu_share")
    rows = [
        ("device", f["device"]),
        ("precision", f.get("precision", "float32")),
        ("rounds (median, (min-max))", f"{f.get('rounds', 1)}; other processes used "
                                       f"{'n/a' if share is None else f'{100 * share:.0f}%'} of the CPUs meanwhile"),
        ("plain step (ResNet-32, batch %d, 32x32)" % f["batch"], f"{spread(f, 'plain_img_s')} img/s"),
        ("PODNet step (teacher + POD + LSC/NCA)", f"{spread(f, 'podnet_img_s')} img/s"),
        ("step ratio plain/PODNet (floor ~1.33, goal <= 1.5)", spread(f, "step_ratio", ".2f")),
        ("data path (batching + augmentation)", f"{f['data_img_s']:.0f} img/s"),
        ("data ratio data/PODNet step (goal >= 5)", f"{f['data_ratio']:.1f}"),
        ("classifier finetuning step", f"{f['finetune_img_s']:.0f} img/s"),
        ("evaluation forward", f"{f['eval_img_s']:.0f} img/s"),
    ]
    for key, name in (("cifar100_50steps", "CIFAR-100 50 steps"), ("cifar100_10steps", "CIFAR-100 10 steps")):
        p = f[key]
        rows.append((f"{name}: base task / one step / total", f"{hms(p['base_task_s'])} / {hms(p['step_task_s'])} / "
                                                            f"{hms(p['total_s'])} (projected)"))
    c = f["phase_costs_s_per_image"]
    rows.append(("stand-in tasks, ms/image: train base / step", f"{1e3 * c['base_train']:.2f} / {1e3 * c['step_train']:.2f} "
                                                                f"per epoch; finetune {1e3 * c['finetune']:.2f}, "
                                                                f"evaluate {1e3 * c['evaluate']:.2f}"))
    rows.append(("peak memory", f"{f['peak_memory_mb']:.0f} MB"))
    if "compiled" in f:
        c = f["compiled"]
        rows += [
            ("compiled backbone: plain / PODNet step", f"{spread(c, 'plain_img_s')} / {spread(c, 'podnet_img_s')} img/s "
                                                       f"(ratio {spread(c, 'step_ratio', '.2f')}, x{c['speedup']:.2f} eager)"),
            ("first PODNet step: compiled / eager", f"{c['first_podnet_s']:.1f} s / {c['eager_first_podnet_s']:.2f} s"),
            ("compiled: CIFAR-100 50 / 10 steps total", f"{hms(c['cifar100_50steps']['total_s'])} / "
                                                        f"{hms(c['cifar100_10steps']['total_s'])} (projected)"),
        ]
    if "digits_main_job_s" in f:
        rows.append(("digits main job (4 methods, CPU)", f"{f['digits_main_job_s']:.1f} s"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(args) -> int:
    figures = run_benchmark(args.device, args.batch, args.steps, main_job=not args.skip_main_job,
                            compile=args.compile, rounds=args.rounds)
    print(format_table(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"\nfigures written to {args.json}")
    return 0
