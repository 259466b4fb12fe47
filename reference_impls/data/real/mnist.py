"""MNIST / Fashion-MNIST (idx-ubyte files, optionally gzipped)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np

from ..base import DatasetNotFoundError
from ._common import (
    UInt8ArrayDataset,
    _split_choice,
)

MNIST_SOURCE = (
    "https://yann.lecun.com/exdb/mnist/ (or run torchvision.datasets.MNIST(root, "
    "download=True) on a machine with internet)"
)
FASHION_MNIST_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def read_idx(path, dataset: str = "idx") -> np.ndarray:
    """A uint8 array from an idx-ubyte file (``.gz`` read transparently), header checked.

    The header is two zero bytes, the type code 0x08 (unsigned byte), the number of
    dimensions, then each dimension as a big-endian uint32; the payload must match exactly.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # corrupt gzip stream
        raise ValueError(f"{dataset}: cannot read {path}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(
            f"{dataset}: {path} is not an unsigned-byte idx file "
            f"(magic {data[:4].hex() or 'missing'}, expected 000008xx)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{dataset}: {path}: truncated idx header ({ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(
            f"{dataset}: {path}: header declares shape {shape} "
            f"({int(np.prod(shape))} bytes) but the payload has {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _idx_file(folder: Path, stem: str, dataset: str, source: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz`` (the uncompressed one when both exist)."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.exists():
            return path
    raise DatasetNotFoundError(dataset, folder / stem, source, "the .gz file is accepted too")


def _load_idx_dataset(
    name: str,
    dataset: str,
    folder_name: str,
    classes: list[str],
    source: str,
    root,
    split: str,
    image_size,
    transform,
) -> UInt8ArrayDataset:
    split = _split_choice(dataset, split)
    prefix = "train" if split == "train" else "t10k"
    image_stem, label_stem = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    root = Path(root)
    folder = next(
        (
            c
            for c in (root / folder_name / "raw", root)
            if (c / image_stem).exists() or (c / f"{image_stem}.gz").exists()
        ),
        root / folder_name / "raw",
    )
    image_path = _idx_file(folder, image_stem, dataset, source)
    label_path = _idx_file(folder, label_stem, dataset, source)
    images, labels = read_idx(image_path, dataset), read_idx(label_path, dataset)
    if images.ndim != 3:
        raise ValueError(f"{dataset}: {image_path}: expected N x H x W images, got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{dataset}: {label_path} holds {labels.shape} labels for "
            f"{len(images)} images in {image_path}"
        )
    bad = np.flatnonzero(labels >= len(classes))
    if len(bad):
        raise ValueError(
            f"{dataset}: {label_path}: label {labels[bad[0]]} of image {bad[0]} is "
            f"out of range [0, {len(classes) - 1}]"
        )
    return UInt8ArrayDataset(
        name,
        images[..., None],
        labels.astype(np.int64),
        classes,
        image_size,
        transform=transform,
        meta={"source": source, "files": [str(image_path), str(label_path)], "split": split},
    )


def load_mnist(
    root, split: str = "train", image_size: int | None = None, transform: Callable | None = None
) -> UInt8ArrayDataset:
    """MNIST from torchvision's layout ``root/MNIST/raw/`` (or ``root`` holding the files).

    Files: ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``, each
    plain or ``.gz``. Images 1 x 28 x 28; ``classes`` ``"0"`` .. ``"9"``.
    """
    return _load_idx_dataset(
        "mnist", "MNIST", "MNIST", MNIST_CLASSES, MNIST_SOURCE, root, split, image_size, transform
    )


def load_fashion_mnist(
    root, split: str = "train", image_size: int | None = None, transform: Callable | None = None
) -> UInt8ArrayDataset:
    """Fashion-MNIST from ``root/FashionMNIST/raw/`` (same four idx files as MNIST)."""
    return _load_idx_dataset(
        "fashion_mnist",
        "Fashion-MNIST",
        "FashionMNIST",
        FASHION_MNIST_CLASSES,
        FASHION_MNIST_SOURCE,
        root,
        split,
        image_size,
        transform,
    )
