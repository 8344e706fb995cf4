"""Build the static HTML edition of the book: every chapter executed in fast mode, one page each.

    python scripts/build_book.py [--out build/book] [--only '01_*'] [--jobs 1] [--timeout 900]
    make book

Chapters are the files notebooks/NN_*.py (jupytext, percent format), in the order of their
numbers. Each is executed with nbclient (`podnet_lib.book.notebook_client`) in fast mode (PODNET_FAST=1, PODNET_OUT=<out>/../runs),
keeping the state of its widgets, then converted by nbconvert's HTMLExporter with every image
embedded, so a page is one file. The output folder gets <chapter>.html, the executed
<chapter>.ipynb, and index.html: the table of contents, titles taken from each chapter's first
markdown heading. A chapter whose cells raise still gets its page (tracebacks shown) and the
build exits with status 1, naming it.
"""
from __future__ import annotations

import argparse
import fnmatch
import html
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from nbconvert import HTMLExporter

from podnet_lib.book.notebook_client import SteadyNotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHAPTER_GLOB = "[0-9][0-9]_*.py"


@dataclass
class Page:
    """One chapter of the built book."""

    source: Path          # notebooks/NN_name.py
    title: str            # its first markdown heading
    errors: int = 0       # cells whose execution raised
    seconds: float = 0.0

    @property
    def html_name(self) -> str:
        return f"{self.source.stem}.html"


def chapters(patterns: list[str] | None = None) -> list[Path]:
    """notebooks/NN_*.py in chapter order; with `patterns`, those whose stem matches one of them
    (a glob such as '01_*', or a plain part of the name such as 'pooled')."""
    found = sorted(NOTEBOOKS.glob(CHAPTER_GLOB))
    if patterns:
        found = [p for p in found if any(fnmatch.fnmatch(p.stem, pat) or fnmatch.fnmatch(p.name, pat)
                                         or pat in p.stem for pat in patterns)]
    return found


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the first markdown heading of the notebook, without its #'s and markup."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if match:
                return re.sub(r"[*_`]", "", match.group(1))
    return fallback


def execute(nb: nbformat.NotebookNode, timeout: int) -> int:
    """Run every cell in place (errors kept as outputs, widget state stored); returns the cells that raised."""
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = SteadyNotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            store_widget_state=True, resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return sum(any(o.get("output_type") == "error" for o in c.get("outputs", []))
               for c in nb.cells if c.cell_type == "code")


def to_html(nb: nbformat.NotebookNode, title: str, links: dict[str, str]) -> str:
    """One self-contained page (images embedded; widget state kept by the lab template), with a
    link back to the contents and links between chapters pointing at their pages."""
    exporter = HTMLExporter(template_name="lab")
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    for notebook, page in links.items():          # [chapter 2](02_x.ipynb) -> 02_x.html
        body = re.sub(rf'href="(?:\./)?(?:notebooks/)?{re.escape(notebook)}"', f'href="{page}"', body)
    nav = ('<nav style="padding:.5em 1em;font-family:sans-serif;border-bottom:1px solid #ddd">'
           '<a href="index.html">&larr; contents</a></nav>')
    return re.sub(r"(<body[^>]*>)", rf"\1{nav}", body, count=1)


def build_chapter(source: Path, out: Path, timeout: int, links: dict[str, str]) -> Page:
    began = time.perf_counter()
    nb = jupytext.read(source)
    page = Page(source, title_of(nb, source.stem))
    page.errors = execute(nb, timeout)
    nbformat.write(nb, out / f"{source.stem}.ipynb")
    (out / page.html_name).write_text(to_html(nb, page.title, links), encoding="utf-8")
    page.seconds = time.perf_counter() - began
    return page


def write_index(pages: list[Page], out: Path) -> Path:
    """index.html: the chapters in order, each title linking to its page."""
    items = "\n".join(
        f'<li><a href="{p.html_name}">{html.escape(p.title)}</a>'
        + (f' <span class="err">({p.errors} cell(s) raised)</span>' if p.errors else "") + "</li>"
        for p in pages)
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>PODNet: the book</title>
<style>body{{font-family:system-ui,sans-serif;max-width:760px;margin:3em auto;padding:0 1em;color:#222}}
li{{margin:.5em 0;font-size:1.1em}}.err{{color:#b00}}.note{{color:#666}}</style></head><body>
<h1>PODNet: Pooled Outputs Distillation for Small-Tasks Incremental Learning</h1>
<p class="note">The chapters, executed in fast mode (small epochs and subsets) on
{html.escape(time.strftime("%Y-%m-%d"))}. Run them in full with <code>make lab</code>.</p>
<ol id="chapters">
{items}
</ol>
</body></html>
"""
    path = out / "index.html"
    path.write_text(text, encoding="utf-8")
    return path


def build(out: Path, patterns: list[str] | None = None, jobs: int = 1, timeout: int = 900) -> list[Page]:
    """Execute and convert the chapters into `out`, then write its index.html."""
    sources = chapters(patterns)
    if not sources:
        raise SystemExit(f"error: no chapter matches {patterns} in {NOTEBOOKS}/{CHAPTER_GLOB}")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update(PODNET_FAST="1", PODNET_OUT=str((out.parent / "runs").resolve()),
                      MPLBACKEND="module://matplotlib_inline.backend_inline")
    links = {f"{p.stem}.ipynb": f"{p.stem}.html" for p in sources}

    def one(source: Path) -> Page:
        print(f"[book] {source.name} ...", flush=True)
        page = build_chapter(source, out, timeout, links)
        print(f"[book] {page.html_name}: {page.seconds:.0f}s"
              + (f", {page.errors} cell(s) raised" if page.errors else ""), flush=True)
        return page

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        pages = list(pool.map(one, sources))
    write_index(pages, out)
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the static HTML edition of the book.")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="output folder (default: build/book)")
    parser.add_argument("--only", action="append", metavar="PATTERN",
                        help="build only the chapters whose name matches (glob or part of it; repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="chapters executed at the same time (default: 1)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell (default: 900)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    pages = build(args.out.resolve(), args.only, args.jobs, args.timeout)
    failed = [p.source.name for p in pages if p.errors]
    print(f"[book] {len(pages)} chapter(s) in {time.perf_counter() - began:.0f}s: {args.out / 'index.html'}")
    if failed:
        print(f"error: cells raised in {', '.join(failed)} (their pages show the tracebacks)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
