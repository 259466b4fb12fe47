"""CIFAR-10 / CIFAR-100 (python pickle batches)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ._common import (
    UInt8ArrayDataset,
    _locate,
    _require,
    _split_choice,
)

CIFAR_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _read_cifar_pickle(path: Path, dataset: str, keys: Sequence[str]) -> dict:
    """A CIFAR pickle as a dict with str keys, checked to contain ``keys``.

    The files are pickles, so only read ones obtained from the official source.
    """
    try:
        with open(path, "rb") as f:
            raw = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"{dataset}: {path} is not a CIFAR python pickle: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{dataset}: {path} holds a {type(raw).__name__}, expected a dict")
    entry = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in raw.items()}
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(f"{dataset}: {path} lacks key(s) {missing}; has {sorted(entry)}")
    return entry


def _cifar_names(entry: dict, key: str, count: int, path: Path, dataset: str) -> list[str]:
    names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in entry[key]]
    if len(names) != count:
        raise ValueError(f"{dataset}: {path}['{key}'] has {len(names)} names, expected {count}")
    return names


def _cifar_labels(entry: dict, key: str, n: int, n_classes: int, path: Path, dataset: str):
    labels = np.asarray(entry[key])
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{dataset}: {path}['{key}'] must be {n} integer labels, got "
            f"{labels.dtype} {labels.shape}"
        )
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        raise ValueError(
            f"{dataset}: {path}['{key}'][{bad[0]}] = {labels[bad[0]]} is out of range "
            f"[0, {n_classes - 1}]"
        )
    return labels.astype(np.int64)


def _read_cifar_batches(paths: Sequence[Path], dataset: str, label_keys: dict[str, int]):
    """Concatenated ``N x 32 x 32 x 3`` uint8 images and each labels key of CIFAR batches."""
    images, labels = [], {key: [] for key in label_keys}
    for path in paths:
        entry = _read_cifar_pickle(path, dataset, ["data", *label_keys])
        data = np.asarray(entry["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(
                f"{dataset}: {path}['data'] must be uint8 N x 3072 (3 x 32 x 32 "
                f"rows), got {data.dtype} {data.shape}"
            )
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        for key, n_classes in label_keys.items():
            labels[key].append(_cifar_labels(entry, key, len(data), n_classes, path, dataset))
    return np.concatenate(images), {k: np.concatenate(v) for k, v in labels.items()}


def load_cifar10(
    root, split: str = "train", image_size: int | None = None, transform: Callable | None = None
) -> UInt8ArrayDataset:
    """CIFAR-10 from ``root/cifar-10-batches-py/`` (or ``root`` being that folder).

    Reads ``data_batch_1`` .. ``data_batch_5`` (train) or ``test_batch`` (test) and the class
    names from ``batches.meta``. Images are 3 x 32 x 32 (or ``image_size`` squared).
    """
    dataset = "CIFAR-10"
    split = _split_choice(dataset, split)
    folder = _locate(dataset, root, "cifar-10-batches-py", "batches.meta", CIFAR_SOURCE)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    paths = [_require(dataset, folder / n, CIFAR_SOURCE) for n in names]
    meta_path = folder / "batches.meta"
    classes = _cifar_names(
        _read_cifar_pickle(meta_path, dataset, ["label_names"]),
        "label_names",
        10,
        meta_path,
        dataset,
    )
    images, labels = _read_cifar_batches(paths, dataset, {"labels": 10})
    return UInt8ArrayDataset(
        "cifar10",
        images,
        labels["labels"],
        classes,
        image_size,
        transform=transform,
        meta={"source": CIFAR_SOURCE, "files": [str(p) for p in paths], "split": split},
    )


def load_cifar100(
    root, split: str = "train", image_size: int | None = None, transform: Callable | None = None
) -> UInt8ArrayDataset:
    """CIFAR-100 from ``root/cifar-100-python/{train,test,meta}`` (or ``root`` being that folder).

    ``targets`` are the 100 fine labels; ``ground_truth["superclass"]`` the 20 coarse labels,
    named by ``meta["superclass_names"]``. A fine class that appears under two superclasses is
    an error.
    """
    dataset = "CIFAR-100"
    split = _split_choice(dataset, split)
    folder = _locate(dataset, root, "cifar-100-python", "meta", CIFAR_SOURCE)
    path = _require(dataset, folder / split, CIFAR_SOURCE)
    meta_path = folder / "meta"
    meta_entry = _read_cifar_pickle(meta_path, dataset, ["fine_label_names", "coarse_label_names"])
    classes = _cifar_names(meta_entry, "fine_label_names", 100, meta_path, dataset)
    superclasses = _cifar_names(meta_entry, "coarse_label_names", 20, meta_path, dataset)
    images, labels = _read_cifar_batches([path], dataset, {"fine_labels": 100, "coarse_labels": 20})
    fine, coarse = labels["fine_labels"], labels["coarse_labels"]
    pairs = np.unique(np.stack([fine, coarse], axis=1), axis=0)
    clash = pairs[np.flatnonzero(np.diff(pairs[:, 0]) == 0)]
    if len(clash):
        raise ValueError(
            f"{dataset}: {path}: fine class {clash[0, 0]} ('{classes[clash[0, 0]]}') "
            "appears under more than one coarse label"
        )
    return UInt8ArrayDataset(
        "cifar100",
        images,
        fine,
        classes,
        image_size,
        transform=transform,
        ground_truth={"superclass": coarse},
        meta={
            "source": CIFAR_SOURCE,
            "files": [str(path)],
            "split": split,
            "superclass_names": superclasses,
        },
    )
