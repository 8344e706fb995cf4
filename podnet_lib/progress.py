"""Progress bars that suit where the code runs: tqdm bars in a terminal or a notebook, plain
log lines otherwise (CI logs, files, pipes)."""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def bars_enabled() -> bool:
    """Bars when on a terminal or in a notebook; PODNET_PROGRESS=0/1 forces the choice."""
    forced = os.environ.get("PODNET_PROGRESS")
    if forced is not None:
        return forced not in ("0", "false", "no", "")
    return sys.stderr.isatty() or _in_notebook()


def progress(iterable: Iterable[T], enabled: bool, **kwargs) -> Iterable[T]:
    """`tqdm(iterable, **kwargs)` when enabled, else the iterable itself."""
    return tqdm(iterable, **kwargs) if enabled else iterable


def log(message: str, enabled: bool = True) -> None:
    """Print a line without breaking a bar that is on screen."""
    if enabled:
        tqdm.write(message) if bars_enabled() else print(message, flush=True)
