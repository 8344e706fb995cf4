# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Ablations: which part of PODNet does what?
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/podnet-book/podnet-book/blob/main/notebooks/06_ablations.ipynb)
#
# **Learning goals**
#
# - Map each row of the paper's ablations (Tables 3a, 3b and 4) to configuration fields, and run
#   them with one library call.
# - Read an ablation honestly: measure the spread over seeds before calling a difference real.
# - Know what carries over from CIFAR-100 to a small dataset, and what does not.

# %%
import importlib, importlib.util, os, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("podnet_lib") is None:   # on Colab: install the library
    source = os.environ.get("PODNET_SOURCE", "git+https://github.com/podnet-book/podnet-book")  # a fork, a local copy
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)   # keeps Colab's torch, ipywidgets
    importlib.invalidate_caches()
# %matplotlib inline

# %% tags=["parameters"]
from podnet_lib.book.settings import settings

BOOK = settings()
FULL_GRID = not BOOK.fast              # every row of every table; fast mode runs a subset
SEEDS = [1] if BOOK.fast else [1, 2, 3]   # each variant is run once per seed (mean ± std reported)
MEMORY = 5                          # images per old class in our ablation setting (the paper: 20)
EPOCHS = 6                          # epochs a task (try 30: every variant reaches ~95 %, see below)
ABLATION_DIR = BOOK.out_dir / "ch06_ablations"   # one folder per distinct run; a rerun only loads them
print(f"fast mode: {BOOK.fast}, full grid: {FULL_GRID}, seeds {SEEDS}, outputs in {ABLATION_DIR}")

# %% [markdown]
# ## Our setting, and why it differs from the paper's
#
# The paper runs every ablation on CIFAR-100 with 50 steps of one class (51 tasks, ResNet-32,
# 160 epochs a task, 20 exemplars per class). That costs GPU-days. Here
# we use the `digits-fast` preset (8x8 digits, 5 base classes + 5 steps of one class, a small
# ResNet, **6 epochs a task**) with only **5 exemplars per class**, and every run takes seconds.
#
# We chose this setting by measuring. With the chapter 05 setting (20 exemplars, 30 epochs) the
# variants we tried (no POD, POD-flat, both POD terms) all reached 97-98 %, and with 5 exemplars
# and 30 epochs 94-96 %: rehearsal alone nearly solves 10 easy classes, and the differences sank
# into the seed noise. Fewer exemplars and fewer epochs leave room for differences. Two honest
# warnings:
#
# - the images are 8x8, so the stage outputs that POD-spatial pools are 8x8, 4x4, 2x2 and 2x2: the
#   pooling variants of Table 3b have little spatial structure to tell apart;
# - our numbers and the paper's are on **different datasets and protocols**. The paper's numbers
#   (labelled "paper, CIFAR-100 50 steps") are shown beside ours for their *ordering* only, and some
#   of their differences do not reproduce here.

# %%
import matplotlib.pyplot as plt

from podnet_lib.engine.presets import get_preset

base = get_preset("digits-fast").replace(memory_per_class=MEMORY, epochs=EPOCHS, device=BOOK.device.type)
print(f"base setting: {base.dataset}, {base.base_classes} base classes + steps of {base.increment}, "
      f"{base.epochs} epochs a task, M_per = {base.memory_per_class}, K = {base.proxies_per_class}, "
      f"lambda_c = {base.lambda_c}, lambda_f = {base.lambda_f}")

# %% [markdown]
# ## How noisy is one number?
#
# Before comparing variants, run the full PODNet with several seeds (network initialisation,
# batch order, augmentation): seeds 1 and 2 in fast mode, 1, 2 and 3 otherwise. A difference between two variants smaller than this spread is not
# evidence of anything.

# %%
from podnet_lib.report.ablations import ablation_table, run_ablation

noise = run_ablation({"PODNet": base}, ABLATION_DIR, seeds=sorted(set(SEEDS) | {1, 2}))
print(ablation_table(noise))

# %% [markdown]
# ## Table 3a: the classifier and the two distillation terms
#
# PODNet's loss (Sec. 3.3, an equation without a number) is the NCA loss on the LSC scores
# (eqs. 9-10) plus POD-final, eq. (7), which averages POD-spatial over the $L-1$ stage outputs:
#
# $$\mathcal{L} = \mathcal{L}_{\text{LSC}} + \mathcal{L}_{\text{POD-final}}, \qquad
#   \mathcal{L}_{\text{POD-final}} = \frac{\lambda_c}{L-1} \sum_{\ell=1}^{L-1} \mathcal{L}_{\text{POD-spatial}}(\mathbf{h}_\ell^{t-1}, \mathbf{h}_\ell^t)
#   + \lambda_f\, \mathcal{L}_{\text{POD-flat}}(\mathbf{h}^{t-1}, \mathbf{h}^t) , \quad (7)$$
#
# with POD-final multiplied by the authors' adaptive factor $\sqrt{N/T}$. A row of Table 3a switches
# a term off by setting its weight to 0 (`lambda_f`, `lambda_c`), and swaps the classifier:
# `classifier="cosine"` is UCIR's cosine classifier (eq. 8), `"lsc"` the Local Similarity
# Classifier with $K$ proxies per class (eq. 9), and LSC-CE keeps the LSC but trains it with plain
# cross-entropy (`classification_loss="ce"`) instead of NCA (eq. 10). The cosine rows are trained
# with that softmax cross-entropy too, as in the authors' ablation option file
# (`ablations/classifier/podnet_cnn_cosine_cifar100.yaml`): only the "lsc" rows use NCA. A term that
# is on keeps the base weight ($\lambda_f = 1$, $\lambda_c = 3$ in the authors' CIFAR-100 options).
# `table3a_configs` builds the rows:

# %%
from podnet_lib.paper import TABLE3A
from podnet_lib.report.ablations import table3a_configs

FAST_3A = ["cosine", "lsc", "lsc + flat", "lsc + spatial", "lsc + flat + spatial"]
configs_3a = {name: c for name, c in table3a_configs(base).items() if FULL_GRID or name in FAST_3A}
for name, c in configs_3a.items():
    print(f"{name:<25} classifier={c.classifier:<6} loss={c.classification_loss:<3} "
          f"lambda_f={c.lambda_f:<4} lambda_c={c.lambda_c}")

# %%
from podnet_lib.report.ablations import plot_ablation

rows_3a = run_ablation(configs_3a, ABLATION_DIR, TABLE3A, seeds=SEEDS)
print(ablation_table(rows_3a))
plot_ablation(rows_3a, "Table 3a: classifier and distillation terms")
plt.show()

# %% [markdown]
# The differences that matter, beside the seed spread measured above:

# %%
r3a = {r["variant"]: r for r in rows_3a}
spread_nme, spread_cnn = noise[0]["std_nme"], noise[0]["std_cnn"]


def gain(a: str, b: str) -> str:
    """b minus a, NME and CNN, in points."""
    return (f"NME {r3a[b]['avg_inc_acc_nme'] - r3a[a]['avg_inc_acc_nme']:+5.1f}, "
            f"CNN {r3a[b]['avg_inc_acc_cnn'] - r3a[a]['avg_inc_acc_cnn']:+5.1f}")


print(f"seed spread of one number (std):   NME {spread_nme:5.1f}, CNN {spread_cnn:5.1f}")
print(f"POD-flat added to LSC:             {gain('lsc', 'lsc + flat')}")
print(f"POD-spatial added to LSC:          {gain('lsc', 'lsc + spatial')}")
print(f"POD-spatial added to LSC + flat:   {gain('lsc + flat', 'lsc + flat + spatial')}")
print(f"LSC instead of cosine (no POD):    {gain('cosine', 'lsc')}")

# %% [markdown]
# What we found, against the paper (check each line against your own numbers above):
#
# - **Distillation helps, and POD-flat carries it here.** In the paper every POD term adds
#   accuracy over the LSC alone (41.6 → 61.4 NME). On our digits setting, POD-flat (the embedding)
#   gives a clear gain, largest for CNN inference: keeping the embedding where it was keeps the
#   frozen old proxies of the classifier valid.
# - **POD-spatial does not reproduce.** Alone, its gain is within the seed spread; on top of
#   POD-flat it lowered the CNN accuracy in our runs. On CIFAR-100 it is the largest single gain
#   (+19.9 NME over the LSC alone). A likely reason, which we have not proven: our stage outputs are
#   2x2 to 8x8, so there is little spatial structure to preserve, and 6 epochs leave little time to
#   learn a new class under a strong constraint.
# - **Cosine vs LSC** is within the spread here; the paper's gap is also small without POD
#   (40.8 vs 41.6 NME) and grows with it.
# %% [markdown]
# ## Table 3b: which pooling for the intermediate maps?
#
# Chapter 01 defined the poolings of a stage output $\mathbf{h}_\ell$ (eqs. 1-5): none at all
# (`pixel`), over channels (`channel`), global average (`gap`), over the width (eq. 4,
# `width`), over the height (`height`), and both together: POD-spatial (eq. 5, `spatial`). Every
# row keeps POD-flat; "none" is POD-flat alone (the same run as "lsc + flat" above, so it is loaded,
# not retrained).
#
# The weights follow the authors' ablation option files
# (`ablations/perceptual_losses/podnet_cnn_podFlat_pod*_cifar100.yaml`): the pooling rows use
# $\lambda_f = 5$ with their own $\lambda_c$ (pixel 2, channel 2, gap 5, width 3, height 3);
# "none" and "spatial" are the main configuration ($\lambda_f = 1$, $\lambda_c = 3$), whose
# numbers the paper repeats from Table 3a. One fact about the authors' code as published: its
# PODNet model reads only the `pod_flat` and `pod_spatial` options and never the `pod_channels` key
# that the channel, gap, width and height files set, so those files, run as stored, would train
# with POD-flat alone. We use the weights the files state.

# %%
from podnet_lib.paper import TABLE3B
from podnet_lib.report.ablations import table3b_configs

FAST_3B = ["none", "pixel", "gap", "spatial"]
configs_3b = {name: c for name, c in table3b_configs(base).items() if FULL_GRID or name in FAST_3B}
for name, c in configs_3b.items():
    print(f"{name:<8} pod_pooling={c.pod_pooling:<8} lambda_f={c.lambda_f:<4} lambda_c={c.lambda_c}")
rows_3b = run_ablation(configs_3b, ABLATION_DIR, TABLE3B, seeds=SEEDS)
print(ablation_table(rows_3b))
plot_ablation(rows_3b, "Table 3b: pooling of the intermediate distillation (all with POD-flat)")
plt.show()

# %% [markdown]
# In the paper, POD-pixel (no pooling) is the worst variant (too rigid: it forbids any change of
# the maps) and POD-spatial the best. On 8x8 digits the maps are tiny, and in our runs no pooling
# variant beats POD-flat alone ("none"); the stronger weights of the pooling rows ($\lambda_f = 5$)
# do not change that: this table does not reproduce on digits. The paper's GradCam and Perceptual Style rows are other
# papers' losses and are not built here.
#
# ## Table 4 and beyond: memory, proxies, adaptive factor
#
# **Memory per class.** The paper's Table 4 shows PODNet's lead over the baselines growing as the
# memory shrinks (26.2 points over the best baseline with NME at $M_{\text{per}} = 5$). We run
# PODNet and iCaRL (and UCIR in the full grid) at several $M_{\text{per}}$:

# %%
from podnet_lib.paper import TABLE4
from podnet_lib.report.ablations import memory_configs, plot_memory_ablation

memory_sizes = (5, 10, 20, 50) if FULL_GRID else (5, 20)
memory_methods = ("podnet", "icarl", "ucir") if FULL_GRID else ("podnet", "icarl")
rows_4 = run_ablation(memory_configs(base, memory_sizes, memory_methods), ABLATION_DIR, TABLE4, seeds=SEEDS)
print(ablation_table(rows_4))
plot_memory_ablation(rows_4, title="Table 4: average incremental accuracy vs memory per class")
plt.show()

# %% [markdown]
# Every method gains from a larger memory, as in the paper, and CNN inference gains the most. But
# the paper's headline, PODNet's lead growing as the memory shrinks, does not reproduce here: in our
# runs its lead over iCaRL is larger with 20 exemplars than with 5, and in the full grid UCIR's CNN
# inference holds up best with 5 exemplars.
#
# **Number of proxies $K$ and the adaptive factor.** The LSC's $K$ (eq. 9; the paper uses 10 on
# CIFAR-100, our digits presets 4) and the authors' factor $\sqrt{N/T}$ that scales the POD terms
# ($N$ classes seen, $T$ new ones: the smaller the new task relative to what must be remembered,
# the stronger the distillation). $K=1$ is a cosine classifier trained with NCA. The paper gives
# no table for these two, so there is no paper column.

# %%
from podnet_lib.report.ablations import adaptive_configs, proxies_configs

ks = (1, 2, 4, 10) if FULL_GRID else (1, 4)
rows_k = run_ablation({**proxies_configs(base, ks), **adaptive_configs(base)}, ABLATION_DIR, seeds=SEEDS)
print(ablation_table(rows_k))
plot_ablation(rows_k, "Proxies per class K and the adaptive factor sqrt(N/T)")
plt.show()

# %% [markdown]
# In our runs fewer proxies did better, by far for CNN inference ($K = 1$ or 2 above $K = 4$ and
# 10), and switching the adaptive factor off did not hurt. Both are the opposite of the choices the
# authors made for CIFAR-100; each extra proxy is one more vector per class to fit, from 5
# exemplars and 6 epochs a task. Our reading of the chapter: PODNet's recipe was tuned for 100
# classes, 51 tasks and 160 epochs a task. On a small and short protocol, the part that carries
# over is distilling the embedding (POD-flat); the rest needs the paper's scale to be judged, which
# is what the GPU rerun below is for.
#
# ## Everything in one table, and on disk
#
# Every run sits in its own folder under `ABLATION_DIR` (named by a hash of its configuration),
# with the usual `results.json` / `results.csv`, so any row can be plotted like a chapter 05 run.
# The same variants from a terminal, one run each, e.g. "lsc + flat" of Table 3a:
#
# ```bash
# python -m podnet_lib run --preset digits-fast --method podnet --set memory_per_class=5 --set lambda_c=0
# python -m podnet_lib run --preset cifar100-50steps-nme --download --device cuda --set lambda_c=0   # the paper's setting
# ```
#
# For the paper's own setting, replace `base` by `get_preset("cifar100-50steps-nme")` (GPU, hours per
# variant) and the same cells run Table 3 on CIFAR-100.

# %%
import csv

all_rows = rows_3a + rows_3b + rows_4 + rows_k
with open(ABLATION_DIR / "ablations.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(all_rows[0]))
    writer.writeheader()
    writer.writerows(all_rows)
print(f"{len(all_rows)} rows written to {ABLATION_DIR / 'ablations.csv'}; "
      f"{len(list(ABLATION_DIR.glob('run-*')))} distinct runs in {ABLATION_DIR}")

# %% [markdown]
# ## A report of the runs
#
# Every run above is saved on disk (results JSON/CSV per method). `podnet_lib.report.compare` turns saved
# runs into one report without retraining: average incremental accuracy table, accuracy curves of
# all runs on one figure, accuracy matrices, forgetting and the old-vs-new split. Here: the pooling
# variants of Table 3b (first seed). The same from a terminal:
# `python -m podnet_lib report RUN_DIR [RUN_DIR ...] --out DIR`.

# %%
from IPython.display import Image, Markdown, display

from podnet_lib.report.ablations import run_dir_of
from podnet_lib.report.compare import write_report

report_page = write_report([run_dir_of(ABLATION_DIR, c.replace(seed=SEEDS[0])) for c in configs_3b.values()],
                           BOOK.out_dir / "ch06_report", names=list(configs_3b))
print(f"report: {report_page}")
sections = report_page.with_name("report.md").read_text().split("\n## ")
display(Markdown("### " + sections[1]))                    # the average incremental accuracy table
display(Image(filename=str(report_page.parent / "figures" / "accuracy_curves_nme.png")))

# %% [markdown]
# ## Exercises
#
# **Exercise 1: a row of Table 3a as a configuration.** Given the base config and a row name
# (`"cosine"`, `"lsc + flat"`, `"lsc-ce + flat + spatial"`, ...), return the config of that row: set
# `classifier`, `classification_loss` (NCA for the "lsc" rows, cross-entropy for the cosine and
# LSC-CE rows), and the weights `lambda_f` / `lambda_c` (the base's weight when the term is on, 0
# when it is off).

# %%
from podnet_lib.config import Config
from podnet_lib.book.exercises.experiments import check_gain_over_baselines, check_table3a_config


def my_table3a_config(base: Config, name: str) -> Config:
    """name: a key of TABLE3A -> base.replace(...) with the fields of that row."""
    return base.replace(classifier="cosine" if name.startswith("cosine") else "lsc")  # TODO: the rest


check_table3a_config(my_table3a_config)

# %% [markdown]
# <details><summary>A solution</summary>
#
# ```python
# def my_table3a_config(base, name):
#     head, *terms = name.split(" + ")
#     return base.replace(classifier="cosine" if head == "cosine" else "lsc",
#                         classification_loss="nca" if head == "lsc" else "ce",
#                         lambda_f=base.lambda_f if "flat" in terms else 0.0,
#                         lambda_c=base.lambda_c if "spatial" in terms else 0.0)
# ```
# </details>
#
# **Exercise 2: check the paper's claim.** The paper writes that PODNet's improvement at
# $M_{\text{per}} = 5$ reaches 26.20 points with NME (13.42 with CNN). From Table 4 as a dict
# `{row: {M_per: accuracy}}`, return for each $M_{\text{per}}$ our row's accuracy minus the best
# *baseline* (every row whose name does not start with "podnet").

# %%
def my_gain_over_baselines(table: dict[str, dict[int, float]], ours: str) -> dict[int, float]:
    """-> {M_per: table[ours][M_per] - best baseline at M_per}."""
    raise NotImplementedError  # TODO


check_gain_over_baselines(my_gain_over_baselines)

# %% [markdown]
# <details><summary>A solution</summary>
#
# ```python
# def my_gain_over_baselines(table, ours):
#     baselines = [k for k in table if not k.startswith("podnet")]
#     return {m: table[ours][m] - max(table[b][m] for b in baselines) for m in table[ours]}
# ```
# With `TABLE4` and `"podnet (nme)"` it gives +26.20 at $M_{\text{per}}=5$, as the paper says;
# the gain shrinks as the memory grows, and at 200 the best baseline (BiC) is ahead of PODNet's NME.
# </details>
