"""The command line: runs as files (--config), backward transfer in the summary, --log tensorboard,
and every bad input a one-line error before any training."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from podnet_lib.cli import build_parser, config_from_args, main
from podnet_lib.config import ConfigError
from podnet_lib.engine.config_file import read_config_file
from podnet_lib.engine.metrics import accuracy_matrix
from podnet_lib.engine.presets import get_preset
from podnet_lib.engine.experiment import write_summary
from podnet_lib.engine.results import RunResult, TaskResult
from podnet_lib.engine.train import resolve_device

SHORT = ["--preset", "digits-fast", "--method", "podnet", "--epochs", "1", "--set", "finetune_epochs=1",
         "--no-plots"]


def _config(argv: list[str]):
    return config_from_args(build_parser().parse_args(["run", *argv]))


# --- runs as files ------------------------------------------------------------------------------

def test_config_file_then_flags_then_set(tmp_path):
    saved = get_preset("digits-fast").replace(lambda_c=7.5)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved.to_dict()))
    assert _config(["--config", str(path)]) == saved
    cfg = _config(["--config", str(path), "--epochs", "2", "--set", "seed=9", "--set", "epochs=3"])
    assert cfg == saved.replace(epochs=3, seed=9)                     # --set wins over the flag


def test_yaml_config_file(tmp_path, monkeypatch):
    pytest.importorskip("yaml")
    path = tmp_path / "mine.yaml"
    path.write_text("dataset: digits\nmethods: [podnet, finetune]\nlambda_c: 5\nbase_classes: 5\n")
    cfg = read_config_file(path)
    assert (cfg.dataset, cfg.methods, cfg.lambda_c, cfg.base_classes) == ("digits", ("podnet", "finetune"), 5, 5)
    monkeypatch.setitem(sys.modules, "yaml", None)                     # as if PyYAML were not installed
    with pytest.raises(ConfigError, match="needs PyYAML: pip install pyyaml"):
        read_config_file(path)


@pytest.mark.slow
def test_a_saved_config_json_reproduces_the_run_and_summary_has_bwt(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["run", *SHORT, "--out", str(first)]) == 0
    assert main(["run", "--config", str(first / "config.json"), "--out", str(second), "--no-plots"]) == 0
    a, b = RunResult.load(first / "podnet"), RunResult.load(second / "podnet")
    assert len(a.tasks) == 6
    for x, y in zip(a.tasks, b.tasks):
        assert (x.acc_nme, x.acc_cnn, x.task_acc_nme, x.task_acc_cnn) == (y.acc_nme, y.acc_cnn, y.task_acc_nme,
                                                                          y.task_acc_cnn)
    assert json.loads((first / "config.json").read_text()) == json.loads((second / "config.json").read_text())
    row = json.loads((second / "summary.json").read_text())[0]
    with open(second / "summary.csv", newline="") as f:
        csv_row = next(csv.DictReader(f))
    for metric in ("nme", "cnn"):
        m = accuracy_matrix(b, metric)                                 # BWT by hand: final minus just-learned
        by_hand = np.mean([m[5, j] - m[j, j] for j in range(5)])
        assert row[f"bwt_{metric}"] == pytest.approx(by_hand)
        assert float(csv_row[f"bwt_{metric}"]) == pytest.approx(by_hand)
    assert "BWT NME" in capsys.readouterr().out


def test_summary_files_write_an_undefined_bwt_as_null(tmp_path):
    one_task = RunResult("podnet", {}, [TaskResult(task=0, n_classes=2, new_classes=[0, 1], acc_nme=None,
                                                   acc_cnn=75.0, task_acc_nme=None, task_acc_cnn=[75.0])])
    write_summary([one_task], tmp_path)
    row = json.loads((tmp_path / "summary.json").read_text())[0]       # strict JSON: no NaN
    assert (row["bwt_cnn"], row["bwt_nme"], row["avg_forgetting_cnn"], row["final_acc_cnn"]) == (None, None, None, 75.0)
    with open(tmp_path / "summary.csv", newline="") as f:
        assert next(csv.DictReader(f))["bwt_cnn"] == ""


# --- --log tensorboard --------------------------------------------------------------------------

@pytest.mark.slow
def test_tensorboard_log_holds_task_accuracies_and_epoch_losses(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    assert main(["run", *SHORT, "--out", str(out), "--log", "tensorboard"]) == 0
    events = EventAccumulator(str(out / "tensorboard" / "podnet"))
    events.Reload()
    run = RunResult.load(out / "podnet")
    for metric in ("nme", "cnn"):
        logged = events.Scalars(f"accuracy_{metric}/all")
        assert [e.step for e in logged] == list(range(6))
        assert [e.value for e in logged] == pytest.approx(run.accuracies(metric), abs=1e-4)
    assert [e.step for e in events.Scalars("accuracy_nme/old")] == list(range(1, 6))   # no old class at task 0
    nca = events.Scalars("loss_train/nca")
    assert [e.step for e in nca] == list(range(6))                      # 1 epoch per task
    assert nca[-1].value == pytest.approx(run.tasks[-1].losses["nca"], rel=1e-5)
    assert len(events.Scalars("loss_train/pod_spatial")) == 5           # no teacher at task 0
    assert [e.step for e in events.Scalars("loss_finetune/loss")] == list(range(1, 6))   # after tasks 1-5


def test_missing_tensorboard_is_a_one_line_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # as if tensorboard were not installed
    out = tmp_path / "run"
    assert main(["run", *SHORT, "--out", str(out), "--log", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: log='tensorboard' needs the tensorboard package") and err.count("\n") == 1
    assert not out.exists()


# --- every bad input: one line, code 2, nothing trained -------------------------------------------

FILES = {"file": "just text\n", "list": "[1, 2]", "broken": '{"epochs": ', "unknown": '{"epochs": 2, "lamda_c": 3}',
         "typed": '{"epochs": "abc"}', "results": '{"method": "podnet", "config": {}, "tasks": []}'}


def _placeholders(tmp_path: Path) -> dict[str, Path]:
    """{tmp}: an empty directory; {file}: a text file; {list}, {broken}, ...: JSON files as in FILES."""
    paths = {"tmp": tmp_path}
    for name, text in FILES.items():
        paths[name] = tmp_path / (name if name == "file" else f"{name}.json")
        paths[name].write_text(text)
    return paths


BAD_INPUTS = [
    (["--device", "cuda:7"], "device='cuda:7' is not available here"),
    (["--out", "{file}"], "is an existing file; allowed values: a new or existing directory"),
    (["--out", "{file}/run"], "is an existing file"),
    (["--stop-after", "-1"], "stop_after=-1 is not valid; allowed values: a task number from 0"),
    (["--stop-after", "6"], "stop_after=6 is not valid; allowed values: a task number from 0 to 5"),
    (["--set", "epochs=abc"], "epochs='abc' is not valid; allowed values: an integer"),
    (["--set", "lr=fast"], "lr='fast' is not valid; allowed values: a number"),
    (["--set", "methods="], "methods=() is not valid"),
    (["--set", "epochs"], "--set expects field=value"),
    (["--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--log", "wandb"], "log='wandb' is not valid; allowed values: tensorboard"),
    (["--preset", "cifar10"], "preset='cifar10' is not valid"),
    (["--resume", "{tmp}"], "is not a run directory"),
    (["--resume", "{file}"], "is not a run directory"),
    (["--config", "{tmp}/missing.json"], "missing.json does not exist"),
    (["--config", "{file}"], "is not valid JSON"),
    (["--config", "{list}"], "holds a list, not a mapping of config fields"),
    (["--config", "{broken}"], "is not valid JSON"),
    (["--config", "{unknown}"], "unknown config field(s): lamda_c"),
    (["--config", "{typed}"], "epochs='abc' is not valid; allowed values: an integer"),
    (["--config", "{results}"], "is a results file, not a config"),
    (["--config", "{unknown}", "--preset", "digits"], "give --preset or --config, not both"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS)
def test_bad_input_is_one_line_before_training(tmp_path, capsys, args, message):
    if args[:2] == ["--device", "cuda:7"] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    paths = _placeholders(tmp_path)
    args = [a.format(**paths) for a in args]
    out = tmp_path / "run"
    base = [] if any(a in args for a in ("--resume", "--config", "--preset")) else ["--preset", "digits-fast"]
    has_out = "--out" in args or "--resume" in args
    argv = ["run", *base, *(() if has_out else ("--out", str(out))), *args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists() and not list(tmp_path.rglob("checkpoint.pt")) and not list(tmp_path.rglob("config.json"))


def test_a_gpu_index_beyond_the_machine_names_the_ones_there(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"device='cuda:7' is not available here \(2 CUDA GPUs\); "
                                          r"allowed values: auto, cpu, cuda, cuda:0, cuda:1"):
        resolve_device("cuda:7")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
