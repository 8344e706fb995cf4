"""Checks for chapters 04 and 05: the scores of a run (Sec. 4 "Protocol") and the ablation grid
of Sec. 4.2 (Tables 3a and 4).

Each `check_...(fn)` compares the student's function with `podnet_lib.engine.metrics` /
`podnet_lib.report.ablations` on several inputs, prints which case is right or wrong and by how much,
and returns True or False. It never raises.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from podnet_lib.book.exercises.calling import Stop, as_number, call, verdict
from podnet_lib.paper import TABLE3A, TABLE4
from podnet_lib.report.ablations import table3a_configs
from podnet_lib.config import Config
from podnet_lib.engine.metrics import average_incremental_accuracy, forgetting

TOL = 1e-6


# --- chapter 05: scores of a run ---------------------------------------------------------------
ACCURACY_CASES: tuple[tuple[float, ...], ...] = (
    (98.0, 90.5, 85.25, 80.0, 77.0, 74.5),
    (61.0,),
    (70.0, 40.0),
    (99.0, 97.0, 96.5, 93.0, 92.0, 90.0, 88.0, 87.5, 85.0, 84.0, 82.0),
)


def check_average_incremental_accuracy(fn: Callable[[list[float]], float]) -> bool:
    """fn(accuracies after each task, base task included) -> the paper's score."""
    print("Checking the average incremental accuracy:")
    passed = 0
    try:
        for accs in ACCURACY_CASES:
            desc = f"{len(accs)} task(s): {list(accs)[:4]}{' ...' if len(accs) > 4 else ''}"
            expected = average_incremental_accuracy(accs)
            ok, out = call(fn, desc, list(accs))
            if not ok:
                continue
            got = as_number(out, desc)
            if got is None:
                continue
            if abs(got - expected) <= TOL:
                print(f"  [ok]    {desc}: {got:.2f}")
                passed += 1
            else:
                hint = " (is the base task included?)" if abs(got - np.mean(accs[1:] or [0])) <= TOL else ""
                print(f"  [wrong] {desc}: expected {expected:.4f}, got {got:.4f}{hint}")
    except Stop:
        return False
    return verdict("podnet_lib.engine.metrics.average_incremental_accuracy", passed, len(ACCURACY_CASES))


def _matrices() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for t in (2, 4, 6):
        m = np.full((t, t), np.nan)
        for i in range(t):
            m[i, : i + 1] = rng.uniform(20, 100, size=i + 1)
        out.append((f"{t} tasks, random accuracies", m))
    rising = np.array([[50.0, np.nan, np.nan], [60.0, 90.0, np.nan], [55.0, 80.0, 70.0]])
    out.append(("task 0 improves after task 1 (its best is not the first row)", rising))
    return out


def check_forgetting(fn: Callable[[np.ndarray], np.ndarray]) -> bool:
    """fn(accuracy matrix (T, T)) -> (T-1,) forgetting of each task but the last."""
    print("Checking forgetting:")
    passed, cases = 0, _matrices()
    try:
        for desc, matrix in cases:
            expected = forgetting(matrix)
            ok, out = call(fn, desc, matrix.copy())
            if not ok:
                continue
            got = np.asarray(out, dtype=float).reshape(-1)
            if got.shape != expected.shape:
                print(f"  [wrong] {desc}: expected {expected.size} values (one per task but the last), "
                      f"got shape {got.shape}")
                continue
            err = float(np.max(np.abs(got - expected))) if expected.size else 0.0
            if err <= TOL:
                print(f"  [ok]    {desc}: {np.round(got, 2).tolist()}")
                passed += 1
            else:
                print(f"  [wrong] {desc}: expected {np.round(expected, 2).tolist()}, got "
                      f"{np.round(got, 2).tolist()} (largest difference {err:.2f}; the best accuracy of "
                      "task j is over the rows j..T-2)")
    except Stop:
        return False
    return verdict("podnet_lib.engine.metrics.forgetting", passed, len(cases))


# --- chapter 06: ablation grid -----------------------------------------------------------------
ABLATION_FIELDS = ("classifier", "classification_loss", "lambda_c", "lambda_f")


def check_table3a_config(fn: Callable[[Config, str], Config]) -> bool:
    """fn(base config, a row name of Table 3a such as "lsc + flat") -> that row's Config."""
    print("Checking the configurations of Table 3a:")
    base = Config(dataset="digits", backbone="resnet_digits", base_classes=5, lambda_c=3.0, lambda_f=1.0)
    reference = table3a_configs(base)
    passed = 0
    try:
        for name in TABLE3A:
            ok, out = call(fn, repr(name), base, name)
            if not ok:
                continue
            if not isinstance(out, Config):
                print(f"  [wrong] {name!r}: expected a Config (use base.replace(...)), got {type(out).__name__}")
                continue
            diffs = [f"{f}={getattr(out, f)!r} (expected {getattr(reference[name], f)!r})"
                     for f in ABLATION_FIELDS if getattr(out, f) != getattr(reference[name], f)]
            if diffs:
                print(f"  [wrong] {name!r}: " + ", ".join(diffs))
            else:
                print(f"  [ok]    {name!r}: " + ", ".join(f"{f}={getattr(out, f)!r}" for f in ABLATION_FIELDS))
                passed += 1
    except Stop:
        return False
    return verdict("podnet_lib.report.ablations.table3a_configs", passed, len(TABLE3A))


def gain_over_baselines(table: dict[str, dict[int, float]], ours: str) -> dict[int, float]:
    """Reference: for each memory size, `ours` minus the best other row that is not a PODNet row."""
    others = [k for k in table if k != ours and not k.startswith("podnet")]
    return {m: table[ours][m] - max(table[k][m] for k in others) for m in table[ours]}


def check_gain_over_baselines(fn: Callable[[dict, str], dict]) -> bool:
    """fn(Table 4 as {method: {M_per: accuracy}}, our row's name) -> {M_per: gain in p.p.}."""
    print("Checking PODNet's gain over the best baseline (Table 4):")
    synthetic = {"a": {1: 10.0, 2: 30.0}, "b": {1: 12.0, 2: 20.0}, "podnet (nme)": {1: 15.0, 2: 25.0}}
    cases = [("paper's Table 4, PODNet (NME)", TABLE4, "podnet (nme)"),
             ("paper's Table 4, PODNet (CNN)", TABLE4, "podnet (cnn)"),
             ("a small made-up table (a negative gain too)", synthetic, "podnet (nme)")]
    passed = 0
    try:
        for desc, table, ours in cases:
            expected = gain_over_baselines(table, ours)
            ok, out = call(fn, desc, {k: dict(v) for k, v in table.items()}, ours)
            if not ok:
                continue
            if not isinstance(out, dict) or set(out) != set(expected):
                print(f"  [wrong] {desc}: expected a dict with keys {sorted(expected)}, got "
                      f"{sorted(out) if isinstance(out, dict) else type(out).__name__}")
                continue
            bad = {m: (float(out[m]), e) for m, e in expected.items()
                   if not math.isclose(float(out[m]), e, abs_tol=1e-6)}
            if bad:
                m, (g, e) = next(iter(bad.items()))
                print(f"  [wrong] {desc}: at M_per={m} expected {e:+.2f}, got {g:+.2f} "
                      "(compare with the best baseline, not with PODNet's other row)")
            else:
                print(f"  [ok]    {desc}: " + ", ".join(f"{m}: {v:+.2f}" for m, v in expected.items()))
                passed += 1
    except Stop:
        return False
    return verdict("the gain over the best baseline", passed, len(cases))


__all__ = ["check_average_incremental_accuracy", "check_forgetting", "check_table3a_config",
           "check_gain_over_baselines", "gain_over_baselines"]
