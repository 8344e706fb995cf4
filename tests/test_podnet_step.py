"""Chapter 04 writes one PODNet task by hand: its own cells must give the library's numbers.

The test executes the chapter's cells tagged "step" (the chapter's code, not a copy), then lets
the library run the same task from the same checkpoint, and compares accuracies, losses,
exemplars and every parameter. A changed detail of the chapter's step must be caught.
"""
from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
import torch

from podnet_lib.engine.cache import trained_learner

CHAPTER = Path(__file__).resolve().parent.parent / "notebooks" / "04_the_podnet_step.py"
LIBRARY_CALLS = ("run_task", "run_phase", "_fit", "loss_terms", "before_task", "after_task", "_evaluate",
                 "_select_exemplars", "balanced_finetuning", ".imprint(")


def step_cells() -> list[str]:
    """The sources of the chapter's code cells tagged "step", in order."""
    cells = [c.source for c in jupytext.read(CHAPTER).cells
             if c.cell_type == "code" and "step" in c.metadata.get("tags", [])]
    assert len(cells) >= 6, f"{CHAPTER.name}: expected the step's cells to be tagged 'step', found {len(cells)}"
    return cells


def run_step(out_dir: Path, monkeypatch, change: tuple[str, str] | None = None) -> dict:
    """Execute the step cells in fast mode (outputs in out_dir); `change` replaces one line first."""
    monkeypatch.setenv("PODNET_FAST", "1")
    monkeypatch.setenv("PODNET_OUT", str(out_dir))
    source = "\n\n".join(step_cells())
    if change is not None:
        assert change[0] in source, f"{change[0]!r} is not in the chapter's step"
        source = source.replace(change[0], change[1])
    namespace: dict = {"__name__": "chapter04"}
    exec(compile(source, str(CHAPTER), "exec"), namespace)
    return namespace


def library_task(ns: dict, out_dir: Path):
    """The library's run of the same task, from the same base-task checkpoint."""
    learner = trained_learner(ns["cfg"], ns["CACHE"], upto_task=ns["TASK"] - 1)
    learner.out_dir = out_dir
    return learner, learner.run_task(ns["TASK"])


def largest_gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k] - sb[k]).abs().max().item() for k in sa if sa[k].is_floating_point())


@pytest.fixture(scope="module")
def chapter_and_library(tmp_path_factory):
    """The chapter's step and the library's task, run once from the same cached base task."""
    book_dir = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as monkeypatch:
        ns = run_step(book_dir, monkeypatch)
    learner, record = library_task(ns, book_dir / "library")
    return book_dir, ns, learner, record


def test_step_writes_the_task_out_instead_of_calling_the_library_loop():
    source = "\n".join(step_cells())
    used = [name for name in LIBRARY_CALLS if name in source]
    assert not used, f"the chapter's step calls the library's loop: {used}"
    for needed in ("nca_loss", "pod_final", "adaptive_factor", "kmeans", "herding_selection", "clip_grad_value_",
                   "freeze_old(True)", "class_means", "nme_predict", "iterate_batches", "augment("):
        assert needed in source, f"the chapter's step no longer uses {needed}"


def test_chapter_step_equals_the_library_task(chapter_and_library):
    _, ns, learner, record = chapter_and_library
    for key, value in ns["ours"].items():
        assert value == pytest.approx(getattr(record, key), abs=1e-6), key
    for key, value in ns["history"][-1].items():
        assert value == pytest.approx(record.losses[key], rel=1e-6), key
    assert ns["finetune_history"][-1] == pytest.approx(record.losses["finetune_loss"], rel=1e-6)
    assert torch.equal(ns["exemplars"], learner.store.all_indices())
    assert ns["net"].classifier.group_sizes == learner.net.classifier.group_sizes
    assert largest_gap(ns["net"], learner.net) < 1e-5
    assert record.old_acc_nme > 50 and record.new_acc_cnn > 50      # it learned the new class and kept the old ones


@pytest.mark.parametrize("change", [
    ("clf.freeze_old(True)", "clf.freeze_old(False)"),                       # old proxies train too
    ("factor = adaptive_factor(n_seen, n_new) if cfg.adaptive_factor else 1.0", "factor = 1.0"),   # no sqrt(N/T)
], ids=["old-proxies-not-frozen", "no-adaptive-factor"])
def test_a_changed_step_is_caught(chapter_and_library, monkeypatch, change):
    book_dir, _, learner, _ = chapter_and_library
    ns = run_step(book_dir, monkeypatch, change)
    assert largest_gap(ns["net"], learner.net) > 1e-4
