"""The diagram of the method (the idea of the paper's Fig. 2 and 3): its labelled parts and highlight."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from podnet_lib.book.widgets.diagram import COLOURS, STAGES, plot_method_diagram  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.axes[0].texts)


def test_the_diagram_names_every_part_with_its_equation():
    text = _texts(plot_method_diagram())
    assert text.count("POD-spatial\neq. (5)") == STAGES            # one per stage output
    for label in ("POD-flat\neq. (6)", "POD-final, eq. (7)", "LSC $g$, eq. (9)", "NCA loss\neq. (10)",
                  "teacher", "student", "embedding", r"\theta_{c,k}", "total loss (Sec. 3.3)"):
        assert label in text, label
    assert all(f"stage {i}" in text for i in range(1, STAGES + 1))


def test_highlight_fades_the_other_part_only():
    fig = plot_method_diagram("lsc")
    ax = fig.axes[0]
    pod_texts = [t for t in ax.texts if t.get_color() == COLOURS["pod"]]
    lsc_texts = [t for t in ax.texts if t.get_color() == COLOURS["lsc"]]
    assert pod_texts and lsc_texts
    assert all(t.get_alpha() is not None and t.get_alpha() < 1 for t in pod_texts)
    assert all(t.get_alpha() in (None, 1.0) for t in lsc_texts)
    plain = plot_method_diagram()
    assert all(t.get_alpha() in (None, 1.0) for t in plain.axes[0].texts)


def test_an_unknown_highlight_is_refused():
    with pytest.raises(ValueError, match="highlight must be one of"):
        plot_method_diagram("classifier")
