"""Image access shared by the papers: lazy image rows of a dataset, per-class image draws."""

from __future__ import annotations

import numpy as np

from ..utils import as_numpy, derive_seed
from .base import ArrayImageDataset


class ImageSource:
    """Lazy images of a dataset: ``source[rows]`` is a float32 ``(k, C, H, W)`` array, row i
    being dataset image ``indices[i]`` (default: the dataset order). Reads ``images`` when the
    dataset is an :class:`ArrayImageDataset` (model-ready arrays in memory), else calls ``load_image`` one image at a time (real data)."""

    def __init__(self, dataset, indices=None):
        self.dataset = dataset
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, rows) -> np.ndarray:
        ids = self.indices[np.atleast_1d(np.asarray(rows, dtype=np.int64))]
        if isinstance(self.dataset, ArrayImageDataset):  # float32 N x C x H x W in [0, 1]
            return np.asarray(self.dataset.images[ids], dtype=np.float32)
        return np.stack([as_numpy(self.dataset.load_image(int(i)), np.float32) for i in ids])


def select_class_images(targets, per_class: int, seed: int, tag: str) -> dict[int, np.ndarray]:
    """``per_class`` images of each class (seeded draw, sorted indices): ``{class: indices}``;
    ``tag`` (the paper id) keeps two papers' draws independent."""
    targets = np.asarray(targets)
    out = {}
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        if len(idx) < per_class:
            raise ValueError(
                f"class {c} has {len(idx)} images, fewer than images_per_class={per_class}"
            )
        rng = np.random.default_rng(derive_seed(seed, tag, "images", int(c)))
        out[int(c)] = np.sort(rng.choice(idx, size=per_class, replace=False))
    return out
