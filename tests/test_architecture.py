"""The package's layers: the import-linter contracts of pyproject.toml hold, and the top level stays small."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "podnet_lib"
LAYERS = ("data", "model", "engine", "report", "book")


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: install the dev extra (import-linter)")
    return exe


def test_import_contracts_hold():
    done = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "broken" in done.stdout and " 0 broken" in done.stdout


def test_a_forbidden_import_is_caught(tmp_path):
    """The contracts really bite: a copy of the package where the model imports the engine fails."""
    copy = tmp_path / "podnet_lib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    pod = copy / "model" / "pod.py"
    pod.write_text(pod.read_text() + "\nfrom podnet_lib.engine import presets  # noqa: E402,F401\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    done = subprocess.run([_lint_imports(), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)})
    assert done.returncode != 0
    assert "model imports nothing of engine" in done.stdout


def test_top_level_holds_at_most_twelve_modules_and_the_layers():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 12, modules
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").is_file(), layer
