"""Checkpoints written after every task, atomically, and loaded safely (weights_only=True)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "podnet_lib.engine.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or belongs to another run."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` through a temporary file and a rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; any problem is a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say so, never start from scratch
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); "
                              "delete it to restart that method from scratch") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a podnet_lib checkpoint (format {FORMAT} expected)")
    return state


def check_same_run(saved: dict[str, Any], wanted: dict[str, Any], path: Path,
                   ignore: tuple[str, ...] = ("device", "num_workers", "eval_batch_size", "methods", "amp",
                                              "precision", "channels_last", "compile", "download", "data_root")) -> None:
    """Refuse to resume when the saved configuration differs from the requested one."""
    diffs = [f"{k}: saved {saved.get(k)!r}, asked {wanted.get(k)!r}"
             for k in sorted(set(saved) | set(wanted)) if k not in ignore and saved.get(k) != wanted.get(k)]
    if diffs:
        raise CheckpointError(f"checkpoint {path} was made with another configuration: " + "; ".join(diffs))
