"""The `digits-hard` preset: the paper's regime of many one-class steps on the bundled digits,
every method with its own defaults; and the seeds table the chapter and the README show."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from podnet_lib.engine.experiment import run_experiment
from podnet_lib.engine.metrics import summary
from podnet_lib.engine.presets import get_preset
from podnet_lib.report.orders import seeds_table

ROOT = Path(__file__).resolve().parent.parent


def _row(method: str, nme: float, cnn: float) -> dict:
    return {"method": method, "avg_inc_acc_nme": nme, "avg_inc_acc_cnn": cnn}


def test_seeds_table_means_margins_and_paper_columns():
    table = {1: [_row("podnet", 90.0, 96.0), _row("ucir", 91.0, 93.0), _row("lwf", 60.0, 27.0)],
             2: [_row("podnet", 92.0, 98.0), _row("ucir", 89.0, 97.0), _row("lwf", 62.0, 27.0)]}
    header, rows = seeds_table(table)
    by = {r[0]: r for r in rows}
    assert by["podnet"][1:3] == ["91.00 ± 1.00", "97.00 ± 1.00"]     # population std over the seeds
    assert by["ucir"][3] == "+1.00"                                   # min(96 - 93, 98 - 97)
    assert by["podnet"][3] == "-"
    assert by["podnet"][4:] == ["61.40 ± 0.68", "57.98 ± 0.46"]       # the paper's Table 1, 50 steps
    assert by["ucir"][4:] == ["48.57 ± 0.37", "49.30 ± 0.32"]
    assert by["lwf"][4:] == ["-", "-"]                                # not in the paper's Table 1
    assert "CIFAR-100" in header[4]


def test_the_preset_is_the_digits_protocol_with_two_base_classes():
    hard, digits = get_preset("digits-hard"), get_preset("digits")
    assert (hard.base_classes, hard.increment, hard.memory_per_class) == (2, 1, 20)
    assert set(hard.methods) == {"podnet", "finetune", "lwf", "icarl", "ucir"}
    same = {k: v for k, v in hard.to_dict().items() if k not in ("base_classes", "methods")}
    assert same == {k: v for k, v in digits.to_dict().items() if k not in ("base_classes", "methods")}


def test_the_committed_table_is_the_preset_on_three_seeds():
    record = json.loads((ROOT / "podnet_lib" / "book" / "digits_hard.json").read_text())
    assert record["preset"] == "digits-hard" and sorted(record["seeds"]) == ["1", "2", "3"]
    for seed, entry in record["seeds"].items():
        assert f"--seed {seed}" in entry["command"] and entry["wall_seconds"] > 0
        assert {r["method"] for r in entry["summary"]} == set(get_preset("digits-hard").methods)


@pytest.mark.slow
def test_podnet_leads_on_seed_1(tmp_path):
    """Seed 1 of the preset, all five methods: PODNet's CNN average incremental accuracy beats
    finetune, LwF and iCaRL by more than 2 points and stays ahead of UCIR; the numbers are those
    of the committed table."""
    runs = run_experiment(get_preset("digits-hard").replace(device="cpu", seed=1), tmp_path, bars=False, quiet=True)
    cnn = {m: summary(r)["avg_inc_acc_cnn"] for m, r in runs.items()}
    for method in ("finetune", "lwf", "icarl"):
        assert cnn["podnet"] > cnn[method] + 2.0, (method, cnn)
    assert cnn["podnet"] > cnn["ucir"], cnn
    committed = json.loads((ROOT / "podnet_lib" / "book" / "digits_hard.json").read_text())["seeds"]["1"]["summary"]
    for row in committed:
        assert cnn[row["method"]] == pytest.approx(row["avg_inc_acc_cnn"], abs=0.5), row["method"]
