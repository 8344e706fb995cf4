"""Every chapter: its .py and .ipynb agree, the .ipynb has no outputs, and it runs in fast mode."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from queue import Empty

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks/NN_name.py chapters found"


@pytest.mark.parametrize("script", CHAPTERS, ids=lambda p: p.stem)
def test_script_and_notebook_agree(script: Path):
    paired = script.with_suffix(".ipynb")
    assert paired.is_file(), f"{script.name} has no paired {paired.name}: run jupytext --sync {script}"
    assert _cells(jupytext.read(script)) == _cells(jupytext.read(paired)), (
        f"{script.name} and {paired.name} differ: run `jupytext --sync {script}`")


@pytest.mark.parametrize("script", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(script: Path):
    cells = json.loads(script.with_suffix(".ipynb").read_text())["cells"]
    assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code")


@pytest.mark.slow
@pytest.mark.parametrize("script", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_in_fast_mode(script: Path, tmp_path, monkeypatch):
    from podnet_lib.book.notebook_client import SteadyNotebookClient

    monkeypatch.setenv("PODNET_FAST", "1")
    monkeypatch.setenv("PODNET_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = jupytext.read(script)
    SteadyNotebookClient(nb, timeout=300, kernel_name="python3",
                         resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def _fake_channel(empty_polls: int):
    """A get_msg that finds nothing for `empty_polls` polls, then a message; records its timeouts."""
    asked: list[float | None] = []

    async def get_msg(timeout: float | None = None) -> dict:
        asked.append(timeout)
        if len(asked) <= empty_polls:
            await asyncio.sleep(timeout or 0.0)
            raise Empty
        return {"msg_type": "execute_reply"}

    return get_msg, asked


def test_short_polls_pick_up_a_message_a_long_poll_would_miss():
    from podnet_lib.book.notebook_client import short_polls

    get_msg, asked = _fake_channel(empty_polls=3)
    msg = asyncio.run(short_polls(get_msg, poll=0.01)(timeout=None))
    assert msg == {"msg_type": "execute_reply"} and asked == [0.01] * 4
    get_msg, asked = _fake_channel(empty_polls=10**6)
    with pytest.raises(Empty):                                    # the cell timeout still holds
        asyncio.run(short_polls(get_msg, poll=0.01)(timeout=0.05))
    assert all(t is not None and t <= 0.01 for t in asked) and 3 <= len(asked) <= 10
