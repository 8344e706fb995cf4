"""Data: datasets, class orders, the class-incremental scenario, augmentation, batching.

`load_dataset` gives uint8 splits; `class_order` + `make_scenario` + `remap` set up the
protocol of the paper's Sec. 4; `augment` / `normalise` turn uint8 batches into network
inputs; `iterate_batches` walks a task's samples. `standins` generates offline stand-ins.
"""
from __future__ import annotations

from podnet_lib.data.augment import (
    AUGMENTATIONS,
    AugmentError,
    AugmentParams,
    AugmentSpec,
    apply_params,
    augment,
    augment_one,
    draw_params,
    hflip,
    normalise,
)
from podnet_lib.data.datasets import (
    DATASET_FORMS,
    check_dataset_name,
    ArrayDataset,
    DatasetNameError,
    DatasetNotFoundError,
    DatasetSplits,
    FolderDataset,
    load_dataset,
)
from podnet_lib.data.folders import IN_MEMORY_BYTES, SMALL_IMAGE_MAX, channel_statistics
from podnet_lib.data.loading import class_indices, iterate_batches, num_batches
from podnet_lib.data.orders import CIFAR100_ORDER_1, ClassOrderError, class_order
from podnet_lib.data.scenario import Scenario, ScenarioError, make_scenario, remap
from podnet_lib.data.standins import export_image_folder, synthetic_splits, write_image_folder

__all__ = [
    "AUGMENTATIONS", "AugmentError", "AugmentParams", "AugmentSpec", "apply_params", "augment",
    "augment_one", "draw_params", "hflip", "normalise",
    "DATASET_FORMS", "check_dataset_name", "ArrayDataset", "DatasetNameError", "DatasetNotFoundError", "DatasetSplits",
    "FolderDataset", "load_dataset",
    "IN_MEMORY_BYTES", "SMALL_IMAGE_MAX", "channel_statistics",
    "class_indices", "iterate_batches", "num_batches",
    "CIFAR100_ORDER_1", "ClassOrderError", "class_order",
    "Scenario", "ScenarioError", "make_scenario", "remap",
    "export_image_folder", "synthetic_splits", "write_image_folder",
]
