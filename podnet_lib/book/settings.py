"""Settings shared by the notebook chapters: fast mode, device, where outputs go, Colab.

A chapter's `parameters` cell calls `settings()`; the tests set PODNET_FAST=1 so that every
chapter runs on a laptop CPU in under two minutes, and PODNET_OUT to keep outputs in a temp dir.
Outputs go to PODNET_OUT, else to `runs/book` under the folder the notebook runs in: never inside
the installed package, where a user would not find them. On Colab, `keep_outputs_on_drive()`
points PODNET_OUT at Google Drive, so a long run survives a recycled machine and resumes.

The repository's address is written once, in `[project.urls]` of pyproject.toml; the Colab badge
and the chapters' install cells are checked against it.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

DISTRIBUTION = "podnet-lib"
SOURCE_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"   # present in a source checkout
DRIVE_MOUNT = Path("/content/drive")


def repository() -> str:
    """`Repository` of `[project.urls]`: from pyproject.toml in a source checkout, else from the
    installed package's metadata."""
    if SOURCE_PYPROJECT.is_file():
        text = SOURCE_PYPROJECT.read_text(encoding="utf-8")
        urls = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, flags=re.M | re.S)
        found = urls and re.search(r'^Repository\s*=\s*"([^"]+)"', urls.group(1), flags=re.M)
        if found:
            return found.group(1)
    for entry in metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise LookupError(f"no Repository in [project.urls] of {DISTRIBUTION}")


REPOSITORY = repository()


@dataclass(frozen=True)
class BookSettings:
    fast: bool            # PODNET_FAST=1: small epochs and subsets (tests, a class on a laptop)
    device: torch.device  # the GPU when there is one
    out_dir: Path         # where chapters write runs and figures (PODNET_OUT, else ./runs/book)
    on_colab: bool


def on_colab() -> bool:
    return "google.colab" in sys.modules


def output_dir() -> Path:
    """PODNET_OUT, else runs/book under the current folder (the notebook's own folder)."""
    return Path(os.environ.get("PODNET_OUT") or Path.cwd() / "runs" / "book").resolve()


def settings() -> BookSettings:
    fast = os.environ.get("PODNET_FAST", "0") not in ("0", "", "false", "no")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = output_dir()
    out.mkdir(parents=True, exist_ok=True)
    return BookSettings(fast=fast, device=device, out_dir=out, on_colab=on_colab())


def keep_outputs_on_drive(folder: str = "podnet_book") -> Path | None:
    """On Colab: mount Google Drive and point PODNET_OUT at MyDrive/`folder` (call it before
    `settings()`). A rerun after the machine was recycled then finds its checkpoints and resumes.
    Elsewhere nothing changes (returns None)."""
    if not on_colab():
        print(f"not on Colab: outputs stay in {output_dir()}")
        return None
    from google.colab import drive  # available on Colab only

    drive.mount(str(DRIVE_MOUNT))
    out = DRIVE_MOUNT / "MyDrive" / folder
    os.environ["PODNET_OUT"] = str(out)
    print(f"outputs go to Google Drive: {out}")
    return out


def install_source() -> str:
    """What a chapter's install cell installs when PODNET_SOURCE is not set."""
    return f"git+{REPOSITORY}"


def colab_badge(notebook: str) -> str:
    """Markdown for the "Open in Colab" badge of a chapter."""
    path = REPOSITORY.replace("https://github.com/", "")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook})")
