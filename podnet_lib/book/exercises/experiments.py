"""Checks for chapters 05 and 06: predictions about a run (Sec. 4, "Protocol") and the ablation grid
of Sec. 4.2 (Tables 3a and 4).

- `check_prediction(prediction, runs, pair, task, metric)`: which of two methods keeps the old
  classes better after task k, checked against the saved results of a run;
- `check_table3a_config(fn)`: a row of Table 3a as a configuration, from several base configs;
- `check_gain_over_baselines(fn)`: PODNet's lead over the best baseline in Table 4.

All go through the chapters' one harness (`harness.run_check`). The scores of chapter 00
(`check_average_incremental_accuracy`, `check_forgetting`) live in `protocol`.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

from podnet_lib.book.exercises.harness import Case, Verdict, answer, run_check
from podnet_lib.config import Config
from podnet_lib.engine.results import RunResult
from podnet_lib.paper import TABLE3A, TABLE4
from podnet_lib.report.ablations import table3a_configs

INFERENCES = {"nme": "NME", "cnn": "CNN"}


# --- chapter 05: predict, run, check -----------------------------------------------------------
def old_class_accuracy(run: RunResult, task: int, metric: str) -> float:
    """Top-1 accuracy (%) on the classes of tasks < `task`, measured after `task` (task >= 1)."""
    value = getattr(run.tasks[task], f"old_acc_{metric}")
    if value is None:
        raise ValueError(f"task must be >= 1 (task 0 has no old classes), got {task}")
    return float(value)


def check_prediction(prediction: str | None, runs: Mapping[str, RunResult], pair: tuple[str, str],
                     task: int, metric: str = "nme") -> Verdict:
    """Is `prediction` the method of `pair` whose old-class accuracy after `task` is higher?

    runs: method name -> its saved result; metric: "nme" or "cnn". Prints the two accuracies
    either way. A prediction that names neither method, or a missing run, is reported, not raised.
    """
    title = f"old classes after task {task}, {INFERENCES.get(metric, metric)} inference"
    missing = [m for m in pair if m not in runs]
    if metric not in INFERENCES or missing:
        why = f"metric must be one of {sorted(INFERENCES)}" if metric not in INFERENCES else \
            f"this run has no {', '.join(map(repr, missing))} (add it to METHODS and run again)"
        print(f"… {title}: {why}.")
        return Verdict(0, 1, written=False)
    if prediction not in pair:
        print(f"… {title}: make your prediction first: set it to {pair[0]!r} or {pair[1]!r}.")
        return Verdict(0, 1, written=False)
    accs = {m: old_class_accuracy(runs[m], task, metric) for m in pair}
    best = max(pair, key=accs.__getitem__)
    numbers = f"{pair[0]} {accs[pair[0]]:.1f} %, {pair[1]} {accs[pair[1]]:.1f} %"

    def run() -> str | None:
        if prediction == best:
            return None
        if math.isclose(accs[pair[0]], accs[pair[1]], abs_tol=1e-9):
            return f"a tie ({numbers}): neither keeps them better"
        return f"you predicted {prediction}; {best} keeps them better ({numbers})"

    return run_check(f"{title}: {numbers}", [(f"your prediction {prediction!r}", run)])


# --- chapter 06: ablation grid -----------------------------------------------------------------
ABLATION_FIELDS = ("classifier", "classification_loss", "lambda_c", "lambda_f")

# base configs the rows are built from: the weights vary, so a row must take them from the base
ABLATION_BASES: tuple[Config, ...] = (
    Config(dataset="digits", backbone="resnet_digits", base_classes=5, lambda_c=3.0, lambda_f=1.0),
    Config(dataset="digits", backbone="resnet_digits", base_classes=5, lambda_c=5.0, lambda_f=2.0),
    Config(dataset="digits", backbone="resnet_digits", base_classes=5, lambda_c=8.0, lambda_f=0.5,
           classifier="cosine", classification_loss="ce"),
)


def check_table3a_config(fn: Callable[[Config, str], Config]) -> Verdict:
    """fn(base config, a row name of Table 3a such as "lsc + flat") -> that row's Config, for every
    row and for several base configs (other weights, another classifier)."""

    def case(base: Config, name: str) -> Case:
        def run() -> str | None:
            out = answer(fn, base, name)
            if not isinstance(out, Config):
                return f"expected a Config (use base.replace(...)), got {type(out).__name__}"
            expected = table3a_configs(base)[name]
            diffs = [f"{f}={getattr(out, f)!r} (expected {getattr(expected, f)!r})"
                     for f in ABLATION_FIELDS if getattr(out, f) != getattr(expected, f)]
            return ", ".join(diffs) or None
        desc = f"{name!r} from a base with lambda_c={base.lambda_c}, lambda_f={base.lambda_f}, {base.classifier}"
        return desc, run

    return run_check("the configurations of Table 3a",
                     [case(base, name) for base in ABLATION_BASES for name in TABLE3A])


def gain_over_baselines(table: dict[str, dict[int, float]], ours: str) -> dict[int, float]:
    """Reference: for each memory size, `ours` minus the best other row that is not a PODNet row."""
    others = [k for k in table if k != ours and not k.startswith("podnet")]
    return {m: table[ours][m] - max(table[k][m] for k in others) for m in table[ours]}


def check_gain_over_baselines(fn: Callable[[dict, str], dict]) -> Verdict:
    """fn(Table 4 as {method: {M_per: accuracy}}, our row's name) -> {M_per: gain in p.p.}."""
    synthetic = {"a": {1: 10.0, 2: 30.0}, "b": {1: 12.0, 2: 20.0}, "podnet (nme)": {1: 15.0, 2: 25.0}}

    def case(desc: str, table: dict[str, dict[int, float]], ours: str) -> Case:
        def run() -> str | None:
            expected = gain_over_baselines(table, ours)
            out = answer(fn, {k: dict(v) for k, v in table.items()}, ours)
            if not isinstance(out, dict) or set(out) != set(expected):
                got = sorted(out) if isinstance(out, dict) else type(out).__name__
                return f"expected a dict with keys {sorted(expected)}, got {got}"
            bad = [(m, float(out[m]), e) for m, e in expected.items() if not math.isclose(float(out[m]), e, abs_tol=1e-6)]
            if not bad:
                return None
            m, g, e = bad[0]
            return f"at M_per={m} expected {e:+.2f}, got {g:+.2f} (compare with the best baseline, not with PODNet's other row)"
        return desc, run

    return run_check("PODNet's gain over the best baseline (Table 4)", [
        case("paper's Table 4, PODNet (NME)", TABLE4, "podnet (nme)"),
        case("paper's Table 4, PODNet (CNN)", TABLE4, "podnet (cnn)"),
        case("a small made-up table (a negative gain too)", synthetic, "podnet (nme)"),
    ])


__all__ = ["check_prediction", "old_class_accuracy", "check_table3a_config", "check_gain_over_baselines",
           "gain_over_baselines"]
