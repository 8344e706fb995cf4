"""The GPU check script runs on a CPU too: its short form, skipping what needs CUDA."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_short_form_runs_on_the_cpu(tmp_path):
    done = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), "--short", "--device", "cpu", "--chapters", "none",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = report["checks"]
    assert list(checks) == ["bench (eager)", "bench (compiled)", "digits main job", "chapters", "stand-in 10 steps"]
    bench = checks["bench (eager)"]["figures"]
    assert bench["rounds"] == 2 and bench["cifar100_50steps"]["tasks"] == 51 and bench["podnet_img_s"] > 0
    assert checks["digits main job"]["status"] == "ok" and checks["digits main job"]["acceleration"]["precision"] == "fp32"
    assert checks["stand-in 10 steps"] == {**checks["stand-in 10 steps"], "status": "skipped",
                                           "reason": "needs CUDA (hours on a CPU)"}
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.startswith("| part | figures | wall time |") and "| bench (eager) | plain " in table
    assert "needs CUDA" in table and report["device"].startswith("cpu")
