"""The static HTML edition: every chapter gets a page with its figures, linked from index.html in order."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _chapters() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _heading(chapter: Path) -> str:
    """The first markdown heading of a percent-format chapter, without #'s and emphasis marks."""
    line = next(line for line in chapter.read_text().splitlines() if re.match(r"# #+ ", line))
    return re.sub(r"[*_`]", "", line.split(" ", 2)[2]).strip()


def _png_outputs(executed: Path) -> int:
    """Image outputs (PNG) of the code cells of an executed notebook."""
    cells = json.loads(executed.read_text())["cells"]
    return sum("image/png" in o.get("data", {}) for c in cells if c["cell_type"] == "code"
               for o in c.get("outputs", []))


@pytest.mark.slow
def test_book_has_a_page_per_chapter_with_its_figures(tmp_path):
    chapters = _chapters()
    assert chapters, "no notebooks/NN_name.py chapters found"
    out = tmp_path / "book"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, f"build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"

    index = (out / "index.html").read_text()
    links = re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', index)
    assert [href for href, _ in links] == [f"{c.stem}.html" for c in chapters]   # chapter order
    for chapter, (href, title) in zip(chapters, links):
        page = (out / href).read_text()
        assert html.unescape(title) == _heading(chapter)
        assert html.unescape(re.search(r"<title>(.*?)</title>", page).group(1)) == _heading(chapter)
        embedded = len(re.findall(r'<img[^>]*src="data:image/png;base64,', page))
        expected = _png_outputs(out / f"{chapter.stem}.ipynb")
        assert expected >= 1, f"{chapter.name} shows no figure"
        assert embedded >= expected, f"{href}: {embedded} embedded images for {expected} figures"
        assert "jp-OutputArea-output" in page, f"{href} shows no output"
        assert "Traceback" not in page, f"{href} shows a traceback"
        assert 'href="index.html"' in page


def test_the_builder_rejects_a_pattern_that_matches_no_chapter(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--out", str(tmp_path),
                           "--only", "no-such-chapter-*"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no chapter matches" in done.stderr
    assert not (tmp_path / "index.html").exists()
