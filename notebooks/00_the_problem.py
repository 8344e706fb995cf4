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
# # 00 · The problem: class-incremental learning and catastrophic forgetting
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/podnet-book/podnet-book/blob/main/notebooks/00_the_problem.ipynb)
#
# **Learning goals**
#
# - State the class-incremental protocol of the paper (Sec. 4): a base task of $B$ classes, then
#   steps of `increment` new classes, a small memory of old images, evaluation on all classes seen.
# - Tell the two memory conventions apart: $M_{\text{per}}$ images per old class (the paper's) and
#   a total budget $M_{\text{total}}$.
# - Compute the paper's score, the **average incremental accuracy**, and read an accuracy matrix.
# - See catastrophic forgetting happen: a network fine-tuned on new classes only loses the old ones,
#   while joint training on all the data (the upper bound) keeps them.

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
PRESET = "digits-fast" if BOOK.fast else "digits"   # 6 epochs a task in fast mode, 30 otherwise
METHODS = ["finetune", "joint"]                   # the lower and the upper bound
RUN_DIR = BOOK.out_dir / f"ch00_{PRESET}"            # results are reused when this folder holds them
print(f"fast mode: {BOOK.fast}, device: {BOOK.device}, outputs in {BOOK.out_dir}")

# %% [markdown]
# ## Tasks, old classes and new classes
#
# An ordinary classifier is trained once on a fixed set of classes. In **class-incremental
# learning** it learns them by steps called *tasks*. The paper writes it as follows (Sec. 3): task
# $t$ brings a set of new classes $C_N^t$, the classes of earlier tasks are the old classes
# $C_O^t = C_O^{t-1} \cup C_N^{t-1}$, and after task $t$ the model must classify all of
# $C_O^t \cup C_N^t$. All training images of $C_N^t$ may be used, but of the old
# classes only a small **memory** of exemplars is left.
#
# The first task is the **base task** with $B$ classes; every later task, a **step**, adds
# `increment` classes. With $S$ steps there are $S + 1$ tasks, $t = 0, \dots, S$. (The paper
# counts the tasks with $T$; this book keeps $T$ for the new classes of a task, the letter of the
# authors' factor $\sqrt{N/T}$ in chapters 01 and 04. The notation table at the end of this
# chapter lists every symbol.)
# The order in which classes arrive is a **class order**. `podnet_lib.data` builds the protocol: the
# bundled 8x8 digits give 10 classes; `make_scenario` splits them into tasks.

# %%
from podnet_lib.data import class_order, load_dataset, make_scenario

splits = load_dataset("digits")
order = class_order("digits", splits.n_classes, order=0)
scenario = make_scenario(splits.n_classes, base=5, increment=1, class_order=order)
print(f"digits: {len(splits.train)} training and {len(splits.test)} test images, {splits.n_classes} classes")
print(f"class order {order}: {scenario.n_tasks} tasks\n")
for t in range(scenario.n_tasks):
    print(f"task {t}: new labels {scenario.task_classes(t)}, classes seen after it: {scenario.seen_classes(t)}")

# %% [markdown]
# Labels are **positions in the class order**: the class at position $k$ of the order gets label
# $k$. The classes of a task are then a contiguous range of labels, and "the classes seen so far"
# is simply `label < seen_classes(t)`. With another order (here seeded order 1) the digit called
# label 0 is another digit:

# %%
import torch

shuffled = make_scenario(10, base=5, increment=1, class_order=class_order("digits", 10, order=1))
print("class order 1:", list(shuffled.class_order))
for t in range(shuffled.n_tasks):
    labels = torch.tensor(shuffled.task_classes(t))
    print(f"task {t}: labels {labels.tolist()} are the digits {shuffled.to_original(labels).tolist()}")

# %% [markdown]
# What the network sees, task by task (order 0, base of 5 digits, then one digit per step):

# %%
import matplotlib.pyplot as plt

per_row = 10
fig, axes = plt.subplots(scenario.n_tasks, per_row, figsize=(per_row * 0.9, scenario.n_tasks * 1.05),
                         layout="constrained")
train_labels = scenario.to_label(splits.train.labels)
for t, row in enumerate(axes):
    idx = torch.nonzero(torch.isin(train_labels, torch.tensor(scenario.task_classes(t)))).flatten()[:per_row]
    for ax, i in zip(row, idx.tolist()):
        ax.imshow(splits.train.images[i, 0], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
    row[0].set_ylabel(f"task {t}", rotation=0, ha="right", va="center")
fig.suptitle("Training images of each task (task 0 = the base task of 5 classes)");

# %% [markdown]
# ## The paper's protocol (Sec. 4)
#
# On CIFAR-100 the models first learn $B = 50$ classes, then the 50 others in 50, 25, 10 or 5
# steps of 1, 2, 5 or 10 classes. "50 steps" is therefore **51 tasks**: the base task plus 50
# steps. The paper averages three class orders without listing them; the authors' code publishes
# them (`options/data/cifar100_3orders.yaml`), and the first is iCaRL's. `CIFAR100_ORDER_1` is that
# first order. Small steps are the hard case the paper targets: more tasks mean more occasions to
# forget the earliest classes.

# %%
from podnet_lib.data import CIFAR100_ORDER_1

for steps in (50, 25, 10, 5):
    cifar = make_scenario(100, base=50, increment=50 // steps, class_order=CIFAR100_ORDER_1)
    first_step = cifar.to_original(torch.tensor(cifar.task_classes(1))).tolist()
    print(f"{steps:2d} steps of {50 // steps:2d} classes: {cifar.n_tasks} tasks; "
          f"task 1 brings CIFAR-100 classes {first_step}")

# %% [markdown]
# ## The memory: $M_{\text{per}}$ or $M_{\text{total}}$
#
# The memory holds exemplars of old classes (chosen by herding, chapter 03). The paper discusses two
# conventions:
#
# - $M_{\text{per}}$: at most $M_{\text{per}}$ images **per old class** (the paper: 20); the memory
#   grows with the number of classes, and is small in the early tasks;
# - $M_{\text{total}}$: a **fixed total** (e.g. 2000) shared equally by the $N$ classes seen,
#   $\lfloor M_{\text{total}} / N \rfloor$ each; early tasks can keep many images per class.
#
# When $M_{\text{total}} = M_{\text{per}} \times$ (number of classes), both end with the same memory,
# but $M_{\text{per}}$ is harder on every earlier task. The paper uses $M_{\text{per}} = 20$
# (`memory_per_class` in `podnet_lib.config.Config`; `memory_total` is the other convention).

# %%
from podnet_lib.engine.memory import exemplars_per_class

cifar = make_scenario(100, base=50, increment=1)
seen = [cifar.seen_classes(t) for t in range(cifar.n_tasks)]
per = [exemplars_per_class(n, 20, None) for n in seen]
total = [exemplars_per_class(n, None, 2000) for n in seen]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
ax1.plot(seen, per, label="$M_{per}$ = 20")
ax1.plot(seen, total, label="$M_{total}$ = 2000")
ax1.set(xlabel="classes seen", ylabel="exemplars kept per class", title="Images per old class")
ax2.plot(seen, [m * n for m, n in zip(per, seen)], label="$M_{per}$ = 20")
ax2.plot(seen, [m * n for m, n in zip(total, seen)], label="$M_{total}$ = 2000")
ax2.set(xlabel="classes seen", ylabel="images in memory", title="Size of the memory (CIFAR-100, 50 steps)")
for ax in (ax1, ax2):
    ax.legend(), ax.grid(True, alpha=0.3)

# %% [markdown]
# ## Scoring a run: the average incremental accuracy
#
# After every task the model is tested on the test images of **all classes seen so far**,
# $C_O^t \cup C_N^t$. Let $a_t$ be that top-1 accuracy after task $t$. The paper scores a run with
# the **average incremental accuracy** of Rebuffi et al. (iCaRL), "averaging the accuracy at the end
# of each task (including the first)" (Sec. 2; Sec. 4 uses it, the formula is not numbered in the
# paper). With tasks $t = 0, \dots, S$, task 0 the base task:
#
# $$\bar{A} \;=\; \frac{1}{S+1} \sum_{t=0}^{S} a_t, \qquad
#   a_t = \text{top-1 accuracy on } C_O^t \cup C_N^t \text{ after task } t .$$
#
# A finer view is the **accuracy matrix** $A_{t,j}$: the accuracy on the classes of task $j$,
# measured after task $t$ ($j \le t$). Its row $t$ shows what the model still knows after task $t$;
# its column $j$ shows how one group of classes fares over time. The **forgetting** of task $j$
# (Chaudhry et al., 2018; not used by the paper) is its best accuracy before the last task minus its
# final one, $F_j = \max_{t \in [j, S-1]} A_{t,j} - A_{S,j}$.
#
# `podnet_lib.engine.metrics` computes all three: `average_incremental_accuracy`, `accuracy_matrix`,
# `forgetting`.

# %% [markdown]
# ## Catastrophic forgetting, live
#
# Two baselines bracket every method:
#
# - **finetune** (the lower bound): at each task the network trains on the new classes only, with
#   cross-entropy on a linear classifier that grows by one output per new class;
# - **joint** (the upper bound): at each task it trains on *all* the data of every class seen so
#   far, which the protocol forbids; it shows what a model could reach.
#
# Both run through the same incremental loop as PODNet (`podnet_lib.engine.experiment.run_experiment`),
# and both are scored with the two inference rules of the paper: **CNN** (the classifier's
# arg-max) and **NME** (the nearest mean of the exemplars in memory, chapter 03). The results are
# written to `RUN_DIR`; a second run of this cell reads them back instead of training again.

# %%
from podnet_lib.engine.experiment import run_experiment
from podnet_lib.engine.metrics import summary_table
from podnet_lib.engine.presets import get_preset

cfg = get_preset(PRESET).replace(methods=METHODS)
print(f"preset {PRESET}: base {cfg.base_classes} classes + steps of {cfg.increment}, "
      f"{cfg.epochs} epochs a task, memory {cfg.memory_per_class} images per class")
runs = run_experiment(cfg, RUN_DIR, resume=(RUN_DIR / "config.json").is_file(), bars=False)
print()
print(summary_table(list(runs.values())))

# %% [markdown]
# Task by task: the accuracy on all seen classes, and its split into old classes ($C_O^t$) and the
# new ones ($C_N^t$), with the classifier (CNN) and with NME.

# %%
for name, run in runs.items():
    print(f"\n{name}")
    print(f"{'task':>4} {'classes':>7} {'CNN all':>8} {'CNN old':>8} {'CNN new':>8} {'NME all':>8} {'NME old':>8}")
    for r in run.tasks:
        old_cnn = "-" if r.old_acc_cnn is None else f"{r.old_acc_cnn:.1f}"
        old_nme = "-" if r.old_acc_nme is None else f"{r.old_acc_nme:.1f}"
        print(f"{r.task:>4} {r.n_classes:>7} {r.acc_cnn:>8.1f} {old_cnn:>8} {r.new_acc_cnn:>8.1f} "
              f"{r.acc_nme:>8.1f} {old_nme:>8}")

# %% [markdown]
# The accuracy matrix makes the damage visible. For finetune (left, CNN), each new task is learnt
# perfectly (the diagonal) and every earlier task falls to zero as soon as the next one is trained:
# the old classes die. Joint training (right) keeps every column high.

# %%
from podnet_lib.report.plots import plot_accuracy_matrix

fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
plot_accuracy_matrix(runs["finetune"], "cnn", ax=axes[0])
plot_accuracy_matrix(runs["joint"], "cnn", ax=axes[1]);

# %% [markdown]
# The accuracy curves, as the paper draws them (Fig. 4): accuracy on all seen classes against the
# number of classes seen; the legend gives each run's average incremental accuracy $\bar{A}$.

# %%
from podnet_lib.report.plots import plot_accuracy_curves

fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
for ax, metric in zip(axes, ("cnn", "nme")):
    plot_accuracy_curves(list(runs.values()), metric, ax=ax)
    ax.legend(loc="center right", title="method (avg. incremental acc.)", fontsize="small", title_fontsize="small")

# %% [markdown]
# Follow one group of classes through time: column $j$ of the accuracy matrix, the accuracy on the
# classes introduced by task $j$, after each later task. With finetune the base classes (task 0)
# drop at the first step; with joint they stay.

# %%
from podnet_lib.engine.metrics import accuracy_matrix

fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained", sharey=True)
for ax, name in zip(axes, METHODS):
    matrix = accuracy_matrix(runs[name], "cnn")
    for j in range(matrix.shape[0] - 1):
        ax.plot(range(j, matrix.shape[0]), matrix[j:, j], marker="o", label=f"classes of task {j}")
    ax.set(xlabel="after task t", ylabel="top-1 accuracy, CNN (%)", title=f"{name}: each task's classes over time",
           ylim=(-3, 103))
    ax.grid(True, alpha=0.3)
axes[1].legend(fontsize="small");

# %% [markdown]
# And the forgetting of each task, $F_j$, for both methods:

# %%
from podnet_lib.report.plots import plot_forgetting

fig = plot_forgetting(list(runs.values()), "cnn")
fig.axes[0].set_ylim(0, 125);  # room for the legend above the bars

# %% [markdown]
# **Why the classifier forgets so completely.** During a finetune task every training image
# belongs to the new class; cross-entropy is minimised by making that class win for *any* input,
# and nothing in the loss defends the old classes. NME suffers less: it does not use the classifier
# but the class means of the exemplars, computed with the current features, and the features
# still separate the old digits to a degree. Still, the features drift too and NME decays.
#
# PODNet attacks both sides of this: a distillation loss that keeps the features from drifting
# (POD, chapter 01) and a classifier that is robust to what drift remains (LSC, chapter 02), with a
# memory of 20 exemplars per class to rehearse the old classes.

# %% [markdown]
# ## PODNet in one picture
#
# At task $t$ the model of task $t-1$ becomes a frozen **teacher** and a copy of it, the
# **student**, learns the new classes. POD (Sec. 3.1) compares their outputs at every stage
# $\mathbf{h}_\ell$ after pooling them over the width and over the height (POD-spatial, eq. 5),
# and their embeddings $\mathbf{h}$ (POD-flat, eq. 6); eq. (7) weighs and adds the two. The
# classifier is the LSC (Sec. 3.2): $K$ proxies per class, a class score per eq. (9), trained with
# the NCA loss of eq. (10). The total loss of Sec. 3.3 is the sum of the two. Chapters 01 to 04 take
# the parts one at a time; the picture follows the idea of the paper's Fig. 2 and 3.

# %%
from podnet_lib.book.widgets.diagram import plot_method_diagram

plot_method_diagram();

# %% [markdown]
# ## Exercises
#
# **1. Which labels does each task introduce?** Write `task_classes(n_classes, base, increment)`
# returning one list of labels per task, task 0 first. Labels are positions in the class order, so
# the base task holds `0 .. base-1`. (When `base == n_classes` there is a single task.)

# %%
def task_classes(n_classes: int, base: int, increment: int) -> list[list[int]]:
    raise NotImplementedError  # TODO: the base task, then one list of `increment` labels per step


from podnet_lib.book.exercises.protocol import check_task_classes

check_task_classes(task_classes)

# %% [markdown]
# **2. The average incremental accuracy.** `accuracies[t]` is the top-1 accuracy (%) on all seen
# classes after task $t$, task 0 being the base task. The stub below forgets something the paper's
# definition includes: fix it.

# %%
def average_incremental_accuracy(accuracies: list[float]) -> float:
    return sum(accuracies[1:]) / len(accuracies[1:])  # TODO: compare with the definition above


from podnet_lib.book.exercises.protocol import check_average_incremental_accuracy

check_average_incremental_accuracy(average_incremental_accuracy)

# %% [markdown]
# **3. Forgetting.** `matrix` is an $(S+1) \times (S+1)$ numpy array with `matrix[t, j]` the accuracy
# on the classes of task $j$ after task $t$ (NaN above the diagonal). Return the forgetting $F_j$ of
# each task $j < S$ as an array of length $S$ (empty for a single task). Careful: a task's best accuracy
# is not always the one right after it was learnt.

# %%
import numpy as np


def forgetting(matrix: np.ndarray) -> np.ndarray:
    raise NotImplementedError  # TODO: best accuracy before the last task minus the final one


from podnet_lib.book.exercises.protocol import check_forgetting

check_forgetting(forgetting)

# %% [markdown]
# <details><summary>Solutions</summary>
#
# ```python
# def task_classes(n_classes, base, increment):
#     tasks = [list(range(base))]
#     for start in range(base, n_classes, increment):
#         tasks.append(list(range(start, start + increment)))
#     return tasks
#
# def average_incremental_accuracy(accuracies):
#     return sum(accuracies) / len(accuracies)          # the base task counts
#
# def forgetting(matrix):
#     last = matrix.shape[0] - 1
#     return np.array([matrix[j:last, j].max() - matrix[last, j] for j in range(last)])
# ```
# </details>

# %% [markdown]
# ## Notation used in every chapter
#
# | symbol | meaning | in the code |
# | --- | --- | --- |
# | $t$ | a task; $t = 0$ is the base task | `task` |
# | $S$ | number of steps after the base task, so $S + 1$ tasks (the paper writes $T$ tasks) | `scenario.n_tasks - 1` |
# | $B$ | classes of the base task (in tensor shapes, `B` is the batch size) | `base_classes` |
# | $C_N^t$, $C_O^t$ | new and old classes of task $t$ | `scenario.task_classes(t)` |
# | $N$ | classes seen after the current task, new ones included | `n_seen` |
# | $T$ | new classes of the current task, as in the authors' factor $\sqrt{N/T}$ | `n_new`, `increment` |
# | $M_{\text{per}}$, $M_{\text{total}}$ | exemplars kept per old class; a total budget shared by the $N$ classes | `memory_per_class`, `memory_total` |
# | $\mathbf{x}$ | an input image | `images` |
# | $\mathbf{h}_\ell$ | output of stage $\ell$ of the ConvNet $f$, shape (B, C, H, W) | `out.maps[l]` |
# | $\mathbf{h} = f(\mathbf{x})$ | the embedding, input of the classifier $g$; a superscript $t$ or $t-1$ names the student or the teacher | `out.features` |
# | $\theta_{c,k}$ | proxy $k$ of class $c$ in the LSC (eq. 9); $\theta_c$ the weight of class $c$ in the cosine classifier (eq. 8) | `classifier.proxies` |
# | $K$ | proxies per class | `proxies_per_class` |
# | $\hat{y}_c$ | class score of class $c$ (eq. 9) | `out.scores` |
# | $\eta$ | the learned scale of the scores (eqs. 8 and 10) | `classifier.scale` |
# | $\delta$ | the NCA margin (eq. 10) | `nca_margin` |
# | $\lambda_c$, $\lambda_f$ | weights of POD-spatial and POD-flat (eq. 7) | `lambda_c`, `lambda_f` |
# | $a_t$, $\bar{A}$ | accuracy on all seen classes after task $t$; their average, the paper's score | `acc_nme`, `acc_cnn`; `average_incremental_accuracy` |
# | $A_{t,j}$, $F_j$ | accuracy on the classes of task $j$ after task $t$; forgetting of task $j$ | `accuracy_matrix`, `forgetting` |
#
# ## Further reading
#
# - **LwF**: Li and Hoiem, *Learning without Forgetting*, ECCV 2016 (TPAMI 2018). Distils the old
#   model's outputs on the new images, with no memory at all. The ancestor of every distillation
#   loss here; the library's `lwf` method.
# - **iCaRL**: Rebuffi, Kolesnikov, Sperl and Lampert, *iCaRL: Incremental Classifier and
#   Representation Learning*, CVPR 2017. Brought the class-incremental protocol, the memory of
#   exemplars chosen by herding, nearest-mean-of-exemplars (NME) inference and the average
#   incremental accuracy. This chapter's score, chapter 03's herding and NME, the `icarl` baseline.
# - **UCIR**: Hou, Pan, Loy, Wang and Lin, *Learning a Unified Classifier Incrementally via
#   Rebalancing*, CVPR 2019. Brought the cosine classifier with a learned scale, distillation of the
#   embedding ("less-forget") and the CNN inference; the base protocol of 50 classes then small
#   steps. Chapter 02's eq. (8), the `ucir` baseline.
# - **PODNet**: Douillard, Cord, Ollion, Robert and Valle, *PODNet: Pooled Outputs Distillation for
#   Small-Tasks Incremental Learning*, ECCV 2020. Brought POD, distillation of pooled stage outputs
#   (chapter 01), the LSC with several proxies per class and the NCA loss (chapter 02), and long runs
#   of many small steps (chapters 04 to 06).
