"""`python -m podnet_lib bench`: the figures behind the speed claims, measured in one run.

1. images/s of a plain cross-entropy step and of a full PODNet step (teacher forward + POD-spatial
   + POD-flat + LSC/NCA + backward) for ResNet-32 at batch 128 on 32x32, and their ratio
   (floor about 1.33: one extra forward of the teacher);
2. images/s of the data path alone (index batching + augmentation on the device) vs the step;
3. projected wall time of the CIFAR-100 50-step and 10-step presets (160 epochs a task, balanced
   finetuning and evaluation included) from measured throughputs on the CIFAR-shaped stand-in;
4. peak memory (GPU where present, resident set size on the CPU);
5. the digits main job's wall time.
"""
from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from podnet_lib.classifiers import nca_loss
from podnet_lib.data import AUGMENTATIONS, augment, synthetic_splits
from podnet_lib.data.loading import iterate_batches
from podnet_lib.network import build_network
from podnet_lib.pod import adaptive_factor, pod_terms
from podnet_lib.presets import get_preset
from podnet_lib.train import resolve_device


@dataclass
class Throughputs:
    plain_img_s: float       # cross-entropy step, no teacher
    podnet_img_s: float      # full PODNet step
    finetune_img_s: float    # classifier-only step (backbone forward without gradients)
    eval_img_s: float        # inference forward


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(step: Callable[[], None], batch: int, steps: int, warmup: int, device: torch.device) -> float:
    """Images per second of `step` after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - began)


def measure_steps(device: torch.device, batch: int = 128, steps: int = 10, warmup: int = 3,
                  n_old: int = 50, n_new: int = 1) -> Throughputs:
    """Throughput of each kind of step for ResNet-32 + LSC (K=10) on 3x32x32 inputs."""
    gpu = device.type == "cuda"
    fmt = torch.channels_last if gpu else torch.contiguous_format
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=gpu)
    net = build_network("resnet32", 3, "lsc", 10, "authors").to(device, memory_format=fmt)
    net.classifier.add_classes(n_old)
    teacher = net.frozen_copy()
    net.classifier.add_classes(n_new)
    net.classifier.freeze_old()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, n_old + n_new, (batch,), device=device)
    factor = adaptive_factor(n_old + n_new, n_new)

    def plain() -> None:
        with amp:
            out = net(x)
        loss = F.cross_entropy(out.scores.float() * net.classifier.scale, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def podnet() -> None:
        with amp:
            out = net(x)
            with torch.inference_mode():
                old = teacher(x)
        old_maps = [m.float().clone() for m in old.maps]
        spatial, flat = pod_terms(old_maps, [m.float() for m in out.maps], old.features.float().clone(),
                                  out.features.float(), form="authors")
        loss = nca_loss(out.scores.float(), y, net.classifier.scale, form="authors", hinge=False)
        loss = loss + factor * (3.0 * spatial + flat)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(net.parameters(), 5.0)
        opt.step()

    clf_opt = torch.optim.SGD(list(net.classifier.groups), lr=0.05, momentum=0.9)

    def finetune() -> None:
        with amp, torch.no_grad():
            feats = net.backbone(x).features
        loss = nca_loss(net.classifier(feats.float()), y, net.classifier.scale, form="authors", hinge=False)
        clf_opt.zero_grad(set_to_none=True)
        loss.backward()
        clf_opt.step()

    def evaluate() -> None:
        with amp, torch.inference_mode():
            net.eval()
            net(x)
            net.train()

    return Throughputs(*(_rate(f, batch, steps, warmup, device) for f in (plain, podnet, finetune, evaluate)))


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


def project_cifar(t: Throughputs, steps: int, epochs: int = 160, finetune_epochs: int = 20,
                  per_class_train: int = 500, per_class_test: int = 100, memory: int = 20) -> dict[str, float]:
    """Seconds of a CIFAR-100 run with 50 base classes and `steps` steps, from throughputs."""
    increment = 50 // steps
    base = (50 * per_class_train * epochs / t.plain_img_s
            + (50 * per_class_test + 2 * 50 * memory + 50 * per_class_train) / t.eval_img_s)
    total, first_step = base, 0.0
    for k in range(1, steps + 1):
        n_seen = 50 + k * increment
        train = increment * per_class_train + (n_seen - increment) * memory
        task = (train * epochs / t.podnet_img_s + n_seen * memory * finetune_epochs / t.finetune_img_s
                + (n_seen * per_class_test + 2 * n_seen * memory + increment * per_class_train) / t.eval_img_s)
        total += task
        first_step = first_step or task
    return {"base_task_s": base, "step_task_s": first_step, "total_s": total}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # kB on Linux


def time_main_job(out_dir: Path) -> float:
    """Wall time of the README's main job (preset `digits`) on the CPU."""
    from podnet_lib.experiment import run_experiment

    began = time.perf_counter()
    run_experiment(get_preset("digits").replace(device="cpu"), out_dir, bars=False)
    return time.perf_counter() - began


def run_benchmark(device_name: str = "auto", batch: int = 128, steps: int = 10, main_job: bool = True,
                  out_dir: Path = Path("runs/bench")) -> dict:
    device = resolve_device(device_name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    t = measure_steps(device, batch, steps)
    data_img_s = measure_data_path(device, batch)
    figures = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "batch": batch,
        "plain_img_s": t.plain_img_s,
        "podnet_img_s": t.podnet_img_s,
        "step_ratio": t.plain_img_s / t.podnet_img_s,
        "finetune_img_s": t.finetune_img_s,
        "eval_img_s": t.eval_img_s,
        "data_img_s": data_img_s,
        "data_ratio": data_img_s / t.podnet_img_s,
        "cifar100_50steps": project_cifar(t, 50),
        "cifar100_10steps": project_cifar(t, 10),
        "peak_memory_mb": peak_memory_mb(device),
    }
    if main_job:
        figures["digits_main_job_s"] = time_main_job(Path(out_dir) / f"digits-{time.strftime('%Y%m%d-%H%M%S')}")
    return figures


def format_table(f: dict) -> str:
    def hms(s: float) -> str:
        return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min"

    rows = [
        ("device", f["device"]),
        ("plain step (ResNet-32, batch %d, 32x32)" % f["batch"], f"{f['plain_img_s']:.0f} img/s"),
        ("PODNet step (teacher + POD + LSC/NCA)", f"{f['podnet_img_s']:.0f} img/s"),
        ("step ratio plain/PODNet (floor ~1.33, goal <= 1.5)", f"{f['step_ratio']:.2f}"),
        ("data path (batching + augmentation)", f"{f['data_img_s']:.0f} img/s"),
        ("data ratio data/PODNet step (goal >= 5)", f"{f['data_ratio']:.1f}"),
        ("classifier finetuning step", f"{f['finetune_img_s']:.0f} img/s"),
        ("evaluation forward", f"{f['eval_img_s']:.0f} img/s"),
    ]
    for key, name in (("cifar100_50steps", "CIFAR-100 50 steps"), ("cifar100_10steps", "CIFAR-100 10 steps")):
        p = f[key]
        rows.append((f"{name}: base task / one step / total", f"{hms(p['base_task_s'])} / {hms(p['step_task_s'])} / "
                                                            f"{hms(p['total_s'])} (projected)"))
    rows.append(("peak memory", f"{f['peak_memory_mb']:.0f} MB"))
    if "digits_main_job_s" in f:
        rows.append(("digits main job (4 methods, CPU)", f"{f['digits_main_job_s']:.1f} s"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(args) -> int:
    figures = run_benchmark(args.device, args.batch, args.steps, main_job=not args.skip_main_job)
    print(format_table(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"\nfigures written to {args.json}")
    return 0
