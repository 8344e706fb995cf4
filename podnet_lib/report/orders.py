"""One number per protocol: runs that differ only in class order or seed, as mean ± std.

The paper reports CIFAR-100 as the mean and standard deviation over three class orders
(Table 1). Given several runs of one protocol and method whose configurations differ only in
`class_order`, `seed` or in how they were run (device, workers, precision), `order_rows` averages
their average incremental accuracies and puts the paper's mean ± std beside them.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from podnet_lib.config import Config
from podnet_lib.engine.metrics import format_accuracy, summary
from podnet_lib.engine.results import RunResult
from podnet_lib.paper import TABLE1

VARYING = ("class_order", "seed")                 # what the runs of one group may differ in
# fields that say how a run was executed, not what it learned
EXECUTION = ("methods", "device", "num_workers", "eval_batch_size", "precision", "amp", "channels_last",
             "compile", "data_root", "download")


class RunSource(Protocol):
    """What the report knows of one method's results (podnet_lib.report.compare.Source)."""

    run: RunResult
    config: Config


def protocol_key(cfg: Config, method: str) -> str:
    """The configuration without the fields runs of one protocol may differ in, as a sortable text."""
    fields = {k: v for k, v in cfg.to_dict().items() if k not in VARYING + EXECUTION}
    return f"{method}|{sorted(fields.items())!r}"


def paper_mean_over_orders(cfg: Config, method: str, metric: str) -> tuple[float, float] | None:
    """The paper's (mean, std) over three class orders (Table 1: CIFAR-100, 50 base classes), or None.

    metric: "nme" | "cnn". PODNet's and UCIR's NME and CNN rows are separate rows of Table 1
    (PODNet's come from its NME and CNN variants); iCaRL and BiC have one row, with NME inference.
    """
    if cfg.dataset != "cifar100" or cfg.base_classes != 50 or 50 % cfg.increment:
        return None
    steps = 50 // cfg.increment
    row = f"{method} ({metric})" if f"{method} ({metric})" in TABLE1 else (method if metric == "nme" else "")
    return TABLE1[row].get(steps) if row in TABLE1 else None


def _mean_std(values: list[float]) -> str:
    """'mean ± std' (population std, ddof = 0, as the ablation tables) or '-' with no values."""
    if not values:
        return "-"
    return f"{format_accuracy(float(np.mean(values)))} ± {float(np.std(values)):.2f}"


def _protocol(cfg: Config) -> str:
    return f"{cfg.dataset}, {cfg.base_classes} base + steps of {cfg.increment}"


def order_rows(sources: Sequence[RunSource]) -> tuple[list[str], list[list[str]]]:
    """A row per group of two or more finished runs of one protocol and method that differ only in
    class order or seed: our mean ± std of the average incremental accuracy and the paper's.

    -> (header, rows); rows is empty when no such group exists.
    """
    groups: dict[str, list[RunSource]] = {}
    for s in sources:
        if s.run.tasks:
            groups.setdefault(protocol_key(s.config, s.run.method), []).append(s)
    header = ["method", "protocol", "runs (order, seed)", "avg inc NME", "avg inc CNN",
              "paper NME (3 orders)", "paper CNN (3 orders)"]
    rows = []
    for key in sorted(groups):
        members = groups[key]
        if len({(s.config.class_order, s.config.seed) for s in members}) < 2:
            continue
        cfg, method = members[0].config, members[0].run.method
        sums = [summary(s.run) for s in members]
        ours = [_mean_std([x[f"avg_inc_acc_{m}"] for x in sums if x[f"avg_inc_acc_{m}"] is not None])
                for m in ("nme", "cnn")]
        paper = [paper_mean_over_orders(cfg, method, m) for m in ("nme", "cnn")]
        runs = ", ".join(f"({s.config.class_order}, {s.config.seed})" for s in members)
        rows.append([method, _protocol(cfg), runs, *ours,
                     *(f"{format_accuracy(p[0])} ± {p[1]:.2f}" if p else "-" for p in paper)])
    return header, rows




def seeds_table(summaries: dict[int, Sequence[dict]], steps: int = 50) -> tuple[list[str], list[list[str]]]:
    """Per method, mean ± std over seeds of the average incremental accuracy, PODNet's smallest CNN
    margin over the method, and the paper's CIFAR-100 numbers for `steps` steps (Table 1) beside them.

    summaries: seed -> the rows of `summary.json` (engine.metrics.summary), one per method.
    -> (header, rows). The paper's columns are CIFAR-100 (ResNet-32, 50 base classes), not our data.
    """
    methods = list(dict.fromkeys(row["method"] for rows in summaries.values() for row in rows))
    by = {(seed, row["method"]): row for seed, rows in summaries.items() for row in rows}
    header = ["method", "avg inc NME", "avg inc CNN", "PODNet CNN minus it (smallest over seeds)",
              f"paper NME (CIFAR-100, {steps} steps)", f"paper CNN (CIFAR-100, {steps} steps)"]
    rows = []
    for method in methods:
        cells = [_mean_std([by[s, method][f"avg_inc_acc_{m}"] for s in summaries if (s, method) in by])
                 for m in ("nme", "cnn")]
        margins = [by[s, "podnet"]["avg_inc_acc_cnn"] - by[s, method]["avg_inc_acc_cnn"]
                   for s in summaries if (s, "podnet") in by and (s, method) in by]
        margin = "-" if method == "podnet" or not margins else f"{min(margins):+.2f}"
        paper = [TABLE1.get(f"{method} ({m})", TABLE1.get(method, {}) if m == "nme" else {}).get(steps)
                 for m in ("nme", "cnn")]
        rows.append([method, *cells, margin, *(f"{p[0]:.2f} ± {p[1]:.2f}" if p else "-" for p in paper)])
    return header, rows


__all__ = ["order_rows", "paper_mean_over_orders", "protocol_key", "seeds_table"]
