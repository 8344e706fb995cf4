"""Reports of saved runs: numbers as in summary_table, PNG figures, clear errors on bad input."""
from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
from pathlib import Path

import pytest

from podnet_lib.engine.experiment import run_experiment
from podnet_lib.engine.metrics import summary_table
from podnet_lib.engine.presets import get_preset
from podnet_lib.report.compare import MissingRunError, ReportError, main, write_report
from podnet_lib.engine.results import RunResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run: digits, PODNet and finetune, one epoch per task (a few seconds on a CPU)."""
    out = tmp_path_factory.mktemp("runs") / "a"
    cfg = get_preset("digits-fast").replace(methods=["podnet", "finetune"], epochs=1, device="cpu")
    run_experiment(cfg, out, bars=False)
    return out


def _copy_run(src: Path, dst: Path, **config_changes) -> Path:
    """A copy of a run directory whose config.json (and results' configs) carry `config_changes`."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.pt", "*.png"))
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(config_changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    for results in dst.glob("*/results.json"):
        data = json.loads(results.read_text())
        data["config"].update(config_changes)
        results.write_text(json.dumps(data))
    return dst


def _md_row(md: str, label: str) -> list[str]:
    """The cells of the first markdown table row whose first cell is `label`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            return cells
    raise AssertionError(f"no table row for {label!r} in the report")


def test_report_has_every_number_of_summary_table(run_dir, tmp_path):
    page = write_report([run_dir], tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    text = page.read_text()
    assert page == tmp_path / "rep" / "report.html" and text.startswith("<!DOCTYPE html>")
    runs = [RunResult.load(run_dir / m) for m in ("podnet", "finetune")]
    for line in summary_table(runs).splitlines()[2:]:       # method, then 8 numbers with 2 decimals
        method, *numbers = line.split()
        assert len(numbers) == 8 and all(re.fullmatch(r"-?\d+\.\d\d|-", n) for n in numbers)
        assert _md_row(md, f"a/{method}")[2:10] == numbers
        row = re.search(rf"<tr><td>a/{method}</td>(.*?)</tr>", text).group(1)
        assert re.findall(r"<td>(.*?)</td>", row)[1:9] == numbers
    assert "no published number" in md                      # digits is none of the paper's protocols


def test_figures_are_png_files_beside_the_report_and_embedded_in_the_page(run_dir, tmp_path):
    page = write_report([run_dir], tmp_path)
    md = (tmp_path / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    names = {Path(f).stem for f in linked}
    assert {"accuracy_curves_nme", "accuracy_curves_cnn", "accuracy_matrix_a-podnet",
            "accuracy_matrix_a-finetune", "forgetting_nme", "old_new_nme"} <= names
    for rel in linked:
        data = (tmp_path / rel).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000, rel
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page.read_text())
    assert len(embedded) == len(linked)
    assert base64.b64decode(embedded[0]) == (tmp_path / linked[0]).read_bytes()
    assert "src=\"figures/" not in page.read_text()         # the page stands alone


def test_several_runs_show_the_config_fields_that_differ(run_dir, tmp_path):
    other = _copy_run(run_dir, tmp_path / "b", seed=7, lambda_c=5.0)
    shutil.rmtree(other / "finetune")                       # a method of the config without results
    write_report([run_dir, other], tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert _md_row(md, "seed")[1:] == ["1", "7"]
    assert _md_row(md, "lambda_c")[1:] == ["3.0", "5.0"]
    assert _md_row(md, "dataset")[1:] == ["digits", "digits"]
    assert "| lambda_f |" not in md and "| backbone |" not in md   # equal fields stay out
    for label in ("a/podnet", "a/finetune", "b/podnet"):
        assert _md_row(md, label)
    assert "| b/finetune |" not in md
    assert "without results (not run or not finished): b/finetune." in md


def test_paper_numbers_beside_a_paper_protocol(run_dir, tmp_path):
    paper = _copy_run(run_dir, tmp_path / "cifar", **get_preset("cifar100-10steps-nme").to_dict())
    write_report([paper], tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    header = _md_row(md, "run/method")
    assert header[-2:] == ["paper NME", "paper CNN"]
    assert _md_row(md, "cifar/podnet")[-2:] == ["64.03", "63.19"]    # Table 1, 10 steps
    assert _md_row(md, "cifar/finetune")[-2:] == ["-", "-"]


def test_a_missing_directory_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(MissingRunError, match=re.escape(str(missing))) as err:
        write_report([missing], tmp_path / "rep")
    assert isinstance(err.value, FileNotFoundError)


def test_a_directory_without_results_names_the_file_it_expected(run_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingRunError, match=re.escape(str(empty / "config.json"))):
        write_report([empty], tmp_path / "rep")
    shutil.copy(run_dir / "config.json", empty / "config.json")
    with pytest.raises(MissingRunError, match=re.escape(str(empty / "podnet" / "results.json"))):
        write_report([empty], tmp_path / "rep")


def test_foreign_json_files_are_named(run_dir, tmp_path):
    folder = tmp_path / "foreign" / "podnet"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"format": "someone.else", "rows": []}))
    with pytest.raises(ReportError, match=re.escape(str(folder / "results.json"))):
        write_report([folder], tmp_path / "rep")
    (folder / "results.json").write_text("not json at all")
    with pytest.raises(ReportError, match=re.escape(str(folder / "results.json"))):
        write_report([folder], tmp_path / "rep")
    run = _copy_run(run_dir, tmp_path / "badcfg")
    (run / "config.json").write_text(json.dumps({"learning_rate": 0.1}))
    with pytest.raises(ReportError, match=re.escape(str(run / "config.json")) + ".*learning_rate"):
        write_report([run], tmp_path / "rep")


def test_main_writes_the_report_or_prints_the_error(run_dir, tmp_path, capsys):
    args = argparse.Namespace(run_dirs=[run_dir / "finetune"], out=tmp_path / "rep")
    assert main(args) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| a/finetune |" in md and "a/podnet" not in md    # only the method folder given
    assert main(argparse.Namespace(run_dirs=[tmp_path / "nowhere"], out=tmp_path / "rep2")) == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err
    assert not (tmp_path / "rep2").exists()


def _hand_made_run(root: Path, name: str, cfg, nme: list[float], cnn: list[float]) -> Path:
    """A run directory with given accuracies after each task (two tasks), no training."""
    from podnet_lib.engine.results import TaskResult
    tasks = [TaskResult(task=t, n_classes=50 + t, new_classes=[50 + t] if t else list(range(50)),
                        acc_nme=nme[t], acc_cnn=cnn[t], task_acc_nme=[nme[t]] * (t + 1),
                        task_acc_cnn=[cnn[t]] * (t + 1)) for t in range(len(nme))]
    out = root / name
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict()))
    RunResult(method="podnet", config=cfg.to_dict(), tasks=tasks).save(out / "podnet")
    return out


def test_report_gives_mean_and_std_over_class_orders_beside_the_paper(tmp_path):
    base = get_preset("cifar100-50steps-nme")
    runs = [_hand_made_run(tmp_path, f"order{k}", base.replace(class_order=k, device=device), nme, cnn)
            for k, device, nme, cnn in ((0, "cpu", [62.0, 58.0], [60.0, 54.0]),
                                        (1, "cuda", [64.0, 60.0], [61.0, 55.0]),
                                        (2, "auto", [66.0, 62.0], [62.0, 56.0]))]
    other = _hand_made_run(tmp_path, "other", base.replace(lambda_c=1.0, class_order=1), [50.0, 40.0], [50.0, 40.0])
    write_report(runs + [other], tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Mean over class orders and seeds" in md
    row = _md_row(md, "podnet")
    # NME averages 60, 62, 64 -> 62.00 ± 1.63; CNN 57, 58, 59 -> 58.00 ± 0.82; the paper: Table 1, 50 steps
    assert row[2:] == ["(0, 1), (1, 1), (2, 1)", "62.00 ± 1.63", "58.00 ± 0.82", "61.40 ± 0.68", "57.98 ± 0.46"]
    assert sum(line.startswith("| podnet |") for line in md.splitlines()) == 1     # λc = 1 is another protocol
    from podnet_lib.report.compare import load_sources
    from podnet_lib.report.orders import order_rows
    assert order_rows(load_sources(runs[0]) + load_sources(other))[1] == []        # no two runs of one protocol
    assert len(order_rows(load_sources(runs[0]) + load_sources(runs[1]))[1]) == 1
