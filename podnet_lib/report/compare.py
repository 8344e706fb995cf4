"""Reports of saved runs: tables and figures read back from disk, without retraining.

`write_report(paths, out)` reads run directories (config.json and <method>/results.json, see
podnet_lib.engine.experiment) or method folders (results.json) and writes `out`/report.md and
`out`/report.html, figures as PNG files in `out`/figures (embedded as data URIs in the page, so
it stands alone). Numbers are recomputed from results.json by `metrics.summary`, as summary.json was.

Sections: average incremental accuracy (NME, CNN) of every run/method beside the paper's
number when the run follows one of its protocols (Sec. 4, Table 1); the mean ± std over runs that
differ only in class order or seed, beside the paper's mean over three orders; accuracy curves of
all runs on one figure; the accuracy matrix of each run/method; forgetting per task;
accuracy on old vs new classes; each run's configuration (the fields that differ).
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from podnet_lib.config import Config, ConfigError
from podnet_lib.engine.metrics import format_accuracy, accuracy_matrix, forgetting, summary
from podnet_lib.report.orders import order_rows
from podnet_lib.report.plots import plot_accuracy_curves, plot_accuracy_matrix, plot_forgetting, plot_old_new, save_figure
from podnet_lib.engine.presets import paper_reference
from podnet_lib.engine.results import CONFIG_NAME, JSON_NAME, METRICS, RunResult

ALWAYS_SHOWN = ("dataset", "base_classes", "increment", "epochs", "seed")   # config rows of every report
FORGETTING_TABLE_MAX = 12      # a per-task forgetting table up to this many tasks (the figure always)


class ReportError(ValueError):
    """A file given to the report is not a run's result or configuration."""


class MissingRunError(ReportError, FileNotFoundError):
    """A path given to the report, or a file a run directory must hold, does not exist."""


@dataclass(frozen=True)
class Source:
    """One method's results in one run: the rows, curves and figures of the report."""

    run_name: str          # the run directory's name
    run: RunResult
    config: Config
    path: Path             # the results.json it was read from
    whole_run: bool        # read from its run directory (so the config's other methods were looked for)

    @property
    def label(self) -> str:
        return f"{self.run_name}/{self.run.method}"


# --- reading --------------------------------------------------------------------------------------
def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path} is not a JSON file ({err})") from err


def _to_config(data: object, path: Path) -> Config:
    if not isinstance(data, dict):
        raise ReportError(f"{path} is not a run configuration: expected a JSON object of Config fields")
    try:
        return Config.from_dict(data)
    except (ConfigError, TypeError) as err:
        raise ReportError(f"{path} is not a run configuration: {err}") from err


def _read_results(path: Path) -> RunResult:
    if not path.is_file():
        raise MissingRunError(f"{path} is missing")
    try:
        return RunResult.load(path)
    except ValueError as err:                          # its message names the file
        raise ReportError(str(err)) from err


def load_sources(path: Path, run_name: str | None = None) -> list[Source]:
    """The methods of one run directory (in the order of its config) or of one method folder."""
    path = Path(path)
    if not path.exists():
        raise MissingRunError(f"{path} does not exist: give a run directory (with {CONFIG_NAME}) "
                              f"or a method folder (with {JSON_NAME})")
    if path.is_file():
        raise ReportError(f"{path} is a file: give its run directory or method folder")
    if (path / JSON_NAME).is_file():                   # a method folder
        run = _read_results(path / JSON_NAME)
        name = run_name or path.resolve().parent.name
        return [Source(name, run, _to_config(run.config, path / JSON_NAME), path / JSON_NAME, False)]
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise MissingRunError(f"{path} is not a run directory: {config_path} is missing "
                              f"(and there is no {path / JSON_NAME})")
    config = _to_config(_read_json(config_path), config_path)
    folders = {d.name: d / JSON_NAME for d in path.iterdir() if (d / JSON_NAME).is_file()}
    if not folders:
        expected = path / (config.methods[0] if config.methods else "<method>") / JSON_NAME
        raise MissingRunError(f"{path} holds no results: {expected} is missing "
                              f"(config.json lists methods {', '.join(config.methods)})")
    order = [m for m in config.methods if m in folders] + sorted(set(folders) - set(config.methods))
    name = run_name or path.resolve().name
    return [Source(name, _read_results(folders[m]), config, folders[m], True) for m in order]


def _run_names(paths: Sequence[Path]) -> list[str]:
    """A name per path: its run directory's name, numbered when two runs have the same name."""
    names = [(p.resolve().parent if (p / JSON_NAME).is_file() else p.resolve()).name for p in paths]
    return [n if names[:i].count(n) == 0 else f"{n}-{names[:i].count(n) + 1}" for i, n in enumerate(names)]


# --- numbers --------------------------------------------------------------------------------------
def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else None


def _summary_table(sources: Sequence[Source]) -> tuple[list[str], list[list[str]]]:
    refs = [paper_reference(s.config, s.run.method) for s in sources]
    header = ["run/method", "tasks", "avg inc NME", "avg inc CNN", "final NME", "final CNN",
              "forget NME", "forget CNN", "BWT NME", "BWT CNN"]
    if any(refs):
        header += ["paper NME", "paper CNN"]
    rows = []
    for source, ref in zip(sources, refs):
        s = summary(source.run) if source.run.tasks else {}
        row = [source.label, str(len(source.run.tasks))] + [
            format_accuracy(s.get(f"{k}_{m}")) for k in ("avg_inc_acc", "final_acc", "avg_forgetting", "bwt")
            for m in METRICS]
        if any(refs):
            row += [format_accuracy(ref["nme"]) if ref else "-", format_accuracy(ref["cnn"]) if ref else "-"]
        rows.append(row)
    return header, rows


def _old_new_table(sources: Sequence[Source]) -> tuple[list[str], list[list[str]]]:
    header = ["run/method", "metric", "old classes (mean)", "new classes (mean)",
              "old classes (last task)", "new classes (last task)"]
    rows = []
    for s in sources:
        steps = s.run.tasks[1:]
        for m in METRICS:
            old = [getattr(t, f"old_acc_{m}") for t in steps]
            new = [getattr(t, f"new_acc_{m}") for t in steps]
            if steps and any(v is not None for v in old + new):
                rows.append([s.label, m.upper(), format_accuracy(_mean(old)), format_accuracy(_mean(new)),
                             format_accuracy(old[-1]), format_accuracy(new[-1])])
    return header, rows


def _forgetting_table(sources: Sequence[Source], metric: str) -> tuple[list[str], list[list[str]]]:
    values = {s.label: forgetting(accuracy_matrix(s.run, metric)) for s in sources}
    width = max(v.size for v in values.values())
    return (["run/method"] + [f"task {j}" for j in range(width)],
            [[k] + [format_accuracy(float(x)) for x in v] + ["-"] * (width - v.size) for k, v in values.items()])


def _config_table(sources: Sequence[Source]) -> tuple[list[str], list[list[str]]]:
    configs: dict[str, dict] = {}
    for s in sources:
        configs.setdefault(s.run_name, s.config.to_dict())
    dicts = list(configs.values())
    fields = [f.name for f in dataclasses.fields(Config)]
    shown = [f for f in fields if f in ALWAYS_SHOWN or any(d[f] != dicts[0][f] for d in dicts)]
    return ["field"] + list(configs), [[f] + [", ".join(map(str, d[f])) if isinstance(d[f], list) else str(d[f])
                                              for d in dicts] for f in shown]


# --- figures --------------------------------------------------------------------------------------
def _labelled(sources: Sequence[Source]) -> list[RunResult]:
    """The runs renamed "<run>/<method>", so the library's plots label them that way."""
    return [dataclasses.replace(s.run, method=s.label) for s in sources]


def _plot_matrices(source: Source):
    metrics = [m for m in METRICS if source.run.has_metric(m)]
    side = min(4.0 + 0.45 * len(source.run.tasks), 11.0)
    fig, axes = plt.subplots(1, len(metrics), figsize=((side + 1.2) * len(metrics), side), layout="constrained",
                             squeeze=False)
    for ax, m in zip(axes[0], metrics):
        plot_accuracy_matrix(_labelled([source])[0], m, ax=ax)
    return fig


# --- the document ---------------------------------------------------------------------------------
Block = tuple   # ("h", level, text) | ("p", text) | ("table", header, rows) | ("img", file, caption)


def _blocks(paths: Sequence[Path], sources: list[Source], figures: Path) -> list[Block]:
    """Sections of the report in reading order; figures are saved under `figures` on the way."""
    def figure(fig, name: str, caption: str) -> Block:
        return ("img", save_figure(fig, figures / f"{name}.png"), caption)

    done = [s for s in sources if s.run.tasks]
    metric = "nme" if done and all(s.run.has_metric("nme") for s in done) else "cnn"   # the paper's headline
    blocks: list[Block] = [("h", 1, "PODNet runs: report"),
                           ("p", f"Made {time.strftime('%Y-%m-%d %H:%M')} from saved results (no retraining): "
                                 + "; ".join(str(p) for p in paths) + ".")]
    missing = sorted({f"{s.run_name}/{m}" for s in sources if s.whole_run for m in s.config.methods}
                     - {s.label for s in sources})
    if missing:
        blocks.append(("p", "Listed in a config.json but without results (not run or not finished): "
                            + ", ".join(missing) + "."))
    blocks += [("h", 2, "Average incremental accuracy"),
               ("p", "Top-1 accuracy (%) on all classes seen, averaged over every task, base task included "
                     "(Sec. 4); final = after the last task; forget = average forgetting, the mean over old tasks of "
                     "their best accuracy minus their final one; BWT = backward transfer, the mean over old "
                     "tasks of their final accuracy minus their accuracy just after they were learned "
                     "(both in percentage points; BWT is negative when the model forgets)."),
               ("table", *_summary_table(sources))]
    if "paper NME" not in blocks[-1][1]:
        blocks.append(("p", "None of these runs follows one of the paper's protocols (CIFAR-100, 50 base "
                            "classes, 50/25/10/5 steps), so no published number is shown beside them."))
    blocks += _order_blocks(sources)
    if not done:
        return blocks + _config_blocks(sources)
    blocks.append(("h", 2, "Accuracy on all seen classes"))
    for m in METRICS:
        with_metric = [s for s in done if s.run.has_metric(m)]
        if with_metric:
            blocks.append(figure(plot_accuracy_curves(_labelled(with_metric), m), f"accuracy_curves_{m}",
                                 f"{m.upper()} accuracy after each task, one curve per run/method"))
    blocks.append(("h", 2, "Accuracy matrices"))
    blocks += [figure(_plot_matrices(s), "accuracy_matrix_" + re.sub(r"[^A-Za-z0-9._-]+", "-", s.label),
                      f"{s.label}: row t = after task t, column j = classes of task j") for s in done]
    several = [s for s in done if len(s.run.tasks) > 1 and s.run.has_metric(metric)]
    if several:
        blocks += [("h", 2, "Forgetting per task"),
                   figure(plot_forgetting(_labelled(several), metric), f"forgetting_{metric}",
                          f"{metric.upper()}: best accuracy a task ever had minus its final accuracy")]
        if max(len(s.run.tasks) for s in several) <= FORGETTING_TABLE_MAX:
            blocks.append(("table", *_forgetting_table(several, metric)))
        blocks += [("h", 2, "Old vs new classes"),
                   ("p", "After each incremental task: accuracy on the classes of the earlier tasks and on "
                         "those the task just brought; the mean over the incremental tasks, and after the last."),
                   ("table", *_old_new_table(several)),
                   figure(plot_old_new(_labelled(several), metric), f"old_new_{metric}",
                          f"{metric.upper()} accuracy on old and new classes after each incremental task")]
    return blocks + _config_blocks(sources)


def _order_blocks(sources: Sequence[Source]) -> list[Block]:
    """Mean ± std over runs of one protocol that differ only in class order or seed (none if no such runs)."""
    header, rows = order_rows(sources)
    if not rows:
        return []
    return [("h", 2, "Mean over class orders and seeds"),
            ("p", "Runs of one protocol and method whose configurations differ only in class order or seed: "
                  "mean ± standard deviation (over the runs, ddof = 0) of the average incremental accuracy; the "
                  "paper reports CIFAR-100 as the mean ± std over three class orders (Table 1)."),
            ("table", header, rows)]


def _config_blocks(sources: Sequence[Source]) -> list[Block]:
    return [("h", 2, "Configurations"), ("table", *_config_table(sources)),
            ("p", f"{', '.join(ALWAYS_SHOWN)} and every field that differs between the runs.")]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the first column left-aligned, the others (numbers) right-aligned."""
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    rule = "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"
    return "\n".join([row(header), rule] + [row(r) for r in rows])


def _markdown(blocks: Sequence[Block], out: Path) -> str:
    lines: list[str] = []
    for block in blocks:
        if block[0] == "h":
            lines.append(f"{'#' * block[1]} {block[2]}")
        elif block[0] == "p":
            lines.append(block[1])
        elif block[0] == "table":
            lines.append(markdown_table(block[1], block[2]))
        else:
            lines.append(f"![{block[2]}]({block[1].relative_to(out).as_posix()})")
        lines.append("")
    return "\n".join(lines)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}figure{margin:1.5em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:.9em}")


def _html(blocks: Sequence[Block]) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(blocks[0][2])}</title><style>{_CSS}</style></head><body>"]
    for block in blocks:
        if block[0] == "h":
            parts.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif block[0] == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif block[0] == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(block[2])}">'
                         f"<figcaption>{e(block[2])}</figcaption></figure>")
    return "\n".join(parts + ["</body></html>", ""])


def write_report(run_dirs: Sequence[Path], out: Path, names: Sequence[str] | None = None) -> Path:
    """Read every run directory or method folder and write `out`/report.md, report.html and
    `out`/figures/*.png. Returns the HTML file. MissingRunError / ReportError name the bad file.

    names: a label per run directory (default: the directories' names)."""
    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise ReportError("run_dirs is empty: give at least one run directory or method folder")
    if names is not None and len(names) != len(paths):
        raise ReportError(f"names has {len(names)} labels for {len(paths)} run directories")
    labels = list(names) if names is not None else _run_names(paths)
    sources = [s for p, name in zip(paths, labels) for s in load_sources(p, name)]
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    blocks = _blocks(paths, sources, out / "figures")
    (out / "report.md").write_text(_markdown(blocks, out), encoding="utf-8")
    page = out / "report.html"
    page.write_text(_html(blocks), encoding="utf-8")
    return page


def main(args: argparse.Namespace) -> int:
    """`python -m podnet_lib report RUN_DIR [RUN_DIR ...] [--out DIR]`."""
    out = args.out or Path("runs") / f"report-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        page = write_report(args.run_dirs, out)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {page}\n        {out / 'report.md'}\nfigures: {out / 'figures'}/")
    return 0


__all__ = ["write_report", "load_sources", "main", "Source", "ReportError", "MissingRunError"]
