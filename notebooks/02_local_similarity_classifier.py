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
# # 02 · The Local Similarity Classifier and the NCA loss
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/podnet-book/podnet-book/blob/main/notebooks/02_local_similarity_classifier.ipynb)
#
# **Learning goals**
#
# - Compute the cosine classifier of UCIR, eq. (8), and see why it needs a learned scale $\eta$.
# - Compute the class score of PODNet's Local Similarity Classifier (LSC), eq. (9), from $K$
#   proxies per class, and look at trained proxies beside the features they classify.
# - Write the NCA loss of eq. (10) with its margin $\delta$ and hinge, and explain why the margin
#   of the authors' public code has no effect.
# - Initialise the proxies of a new class by k-means imprinting on real features.

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
K = 4                               # proxies per class (the paper uses 10 on CIFAR; 4 suit 8x8 digits)
EPOCHS = 15 if BOOK.fast else 30       # training epochs of the base task
BASE_DIR = BOOK.out_dir / f"ch02_base_k{K}_e{EPOCHS}"   # the trained model is cached here
print(f"fast mode: {BOOK.fast}, device: {BOOK.device}, outputs in {BOOK.out_dir}")

# %% [markdown]
# ## The cosine classifier, eq. (8)
#
# Under class imbalance (many images of the new classes, a few exemplars of the old ones) the
# weights of the new classes grow larger than the old ones. UCIR's answer, which PODNet builds on,
# is to L2-normalise both the classifier weights $\theta_c$ and the embedding $\mathbf{h} = f(\mathbf{x})$: the score
# of class $c$ is their cosine similarity $\langle \theta_c, \mathbf{h} \rangle$, and
#
# $$\hat{y}_c = \frac{\exp(\eta \langle \theta_c, \mathbf{h} \rangle)}{\sum_i \exp(\eta \langle \theta_i, \mathbf{h} \rangle)} . \quad (8)$$
#
# A cosine lies in $[-1, 1]$, so without the learned scale $\eta$ the softmax could never be
# confident. `CosineClassifier` returns the cosines; the loss multiplies them by $\eta$ (the
# classifier's parameter `scale`).

# %%
import torch

from podnet_lib.model.classifiers import CosineClassifier

cosine_clf = CosineClassifier(features_dim=2)
cosine_clf.add_classes(3, init=torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))   # θ_0, θ_1, θ_2
h = torch.tensor([[2.0, 0.5], [0.1, 3.0]])                                              # two embeddings
with torch.no_grad():
    cosines = cosine_clf(h)
print("cosines <θ_c, h>:\n", cosines.numpy().round(3))
for eta in (1.0, 4.0, 16.0):
    print(f"eq. (8) with η = {eta:4}: ŷ =\n", torch.softmax(eta * cosines, dim=1).numpy().round(3))

# %% [markdown]
# ## The Local Similarity Classifier, eq. (9)
#
# Where the LSC sits in PODNet: it is the classifier $g$ on the student's embedding $\mathbf{h}$
# (the POD part, chapter 01, is faded).

# %%
from podnet_lib.book.widgets.diagram import plot_method_diagram

plot_method_diagram(highlight="lsc");

# %% [markdown]
# One proxy per class models a single mode; when the distribution of $\mathbf{h}$ drifts during incremental
# learning, a single proxy is fragile. The LSC gives each class $K$ proxies $\theta_{c,k}$. Each
# proxy's cosine is weighted by a softmax over the class's own proxies, and the class score is the
# weighted mean:
#
# $$s_{c,k} = \frac{\exp \langle \theta_{c,k}, \mathbf{h} \rangle}{\sum_i \exp \langle \theta_{c,i}, \mathbf{h} \rangle}, \quad
#   \hat{y}_c = \sum_k s_{c,k} \langle \theta_{c,k}, \mathbf{h} \rangle . \quad (9)$$
#
# `local_similarity(features, proxies, K)` computes $\hat{y}$ (the $K$ proxies of a class are
# contiguous rows of `proxies`); `LocalSimilarityClassifier` holds the proxies and $\eta$. With
# $K = 1$ it is the cosine classifier.

# %%
from podnet_lib.model.classifiers import LocalSimilarityClassifier, local_similarity

proxies = torch.tensor([[1.0, 0.2], [0.2, 1.0],       # class 0: two modes
                        [-1.0, 0.0], [0.0, -1.0]])    # class 1: two modes
h = torch.tensor([[1.0, 0.0], [0.3, 1.0], [-0.7, -0.7]])
cos = local_similarity(h, proxies, proxies_per_class=1)     # K = 1: one score per proxy, its cosine
print("cosine to each proxy (columns: θ_00, θ_01, θ_10, θ_11):\n", cos.numpy().round(3))
print("s_{c,k} (softmax within each class):\n", torch.softmax(cos.view(3, 2, 2), dim=2).numpy().round(3))
print("class scores ŷ_c, eq. (9):\n", local_similarity(h, proxies, proxies_per_class=2).numpy().round(3))

lsc = LocalSimilarityClassifier(2, proxies_per_class=1)
lsc.add_classes(3, init=cosine_clf.proxies.detach())
print("K = 1: LSC equals the cosine classifier:", torch.allclose(lsc(h), cosine_clf(h)))

# %% [markdown]
# **Paper vs authors' code (similarity).** The authors' code does not use the cosine but minus the
# squared distance of the normalised vectors, $-\lVert \bar\theta - \bar{\mathbf{h}} \rVert^2 = 2\cos - 2$
# (`similarity="authors"`). Inside eq. (9) that halves the temperature of the softmax over proxies
# (it becomes twice as sharp), and in the class softmax it doubles $\eta$ (the constant $-2$
# cancels). Numerically:

# %%
g = torch.Generator().manual_seed(0)
h_rand, p_rand = torch.randn(6, 16, generator=g), torch.randn(5 * 3, 16, generator=g)
authors = local_similarity(h_rand, p_rand, 3, similarity="authors")
paper_sharper = local_similarity(h_rand, p_rand, 3, gamma=2.0, similarity="cosine")
print("authors' scores = 2 * (eq. 9 with a softmax twice as sharp) - 2:",
      torch.allclose(authors, 2 * paper_sharper - 2, atol=1e-6))
print("softmax(η * authors) = softmax(2η * that score):",
      torch.allclose(torch.softmax(3.0 * authors, 1), torch.softmax(6.0 * paper_sharper, 1), atol=1e-6))

# %% [markdown]
# ## A trained LSC on digits
#
# We train PODNet's network on the base task of the digits protocol (5 classes; only the NCA loss
# acts at task 0) through the library, with $K$ proxies per class and the paper's cosine
# similarity. `base_learner` caches the weights in `BASE_DIR`, so running the cell again loads them.

# %%
import copy

from podnet_lib.engine.presets import get_preset
from podnet_lib.book.widgets.proxies import base_learner, embed

cfg = get_preset("digits-podnet").replace(epochs=EPOCHS, proxies_per_class=K, lsc_similarity="cosine")
learner = base_learner(cfg, BASE_DIR, BOOK.device)
base_classes = learner.scenario.task_classes(0)
clf = copy.deepcopy(learner.net.classifier).cpu().eval()     # the LSC, on the CPU for the views
feats, labels = embed(learner, base_classes)                  # test embeddings h of the base classes
with torch.no_grad():
    scores = clf(feats)                                       # ŷ, eq. (9)
eta = clf.scale.item()
print(f"{feats.shape[0]} test images of classes {base_classes}, embeddings of dimension {feats.shape[1]}")
print(f"proxies: {tuple(clf.proxies.shape)} = {len(base_classes)} classes x K={K}; learned scale η = {eta:.2f}")
print(f"test accuracy of the LSC on the base classes: {(scores.argmax(1) == labels).float().mean():.1%}")

# %% [markdown]
# The features $\mathbf{h}$ and the proxies, both L2-normalised (the classifier only sees directions), on
# the first two principal components of the features. The stars of a class sit among its images;
# a proxy that drifts between clusters earns little weight $s_{c,k}$ and stays where it is.

# %%
from podnet_lib.book.widgets.proxies import plot_proxies

plot_proxies(feats, labels, clf.proxies.detach(), K, base_classes,
             title=f"Test embeddings and LSC proxies after the base task (K = {K})");

# %% [markdown]
# ## The NCA loss, eq. (10), and the scale $\eta$
#
# PODNet trains the LSC with an NCA loss, with a margin $\delta$ on the target's score and a hinge
# $[\cdot]_+$ that keeps the loss bounded:
#
# $$\mathcal{L}_{\text{LSC}} = \left[ -\log \frac{\exp\big(\eta(\hat{y}_y - \delta)\big)}{\sum_{i \neq y} \exp \eta \hat{y}_i} \right]_+ . \quad (10)$$
#
# Unlike cross-entropy, the target is left out of the denominator. The slider `eta` changes the
# scale; `sample` walks through the test images from the hardest (smallest lead of the true class)
# to the easiest. Left, the class scores of eq. (9); middle, the probabilities $\text{softmax}(\eta\hat{y})$;
# right, the losses of this sample against $\eta$ (paper's eq. (10), the authors' form, and
# cross-entropy). The learned $\eta$ is the starting value.

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from podnet_lib.book.widgets.proxies import plot_scale_effect, sample_margins

hardest_first = torch.argsort(sample_margins(scores, labels)).tolist()


def show_scale(eta: float, margin: float, sample: int) -> None:
    i = hardest_first[sample]
    fig = plot_scale_effect(scores[i], int(labels[i]), eta, margin)
    fig.suptitle(f"test image {i} (true class {int(labels[i])}), rank {sample} from the hardest")
    display(fig)
    plt.close(fig)


widgets.interact(show_scale,
                 eta=widgets.FloatSlider(value=round(eta, 1), min=0.5, max=32.0, step=0.5, description="η (scale)"),
                 margin=widgets.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.05, description="δ (margin)"),
                 sample=widgets.IntSlider(value=0, min=0, max=len(hardest_first) - 1, description="sample"));

# %% [markdown]
# What to notice: a larger $\eta$ sharpens the softmax, so a well-classified image stops
# contributing to the loss sooner, while a misclassified one is punished harder. The margin
# raises the paper's loss by exactly $\eta\delta$ before the hinge: the target must win by more
# than $\delta$ to reach zero. The authors' form (dashed) coincides with cross-entropy whenever the
# true class has the highest score: then $z_y = 0$ and the $1$ in its denominator is the target's
# own term.
#
# ## Paper vs authors' code: the margin that cancels out
#
# The `nca_loss` function has both forms (`form="paper"` and `form="authors"`, chosen in a run by
# the config field `nca_form`). The authors' code subtracts $\delta$ from **every** class score,
# then subtracts the row maximum for numerical stability, and replaces the target's term in the
# denominator by $\exp(0) = 1$:
#
# $$z_i = \eta(\hat{y}_i - \delta) - \max_j \eta(\hat{y}_j - \delta) = \eta\hat{y}_i - \max_j \eta \hat{y}_j ,
#   \qquad \mathcal{L}_{\text{authors}} = -z_y + \log\Big(1 + \sum_{i \neq y} e^{z_i}\Big).$$
#
# The $-\eta\delta$ is the same for every class, so it leaves $z$ unchanged: the margin has **no
# effect at all**. In the paper's form it only touches the target, and the loss (before the hinge)
# grows by exactly $\eta\delta$. On the test images of the trained model:

# %%
from podnet_lib.model.classifiers import nca_loss

print(f"batch of {len(labels)} test images, η = {eta:.2f}")
print(f"{'δ':>5} {'paper, no hinge':>16} {'paper, hinge':>13} {'authors':>9}")
for delta in (0.0, 0.3, 0.6):
    paper = nca_loss(scores, labels, eta, delta, hinge=False, form="paper")
    hinged = nca_loss(scores, labels, eta, delta, hinge=True, form="paper")
    authors_loss = nca_loss(scores, labels, eta, delta, hinge=False, form="authors")
    print(f"{delta:5.1f} {paper.item():16.6f} {hinged.item():13.6f} {authors_loss.item():9.6f}")
same = torch.equal(nca_loss(scores, labels, eta, 0.0, form="authors"), nca_loss(scores, labels, eta, 0.6, form="authors"))
shift = (nca_loss(scores, labels, eta, 0.6, hinge=False) - nca_loss(scores, labels, eta, 0.0, hinge=False)).item()
print(f"\nauthors' loss identical for δ = 0 and δ = 0.6: {same}")
print(f"paper's loss, δ = 0.6 minus δ = 0: {shift:.6f} = η δ = {eta * 0.6:.6f}")

# %% [markdown]
# The same over a range of margins: the authors' curve is flat.

# %%
from podnet_lib.book.widgets.proxies import plot_margin_effect

plot_margin_effect(scores, labels, eta);

# %% [markdown]
# The hinge matters too: with $\delta$ on the target, an image stops contributing once its true
# class leads the others (a soft maximum of them) by more than $\delta$. The authors' default has
# no hinge (`nca_hinge=False`). How much of this batch sits under the hinge, at the learned $\eta$
# and at larger ones (with a small $\eta$ the soft maximum of the others stays high, so fewer
# images lead by enough):

# %%
for scale in (eta, 8.0, 16.0):
    per_sample = torch.stack([nca_loss(scores[i:i + 1], labels[i:i + 1], scale, 0.6, hinge=False, form="paper")
                              for i in range(len(labels))])              # eq. (10) of each image, before [.]_+
    print(f"η = {scale:5.2f}: {(per_sample <= 0).float().mean():4.0%} of the test images have zero loss under eq. (10), δ = 0.6")

# %% [markdown]
# ## Imprinting the proxies of new classes
#
# When a task brings new classes, their proxies must start somewhere. PODNet generalises
# *imprinted weights* to several modes (Sec. 3.2, "Weight initialization"): extract the features of
# the new class's training images with the current network, split them into $K$ clusters by
# k-means (`podnet_lib.model.kmeans`), and take the centres, times the mean norm of the existing
# proxies, as the $K$ proxies (the figure shows their directions). Below, the network trained on
# digits 0-4 embeds a digit it has **never been trained on**.
#
# Choose the new class and $K$. Left: the class's features on their own principal plane,
# coloured by their nearest proxy (stars). Right: for $K = 1 \dots 10$, the mean cosine of an
# image to its nearest proxy, and the mean class score $\hat{y}_c$ of eq. (9).

# %%
from podnet_lib.book.widgets.proxies import plot_imprinting

new_classes = [c for c in range(learner.scenario.n_classes) if c not in base_classes]
train_new, train_new_labels = embed(learner, new_classes, split="train")


def show_imprinting(new_class: int, k: int) -> None:
    fig = plot_imprinting(train_new[train_new_labels == new_class], k, name=f"digit {new_class} (not trained on)")
    display(fig)
    plt.close(fig)


widgets.interact(show_imprinting,
                 new_class=widgets.Dropdown(options=new_classes, value=new_classes[0], description="new class"),
                 k=widgets.IntSlider(value=K, min=1, max=10, description="K"));

# %% [markdown]
# More proxies fit the class more closely (the nearest cosine rises). The class score of eq. (9)
# falls a little: with $\langle\cdot,\cdot\rangle$ a cosine, the softmax over a class's proxies is
# nearly uniform, so $\hat{y}_c$ is close to the *mean* cosine over the $K$ proxies, and spread-out
# proxies lower that mean. Training then moves the proxies; the authors' $2\cos - 2$ makes that
# inner softmax twice as sharp.
#
# Does imprinting help before any training? Add the 5 new classes to a copy of the classifier,
# once with imprinted proxies (`LocalSimilarityClassifier.imprint`) and once at random, and test
# on all 10 digits. The backbone is the one trained on digits 0-4 only.

# %%
from podnet_lib.engine.metrics import top1_accuracy

test_all, test_all_labels = embed(learner, range(learner.scenario.n_classes))
is_new = test_all_labels >= len(base_classes)
for start in ("imprinted", "random"):
    grown = copy.deepcopy(clf)
    init = None
    if start == "imprinted":
        init = grown.imprint([train_new[train_new_labels == c] for c in new_classes], torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    grown.add_classes(len(new_classes), init)
    with torch.no_grad():
        predicted = grown(test_all).argmax(dim=1)
    print(f"{start:>9} proxies: accuracy on the new digits {top1_accuracy(predicted[is_new], test_all_labels[is_new]):5.1f}%, "
          f"on the old digits {top1_accuracy(predicted[~is_new], test_all_labels[~is_new]):5.1f}%")

# %% [markdown]
# Random proxies never win: every new digit is misclassified. Imprinted proxies recognise a good
# part of the new digits at once, from features learnt on other digits alone. That is only a start:
# PODNet then trains on the new classes and the memory, and finetunes the classifier on a balanced
# memory after each task: chapter 04 writes that task out step by step.

# %% [markdown]
# ## Exercises
#
# **1. Cosine scores, eq. (8).** Given embeddings `features` (B, D) and class weights `weights`
# (C, D), return the (B, C) cosine similarities $\langle\theta_c, \mathbf{h}\rangle$ (before $\eta$ and the
# softmax).

# %%
def cosine_scores(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError  # TODO: normalise both, then one matrix product


from podnet_lib.book.exercises.classifiers import check_cosine_scores

check_cosine_scores(cosine_scores)

# %% [markdown]
# **2. The LSC class scores, eq. (9).** `proxies` is (C * K, D), the K proxies of class c in rows
# `c*K .. c*K + K - 1`. Return $\hat{y}$ (B, C) with the cosine as similarity.

# %%
def lsc_scores(features: torch.Tensor, proxies: torch.Tensor, k: int) -> torch.Tensor:
    raise NotImplementedError  # TODO: cosines (B, C*K) -> (B, C, K) -> softmax over K -> weighted sum


from podnet_lib.book.exercises.classifiers import check_local_similarity

check_local_similarity(lsc_scores)

# %% [markdown]
# **3. The NCA loss, eq. (10), paper form.** `scores` (B, C), `targets` (B,), scale `eta`,
# margin `margin`; return the batch mean. The stub below is plain cross-entropy on
# $\eta(\hat{y} - \delta)$: like the authors' form, it subtracts the margin from every class, so the
# margin cancels out. Fix it so that the margin acts on the target only, the target is left out of
# the denominator, and the hinge is applied.

# %%
def nca_paper(scores: torch.Tensor, targets: torch.Tensor, eta: float, margin: float) -> torch.Tensor:
    # TODO: this subtracts the margin from every class, and keeps the target in the denominator
    logits = eta * (scores - margin)
    return torch.nn.functional.cross_entropy(logits, targets)


from podnet_lib.book.exercises.classifiers import check_nca_loss

check_nca_loss(nca_paper)

# %% [markdown]
# <details><summary>Solutions</summary>
#
# ```python
# import torch.nn.functional as F
#
# def cosine_scores(features, weights):
#     return F.normalize(features, dim=1) @ F.normalize(weights, dim=1).t()
#
# def lsc_scores(features, proxies, k):
#     cos = cosine_scores(features, proxies).view(features.shape[0], -1, k)   # (B, C, K)
#     return (torch.softmax(cos, dim=2) * cos).sum(dim=2)
#
# def nca_paper(scores, targets, eta, margin):
#     rows = torch.arange(len(targets))
#     others = (eta * scores).masked_fill(F.one_hot(targets, scores.shape[1]).bool(), float("-inf"))
#     loss = torch.logsumexp(others, dim=1) - eta * (scores[rows, targets] - margin)
#     return loss.clamp(min=0).mean()
# ```
# </details>
