"""Loaders for the full profile's real datasets, read from their official on-disk layouts.

Nothing is ever downloaded: each loader reads files a user placed under ``root`` and, when
they are absent, raises :class:`~reference_impls.data.base.DatasetNotFoundError` naming the
dataset, the path it expected and where to get it. Malformed annotation files raise
``ValueError`` naming the file and line; no row, image or label is silently skipped.

Every loader returns one split as a :class:`~reference_impls.data.base.LabeledImageDataset`
(float32 ``C x H x W`` images in [0, 1]); :func:`load_splits` returns train and test together
as a :class:`~reference_impls.data.base.DatasetSplits`. Each dataset also has ``meta`` (a
dict: source, files read, per-dataset extras) and ``subset(indices)``.

==================  ============================================================================
name                expected layout under ``root`` (``root`` may also be the inner folder)
==================  ============================================================================
``cifar10``         ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``
``cifar100``        ``cifar-100-python/{train, test, meta}``; coarse labels ->
                    ``ground_truth["superclass"]``
``mnist``           ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``
``fashion_mnist``   ``FashionMNIST/raw/`` with the same four idx files
``image_folder``    ``train/<class>/<image>``, ``val/<class>/<image>`` (and/or ``test/``); also
                    registered as ``imagenette``, ``imagenet`` and ``stanford_cars``
``cub200``          ``CUB_200_2011/`` as in the official tarball (see :func:`load_cub200`)
``lfwa``            ``lfw/<Person>/<Person>_0001.jpg`` (or ``lfw-deepfunneled``, ``lfw_funneled``)
                    plus a CelebA-style ``list_attr*.txt`` (see :func:`load_lfwa`)
==================  ============================================================================

CIFAR and MNIST-style datasets (under 200 MB decoded) are held in memory as uint8 and converted
per item; the image datasets read each image from disk when it is indexed.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from ..base import DatasetSplits, LabeledImageDataset
from ._common import (
    CROP_MODES,
    IMAGE_EXTENSIONS,
    SPLITS,
    ImageFileDataset,
    UInt8ArrayDataset,
    crop_box,
    to_output_coords,
)
from .cifar import (
    CIFAR_SOURCE,
    load_cifar10,
    load_cifar100,
)
from .cub import (
    CUB_N_ATTRIBUTES,
    CUB_N_PARTS,
    CUB_SOURCE,
    load_cub200,
)
from .image_folder import (
    IMAGE_FOLDER_SOURCE,
    IMAGENET_SOURCE,
    IMAGENETTE_SOURCE,
    STANFORD_CARS_SOURCE,
    load_image_folder,
)
from .lfwa import (
    LFW_IMAGE_SETS,
    LFW_SOURCE,
    LFWA_N_ATTRIBUTES,
    LFWA_SOURCE,
    load_lfwa,
    read_celeba_attributes,
)
from .mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SOURCE,
    MNIST_CLASSES,
    MNIST_SOURCE,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)

__all__ = [
    "CIFAR_SOURCE",
    "CROP_MODES",
    "CUB_N_ATTRIBUTES",
    "CUB_N_PARTS",
    "CUB_SOURCE",
    "DATASET_LOADERS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SOURCE",
    "IMAGENETTE_SOURCE",
    "IMAGENET_SOURCE",
    "IMAGE_EXTENSIONS",
    "IMAGE_FOLDER_SOURCE",
    "ImageFileDataset",
    "LFWA_N_ATTRIBUTES",
    "LFWA_SOURCE",
    "LFW_IMAGE_SETS",
    "LFW_SOURCE",
    "MNIST_CLASSES",
    "MNIST_SOURCE",
    "SPLITS",
    "STANFORD_CARS_SOURCE",
    "UInt8ArrayDataset",
    "crop_box",
    "load_cifar10",
    "load_cifar100",
    "load_cub200",
    "load_dataset",
    "load_fashion_mnist",
    "load_image_folder",
    "load_lfwa",
    "load_mnist",
    "load_splits",
    "read_celeba_attributes",
    "read_idx",
    "to_output_coords",
]

DATASET_LOADERS: dict[str, Callable[..., LabeledImageDataset]] = {
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "image_folder": load_image_folder,
    "imagenette": partial(load_image_folder, name="imagenette", source=IMAGENETTE_SOURCE),
    "imagenet": partial(load_image_folder, name="imagenet", source=IMAGENET_SOURCE),
    "stanford_cars": partial(load_image_folder, name="stanford_cars", source=STANFORD_CARS_SOURCE),
    "cub200": load_cub200,
    "lfwa": load_lfwa,
}


def _loader(name: str) -> Callable[..., LabeledImageDataset]:
    key = str(name).lower().replace("-", "_")
    if key not in DATASET_LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_LOADERS)}")
    return DATASET_LOADERS[key]


def load_dataset(
    name: str, root, split: str = "train", image_size: int | None = None, **kwargs
) -> LabeledImageDataset:
    """One split of a registered real dataset (see :data:`DATASET_LOADERS`).

    ``image_size`` None keeps each loader's default (native size for CIFAR and MNIST-style
    sets, 224 for image files); other keyword arguments go to the loader.
    """
    if image_size is not None:
        kwargs["image_size"] = image_size
    return _loader(name)(root, split=split, **kwargs)


def load_splits(name: str, root, image_size: int | None = None, **kwargs) -> DatasetSplits:
    """The ``train`` and ``test`` splits of a registered real dataset as a DatasetSplits."""
    train = load_dataset(name, root, "train", image_size, **kwargs)
    test = load_dataset(name, root, "test", image_size, **kwargs)
    return DatasetSplits(
        train=train,
        test=test,
        meta={
            "dataset": str(name),
            "root": str(root),
            "source": train.meta.get("source"),
            "n_train": len(train),
            "n_test": len(test),
        },
    )
