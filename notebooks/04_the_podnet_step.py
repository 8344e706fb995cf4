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
# # 04 · The PODNet step, written out
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/podnet-book/podnet-book/blob/main/notebooks/04_the_podnet_step.ipynb)
#
# Chapters 01-03 took PODNet apart: POD (eqs. 1-7), the local similarity classifier and its NCA
# loss (eqs. 8-10), herding and NME. Here we put it back together and write **one incremental
# task** of PODNet as plain PyTorch, in the order the authors' recipe runs it: copy the teacher,
# imprint the new proxies, train with $\mathcal{L}_{\text{LSC}} + \mathcal{L}_{\text{POD-final}}$,
# select exemplars, finetune the classifier on a class-balanced memory, evaluate. The library gives
# the equations and small tools (batches, augmentation, k-means, herding, NME); the loops, the phases
# and the recipe are written here. At the end the library runs the same task, and the two give the
# same numbers.
#
# **Learning goals**
#
# - Read a whole PODNet task top to bottom and name, for each line, the equation of the paper or
#   the line of the authors' recipe (`options/podnet/podnet_cnn_cifar100.yaml`) it comes from.
# - Know which parameters each phase trains: the backbone, the new proxies and the scale $\eta$ in
#   the main training; every proxy, and nothing else, in the class-balanced finetuning.
# - Check a re-implementation against a reference to float precision, by drawing every random
#   number from the same generators in the same order.

# %%
import importlib, importlib.util, os, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("podnet_lib") is None:   # on Colab: install the library
    source = os.environ.get("PODNET_SOURCE", "git+https://github.com/podnet-book/podnet-book")  # a fork, a local copy
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)   # keeps Colab's torch, ipywidgets
    importlib.invalidate_caches()
# %matplotlib inline

# %% tags=["parameters", "step"]
from podnet_lib.book.settings import settings

BOOK = settings()
PRESET = "digits-fast" if BOOK.fast else "digits-podnet"   # 8x8 digits, 5 base classes + 5 steps of 1
TASK = 1                                                   # the task written out below (>= 1)
print(f"fast mode: {BOOK.fast}, preset {PRESET}, task {TASK}, outputs in {BOOK.out_dir}")

# %% [markdown]
# ## Where the task starts
#
# A task $t \ge 1$ starts from the model trained on tasks $0, \dots, t-1$ and the memory of
# exemplars of the old classes. We take them from the library's cache (`trained_learner`): the first
# run of the chapter trains the base task (seconds on a CPU), later runs load its checkpoint.
# Everything runs on the CPU, so that the comparison at the end is exact.
#
# From the learner we keep only data: the network `net` (backbone $f$ and classifier $g$), the
# training and test images (labels are positions in the class order, 0, 1, 2, ...), the
# augmentation recipe `spec`, and the memory as a dict *class → dataset indices of its exemplars*.

# %% tags=["step"]
import torch

from podnet_lib.engine.cache import trained_learner
from podnet_lib.engine.presets import get_preset

cfg = get_preset(PRESET).replace(device="cpu", methods=("podnet",))
device = torch.device(cfg.device)
CACHE = BOOK.out_dir / f"ch04_{PRESET}"
base = trained_learner(cfg, CACHE, upto_task=TASK - 1)

net, train_set, test_set, spec = base.net, base.train_set, base.test_set, base.spec
memory = {c: base.store.indices(c) for c in sorted(base.store.rankings)}      # class -> exemplar indices
new_classes = base.scenario.task_classes(TASK)
n_seen, n_new = base.scenario.seen_classes(TASK), len(new_classes)              # N and T of the paper
print(f"before task {TASK}: {len(memory)} old classes, {sum(len(i) for i in memory.values())} exemplars; "
      f"NME accuracy {base.result.tasks[-1].acc_nme:.1f} %")
print(f"task {TASK} adds class(es) {new_classes}: N = {n_seen} classes seen, T = {n_new} new")
print(f"recipe: {cfg.epochs} epochs, lr {cfg.lr}, batch {cfg.batch_size}, K = {cfg.proxies_per_class} proxies, "
      f"λc = {cfg.lambda_c}, λf = {cfg.lambda_f}, clamp ±{cfg.grad_clip}, finetuning {cfg.finetune_epochs} epochs")

# %% [markdown]
# **Random numbers.** Every random draw of a task comes from a generator seeded by (run seed, task,
# purpose): `generator(seed, t, "imprint")` for k-means, `"train"` for the batches and
# augmentations of the main training, `"finetune"` for the finetuning. The library does the same,
# so if we draw in the same order we get the same model, bit for bit.
#
# ## 1. The teacher, and new proxies by imprinting
#
# The teacher $f^{t-1}$ is a frozen copy of the current model: it is never trained, it only says
# what the old model thought of each batch.
#
# The new class needs $K$ proxies $\theta_{c,k}$ in the LSC (eq. 9). Sec. 3.2, *Weight
# initialization for new classes*: extract the features of the class's training images with the
# current model, split them into $K$ clusters by k-means, and start the proxies at the centres
# (the authors' `weight_generation: {type: imprinted, multi_class_diff: kmeans}`). The features
# are L2-normalised first, and the centres are multiplied by the mean norm of the existing proxies,
# so that the new class starts on the same footing as the old ones. As in the authors' code, the
# $K > 1$ centres are not normalised before that: a mean of unit vectors is shorter than 1, the
# more so the more spread its cluster. The LSC's scores only see directions; the norm sets how far
# a gradient step turns a proxy.
#
# The old proxies are then **frozen** for the main training (the authors'
# `groupwise_factors: {old_weights: 0.}`): the new class cannot win by pushing old proxies away.

# %% tags=["step"]
import torch.nn.functional as F

from podnet_lib.data.loading import class_indices
from podnet_lib.engine.inference import extract
from podnet_lib.engine.train import generator, task_seed
from podnet_lib.model.kmeans import kmeans


def embed(dataset, indices: torch.Tensor, flip: bool = False):
    """Features (N, D), scores (N, C) and labels (N,) of un-augmented images, model in eval mode."""
    return extract(net, dataset, indices, spec, device, cfg.eval_batch_size, flip=flip)


torch.manual_seed(task_seed(cfg.seed, TASK, "init"))       # nothing below draws from it; the library seeds it too
teacher = net.frozen_copy()                                 # f^{t-1}: eval mode, no gradients
clf = net.classifier                                        # the LSC, eq. (9)

new_idx = class_indices(train_set.labels, new_classes).cpu()
feats, _, labels = embed(train_set, new_idx)
norm = clf.proxies.detach().norm(dim=1).mean().item()       # mean norm of the existing proxies
gen = generator(cfg.seed, TASK, "imprint")
rows = []
for c in new_classes:
    centres = kmeans(F.normalize(feats[labels == c], dim=1), cfg.proxies_per_class, generator=gen)   # (K, D)
    if cfg.proxies_per_class == 1:
        centres = F.normalize(centres, dim=1)               # one proxy: the normalised class mean
    rows.append(centres * norm)
init = torch.cat(rows)                                      # (T * K, D)
clf.add_classes(n_new, init)
clf.freeze_old(True)                                        # old proxies: no gradient this task
print(f"proxies: {clf.group_sizes} classes per group, {clf.proxies.shape[0]} in all; "
      f"trainable groups: {[g.requires_grad for g in clf.groups]}")

# %% [markdown]
# ## 2. The loss of a batch: $\mathcal{L} = \mathcal{L}_{\text{LSC}} + \mathcal{L}_{\text{POD-final}}$
#
# The student's forward pass gives its stage outputs $h_\ell$, its embedding $h$ and the LSC scores
# $\hat y_c$ of eq. (9) (`net(x).scores`, chapter 02). The teacher's pass, without gradients, gives
# its $h_\ell$ and $h$.
#
# - **NCA on the LSC scores**, eq. (10), with the learned scale $\eta$ (`clf.scale`, the authors'
#   `postprocessor_config: learned_scaling`) and the margin $\delta$ (`nca: margin: 0.6`). The form
#   of the authors' code is the default (`cfg.nca_form`; chapter 02 shows why its margin cancels).
# - **POD-final**, eq. (7): $\lambda_c$ times the mean over stages of POD-spatial plus $\lambda_f$
#   times POD-flat (`pod_spatial.scheduled_factor: 3.0`, `pod_flat.scheduled_factor: 1.0`).
#   The authors multiply it by $\sqrt{N/T}$, N classes seen and T new: the fewer new classes a
#   task brings, the harder it holds on to the old model (`adaptive_factor`).
#
# We call `pod_final` once per half so that the two are logged apart; their sum is eq. (7).

# %% tags=["step"]
from podnet_lib.model.classifiers import nca_loss
from podnet_lib.model.pod import adaptive_factor, pod_final

factor = adaptive_factor(n_seen, n_new) if cfg.adaptive_factor else 1.0        # sqrt(N / T)


def podnet_loss(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The named loss terms of one augmented batch x (B, C, H, W) with labels y (B,)."""
    out = net(x)                                            # student: maps h_l, embedding h, scores ŷ
    with torch.no_grad():
        old = teacher(x)                                    # teacher f^{t-1}
    return {
        "nca": nca_loss(out.scores, y, clf.scale, cfg.nca_margin, cfg.nca_hinge, cfg.nca_form),    # eq. (10)
        "pod_spatial": pod_final(old.maps, out.maps, old.features, out.features,                   # eq. (7), λc half
                                 cfg.lambda_c, 0.0, cfg.pod_form, factor, cfg.pod_pooling),
        "pod_flat": pod_final(old.maps, out.maps, old.features, out.features,                      # eq. (7), λf half
                              0.0, cfg.lambda_f, cfg.pod_form, factor, cfg.pod_pooling),
    }


# %% [markdown]
# ## 3. The main training
#
# The task trains on the new class's images plus the memory. SGD with momentum and weight
# decay, the learning rate following a cosine from `lr` to 0 over the epochs, stepped once per
# epoch (`scheduling: cosine`). The optimiser gets every parameter that still wants a gradient:
# the backbone, the new proxies and $\eta$, not the frozen old proxies.
#
# Each step clamps every gradient coordinate to $[-5, 5]$ before the update, as the authors'
# training code does with a hook on each parameter (the paper does not mention it). Batches are
# shuffled by the `"train"` generator and augmented with draws from the same generator: shift,
# brightness, and a horizontal flip where the dataset allows it (not for digits).

# %% tags=["step"]
from tqdm.auto import trange

from podnet_lib.data import augment
from podnet_lib.data.loading import iterate_batches

indices = torch.cat([new_idx] + [memory[c] for c in sorted(memory)])     # new images + exemplars
params = [p for p in net.parameters() if p.requires_grad]                 # backbone, new proxies, η
opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
gen = generator(cfg.seed, TASK, "train")
history: list[dict[str, float]] = []                      # per epoch, the mean of each loss term

net.train()
for epoch in trange(cfg.epochs, desc=f"task {TASK} train", leave=False):
    sums, n_batches = {}, 0
    for images, y in iterate_batches(train_set, indices, cfg.batch_size, shuffle=True, generator=gen, device=device):
        terms = podnet_loss(augment(images, spec, gen), y)
        opt.zero_grad(set_to_none=True)
        (terms["nca"] + terms["pod_spatial"] + terms["pod_flat"]).backward()      # L_LSC + L_POD-final
        torch.nn.utils.clip_grad_value_(params, cfg.grad_clip)                     # the clamp
        opt.step()
        sums = {k: sums.get(k, 0.0) + v.detach() for k, v in terms.items()}
        n_batches += 1
    history.append({k: float(v) / n_batches for k, v in sums.items()})
    schedule.step()
print("last epoch:", {k: round(v, 4) for k, v in history[-1].items()})

# %% [markdown]
# ## 4. Herding the new class's exemplars
#
# With the trained model, herding (chapter 03) ranks the new class's training images so that the
# mean of the first $m$ stays closest to the class mean, and the memory keeps those $m$. With
# $M_{\text{per}}$ every class keeps 20; with $M_{\text{total}}$ the old classes would shrink to
# their first $m$.

# %% tags=["step"]
from podnet_lib.engine.memory import exemplars_per_class, herding_selection

m = exemplars_per_class(n_seen, cfg.memory_per_class or None, cfg.memory_total or None)
feats, _, labels = embed(train_set, new_idx)
for c in new_classes:
    memory[c] = new_idx[labels == c][herding_selection(feats[labels == c], m)]
memory = {c: memory[c][:m] for c in sorted(memory)}
exemplars = torch.cat(list(memory.values()))              # (n_seen * m,) dataset indices, classes in order
print(f"memory: {len(memory)} classes x {m} = {len(exemplars)} exemplars")

# %% [markdown]
# ## 5. Class-balanced finetuning of the classifier
#
# The main training saw about 135 images of the new class and 20 of each old class, so the new
# proxies had it easy. The authors then finetune on the memory alone, where every class has the
# same number of images (`finetuning_config: {sampling: undersampling, tuning: classifier,
# lr: 0.05, epochs: 20}`; here `cfg.finetune_epochs`):
#
# - only the proxies train, all of them, old ones unfrozen; not the backbone, not $\eta$;
# - the backbone's features carry no gradient, but it stays in train mode, as in the authors'
#   code, so its BatchNorm statistics follow the memory's batches;
# - a constant learning rate `finetune_lr`, the gradient clamp still on, the loss is NCA alone
#   (POD would give the proxies no gradient anyway).

# %% tags=["step"]
clf.freeze_old(False)
proxies = list(clf.groups)                                # every class's proxies: not η, not the backbone
opt = torch.optim.SGD(proxies, lr=cfg.finetune_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
gen = generator(cfg.seed, TASK, "finetune")
finetune_history: list[float] = []

net.train()
for epoch in trange(cfg.finetune_epochs, desc=f"task {TASK} finetune", leave=False):
    total, n_batches = 0.0, 0
    for images, y in iterate_batches(train_set, exemplars, cfg.batch_size, shuffle=True, generator=gen, device=device):
        x = augment(images, spec, gen)
        with torch.no_grad():
            h = net.backbone(x).features                  # embedding h, no gradient to f
        loss = nca_loss(clf(h), y, clf.scale, cfg.nca_margin, cfg.nca_hinge, cfg.nca_form)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(proxies, cfg.grad_clip)
        opt.step()
        total, n_batches = total + loss.detach(), n_batches + 1
    finetune_history.append(float(total) / n_batches)
print(f"finetuning, last epoch: NCA {finetune_history[-1]:.4f}")

# %% [markdown]
# ## 6. Evaluation: NME and CNN
#
# On the test images of every class seen so far: **NME** compares each image's embedding with the
# class means of the exemplars (and of their mirror images where flips make sense), **CNN** takes
# the class of the highest LSC score (chapter 03). We split the accuracy into the old classes and
# the new one: forgetting shows in the first, learning in the second.

# %% tags=["step"]
from podnet_lib.engine.inference import class_means, nme_predict
from podnet_lib.engine.metrics import group_accuracies, top1_accuracy

test_feats, test_scores, test_labels = embed(test_set, class_indices(test_set.labels, list(range(n_seen))).cpu())
ex_feats, _, ex_labels = embed(train_set, exemplars)
flipped = embed(train_set, exemplars, flip=True)[0] if spec.flip else None
predictions = {"nme": nme_predict(test_feats, class_means(ex_feats, ex_labels, n_seen, flipped)),
               "cnn": test_scores[:, :n_seen].argmax(dim=1)}
is_new = (test_labels >= n_seen - n_new).long()            # 0: an old class, 1: a new one
ours: dict[str, float] = {}
for kind, pred in predictions.items():
    ours[f"acc_{kind}"] = top1_accuracy(pred, test_labels)
    ours[f"old_acc_{kind}"], ours[f"new_acc_{kind}"] = group_accuracies(pred, test_labels, is_new, 2)
print({k: round(v, 2) for k, v in ours.items()})

# %% [markdown]
# ## The library runs the same task
#
# Now the library: a second learner restored from the same base-task checkpoint runs
# `run_task(TASK)`, the one call that `run_experiment` makes for each task. Its task-1 checkpoint is
# written to another folder, so that the cache keeps the base task for the next run of the chapter.
# An epoch hook records the library's mean losses of every epoch.

# %%
library = trained_learner(cfg, CACHE, upto_task=TASK - 1)
library.out_dir = BOOK.out_dir / f"ch04_{PRESET}_library"
library_history: dict[str, list[dict[str, float]]] = {"train": [], "finetune": []}
library.epoch_hooks.append(lambda learner, info, phase, epoch, means: library_history[phase.name].append(means))
record = library.run_task(TASK)

rows = [(k, ours[k], getattr(record, k)) for k in ours]
rows += [(f"{k} (last epoch)", history[-1][k], record.losses[k]) for k in history[-1]]
rows += [("finetune nca (last epoch)", finetune_history[-1], record.losses["finetune_loss"])]
print(f"{'':<26}{'this chapter':>14}{'library':>14}{'difference':>12}")
for name, a, b in rows:
    print(f"{name:<26}{a:>14.6f}{b:>14.6f}{abs(a - b):>12.1e}")
ours_state, library_state = net.state_dict(), library.net.state_dict()
gap = max((ours_state[k] - library_state[k]).abs().max().item() for k in ours_state if ours_state[k].is_floating_point())
print(f"largest difference between the two networks' parameters and BatchNorm statistics: {gap:.1e}")
agree = gap < 1e-5 and torch.equal(exemplars, library.store.all_indices()) and all(a == b for _, a, b in rows[:len(ours)])
print("same exemplars, same accuracies, parameters within 1e-5:", agree)

# %% [markdown]
# The two agree to the last digit that float32 keeps: same imprinted proxies, same batches, same
# gradients, same exemplars, same predictions. The curves below are the loss terms of each epoch,
# ours as lines and the library's as circles on top of them.
#
# Reading them: the NCA loss falls as the new class is learned. POD is not zero even on the first
# batch, before any update: the student trains in train mode, where BatchNorm normalises with the
# batch's own statistics, while the teacher runs in eval mode with its running averages (as in the
# authors' code). It is largest in the first epochs, when the learning rate is highest and the new
# class pulls the features away, and falls as the cosine schedule lowers the learning rate: its
# weight $\lambda_c\sqrt{N/T}$ (here $3\sqrt{6} \approx 7.3$) makes every bit of drift from the
# teacher expensive. The finetuning loss is NCA on the balanced memory only.

# %%
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

fig, (ax_train, ax_tune) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
epochs = range(1, cfg.epochs + 1)
for k, colour in (("nca", "C0"), ("pod_spatial", "C1"), ("pod_flat", "C2")):
    ax_train.plot(epochs, [h[k] for h in history], color=colour, label=k)
    ax_train.plot(epochs, [h[k] for h in library_history["train"]], "o", color=colour, ms=6, mfc="none")
top = 1.25 * max(v for h in history for v in h.values())                  # room for the legend
ax_train.set(xlabel="epoch", ylabel="mean loss over the epoch's batches", ylim=(0, top),
             title=f"Task {TASK}, main training (lines: this chapter, circles: library)")
ax_train.legend(loc="upper center", ncol=3, fontsize=9)
tune_epochs = range(1, cfg.finetune_epochs + 1)
ax_tune.plot(tune_epochs, finetune_history, color="C3")
ax_tune.plot(tune_epochs, [h["loss"] for h in library_history["finetune"]], "o", color="C3", ms=6, mfc="none")
ax_tune.set(xlabel="epoch", ylabel="mean NCA loss", title="Class-balanced finetuning")
for ax in (ax_train, ax_tune):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
fig.tight_layout()
plt.show()

# %% [markdown]
# **Where the library keeps each piece.** The step above is spread over the library as one loop
# and one recipe, so that every method shares the loop:
#
# | step | this chapter | library |
# |---|---|---|
# | teacher, seeds | `net.frozen_copy()` | `IncrementalLearner.run_task` |
# | imprint, freeze | k-means on normalised features | `Method.before_task`, `ProxyClassifier.imprint` |
# | loss of a batch | `podnet_loss` | `PODNet.loss_terms` |
# | SGD, clamp, cosine | the training loop | `IncrementalLearner.run_phase` with a `Phase` |
# | herding | `herding_selection` | `IncrementalLearner._select_exemplars` |
# | finetuning | the second loop | `PODNet.after_task` (another `Phase`) |
# | NME and CNN | `class_means`, `nme_predict`, argmax | `IncrementalLearner._evaluate` |
#
# A change to one recipe line (another $\lambda_c$, no imprinting, no finetuning) is a `Config`
# field in the library; here it is one line to edit, and the comparison above will tell you at
# once that the two no longer agree.

# %% [markdown]
# ## Exercises
#
# **Exercise 1: the loss of a batch.** Given the student's output `out` and the teacher's `old`
# (each a `NetOutput` with `.maps`, `.features`, `.scores`), the labels, the scale $\eta$ and the
# numbers of classes N and T, return the total PODNet loss of the batch, with the chapter's `cfg`
# (its forms, margin, $\lambda_c$, $\lambda_f$). Use `nca_loss`, `pod_final` and `adaptive_factor`.

# %%
from podnet_lib.book.exercises.step import check_batch_loss, check_imprint


def my_batch_loss(out, old, targets: torch.Tensor, scale: torch.Tensor, n_seen: int, n_new: int) -> torch.Tensor:
    """-> scalar tensor: L_LSC + L_POD-final of the batch."""
    return nca_loss(out.scores, targets, scale, cfg.nca_margin, cfg.nca_hinge, cfg.nca_form)  # TODO: add eq. (7)


check_batch_loss(my_batch_loss, cfg)

# %% [markdown]
# <details><summary>A solution</summary>
#
# ```python
# def my_batch_loss(out, old, targets, scale, n_seen, n_new):
#     nca = nca_loss(out.scores, targets, scale, cfg.nca_margin, cfg.nca_hinge, cfg.nca_form)
#     pod = pod_final(old.maps, out.maps, old.features, out.features, cfg.lambda_c, cfg.lambda_f,
#                     cfg.pod_form, adaptive_factor(n_seen, n_new), cfg.pod_pooling)
#     return nca + pod
# ```
# </details>
#
# **Exercise 2: imprinting.** Write the initial proxies of one new class, for $K > 1$ as in step 1:
# L2-normalise its features (N, D), cluster them into K groups with the library's `kmeans` (pass
# the generator on), and multiply the centres by the mean norm of the existing proxies (M, D).

# %%
def my_imprint(features: torch.Tensor, proxies: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """features (N, D) of one new class, existing proxies (M, D) -> (k, D) initial proxies."""
    raise NotImplementedError  # TODO


check_imprint(my_imprint)

# %% [markdown]
# <details><summary>A solution</summary>
#
# ```python
# def my_imprint(features, proxies, k, gen):
#     centres = kmeans(F.normalize(features, dim=1), k, generator=gen)
#     return centres * proxies.norm(dim=1).mean().item()
# ```
# </details>
#
# **Exercise 3 (no check; predict, then try).** Before running it, predict what happens to the
# old classes' accuracy in the comparison table if you remove `clf.freeze_old(True)` from step 1,
# and what happens to the new class's CNN accuracy if you skip the finetuning of step 5. Then edit
# the cells, rerun from the cell that loads the base model (it restores a fresh copy) down to the
# comparison, and read the table: which numbers moved, and does the comparison with the library
# still hold?
#
# **Next:** chapter 05 runs PODNet and its baselines through the whole protocol, every task.
