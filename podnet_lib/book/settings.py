"""Settings shared by the notebook chapters: fast mode, device, where outputs go, Colab.

A chapter's `parameters` cell calls `settings()`; the tests set PODNET_FAST=1 so that every
chapter runs on a laptop CPU in under two minutes, and PODNET_OUT to keep outputs in a temp dir.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

REPOSITORY = "https://github.com/podnet-book/podnet-book"


@dataclass(frozen=True)
class BookSettings:
    fast: bool            # PODNET_FAST=1: small epochs and subsets (tests, a class on a laptop)
    device: torch.device  # the GPU when there is one
    out_dir: Path         # where chapters write runs and figures (PODNET_OUT, else runs/book)
    on_colab: bool


def on_colab() -> bool:
    return "google.colab" in sys.modules


def settings() -> BookSettings:
    fast = os.environ.get("PODNET_FAST", "0") not in ("0", "", "false", "no")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(os.environ.get("PODNET_OUT", Path(__file__).resolve().parent.parent / "runs" / "book"))
    out.mkdir(parents=True, exist_ok=True)
    return BookSettings(fast=fast, device=device, out_dir=out, on_colab=on_colab())


def colab_badge(notebook: str) -> str:
    """Markdown for the "Open in Colab" badge of a chapter."""
    path = REPOSITORY.replace("https://github.com/", "")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook})")
