"""Calling a student's function safely, shared by the chapters' checks.

`call` runs it and reports (never raises) what went wrong; `Stop` ends a check early when the
function is still a stub; `verdict` prints the closing line.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable


class Stop(Exception):
    """The student's function is not written yet: end the check there."""


def call(fn: Callable, desc: str, *args: Any) -> tuple[bool, Any]:
    """(True, result) or (False, None) after printing what went wrong; raises Stop if unwritten."""
    try:
        out = fn(*args)
    except NotImplementedError:
        print("  not implemented yet: replace `raise NotImplementedError` by your code")
        raise Stop from None
    except Exception as err:                       # the student's bug: report it, never raise
        frame = traceback.extract_tb(err.__traceback__)[-1]
        print(f"  [error] {desc}: {type(err).__name__}: {err} (line {frame.lineno})")
        return False, None
    if out is None:
        print(f"  [wrong] {desc}: your function returned None (is a `return` missing?)")
        return False, None
    return True, out


def as_number(out: Any, desc: str) -> float | None:
    """The student's answer as a float, or None after printing that it is not a number."""
    try:
        return float(out)
    except (TypeError, ValueError):
        print(f"  [wrong] {desc}: expected a number, got {type(out).__name__}")
        return None


def verdict(name: str, passed: int, total: int) -> bool:
    """Print how many cases agree with the library's `name`; True when all do."""
    if passed == total:
        print(f"All {total} cases agree with {name}. Well done!")
        return True
    print(f"{passed}/{total} cases agree with {name}.")
    return False
