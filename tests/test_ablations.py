"""Ablation helpers (Tables 3a, 3b, 4)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from podnet_lib.config import config_key  # noqa: E402
import podnet_lib.engine.cache as cache  # noqa: E402
from podnet_lib.paper import TABLE3A, TABLE3B, TABLE4  # noqa: E402
from podnet_lib.report.ablations import (  # noqa: E402
    ablation_table, adaptive_configs,
    memory_configs, paper_numbers, plot_ablation, plot_memory_ablation, proxies_configs, run_ablation,
    table3a_configs, table3b_configs,
)
from podnet_lib.engine.validation import validate  # noqa: E402
from podnet_lib.book.exercises.experiments import gain_over_baselines  # noqa: E402
from podnet_lib.engine.presets import get_preset  # noqa: E402

BASE = get_preset("digits-fast")
TINY = BASE.replace(base_classes=8, increment=2, epochs=1, finetune_epochs=1, proxies_per_class=2,
                    memory_per_class=5, device="cpu")                     # 2 tasks, about a second


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- the configurations ---------------------------------------------------------------------------
def test_table3a_rows_switch_the_right_fields():
    cfgs = table3a_configs(BASE)
    assert list(cfgs) == list(TABLE3A)
    for cfg in cfgs.values():
        validate(cfg)
        assert cfg.methods == ("podnet",)
    assert (cfgs["lsc"].lambda_c, cfgs["lsc"].lambda_f) == (0.0, 0.0)
    assert (cfgs["lsc + flat"].lambda_c, cfgs["lsc + flat"].lambda_f) == (0.0, BASE.lambda_f)
    assert (cfgs["lsc + spatial"].lambda_c, cfgs["lsc + spatial"].lambda_f) == (BASE.lambda_c, 0.0)
    assert cfgs["cosine + flat + spatial"].classifier == "cosine"
    for name, cfg in cfgs.items():          # the authors' cosine ablation trains with softmax cross-entropy
        assert cfg.classification_loss == ("nca" if name.split(" + ")[0] == "lsc" else "ce")
    assert cfgs["lsc-ce + flat + spatial"].classification_loss == "ce"
    assert cfgs["lsc-ce + flat + spatial"].classifier == "lsc"
    assert cfgs["lsc + flat + spatial"] == BASE.replace(methods=["podnet"])     # the full model is the base


def test_table3b_rows_set_the_pooling_and_keep_pod_flat():
    cfgs = table3b_configs(BASE)
    assert list(cfgs) == list(TABLE3B)
    assert (cfgs["none"].lambda_c, cfgs["none"].lambda_f) == (0.0, BASE.lambda_f)
    assert (cfgs["spatial"].lambda_c, cfgs["spatial"].lambda_f) == (BASE.lambda_c, BASE.lambda_f)
    # the authors' perceptual_losses/ option files: λf = 5, λc per pooling
    weights = {name: (cfg.lambda_f, cfg.lambda_c) for name, cfg in cfgs.items() if name not in ("none", "spatial")}
    assert weights == {"pixel": (5.0, 2.0), "channel": (5.0, 2.0), "gap": (5.0, 5.0), "width": (5.0, 3.0),
                       "height": (5.0, 3.0)}
    for name, cfg in cfgs.items():
        validate(cfg)
        assert cfg.lambda_f > 0 and cfg.classification_loss == "nca"
        if name != "none":
            assert cfg.pod_pooling == name
    assert config_key(cfgs["none"]) == config_key(table3a_configs(BASE)["lsc + flat"])   # shared run


def test_memory_proxies_and_adaptive_variants():
    mem = memory_configs(BASE, (5, 20), ("podnet", "icarl"))
    assert [c.memory_per_class for c in mem.values()] == [5, 20]
    assert all(c.methods == ("podnet", "icarl") and c.memory_total == 0 for c in mem.values())
    assert [c.proxies_per_class for c in proxies_configs(BASE, (1, 10)).values()] == [1, 10]
    assert [c.adaptive_factor for c in adaptive_configs(BASE).values()] == [True, False]


def test_config_key_follows_every_field():
    assert config_key(BASE) == config_key(BASE.replace())
    assert config_key(BASE) != config_key(BASE.replace(seed=2))
    assert config_key(BASE) != config_key(BASE.replace(pod_pooling="width"))


def test_paper_numbers_of_each_table():
    cfg = BASE.replace(memory_per_class=5)
    assert paper_numbers(TABLE3A, "lsc + flat", "podnet", cfg) == (53.29, 52.98)
    assert paper_numbers(TABLE3B, "pixel", "podnet", cfg) == (49.74, 52.34)
    assert paper_numbers(TABLE4, "M_per=5", "podnet", cfg) == (48.37, 35.59)
    assert paper_numbers(TABLE4, "M_per=5", "ucir", cfg) == (21.81, 22.17)
    assert paper_numbers(TABLE4, "M_per=5", "icarl", cfg) == (16.44, None)
    assert paper_numbers(TABLE4, "M_per=5", "joint", cfg) == (None, None)
    assert paper_numbers(TABLE4, "M_per=7", "podnet", cfg.replace(memory_per_class=7)) == (None, None)
    assert paper_numbers(None, "lsc", "podnet", cfg) == (None, None)


def test_paper_tables_match_the_paper_text():
    # Sec. 4.2: "a gain of 26.20 p.p. with NME (resp. 13.42 p.p. for CNN) with M_per = 5"
    assert gain_over_baselines(TABLE4, "podnet (nme)")[5] == pytest.approx(26.20)
    assert gain_over_baselines(TABLE4, "podnet (cnn)")[5] == pytest.approx(13.42)
    assert TABLE3A["lsc + flat + spatial"] == TABLE3B["spatial"]
    assert TABLE3A["lsc + flat"] == TABLE3B["none"]


# --- running them --------------------------------------------------------------------------------
def test_run_ablation_rows_cache_and_seeds(tmp_path, monkeypatch):
    configs = {"lsc + flat": TINY.replace(methods=["podnet"], lambda_c=0.0),
               "none": TINY.replace(methods=["podnet"], lambda_c=0.0)}          # the same run twice
    rows = run_ablation(configs, tmp_path, TABLE3B, seeds=[1, 2])
    assert [r["variant"] for r in rows] == ["lsc + flat", "none"]
    assert len(list(tmp_path.glob("run-*"))) == 2                              # 1 config x 2 seeds
    row = rows[1]
    assert row["n_seeds"] == 2 and row["paper_nme"] == 53.29 and row["paper_cnn"] == 52.98
    for key in ("avg_inc_acc_nme", "avg_inc_acc_cnn", "std_nme", "std_cnn", "final_acc_nme", "final_acc_cnn"):
        assert isinstance(row[key], float) and math.isfinite(row[key])
    assert 0 <= row["avg_inc_acc_nme"] <= 100 and row["std_nme"] >= 0
    assert rows[0]["avg_inc_acc_nme"] == rows[1]["avg_inc_acc_nme"]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run must be loaded, not retrained")

    monkeypatch.setattr(cache, "run_experiment", no_training)
    again = run_ablation(configs, tmp_path, TABLE3B, seeds=[1, 2])
    assert again == rows


def test_a_different_field_is_a_different_run(tmp_path):
    rows = run_ablation({"on": TINY, "off": TINY.replace(adaptive_factor=False)}, tmp_path)
    assert len(list(tmp_path.glob("run-*"))) == 2
    assert rows[0]["n_seeds"] == 1 and rows[0]["paper_nme"] is None


def test_memory_rows_one_per_method(tmp_path):
    rows = run_ablation(memory_configs(TINY, (5,), ("podnet", "finetune")), tmp_path, TABLE4)
    assert [(r["variant"], r["method"]) for r in rows] == [("M_per=5", "podnet"), ("M_per=5", "finetune")]
    assert rows[0]["paper_nme"] == 48.37 and rows[1]["paper_nme"] is None
    assert isinstance(plot_memory_ablation(rows), Figure)


# --- showing them ----------------------------------------------------------------------------------
ROWS = [
    {"variant": "lsc", "method": "podnet", "avg_inc_acc_nme": 80.0, "avg_inc_acc_cnn": 40.0, "std_nme": 1.0,
     "std_cnn": 2.0, "final_acc_nme": 70.0, "final_acc_cnn": 30.0, "n_seeds": 3, "paper_nme": 41.56,
     "paper_cnn": 40.76},
    {"variant": "lsc + flat", "method": "podnet", "avg_inc_acc_nme": 82.0, "avg_inc_acc_cnn": 45.0,
     "std_nme": 0.5, "std_cnn": 1.5, "final_acc_nme": 72.0, "final_acc_cnn": 35.0, "n_seeds": 3,
     "paper_nme": None, "paper_cnn": None},
]


def test_ablation_table_text():
    text = ablation_table(ROWS)
    assert "lsc + flat" in text and "80.00 ± 1.00" in text and "41.56" in text
    assert "3 seeds" in text and "CIFAR-100 50 steps" in text
    assert text.splitlines()[3].rstrip().endswith("-")                         # no paper row: "-"


def test_ablation_plots_with_and_without_paper_numbers():
    assert isinstance(plot_ablation(ROWS, "t"), Figure)
    no_paper = [dict(r, paper_nme=None, paper_cnn=None, n_seeds=1) for r in ROWS]
    assert isinstance(plot_ablation(no_paper, "t"), Figure)
