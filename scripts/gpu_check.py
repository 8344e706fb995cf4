"""The GPU check: every speed figure the README quotes, measured on one machine in one go.

    python scripts/gpu_check.py [--out runs/gpu_check] [--device auto] [--short] [--chapters '0*']
    scripts/gpu_check.sh                     # the same under a time limit (8 minutes on one GPU)

It runs, in order, each timed:
1. `bench` eager and with the backbone compiled (steps, data path, projections from the stand-in);
2. the digits main job (`--preset digits`, four methods) on the device;
3. every chapter of the book in fast mode (`scripts/build_book.py`);
4. on CUDA only: a 10-step run of the full-size CIFAR-shaped stand-in
   (`synthetic-cifar100-10steps-full`) at `--standin-epochs` epochs a task, whose per-image phase
   costs project the paper's 160-epoch 50-step and 10-step runs (`podnet_lib.projection`).
It writes gpu_check.json (every figure) and gpu_check.md (one table) into --out. On a CPU it
skips what needs CUDA and says so; `--short` shrinks every part to seconds (what the tests run).
A part that fails is recorded with its error and the others still run; the exit status is 1 then.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from podnet_lib.bench import format_table, run_benchmark
from podnet_lib.engine.experiment import run_experiment
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.train import resolve_device
from podnet_lib.projection import costs_from_run, project_run

SCRIPTS = Path(__file__).resolve().parent
GOALS_S = {"cifar100_50steps": {"H100-class": 15 * 60, "T4": 2 * 3600}}   # the wall-time goals of a 160-epoch run


def hms(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def timed(name: str, call: Callable[[], dict], report: dict) -> None:
    """Run one part, storing its figures (or its error) and wall time under report["checks"][name]."""
    print(f"[gpu_check] {name} ...", flush=True)
    began = time.perf_counter()
    try:
        entry = {"status": "ok", **call()}
    except Exception as err:                      # record and go on: one broken part must not hide the others
        entry = {"status": "failed", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    entry["seconds"] = time.perf_counter() - began
    report["checks"][name] = entry
    print(f"[gpu_check] {name}: {entry['status']} in {entry['seconds']:.1f}s", flush=True)


def skipped(reason: str) -> Callable[[], dict]:
    return lambda: {"status": "skipped", "reason": reason}


def bench(device: str, short: bool, compile: bool, out: Path) -> Callable[[], dict]:
    def call() -> dict:
        sizes = dict(batch=8, steps=1, rounds=2, standin_per_class=4) if short else {}
        figures = run_benchmark(device, main_job=False, compile=compile, out_dir=out, **sizes)
        return {"figures": figures, "table": format_table(figures)}
    return call


def main_job(device: str, short: bool, out: Path) -> Callable[[], dict]:
    def call() -> dict:
        cfg = get_preset("digits-fast" if short else "digits").replace(device=device)
        if short:
            cfg = cfg.replace(methods=("podnet",), epochs=1, finetune_epochs=1)
        began = time.perf_counter()
        results = run_experiment(cfg, out / "digits", bars=False, quiet=True)
        return {"wall_s": time.perf_counter() - began, "methods": list(results),
                "acceleration": next(iter(results.values())).acceleration}
    return call


def chapters(patterns: list[str] | None, out: Path) -> Callable[[], dict]:
    def call() -> dict:
        sys.path.insert(0, str(SCRIPTS))
        from build_book import build                   # scripts/build_book.py

        pages = build(out / "book", patterns, jobs=2)
        failed = [p.source.stem for p in pages if p.errors]
        if failed:
            raise RuntimeError(f"cells raised in {', '.join(failed)}")
        return {"chapter_s": {p.source.stem: p.seconds for p in pages}}
    return call


def standin_run(device: str, epochs: int, out: Path) -> Callable[[], dict]:
    """A 10-step run of the full-size stand-in at `epochs` epochs, projected to the paper's runs."""
    def call() -> dict:
        cfg = get_preset("synthetic-cifar100-10steps-full").replace(
            device=device, epochs=epochs, finetune_epochs=max(1, epochs // 2))
        began = time.perf_counter()
        result = run_experiment(cfg, out / "standin", bars=False, quiet=True)["podnet"]
        costs = costs_from_run(result.tasks, cfg)
        projections = {name: project_run(costs, get_preset(preset)) for name, preset in
                       (("cifar100_50steps", "cifar100-50steps-nme"), ("cifar100_10steps", "cifar100-10steps-nme"))}
        return {"wall_s": time.perf_counter() - began, "epochs": epochs, "acceleration": result.acceleration,
                "phase_seconds": [t.phase_seconds for t in result.tasks], "projections": projections,
                "skipped_steps": [t.skipped_steps for t in result.tasks]}
    return call


def markdown(report: dict) -> str:
    """One table: each part, its status and time, and its main figures."""
    rows = [("device", report["device"], ""), ("torch", report["torch"], "")]
    for name, entry in report["checks"].items():
        status = entry.get("reason") or entry.get("error") or entry["status"]
        if entry["status"] == "ok" and name.startswith("bench"):
            f = entry["figures"]
            lo, hi = f["ranges"]["step_ratio"]
            share = f.get("others_cpu_share")
            status = (f"plain {f['plain_img_s']:.0f}, PODNet {f['podnet_img_s']:.0f} img/s, ratio {f['step_ratio']:.2f} "
                      f"({lo:.2f}-{hi:.2f}), {f['precision']}; projected 50 / 10 steps "
                      f"{hms(f['cifar100_50steps']['total_s'])} / {hms(f['cifar100_10steps']['total_s'])}"
                      + ("" if share is None else f"; others used {100 * share:.0f}% CPU"))
            if "compiled" in f:
                c = f["compiled"]
                status += (f"; compiled: PODNet {c['podnet_img_s']:.0f} img/s (x{c['speedup']:.2f}), first step "
                           f"{c['first_podnet_s']:.0f} s, projected {hms(c['cifar100_50steps']['total_s'])} / "
                           f"{hms(c['cifar100_10steps']['total_s'])}")
        elif entry["status"] == "ok" and name == "digits main job":
            status = f"{entry['wall_s']:.1f} s ({', '.join(entry['methods'])}; {entry['acceleration'].get('precision')})"
        elif entry["status"] == "ok" and name == "chapters":
            status = ", ".join(f"{k[:2]} {v:.0f} s" for k, v in entry["chapter_s"].items())
        elif entry["status"] == "ok" and name == "stand-in 10 steps":
            p = entry["projections"]
            status = (f"{entry['wall_s']:.0f} s at {entry['epochs']} epochs a task; projected at 160 epochs: "
                      f"50 steps {hms(p['cifar100_50steps']['total_s'])}, 10 steps {hms(p['cifar100_10steps']['total_s'])}")
        rows.append((name, status, f"{entry['seconds']:.0f} s"))
    lines = ["| part | figures | wall time |", "| --- | --- | ---: |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def run(out: Path, device_name: str = "auto", short: bool = False, patterns: list[str] | None = None,
        standin_epochs: int = 3) -> dict:
    device = resolve_device(device_name)
    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    report = {"device": name, "torch": torch.__version__, "short": short, "checks": {}}
    cuda = device.type == "cuda"
    timed("bench (eager)", bench(device.type, short, compile=False, out=out), report)
    timed("bench (compiled)", bench(device.type, short, compile=True, out=out) if not short
          else skipped("skipped in the short form (code generation takes a minute)"), report)
    timed("digits main job", main_job(device.type, short, out), report)
    timed("chapters", chapters(patterns, out) if patterns != ["none"] else skipped("no chapter asked"), report)
    timed("stand-in 10 steps", standin_run(device.type, standin_epochs, out) if cuda
          else skipped("needs CUDA (hours on a CPU)"), report)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "gpu_check.md").write_text(markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure every speed figure on this machine's GPU (or CPU).")
    parser.add_argument("--out", type=Path, default=Path("runs") / f"gpu_check-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--short", action="store_true", help="every part at toy sizes (seconds; the tests)")
    parser.add_argument("--chapters", action="append", metavar="PATTERN",
                        help="only these chapters (glob, repeatable; 'none' for no chapter); default: all")
    parser.add_argument("--standin-epochs", type=int, default=3, help="epochs a task of the stand-in run")
    args = parser.parse_args(argv)
    report = run(args.out, args.device, args.short, args.chapters, args.standin_epochs)
    print((args.out / "gpu_check.md").read_text())
    print(f"figures in {args.out / 'gpu_check.json'}")
    return 1 if any(e["status"] == "failed" for e in report["checks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
