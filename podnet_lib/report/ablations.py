"""Ablations of the paper's Sec. 4.2: Tables 3a, 3b and 4, as configurations and a results table.

Each `*_configs(base)` function turns one base `Config` into named variants (one per row of a
paper table); `run_ablation` trains every variant through `engine.cache.cached_run` (results cached on
disk, so a rerun only loads them) and returns one row per (variant, method) with the average
incremental accuracy, NME and CNN. The paper's numbers are kept beside them as data: they were
measured on CIFAR-100 with 50 steps of one class (ResNet-32, 160 epochs), not on our data.

Each row holds: variant, method, avg_inc_acc_nme, avg_inc_acc_cnn (mean over seeds), std_nme,
std_cnn, final_acc_nme, final_acc_cnn, n_seeds, paper_nme, paper_cnn (None where the paper has
no such row). Runs are cached in one folder per distinct configuration (a hash of its fields).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from podnet_lib.config import Config
from podnet_lib.engine.cache import cached_run, run_dir_of
from podnet_lib.engine.metrics import format_accuracy, summary
from podnet_lib.engine.results import RunResult
from podnet_lib.paper import SETTING, TABLE3A, TABLE3B, TABLE4

# --- the variants ------------------------------------------------------------------------------
# Table 3b's pooling rows as the authors' ablation options set them
# (`options/podnet/ablations/perceptual_losses/podnet_cnn_podFlat_pod{Pixels,Channels,Gap,Width,Height}_cifar100.yaml`):
# λf = 5 for POD-flat, and this λc for the pooled term.
POOLING_LAMBDA_F = 5.0
POOLING_LAMBDA_C: dict[str, float] = {"pixel": 2.0, "channel": 2.0, "gap": 5.0, "width": 3.0, "height": 3.0}


def table3a_configs(base: Config) -> dict[str, Config]:
    """Table 3a: classifier (cosine eq. 8, LSC eq. 9, LSC with cross-entropy) x POD-flat x POD-spatial.

    A term is switched off by setting its weight (λf or λc of eq. 7) to 0; a term that is on
    keeps the base config's weight. As in the authors' ablation options
    (`options/podnet/ablations/classifier/podnet_cnn_cosine_cifar100.yaml`), the cosine rows train
    UCIR's cosine classifier with softmax cross-entropy on η times the cosines, not NCA; "lsc-ce"
    is the LSC with that cross-entropy; the "lsc" rows use NCA (eq. 10). Keys: TABLE3A's.
    """
    lam_c, lam_f = base.lambda_c or 3.0, base.lambda_f or 1.0
    out: dict[str, Config] = {}
    for name in TABLE3A:
        head, *terms = name.split(" + ")
        out[name] = base.replace(methods=("podnet",), classifier="cosine" if head == "cosine" else "lsc",
                                 classification_loss="nca" if head == "lsc" else "ce",
                                 lambda_f=lam_f if "flat" in terms else 0.0,
                                 lambda_c=lam_c if "spatial" in terms else 0.0)
    return out


def table3b_configs(base: Config) -> dict[str, Config]:
    """Table 3b: the pooling of the intermediate-map distillation (eqs. 1-5), POD-flat always on.

    "none" (POD-flat alone, λc = 0) and "spatial" (POD-spatial) are the main configuration, with the
    base's λf and λc: the paper's rows for them repeat Table 3a's "lsc + flat" and "lsc + flat +
    spatial". The other poolings use the authors' ablation weights: λf = 5 and λc from
    POOLING_LAMBDA_C (pixel 2, channel 2, gap 5, width 3, height 3). A fact about the authors'
    code as published: its PODNet model reads only the `pod_flat` and `pod_spatial` options, never
    the `pod_channels` key those option files set, so run as stored they would apply POD-flat alone;
    the weights here are the ones the files state. Keys: TABLE3B's.
    """
    lam_c, lam_f = base.lambda_c or 3.0, base.lambda_f or 1.0
    out: dict[str, Config] = {}
    for name in TABLE3B:
        if name == "none":
            out[name] = base.replace(methods=("podnet",), lambda_c=0.0, lambda_f=lam_f)
        elif name == "spatial":
            out[name] = base.replace(methods=("podnet",), pod_pooling=name, lambda_c=lam_c, lambda_f=lam_f)
        else:
            out[name] = base.replace(methods=("podnet",), pod_pooling=name, lambda_c=POOLING_LAMBDA_C[name],
                                     lambda_f=POOLING_LAMBDA_F)
    return out


def memory_configs(base: Config, sizes: Sequence[int] = (5, 10, 20),
                   methods: Sequence[str] = ("podnet", "icarl")) -> dict[str, Config]:
    """Table 4: the memory per class M_per, each size run for every method in `methods`."""
    return {f"M_per={m}": base.replace(methods=tuple(methods), memory_per_class=m, memory_total=0)
            for m in sizes}


def proxies_configs(base: Config, ks: Sequence[int] = (1, 4, 10)) -> dict[str, Config]:
    """The number K of proxies per class of the LSC (eq. 9); K = 1 is a cosine classifier."""
    return {f"K={k}": base.replace(methods=("podnet",), proxies_per_class=k) for k in ks}


def adaptive_configs(base: Config) -> dict[str, Config]:
    """The authors' adaptive factor sqrt(N/T) on the POD terms, on and off."""
    return {"sqrt(N/T) on": base.replace(methods=("podnet",), adaptive_factor=True),
            "sqrt(N/T) off": base.replace(methods=("podnet",), adaptive_factor=False)}


# --- running them ------------------------------------------------------------------------------
def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    if any(v is None for v in values):
        return None, None
    return float(np.mean(values)), float(np.std(values))


def run_ablation(configs: Mapping[str, Config], out_dir: Path, paper: Mapping | None = None,
                 seeds: Sequence[int] | None = None, bars: bool = False) -> list[dict]:
    """Run every variant (cached under out_dir) and return one row per (variant, method).

    seeds: run each variant once per seed and report the mean and standard deviation over
    seeds (None: the config's own seed only). paper: TABLE3A / TABLE3B
    (variant -> (NME, CNN)) or TABLE4 puts the paper's numbers beside ours.
    Row keys: variant, method, avg_inc_acc_nme, avg_inc_acc_cnn, std_nme, std_cnn,
    final_acc_nme, final_acc_cnn, n_seeds, paper_nme, paper_cnn.
    """
    rows: list[dict] = []
    for name, cfg in configs.items():
        runs = [cfg] if seeds is None else [cfg.replace(seed=s) for s in seeds]
        results = [cached_run(c, run_dir_of(out_dir, c), bars) for c in runs]
        for method in cfg.methods:
            sums = [summary(r[method]) for r in results]
            row: dict = {"variant": name, "method": method}
            for metric in ("nme", "cnn"):
                mean, std = _mean_std([s[f"avg_inc_acc_{metric}"] for s in sums])
                row[f"avg_inc_acc_{metric}"], row[f"std_{metric}"] = mean, std
            for metric in ("nme", "cnn"):
                row[f"final_acc_{metric}"] = _mean_std([s[f"final_acc_{metric}"] for s in sums])[0]
            row["n_seeds"] = len(runs)
            row["paper_nme"], row["paper_cnn"] = paper_numbers(paper, name, method, cfg)
            rows.append(row)
    return rows


def paper_numbers(paper: Mapping | None, name: str, method: str,
                  cfg: Config) -> tuple[float | None, float | None]:
    """The paper's (NME, CNN) for one row, or (None, None) when the paper has no such row."""
    if not paper:
        return None, None
    if name in paper and isinstance(paper[name], tuple):               # Tables 3a, 3b
        return paper[name]
    m = cfg.memory_per_class                                            # Table 4
    if f"{method} (nme)" in paper:
        return paper[f"{method} (nme)"].get(m), paper[f"{method} (cnn)"].get(m)
    if method in paper and isinstance(paper[method], dict):
        value = paper[method].get(m)                                   # iCaRL: one number, NME
        return value, None
    return None, None


# --- showing them ------------------------------------------------------------------------------
def _ours(row: dict, metric: str) -> str:
    mean, std = row[f"avg_inc_acc_{metric}"], row.get(f"std_{metric}")
    if row.get("n_seeds", 1) > 1 and std is not None:
        return f"{format_accuracy(mean)} ± {std:.2f}"
    return format_accuracy(mean)


def ablation_table(rows: Sequence[dict], ours_label: str = "ours") -> str:
    """Fixed-width text table: variant, method, our NME / CNN (± std over seeds), the paper's NME / CNN."""
    headers = ["variant", "method", f"{ours_label} NME", f"{ours_label} CNN", "paper NME", "paper CNN"]
    body = [[r["variant"], r["method"], _ours(r, "nme"), _ours(r, "cnn"),
             format_accuracy(r["paper_nme"]), format_accuracy(r["paper_cnn"])] for r in rows]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    seeds = sorted({r.get("n_seeds", 1) for r in rows})
    note = (f"ours: average incremental accuracy (%), mean ± std over {seeds[-1]} seeds"
            if seeds and seeds[-1] > 1 else "ours: average incremental accuracy (%), one seed")
    rule = "-" * len(line(headers))
    return "\n".join([line(headers), rule] + [line(b) for b in body]
                     + [rule, note, f"paper: {SETTING} (another dataset: compare orderings, not values)"])


def plot_ablation(rows: Sequence[dict], title: str, ours_label: str = "ours") -> Figure:
    """Horizontal bars per variant, NME (left) and CNN (right) average incremental accuracy:
    ours and the paper's.

    Our bars carry their value, and the std over seeds as error bars when there are several
    seeds. The paper's bars (hatched, only where the paper has the row) come from another
    dataset and protocol: compare the ordering of the variants, not the lengths.
    """
    one_method = len({r["method"] for r in rows}) == 1
    labels = [r["variant"] if one_method else f"{r['variant']} ({r['method']})" for r in rows]
    has_paper = any(r.get("paper_nme") is not None or r.get("paper_cnn") is not None for r in rows)
    y = np.arange(len(rows))[::-1]                       # first row on top
    height = 0.38 if has_paper else 0.6
    shift = 0.2 if has_paper else 0.0
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * len(rows) * (1.6 if has_paper else 1) + 1.8),
                             layout="constrained", sharey=True)

    def values(key: str) -> list[float]:
        return [np.nan if r.get(key) is None else r[key] for r in rows]

    for ax, metric in zip(axes, ("nme", "cnn")):
        errors = values(f"std_{metric}") if any(r.get("n_seeds", 1) > 1 for r in rows) else None
        bars = ax.barh(y + shift, values(f"avg_inc_acc_{metric}"), height=height, xerr=errors, capsize=3,
                       label=ours_label, color="tab:blue")
        ax.bar_label(bars, fmt="%.1f", fontsize="small", padding=4)
        if has_paper:
            paper = ax.barh(y - shift, values(f"paper_{metric}"), height=height, label=SETTING,
                            color="white", edgecolor="tab:gray", hatch="//")
            ax.bar_label(paper, fmt="%.1f", fontsize="small", padding=4, color="dimgray")
        ax.set_yticks(y)
        ax.set_yticklabels(labels)
        ax.set_title(f"{metric.upper()} inference")
        ax.set_xlim(0, 108)
        ax.set_xlabel("average incremental accuracy (%)")
        ax.grid(True, axis="x", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize="small")
    fig.suptitle(title)
    return fig


def plot_memory_ablation(rows: Sequence[dict], title: str = "Memory per class (Table 4)",
                         ours_label: str = "ours") -> Figure:
    """Average incremental accuracy vs M_per: ours (left, from `run_ablation` on memory_configs)
    and the paper's Table 4 (right, CIFAR-100 50 steps). NME solid, CNN dashed."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    colours = {"podnet": "C0", "icarl": "C1", "bic": "C2", "ucir": "C3"}    # the same in both panels
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for i, method in enumerate(methods):
        colour = colours.get(method, f"C{4 + i}")
        mine = sorted((int(r["variant"].split("=")[1]), r) for r in rows if r["method"] == method)
        m = [k for k, _ in mine]
        for metric, style in (("nme", "-"), ("cnn", "--")):
            v = [np.nan if r[f"avg_inc_acc_{metric}"] is None else r[f"avg_inc_acc_{metric}"] for _, r in mine]
            err = [0.0 if r.get(f"std_{metric}") is None else r[f"std_{metric}"] for _, r in mine]
            left.errorbar(m, v, yerr=err, color=colour, linestyle=style, marker="o", capsize=3,
                          label=f"{method} ({metric.upper()})")
    for name, values in TABLE4.items():
        m = sorted(values)
        style = "--" if name.endswith("(cnn)") else "-"
        right.plot(m, [values[k] for k in m], color=colours[name.split(" ")[0]], linestyle=style, marker="o",
                   label=name)
    for ax, sub in ((left, f"{ours_label}"), (right, SETTING)):
        ax.set_xscale("log")
        ax.set_xlabel("memory per class, M_per (log scale)")
        ax.set_ylabel("average incremental accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(sub)
        ax.legend(fontsize="small", loc="lower right")
    for ax, ticks in ((left, sorted({int(r["variant"].split("=")[1]) for r in rows})), (right, [5, 10, 20, 50, 100, 200])):
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.minorticks_off()
    fig.suptitle(title)
    return fig


__all__ = ["POOLING_LAMBDA_C", "POOLING_LAMBDA_F", "table3a_configs",
           "table3b_configs", "memory_configs", "proxies_configs", "adaptive_configs",
           "run_ablation", "paper_numbers", "ablation_table", "plot_ablation",
           "plot_memory_ablation"]
