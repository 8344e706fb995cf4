"""Colab: badges and install cells agree with `[project.urls]`; installing keeps Colab's packages;
outputs go where the user runs the notebook; a widget chapter runs in a Colab-like kernel.

The Colab-like kernel is a fresh virtual environment layered over this one (a .pth file adds this
environment's site-packages after its own): torch is there as on Colab, ipywidgets 7.7.1 (Colab's
version) is installed into the layer and shadows 8.x, `google.colab` is importable and imported at
start-up as Colab's kernel does, and podnet_lib is absent. The chapter's own install cell then
installs the library from PODNET_SOURCE (a copy of this checkout).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import jupytext
import pytest
from packaging.requirements import Requirement

from podnet_lib.book import settings as book_settings
from podnet_lib.book.settings import REPOSITORY, colab_badge, install_source

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
COLAB_PREINSTALLED = ("torch", "torchvision", "ipywidgets", "matplotlib", "scikit-learn", "numpy")
COLAB_IPYWIDGETS = "7.7.1"
WIDGET_CHAPTER = "03_herding_memory_inference"      # the lightest chapter with interact widgets


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_repository_url_is_written_once_in_pyproject():
    assert REPOSITORY == _pyproject()["project"]["urls"]["Repository"]
    assert install_source() == f"git+{REPOSITORY}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_badge_and_install_cell_agree_with_pyproject(chapter: Path):
    text = chapter.read_text()
    assert colab_badge(f"{chapter.stem}.ipynb") in text, f"{chapter.name}: Colab badge differs from pyproject's URL"
    install = f'os.environ.get("PODNET_SOURCE", "{install_source()}")'
    cell = next(c.source for c in jupytext.read(chapter).cells if c.cell_type == "code")
    assert install in cell and "pip" in cell and "google.colab" in cell, f"{chapter.name}: first code cell"


def test_requirements_never_move_colab_packages():
    """Lower bounds only, and Colab's ipywidgets satisfies them: installing upgrades nothing."""
    for line in _pyproject()["project"]["dependencies"]:
        req = Requirement(line)
        if req.name in COLAB_PREINSTALLED:
            assert all(s.operator == ">=" for s in req.specifier), line
        if req.name == "ipywidgets":
            assert req.specifier.contains(COLAB_IPYWIDGETS), line


def test_outputs_go_under_the_working_directory_or_podnet_out(tmp_path, monkeypatch):
    monkeypatch.delenv("PODNET_OUT", raising=False)
    monkeypatch.chdir(tmp_path)
    out = book_settings.settings().out_dir
    assert out == tmp_path.resolve() / "runs" / "book" and out.is_dir()
    assert not out.is_relative_to(Path(book_settings.__file__).resolve().parents[2])   # not beside the package
    monkeypatch.setenv("PODNET_OUT", str(tmp_path / "elsewhere"))
    assert book_settings.settings().out_dir == (tmp_path / "elsewhere").resolve()
    assert book_settings.keep_outputs_on_drive() is None                   # off Colab: nothing changes
    assert os.environ["PODNET_OUT"] == str(tmp_path / "elsewhere")


# --- the Colab-like kernel ------------------------------------------------------------------------
def _colab_like_env(root: Path) -> Path:
    """A venv over this one with ipywidgets 7.7.1 and a fake google.colab; returns its python."""
    env = root / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_colab_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab\'s module."""\n')
    got = subprocess.run([str(python), "-m", "pip", "install", "-q", f"ipywidgets=={COLAB_IPYWIDGETS}"],
                         capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot install ipywidgets {COLAB_IPYWIDGETS} (no package index?): {got.stderr[-300:]}")
    (site / "zz_colab_kernel.pth").write_text("import google.colab\n")     # Colab's kernel imports it at start
    return python


def _versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = f"from importlib import metadata; print(__import__('json').dumps({{n: metadata.version(n) for n in {names!r}}}))"
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def _source_copy(dest: Path) -> Path:
    shutil.copytree(ROOT / "podnet_lib", dest / "podnet_lib", ignore=shutil.ignore_patterns("__pycache__", "runs"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    return dest


@pytest.mark.slow
def test_widget_chapter_installs_and_runs_in_a_colab_like_kernel(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    from podnet_lib.book.notebook_client import SteadyNotebookClient

    python = _colab_like_env(tmp_path)
    before = _versions(python, ("torch", "ipywidgets"))
    assert before["ipywidgets"] == COLAB_IPYWIDGETS
    assert subprocess.run([str(python), "-c", "import podnet_lib"], capture_output=True, cwd=tmp_path).returncode != 0

    content = tmp_path / "content"                                          # Colab's working folder
    content.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PODNET_OUT", "PYTHONPATH")}
    env.update(PODNET_FAST="1", PODNET_SOURCE=str(_source_copy(tmp_path / "source")),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    kernels = tmp_path / "kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps(
        {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "Colab-like", "language": "python", "env": env}))
    nb = jupytext.read(ROOT / "notebooks" / f"{WIDGET_CHAPTER}.py")
    client = SteadyNotebookClient(nb, timeout=300, kernel_name="colab", resources={"metadata": {"path": str(content)}})
    client.km = client.kernel_manager_class(kernel_name="colab",
                                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0].get("traceback", [""])[-1][-2000:]

    assert _versions(python, ("torch", "ipywidgets")) == before             # installing moved nothing
    installed = subprocess.run([str(python), "-c", "import podnet_lib; print(podnet_lib.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert str(tmp_path / "colab") in installed                             # from PODNET_SOURCE, into the kernel's env
    assert (content / "runs" / "book").is_dir() and any((content / "runs" / "book").iterdir())
    for site in (Path(installed).parents[1], Path(sysconfig.get_paths()["purelib"])):
        assert not (site / "runs").exists(), f"outputs written under {site}"
    widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "no widget was displayed"
