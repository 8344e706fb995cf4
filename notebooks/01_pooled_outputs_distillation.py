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
# # 01 · Pooled Outputs Distillation (POD)
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/podnet-book/podnet-book/blob/main/notebooks/01_pooled_outputs_distillation.ipynb)
#
# PODNet keeps a new model (the *student*, task $t$) close to the previous one (the *teacher*,
# task $t-1$) by comparing **pooled statistics** of their intermediate feature maps, not the maps
# themselves (Sec. 3.1 of the paper, eqs. (1)-(7)). Which axes are pooled decides what the
# student may change freely.
#
# **Learning goals**
# - Read eqs. (1)-(5) as "sum over some axes, then compare", and see on a real feature map what
#   each POD variant keeps: pixel, channel, gap, width, height, spatial.
# - Predict which changes of the student each variant cannot see (its invariances), and check
#   it with perturbations: noise, shifts, channel permutations.
# - Watch POD at work: one teacher, two students that learned a new class, one with POD and one
#   without, compared stage by stage and epoch by epoch.
# - Relate the rigid-vs-permissive ordering to the paper's Table 3b.
# - Tell the paper's form of POD-spatial / POD-flat from the authors' normalised form, and
#   explain the $\sqrt{N/T}$ factor of eq. (7) as the authors apply it.

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
EPOCHS = 4 if BOOK.fast else 12   # training epochs of each task (cached under BOOK.out_dir)
BATCH_SIZE = 16                # small batches: enough SGD steps on a few hundred images in few epochs
IMAGE_SIZE = 32                # digits upsampled to 32x32, so the stage maps are 32, 16, 8, 8 pixels wide
SAMPLE = 3                     # which test image (one per digit, 0..9) the pictures use
PROBE_PER_CLASS = 10           # test images per old digit on which the students' drift is measured
SEED = 0

# %% [markdown]
# ## One teacher, two students
#
# The small digits ResNet (`resnet_digits`: a stem, then stages of 16, 32, 64 and 64 channels)
# learns the digits incrementally, as in the library's `digits` preset: a base task of the five
# digits 0-4, then one new digit per task. Images are upsampled to 32x32 so that the maps are
# big enough to look at. As in the paper (Sec. 4), stage outputs are taken *before* the ReLU that
# would end each stage, so they are signed.
#
# - The **teacher** $f^{t-1}$ is the model after the base task, trained with PODNet's classifier
#   (an LSC with NCA, Sec. 3.2).
# - Both **students** $f^t$ start from that same checkpoint and learn task 1, the digit 5:
#   - the **PODNet student** follows the full PODNet recipe: NCA on the new digit's images and
#     the memory (20 images per old digit), plus POD-final, eq. (7), against the teacher, then
#     the classifier's finetuning on the class-balanced memory;
#   - the **finetune student** follows the library's `finetune` recipe: cross-entropy on the new
#     digit's images only, no distillation. The `finetune` baseline of the other chapters has a
#     linear classifier of its own; here it keeps the teacher's LSC, so that the two students
#     differ only by how they learn task 1, not by where they start.
#
# `real_students` trains the three models once and caches them (and the students' drift curves,
# used later) under `BOOK.out_dir`: a second run of the chapter loads them.

# %%
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from podnet_lib.data import load_dataset
from podnet_lib.engine.presets import get_preset
from podnet_lib.book.widgets.drift import real_students
from podnet_lib.book.widgets.pooling import one_image_per_class, stage_outputs

cfg = get_preset("digits-fast").replace(
    methods=["podnet"], image_size=IMAGE_SIZE, epochs=EPOCHS, batch_size=BATCH_SIZE, device=str(BOOK.device),
    seed=SEED)
began = time.perf_counter()
models = real_students(cfg, BOOK.out_dir / f"ch01_digits{IMAGE_SIZE}_e{EPOCHS}", per_class=PROBE_PER_CLASS)
print(f"teacher and students ready in {time.perf_counter() - began:.1f} s")
print(f"teacher after the base task (digits 0-4): accuracy CNN {models.base.acc_cnn:.1f} %")
for recipe, r in models.results.items():
    print(f"{recipe:>8} student after task 1: old digits 0-4 CNN {r.old_acc_cnn:5.1f} % NME {r.old_acc_nme:5.1f} %"
          f" | new digit 5 CNN {r.new_acc_cnn:5.1f} %")

splits = load_dataset("digits", image_size=IMAGE_SIZE)
images, labels = one_image_per_class(splits)                 # uint8 (10, 1, 32, 32), digits 0..9
teacher = stage_outputs(models.teacher.backbone, images)      # .maps: 4 x (10, C, H, W); .features: (10, 64)
students = {recipe: stage_outputs(net.backbone, images) for recipe, net in models.nets.items()}
for l, m in enumerate(teacher.maps, start=1):
    print(f"stage {l}: h_{l} has shape (B, C, H, W) = {tuple(m.shape)}")
print("embedding h:", tuple(teacher.features.shape))

old = teacher.maps[0]                                         # stage 1 of the teacher: (10, 16, 32, 32)
new = {recipe: s.maps[0] for recipe, s in students.items()}   # stage 1 of each student


def per_student(loss) -> str:
    """One POD loss of stage 1 between the teacher and each student, as text."""
    return "   ".join(f"{recipe} student {float(loss(old, m)):.2f}" for recipe, m in new.items())


# %% [markdown]
# The CNN accuracies above are the classifier's: the finetune student learned the new digit and
# lost the old ones, the PODNet student learned it and kept them. NME classifies by the
# nearest class mean of the memory's embeddings, so it depends on the backbone alone: how much of
# the old digits survives in the finetune student's features. The rest of the chapter looks
# inside the backbone, at what POD compares.
#
# Notation (the paper's): $\mathbf{h}_{\ell,c,w,h}^{t}$ is channel $c$, column $w$, row $h$ of
# the output of stage $\ell$ of the model of task $t$. In PyTorch the layout is
# `(B, C, H, W)`: **width is the last axis (dim 3), height the one before (dim 2)**. The
# poolings are named here as in the paper: POD-width sums over the width. Readers comparing
# with the authors' code, beware: a comment there reads the maps as `(b, n, w, h)`, so the sum
# over dim 2 is called "width" in that code, while in PyTorch's layout dim 2 is the height.
# Their "width" pooling is our POD-height and their "height" our POD-width. POD-spatial uses both
# and is the same either way.
#
# ## Eq. (1): POD-pixel, nothing pooled
#
# $$\mathcal{L}_{\text{POD-pixel}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) = \sum_{c=1}^C \sum_{w=1}^W \sum_{h=1}^H \left\| \mathbf{h}_{\ell,c,w,h}^{t-1} - \mathbf{h}_{\ell,c,w,h}^t \right\|^2 \qquad (1)$$
#
# Every activation must stay where it was: the most rigid constraint, in the sense that no change
# of the map escapes it (every other variant compares sums of these values, so when POD-pixel is
# zero, all of them are). How *large* it is next to the others is another matter, which depends on
# how each loss is scaled: we come back to it. Below, the input digit and three of the 16
# channels of the teacher's stage 1 (red positive, blue negative): POD-pixel keeps all
# $C \times H \times W$ values.

# %%
from podnet_lib.model.pod import (adaptive_factor, pod_channel, pod_final, pod_flat, pod_gap, pod_height,
                            pod_pixel, pod_spatial, pod_width, pooled_statistics)
from podnet_lib.book.widgets.pooling import show_pooling

show_pooling(old[SAMPLE], "pixel", images[SAMPLE])
plt.show()
print("POD-pixel(teacher, student), stage 1, batch mean:", per_student(pod_pixel))

# %% [markdown]
# ## Eq. (2): POD-channel, channels pooled
#
# $$\mathcal{L}_{\text{POD-channel}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) = \sum_{w=1}^W \sum_{h=1}^H \left\| \sum_{c=1}^C \mathbf{h}_{\ell,c,w,h}^{t-1} - \sum_{c=1}^C \mathbf{h}_{\ell,c,w,h}^t \right\|^2 \qquad (2)$$
#
# Summing over the channels leaves one $H \times W$ map: *where* the network responds, not
# *which filter* does. The student may reorganise its channels as it likes (a permutation of the
# channels does not change the sum).
#
# ## Eq. (3): POD-gap, space pooled
#
# $$\mathcal{L}_{\text{POD-gap}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) = \sum_{c=1}^C \left\| \sum_{w=1}^W \sum_{h=1}^H \mathbf{h}_{\ell,c,w,h}^{t-1} - \sum_{w=1}^W \sum_{h=1}^H \mathbf{h}_{\ell,c,w,h}^t \right\|^2 \qquad (3)$$
#
# The opposite choice: one number per channel (a global average pooling, up to the factor
# $HW$). *How much* each filter fires is kept, *where* is forgotten.

# %%
show_pooling(old[SAMPLE], "channel", images[SAMPLE])
show_pooling(old[SAMPLE], "gap", images[SAMPLE])
plt.show()
print("POD-channel:", per_student(pod_channel))
print("POD-gap:    ", per_student(pod_gap))

# %% [markdown]
# ## Eq. (4): POD-width, and its twin POD-height
#
# $$\mathcal{L}_{\text{POD-width}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) = \sum_{c=1}^C \sum_{h=1}^H \left\| \sum_{w=1}^W \mathbf{h}_{\ell,c,w,h}^{t-1} - \sum_{w=1}^W \mathbf{h}_{\ell,c,w,h}^t \right\|^2 \qquad (4)$$
#
# Pooling only the width keeps, for each channel, a **profile along the height**: one value per
# row, $C \times H$ values. In the picture each column is one channel, each row of the heat map
# one row of the image. POD-height sums over the rows instead and keeps a profile along the
# width ($C \times W$).

# %%
show_pooling(old[SAMPLE], "width", images[SAMPLE])
show_pooling(old[SAMPLE], "height", images[SAMPLE])
plt.show()
print("POD-width: ", per_student(pod_width))
print("POD-height:", per_student(pod_height))

# %% [markdown]
# ## Eq. (5): POD-spatial, both profiles
#
# $$\mathcal{L}_{\text{POD-spatial}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) = \mathcal{L}_{\text{POD-width}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) + \mathcal{L}_{\text{POD-height}}(\mathbf{h}_{\ell}^{t-1}, \mathbf{h}_{\ell}^t) \qquad (5)$$
#
# PODNet's choice: the two profiles together, $C(H + W)$ values, far fewer than the
# $CHW$ of POD-pixel but enough to pin down each channel's horizontal and vertical distribution.
#
# The table below the picture counts the numbers per image each variant pins down, at each
# stage: the fewer, the more freedom the student keeps. The order depends on the shape: at
# stage 1 (16 channels, 32x32) POD-channel keeps as many values as POD-spatial; at stage 3
# (64 channels, 8x8) as few as POD-gap.

# %%
from podnet_lib.book.widgets.pooling import LABELS, kept_values

show_pooling(old[SAMPLE], "spatial", images[SAMPLE])
plt.show()
print("POD-spatial:", per_student(pod_spatial))
print("  = POD-width + POD-height:", per_student(lambda a, b: pod_width(a, b) + pod_height(a, b)))
print("pooled statistics of POD-spatial:", [tuple(p.shape) for p in pooled_statistics(old, "spatial")])
print()
print("values kept per image   " + "".join(f"{'stage ' + str(l):>10}" for l in range(1, len(teacher.maps) + 1)))
print("(C, H, W) of the stage   " + "".join(f"{'x'.join(map(str, m.shape[1:])):>10}" for m in teacher.maps))
for pooling, counts in kept_values(teacher.maps).items():
    print(f"{LABELS[pooling]:<24}" + "".join(f"{n:>10d}" for n in counts))

# %% [markdown]
# ### Explore: the six poolings side by side
#
# One stage output of the teacher and all six statistics at once. Pick the stage (1: 32x32,
# 2: 16x16, 3 and 4: 8x8) and the digit. Each panel has its own colour scale, since the sums run
# over different numbers of values; the POD-spatial panel puts each channel's width profile
# (one value per row) and height profile (one value per column) side by side, as the authors'
# code concatenates them.

# %%
from podnet_lib.book.widgets.pooling import all_poolings


def explore_poolings(stage: int, sample: int) -> None:
    all_poolings(teacher.maps[stage - 1][sample], images[sample])
    plt.show()


widgets.interact(explore_poolings,
                 stage=widgets.IntSlider(value=1, min=1, max=len(teacher.maps), description="stage"),
                 sample=widgets.IntSlider(value=SAMPLE, min=0, max=len(images) - 1, description="digit"));

# %% [markdown]
# ## A first step: perturb the maps, watch each loss react
#
# Before the real students, simpler ones whose change we control. To see what each variant is
# blind to, we build a student's maps from the teacher's with one change (`perturb`):
#
# | perturbation | what it does | invisible to |
# | --- | --- | --- |
# | `noise` | adds Gaussian noise, std = strength x the map's std | nothing (but pooling averages it) |
# | `shift_width` | circular shift by k pixels along the width | POD-width, POD-gap |
# | `shift_height` | circular shift by k pixels along the height | POD-height, POD-gap |
# | `permute_channels` | a fraction of the channels trade places | POD-channel |
#
# The losses are on very different scales (POD-gap compares sums of $HW$ values), so each is
# divided by the **teacher's own energy** $\|P(\mathbf{h}^{t-1})\|^2$ (its loss against a student
# that outputs zeros): 1.0 means "a change as big as the statistic itself". The dropdown
# `normalise` also offers "values" (divided by the number of pooled values) and "none" (eqs. (1)-(5)
# as printed). The lower half shows, for one image, the teacher's and student's statistic of the
# chosen pooling and their difference.

# %%
from podnet_lib.book.widgets.pooling import NORMALISATIONS, PERTURBATIONS, POOLINGS, student_view


def explore_perturbation(stage: int, kind: str, level: float, pooling: str, sample: int, normalise: str) -> None:
    student_view(teacher.maps[stage - 1], kind, level, pooling, sample, normalise, seed=SEED)
    plt.show()


widgets.interact(explore_perturbation,
                 stage=widgets.IntSlider(value=2, min=1, max=len(teacher.maps), description="stage"),
                 kind=widgets.Dropdown(options=PERTURBATIONS, value="shift_width", description="perturbation",
                                       style={"description_width": "initial"}),
                 level=widgets.FloatSlider(value=0.25, min=0.0, max=1.0, step=0.05, continuous_update=False,
                                           description="strength"),
                 pooling=widgets.Dropdown(options=list(POOLINGS), value="width", description="pooling"),
                 sample=widgets.IntSlider(value=SAMPLE, min=0, max=len(images) - 1, description="digit"),
                 normalise=widgets.Dropdown(options=NORMALISATIONS, value="teacher", description="normalise"));

# %% [markdown]
# The strength slider runs from 0 to 1 and is mapped to: a noise std of 0 to 2 (x the map's std),
# a shift of 0 to half the map's width in pixels, a fraction 0 to 1 of the channels.
#
# ## Rigid vs permissive
#
# Now every variant, every perturbation, increasing strength, on the same ten images (stages 1
# and 3). A flat line at 0 is an invariance. The heat map sums it up at one strength each: a zero
# is a change that variant cannot see.

# %%
from podnet_lib.book.widgets.pooling import invariance_matrix, most_reactive, permissiveness_panels

permissiveness_panels(teacher.maps[0], "Stage 1 (16 x 32 x 32): loss / teacher's energy", seed=SEED)
permissiveness_panels(teacher.maps[2], "Stage 3 (64 x 8 x 8): loss / teacher's energy", seed=SEED)
invariance_matrix(teacher.maps[0], seed=SEED)
plt.show()
print("The variant that reacts the most to each perturbation (at the strongest one of the curves):")
for l in (1, 3):
    for normalise in NORMALISATIONS:
        loudest = most_reactive(teacher.maps[l - 1], normalise, seed=SEED)
        print(f"  stage {l}, normalise={normalise!r:10} " + "  ".join(f"{k}: {LABELS[p]}" for k, p in loudest.items()))

# %% [markdown]
# What the curves say:
#
# - **POD-pixel sees every change**: it is the only variant that no perturbation leaves at 0.
#   Which variant reacts the *most*, though, is not a property of the pooling alone: the lines
#   printed above change with the stage and with the normalisation. Divided by the teacher's
#   energy, POD-pixel is on top of the stage-1 panels; divided by the number of pooled values, it
#   is never on top (each of its values is one activation, each value of the others a sum of
#   many); as printed in the paper ("none"), it is never on top either. "Rigid" in the paper's
#   sense is about what a variant lets through (its invariances), not about the size of its loss.
# - **Invariances differ.** A channel permutation is invisible to POD-channel (the sum over
#   channels does not care about their order); a shift (in fact any reshuffle of the columns) along
#   the width is invisible to POD-width, and along the height to POD-height; POD-gap sees neither
#   shift. POD-spatial sees both shifts, each through one half of its loss only (a shift along the
#   width leaves POD-width at 0 and moves POD-height).
# - **Against noise, pooling averages.** A sum of $n$ activations grows like $n$ when they agree
#   (the signal) and like $\sqrt{n}$ when they do not (the noise), so the *relative* change of a
#   pooled statistic tends to shrink as more is pooled. In absolute terms, i.i.d. noise of variance
#   $\sigma^2$ costs exactly the same in expectation for eqs. (1)-(4): $\sigma^2 CHW$ (each of the
#   $k$ kept values sums $n$ noisy ones, and $k\,n = CHW$). The cell below checks it.

# %%
from podnet_lib.book.widgets.pooling import perturb, pod_losses

for noise in (0.5, 1.0):
    noisy = perturb(old, "noise", noise, torch.Generator().manual_seed(SEED))
    expected = float((noise * old.std()) ** 2) * old[0].numel()
    raw = pod_losses(old, noisy, normalise="none")
    print(f"noise {noise}: sigma^2 C H W = {expected:8.0f} | " + "  ".join(f"{a} {v:8.0f}" for a, v in raw.items()))
print("(POD-spatial = POD-width + POD-height, hence twice the others)")

# %% [markdown]
# ## The real students, stage by stage
#
# Back to the two students that learned the digit 5. Pick a stage, a pooling and a digit: the
# bars give each student's six POD losses to the teacher on the ten digits (paper form, divided
# by the teacher's energy as above); below, the teacher's statistic for one digit, then how each
# student changed it, on the teacher's colour scale (a saturated colour is a change as large as
# the statistic itself).

# %%
from podnet_lib.book.widgets.drift import students_view


def explore_students(stage: int, pooling: str, sample: int) -> None:
    students_view(teacher.maps[stage - 1], {r: s.maps[stage - 1] for r, s in students.items()}, pooling, sample)
    plt.show()


widgets.interact(explore_students,
                 stage=widgets.IntSlider(value=4, min=1, max=len(teacher.maps), description="stage"),
                 pooling=widgets.Dropdown(options=list(POOLINGS), value="spatial", description="pooling"),
                 sample=widgets.IntSlider(value=SAMPLE, min=0, max=len(images) - 1, description="digit"));

# %% [markdown]
# Things to look for:
#
# - A real student does not shift or permute its maps: learning a class moves whole channels up
#   or down. Such a coherent change survives every sum, so the permissive poolings do not forgive
#   it: POD-gap, the most lenient of the six against the noise above, is the largest of the
#   finetune student's six bars.
# - The PODNet student is held by POD-spatial **in the authors' form** (squared activations,
#   L2-normalised per image, see below), which cannot see a change of scale. Its bars here, in the
#   paper's form, are mostly such a change: its maps grew, by a similar factor at every stage
#   (measured below, after the two forms).
#
# How did the students get there? `real_students` measured, after every epoch of task 1,
# POD-spatial in the authors' form (the quantity in PODNet's loss) between the teacher's and the
# student's stage outputs, on a fixed batch of test images of the old digits (`PROBE_PER_CLASS`
# per digit):

# %%
from podnet_lib.book.widgets.drift import drift_figure

drift_figure(models.drift)
plt.show()
for recipe, curve in models.drift.items():
    print(f"{recipe:>8} student, after its last epoch: " +
          "  ".join(f"stage {l} {values[-1]:.3f}" for l, values in enumerate(curve.stages, start=1)))

# %% [markdown]
# Both students start at 0 (before the first step a student *is* the teacher) and both move: the
# PODNet student must change to learn the new digit. The finetune student nothing holds back;
# the PODNet student is pulled back towards the teacher by POD-spatial at every stage and by
# POD-flat on the embedding, and ends much closer. After the main training, PODNet finetunes
# its classifier on the balanced memory (grey): the backbone's weights are frozen, but it stays
# in training mode, so its BatchNorm statistics follow the memory's images and the maps move
# again.
#
# ## What the paper measured: Table 3b
#
# The paper compares the intermediate poolings on CIFAR-100, 50 steps of one class, each
# together with POD-flat; below, its numbers (average incremental accuracy, NME / CNN, from
# `podnet_lib.paper.TABLE3B`) as bars and as a table. The width and height rows are named as in the authors' option
# files (`podnet_cnn_podFlat_podWidth_cifar100.yaml`, `podnet_cnn_podFlat_podHeight_cifar100.yaml`),
# so with their code's names (see the note on axes above); the two results are within 0.3 points
# of each other anyway.

# %%
from podnet_lib.book.widgets.pooling import table3b_figure

table3b_figure()
plt.show()
from podnet_lib.paper import TABLE3B

for name, (nme, cnn) in TABLE3B.items():
    print(f"{'POD-flat only' if name == 'none' else 'POD-' + name:<14} NME {nme:6.2f}   CNN {cnn:6.2f}")

# %% [markdown]
# Read with the invariances above:
#
# - the most rigid variant, POD-pixel, is *worse than no intermediate distillation at all* in
#   NME: with 50 small tasks to learn, pinning every activation leaves no room;
# - the most permissive ones, POD-channel and POD-gap, help but throw away either the filters'
#   identity or the layout;
# - the one-axis poolings keep both a spatial profile and the channels and do better still, and
#   combining them, POD-spatial, is best. The paper calls it the balance between too rigid
#   (eq. 1) and too permissive (eqs. 2, 3).
#
# The accuracy is best in the middle of the rigidity scale: a distillation loss must leave the
# student room to learn new classes (plasticity) while pinning down what the old ones need.
# You can run this ablation yourself with `--set pod_pooling=pixel` (or channel, gap, width,
# height) on the command line.
#
# ## Eq. (6) POD-flat and eq. (7) POD-final
#
# After the last stage the embedding $\mathbf{h}$ has no spatial axes left; POD-flat compares it
# directly, and POD-final weighs the two parts:
#
# $$\mathcal{L}_{\text{POD-flat}}(\mathbf{h}^{t-1}, \mathbf{h}^t) = \left\|\mathbf{h}^{t-1} - \mathbf{h}^t\right\|^2 \qquad (6)$$
#
# $$\mathcal{L}_{\text{POD-final}}(\mathbf{x}) = \frac{\lambda_c}{L-1} \sum_{\ell=1}^{L-1} \mathcal{L}_{\text{POD-spatial}}\left(f_\ell^{t-1}(\mathbf{x}), f_\ell^t(\mathbf{x})\right) + \lambda_f\, \mathcal{L}_{\text{POD-flat}}\left(f^{t-1}(\mathbf{x}), f^t(\mathbf{x})\right) \qquad (7)$$
#
# $\lambda_c$ and $\lambda_f$ balance two terms of different nature. With $\lambda_c = 0$ only
# the embedding is distilled, as in UCIR's less-forget constraint (a cosine: exactly POD-flat in
# the authors' form below); with $\lambda_f = 0$ and POD-pixel it is a perceptual-features loss.
#
# ### The paper's form and the authors' form
#
# The equations are printed with squared differences of sums, but the text says "all POD variants
# use the Euclidean distance of $\ell^2$-normalized tensors", and the authors' public code (which
# produced the published numbers) computes, for POD-spatial,
#
# $$\mathbf{q}(\mathbf{h}) = \Big[\big(\textstyle\sum_{w} \mathbf{h}_{c,w,h}^2\big)_{c,h},\ \big(\textstyle\sum_{h} \mathbf{h}_{c,w,h}^2\big)_{c,w}\Big], \qquad
# \mathcal{L}^{\text{authors}}_{\text{POD-spatial}} = \left\| \frac{\mathbf{q}(\mathbf{h}^{t-1})}{\|\mathbf{q}(\mathbf{h}^{t-1})\|_2} - \frac{\mathbf{q}(\mathbf{h}^{t})}{\|\mathbf{q}(\mathbf{h}^{t})\|_2} \right\|_2$$
#
# per image: **square** the activations, **pool** along width and height, **concatenate** and
# **L2-normalise**, then a **Euclidean** (not squared) distance; POD-flat becomes $1 - \cos$.
# The library offers both (`form="paper"` / `form="authors"`, and `pod_form` in the config; the
# default is the authors'). The consequences, on our stage-1 maps:

# %%
from podnet_lib.book.widgets.pooling import forms_figure

forms_figure(old, noise=0.5, seed=SEED)
plt.show()
for form in ("paper", "authors"):
    print(f"form={form!r}: POD-spatial, stage 1 -> " + per_student(lambda a, b: pod_spatial(a, b, form))
          + f"   student = -teacher {float(pod_spatial(old, -old, form)):.4f}")
    print(f"form={form!r}: POD-flat -> " + "   ".join(
        f"{r} student {float(pod_flat(teacher.features, s.features, form)):.4f}" for r, s in students.items()))
print("size of each student's maps / the teacher's (ratio of norms, stages 1-4):")
for recipe, s in students.items():
    ratios = [float(b.norm() / a.norm()) for a, b in zip(teacher.maps, s.maps)]
    print(f"  {recipe:>8} student: " + "  ".join(f"{r:.2f}" for r in ratios))

# %% [markdown]
# - the paper's form grows with the square of the activations' scale, so $\lambda_c$ has to be
#   re-tuned for every network and layer; the authors' form is scale-free (bounded by
#   $\sqrt{2}$), which is why the published $\lambda_c = 3$, $\lambda_f = 1$ (CIFAR) fit it;
# - squaring loses the sign, and normalising loses the overall scale: a student that flips the
#   sign of a map, or doubles it, is invisible to the authors' form. Our maps are signed (no ReLU
#   at the end of a stage), so this is a real difference between the two losses, not a detail.
# - the PODNet student uses that freedom: its maps are larger than the teacher's by a similar
#   factor at every stage (the ratios printed above). The authors' form, which it was trained
#   with, hardly sees it; the paper's form counts it in full (a student equal to $a$ times the
#   teacher costs $(a-1)^2$ times the teacher's energy), which is most of the PODNet student's
#   bars in the widget of the real students.
#
# ### The adaptive factor $\sqrt{N/T}$
#
# The authors' code multiplies both POD terms by $\sqrt{N/T}$, with $N$ the classes seen so far
# (new ones included) and $T$ the new classes of the task. The smaller the task relative to what
# must be remembered, the stronger the distillation: with 50 steps of one class it is about 7 to 10.

# %%
from podnet_lib.book.widgets.pooling import adaptive_factor_figure

adaptive_factor_figure()
plt.show()
for n_seen, n_new in ((6, 1), (51, 1), (100, 1), (60, 10)):
    factor = adaptive_factor(n_seen, n_new)
    losses = {r: float(pod_final(teacher.maps, s.maps, teacher.features, s.features,
                                 lambda_c=3.0, lambda_f=1.0, form="authors", factor=factor))
              for r, s in students.items()}
    print(f"N={n_seen:3d}, T={n_new:2d}: sqrt(N/T) = {factor:5.2f} -> POD-final (authors' form, lambda_c=3, "
          "lambda_f=1): " + "   ".join(f"{r} student {v:.4f}" for r, v in losses.items()))

# %% [markdown]
# `pod_final` averages POD-spatial over the stage outputs it is given (here all four stages of
# the digits ResNet, as the authors' code does) and adds POD-flat on the embedding. The digits
# protocol is $N = 6$, $T = 1$ at task 1: the first line is the loss the PODNet student was held
# by, here measured on the ten digits (the digits preset keeps $\lambda_c = 3$, $\lambda_f = 1$).
#
# ## Summary
#
# - A POD variant is "sum over some axes of $\mathbf{h}_\ell$, then compare": eqs. (1)-(5)
#   differ only in where the sums are.
# - Each pooling is blind to the changes that leave its sums intact: channel reorderings for
#   POD-channel, reshuffles along the width for POD-width, any rearrangement of space for POD-gap.
# - PODNet's POD-spatial keeps a profile along each spatial axis for every channel: more freedom
#   than POD-pixel, more information than POD-channel or POD-gap, and the best of Table 3b.
# - On a real task it works: the student trained with POD learns the new digit and keeps the old
#   ones, and its stage outputs stay much closer to the teacher's than those of the student
#   trained without it.
# - In practice the authors' normalised form (squared activations, L2-normalised) is what the
#   published weights and $\sqrt{N/T}$ factor were tuned for.
#
# ## Exercises
#
# Each exercise gives a stub; replace `raise NotImplementedError` by your code and run the check
# below it. It compares your function with `podnet_lib.model.pod` on random tensors, including maps
# with $H \ne W$ (a sum over the wrong axis shows there), and says which case is wrong.
#
# **Exercise 1.** POD-width, eq. (4): `old`, `new` of shape `(B, C, H, W)`; return the batch mean
# of the per-image loss.

# %%
from podnet_lib.book.exercises.pod import check_authors_spatial, check_pod_flat, check_pod_spatial, check_pod_width


def my_pod_width(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    # TODO: sum each channel over the width, compare the profiles, sum, batch mean
    raise NotImplementedError


check_pod_width(my_pod_width);

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_pod_width(old, new):
#     diff = old.sum(dim=3) - new.sum(dim=3)          # (B, C, H): the width is the last axis
#     return diff.pow(2).sum(dim=(1, 2)).mean()
# ```
# </details>
#
# **Exercise 2.** POD-spatial, eq. (5), in the paper's form.

# %%
def my_pod_spatial(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    # TODO: POD-width + POD-height, batch mean
    raise NotImplementedError


check_pod_spatial(my_pod_spatial);

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_pod_spatial(old, new):
#     width = (old.sum(dim=3) - new.sum(dim=3)).pow(2).sum(dim=(1, 2))
#     height = (old.sum(dim=2) - new.sum(dim=2)).pow(2).sum(dim=(1, 2))
#     return (width + height).mean()
# ```
# </details>
#
# **Exercise 3.** POD-flat, eq. (6), in the paper's form: `old_emb`, `new_emb` of shape `(B, D)`.

# %%
def my_pod_flat(old_emb: torch.Tensor, new_emb: torch.Tensor) -> torch.Tensor:
    # TODO: squared Euclidean distance per image, batch mean
    raise NotImplementedError


check_pod_flat(my_pod_flat);

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_pod_flat(old_emb, new_emb):
#     return (old_emb - new_emb).pow(2).sum(dim=1).mean()
# ```
# </details>
#
# **Exercise 4.** POD-spatial in the authors' form: square, pool along width and along height,
# concatenate, L2-normalise per image, Euclidean distance, batch mean. Then try it on
# `old` and `-old`: what do you get, and why?

# %%
def my_authors_spatial(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    # TODO: follow the five steps above (torch.nn.functional.normalize helps)
    raise NotImplementedError


check_authors_spatial(my_authors_spatial);

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# import torch.nn.functional as F
#
# def my_authors_spatial(old, new):
#     def q(h):
#         h = h.pow(2)
#         pooled = torch.cat([h.sum(dim=3).flatten(1), h.sum(dim=2).flatten(1)], dim=1)
#         return F.normalize(pooled, dim=1)
#     return (q(old) - q(new)).norm(dim=1).mean()
# ```
# With `new = -old` the squares are equal, so the loss is 0: the authors' form cannot see a sign flip.
# </details>
