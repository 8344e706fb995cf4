"""Every number quoted from the paper (Douillard et al., ECCV 2020), in one place.

All are average incremental accuracies in percent (Sec. 4, "Protocol"): the top-1 accuracy on
all classes seen so far, averaged over the tasks, base task included. They were measured on
CIFAR-100 (ResNet-32) or ImageNet (ResNet-18) with 20 exemplars per class, not on our data.
"""
from __future__ import annotations

SETTING = "paper, CIFAR-100 50 steps"        # the protocol of Tables 3 and 4

# Table 1, CIFAR-100, 50 base classes + steps of 1/2/5/10 classes: steps -> (mean, std) over
# three class orders. "(NME)" / "(CNN)" name the inference; iCaRL and BiC are reported once.
TABLE1: dict[str, dict[int, tuple[float, float]]] = {
    "icarl": {50: (44.20, 0.98), 25: (50.60, 1.06), 10: (53.78, 1.16), 5: (58.08, 0.59)},
    "bic": {50: (47.09, 1.48), 25: (48.96, 1.03), 10: (53.21, 1.01), 5: (56.86, 0.46)},
    "ucir (nme)": {50: (48.57, 0.37), 25: (56.82, 0.19), 10: (60.83, 0.70), 5: (63.63, 0.87)},
    "ucir (cnn)": {50: (49.30, 0.32), 25: (57.57, 0.23), 10: (61.22, 0.69), 5: (64.01, 0.91)},
    "podnet (nme)": {50: (61.40, 0.68), 25: (62.71, 1.26), 10: (64.03, 1.30), 5: (64.48, 1.32)},
    "podnet (cnn)": {50: (57.98, 0.46), 25: (60.72, 1.36), 10: (63.19, 1.16), 5: (64.83, 0.98)},
}

# Table 1, PODNet only: steps -> (NME, CNN) means.
PODNET_CIFAR100: dict[int, tuple[float, float]] = {
    steps: (TABLE1["podnet (nme)"][steps][0], TABLE1["podnet (cnn)"][steps][0]) for steps in (50, 25, 10, 5)
}

# Table 2, PODNet (CNN): (dataset, steps) -> mean.
TABLE2_PODNET: dict[tuple[str, int], float] = {
    ("imagenet100", 50): 62.48, ("imagenet100", 25): 68.31, ("imagenet100", 10): 74.33,
    ("imagenet100", 5): 75.54, ("imagenet1000", 10): 64.13, ("imagenet1000", 5): 66.95,
}

# Table 3a: classifier x distillation terms -> (NME, CNN).
TABLE3A: dict[str, tuple[float, float]] = {
    "cosine": (40.76, 37.93),
    "cosine + flat": (48.03, 46.73),
    "cosine + spatial": (54.32, 57.27),
    "cosine + flat + spatial": (56.69, 55.72),
    "lsc-ce + flat + spatial": (59.86, 57.45),
    "lsc": (41.56, 40.76),
    "lsc + flat": (53.29, 52.98),
    "lsc + spatial": (61.42, 57.64),
    "lsc + flat + spatial": (61.40, 57.98),
}

# Table 3b: the pooling of the intermediate distillation, always with POD-flat -> (NME, CNN).
# "none" is POD-flat alone. GradCam and Perceptual Style (other papers' losses) are not built here.
TABLE3B: dict[str, tuple[float, float]] = {
    "none": (53.29, 52.98),
    "pixel": (49.74, 52.34),
    "channel": (57.21, 54.64),
    "gap": (58.80, 55.95),
    "width": (60.92, 57.51),
    "height": (60.64, 57.50),
    "spatial": (61.40, 57.98),
}

# Table 4: memory per class M_per -> average incremental accuracy of each method.
TABLE4: dict[str, dict[int, float]] = {
    "icarl": {5: 16.44, 10: 28.57, 20: 44.20, 50: 48.29, 100: 54.10, 200: 57.82},
    "bic": {5: 20.84, 10: 21.97, 20: 47.09, 50: 55.01, 100: 62.23, 200: 67.47},
    "ucir (nme)": {5: 21.81, 10: 41.92, 20: 48.57, 50: 56.09, 100: 60.31, 200: 64.24},
    "ucir (cnn)": {5: 22.17, 10: 42.70, 20: 49.30, 50: 57.02, 100: 61.37, 200: 65.99},
    "podnet (nme)": {5: 48.37, 10: 57.20, 20: 61.40, 50: 62.27, 100: 63.14, 200: 63.63},
    "podnet (cnn)": {5: 35.59, 10: 48.54, 20: 57.98, 50: 63.69, 100: 66.48, 200: 67.62},
}
