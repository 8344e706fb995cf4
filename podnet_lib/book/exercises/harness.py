"""The one harness behind every chapter's exercise checks.

A check is a list of cases; a case is `(description, run)` where `run()` calls the student's
function through `answer`, compares with the library and returns None when right, else a short
sentence saying what is wrong. `run_check` runs the cases and prints:

- when every case is right, one line: `✓ <title>: all <n> cases right.` (`right.` for one case);
- otherwise one line per wrong case, then `✗ <title>: <k> of <n> cases wrong.`;
- while the function is still a stub, one line saying so.

It never raises: an exception in the student's function is printed as the answer to its case.
It returns a `Verdict` that is true when every case is right and that shows nothing under a
notebook cell, so the printed lines are all a reader sees.
"""
from __future__ import annotations

import math
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

Case = tuple[str, Callable[[], "str | None"]]


@dataclass(frozen=True)
class Verdict:
    """What a check found: `right` of `total` cases; true when all are right.

    Its repr is empty and it displays nothing in a notebook: a check's verdict is its printed lines.
    """

    right: int
    total: int
    written: bool = True

    def __bool__(self) -> bool:
        return self.written and self.right == self.total

    def __repr__(self) -> str:
        return ""

    def _ipython_display_(self) -> None:
        """Display nothing: the check has already printed its verdict."""


class Unwritten(Exception):
    """The student's function still raises NotImplementedError."""


class StudentError(Exception):
    """The student's function raised, or returned None; the message says which and where."""


def answer(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), the student's answer; raises Unwritten or StudentError instead of the student's error."""
    try:
        out = fn(*args)
    except NotImplementedError:
        raise Unwritten from None
    except Exception as err:                       # the student's bug: reported by run_check
        line = traceback.extract_tb(err.__traceback__)[-1].lineno
        raise StudentError(f"your function raised {type(err).__name__}: {err} (line {line})") from None
    if out is None:
        raise StudentError("your function returned None (is a `return` missing?)")
    return out


def run_check(title: str, cases: Iterable[Case]) -> Verdict:
    """Run every case, print the verdict (see the module docstring) and return it. Never raises."""
    cases = list(cases)
    problems: list[str] = []
    for description, run in cases:
        try:
            problem = run()
        except Unwritten:
            print(f"… {title}: not implemented yet (replace `raise NotImplementedError` with your code).")
            return Verdict(0, len(cases), written=False)
        except StudentError as err:
            problem = str(err)
        except Exception as err:                   # a malformed answer (type, shape) is a wrong answer
            problem = f"could not compare your answer ({type(err).__name__}: {err})"
        if problem is not None:
            problems.append(f"  [wrong] {description}: {problem}")
    right = len(cases) - len(problems)
    if not problems:
        print(f"✓ {title}: " + ("right." if len(cases) == 1 else f"all {len(cases)} cases right."))
    else:
        print("\n".join(problems))
        print(f"✗ {title}: " + ("wrong." if len(cases) == 1 else f"{len(problems)} of {len(cases)} cases wrong."))
    return Verdict(right, len(cases))


def as_number(out: Any) -> float:
    """The student's answer as a float (a Python number, a 0-d array or a one-element tensor)."""
    if hasattr(out, "detach"):
        out = out.detach().cpu()
    arr = np.asarray(out, dtype=float)
    if arr.size != 1:
        raise StudentError(f"expected a single number (a scalar), got an array of shape {tuple(arr.shape)}")
    return float(arr.reshape(()))


def close(got: float, expected: float, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """|got - expected| <= atol + rtol * |expected|."""
    return math.isfinite(got) and abs(got - expected) <= atol + rtol * abs(expected)


def compare_numbers(got: Any, expected: float, hints: dict[str, float] | None = None,
                    rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """None when the number `got` matches `expected`; else the difference, with the first hint whose
    value `got` matches (a known wrong variant)."""
    value = as_number(got)
    if close(value, expected, rtol, atol):
        return None
    why = next((text for text, wrong in (hints or {}).items() if close(value, wrong, rtol, atol)), None)
    return f"got {value:.6g}, expected {expected:.6g}" + (f" (hint: {why})" if why else "")


def compare_arrays(got: Any, expected: Any, atol: float = 1e-4) -> str | None:
    """None when `got` matches `expected` (same shape, values within atol, NaN where NaN)."""
    got_arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=float)
    expected = np.asarray(expected.detach().cpu() if hasattr(expected, "detach") else expected, dtype=float)
    if got_arr.shape != expected.shape:
        return f"shape {got_arr.shape}, expected {expected.shape}"
    if not np.array_equal(np.isnan(got_arr), np.isnan(expected)):
        return f"NaN in other places: got {np.round(got_arr, 4).tolist()}, expected {np.round(expected, 4).tolist()}"
    if got_arr.size == 0:
        return None
    diff = np.abs(np.nan_to_num(got_arr) - np.nan_to_num(expected))
    worst = int(diff.argmax())
    if diff.flat[worst] > atol:
        return (f"largest difference {diff.flat[worst]:.4g} at index {np.unravel_index(worst, diff.shape)} "
                f"(got {got_arr.flat[worst]:.4f}, expected {expected.flat[worst]:.4f})")
    return None


__all__ = ["Case", "Verdict", "Unwritten", "StudentError", "answer", "run_check", "as_number", "close",
           "compare_numbers", "compare_arrays"]
