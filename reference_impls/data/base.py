"""One interface for every dataset in the suite.

Every loader returns a :class:`LabeledImageDataset`: a ``torch.utils.data.Dataset`` whose
items are ``(image, label)`` with ``image`` a float32 tensor ``C x H x W`` in ``[0, 1]``,
plus numpy ``targets``, the ``classes`` names, and a ``ground_truth`` dict of per-image
arrays (attribute vectors, part masks, keypoints, superclass, background...) holding
whatever the dataset annotates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch


class DatasetNotFoundError(FileNotFoundError):
    """A real dataset's files are absent: the message names the dataset, path and source."""

    def __init__(self, dataset: str, expected_path, source: str, detail: str = ""):
        msg = (
            f"{dataset}: expected files not found at '{expected_path}'. "
            f"Download it from {source} and place it there"
            + (f" ({detail})" if detail else "")
            + "."
        )
        super().__init__(msg)
        self.dataset = dataset
        self.expected_path = str(expected_path)


class LabeledImageDataset(torch.utils.data.Dataset):
    """Base class: ``(image, label)`` items plus ``targets``, ``classes`` and ``ground_truth``.

    Subclasses implement :meth:`load_image` (index -> float32 ``C x H x W`` tensor in [0,1]).
    ``transform``, if given, is applied to the image tensor.
    """

    name: str = "dataset"

    def __init__(
        self,
        targets,
        classes,
        ground_truth=None,
        attribute_names=None,
        transform: Callable | None = None,
    ):
        self.targets = np.asarray(targets, dtype=np.int64)
        self.classes = list(classes)
        self.ground_truth = dict(ground_truth or {})
        self.attribute_names = list(attribute_names) if attribute_names is not None else None
        self.transform = transform
        for key, arr in self.ground_truth.items():
            if len(arr) != len(self.targets):
                raise ValueError(
                    f"{self.name}: ground_truth['{key}'] has {len(arr)} rows, "
                    f"expected one per image ({len(self.targets)})"
                )

    def __len__(self) -> int:
        return len(self.targets)

    def load_image(self, index: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int):
        image = self.load_image(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])


class ArrayImageDataset(LabeledImageDataset):
    """A dataset held in memory as a ``N x C x H x W`` float32 array in [0, 1]."""

    def __init__(
        self,
        images,
        targets,
        classes,
        ground_truth=None,
        attribute_names=None,
        transform=None,
        name: str = "arrays",
    ):
        self.name = name
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"{name}: images must be N x C x H x W, got shape {images.shape}")
        if len(images) != len(targets):
            raise ValueError(f"{name}: {len(images)} images but {len(targets)} labels")
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise ValueError(f"{name}: images must be finite and in [0, 1]")
        self.images = images
        super().__init__(targets, classes, ground_truth, attribute_names, transform)

    def load_image(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.images[index])

    def subset(self, indices) -> "ArrayImageDataset":
        """A new dataset of the given rows, ground truth included."""
        indices = np.asarray(indices)
        return ArrayImageDataset(
            self.images[indices],
            self.targets[indices],
            self.classes,
            {k: np.asarray(v)[indices] for k, v in self.ground_truth.items()},
            self.attribute_names,
            self.transform,
            self.name,
        )


@dataclass
class DatasetSplits:
    """Train and test splits of one dataset, with shared metadata."""

    train: LabeledImageDataset
    test: LabeledImageDataset
    meta: dict = field(default_factory=dict)
