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

import copy
import gzip
import hashlib
import itertools
import os
import pickle
import re
import warnings
from array import array
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .base import DatasetNotFoundError, DatasetSplits, LabeledImageDataset

CIFAR_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"
MNIST_SOURCE = (
    "https://yann.lecun.com/exdb/mnist/ (or run torchvision.datasets.MNIST(root, "
    "download=True) on a machine with internet)"
)
FASHION_MNIST_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"
IMAGENETTE_SOURCE = "https://github.com/fastai/imagenette"
IMAGENET_SOURCE = "https://image-net.org/download.php (arranged as train/<wnid>/, val/<wnid>/)"
STANFORD_CARS_SOURCE = (
    "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (arranged as "
    "train/<class>/, test/<class>/)"
)
IMAGE_FOLDER_SOURCE = "the dataset's official site (arranged as train/<class>/, val/<class>/)"
CUB_SOURCE = "https://www.vision.caltech.edu/datasets/cub_200_2011/ (CUB_200_2011.tgz)"
LFW_SOURCE = "https://vis-www.cs.umass.edu/lfw/ (lfw.tgz or lfw-deepfunneled.tgz)"
LFWA_SOURCE = (
    "the LFWA annotations linked from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    "(a list_attr*.txt file in the CelebA format)"
)

SPLITS = ("train", "test")
CROP_MODES = ("center", "resize")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

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
CUB_N_ATTRIBUTES = 312
CUB_N_PARTS = 15
LFWA_N_ATTRIBUTES = 40


# --------------------------------------------------------------------------------------------
# Dataset classes
# --------------------------------------------------------------------------------------------


class _RealDataset(LabeledImageDataset):
    """Shared constructor (``name``, ``meta``) and ``subset`` over the per-item arrays."""

    _per_item: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        targets,
        classes,
        *,
        ground_truth=None,
        attribute_names=None,
        transform: Callable | None = None,
        meta: dict | None = None,
    ):
        self.name = name
        self.meta = dict(meta or {})
        super().__init__(targets, classes, ground_truth, attribute_names, transform)
        for attr in self._per_item:
            value = getattr(self, attr)
            if value is not None and len(value) != len(self.targets):
                raise ValueError(
                    f"{name}: {attr} has {len(value)} rows, expected {len(self.targets)}"
                )

    def subset(self, indices) -> "_RealDataset":
        """A new dataset of the given rows (ground truth included), sharing nothing mutable."""
        indices = np.asarray(indices)
        new = copy.copy(self)
        new.targets = self.targets[indices]
        new.ground_truth = {k: np.asarray(v)[indices] for k, v in self.ground_truth.items()}
        new.meta = dict(self.meta)
        for attr in self._per_item:
            value = getattr(self, attr)
            if value is not None:
                setattr(new, attr, np.asarray(value)[indices])
        return new


class UInt8ArrayDataset(_RealDataset):
    """Images held in memory as uint8 ``N x H x W x C`` (CIFAR, MNIST), scaled per item.

    ``image_size`` (an int) resizes each image to ``image_size x image_size`` with antialiased
    bilinear interpolation (values stay in [0, 1]); ``None`` keeps the native size.
    """

    _per_item = ("images",)

    def __init__(
        self, name: str, images, targets, classes, image_size: int | None = None, **kwargs
    ):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"{name}: images must be uint8 N x H x W x C, got {images.dtype} {images.shape}"
            )
        self.images = images
        self.image_size = _check_image_size(name, image_size, allow_none=True)
        super().__init__(name, targets, classes, **kwargs)

    def load_image(self, index: int) -> torch.Tensor:
        image = torch.from_numpy(self.images[index].transpose(2, 0, 1).astype(np.float32))
        image = image.div_(255.0)
        size = self.image_size
        if size is not None and tuple(image.shape[-2:]) != (size, size):
            image = F.interpolate(
                image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )[0]
        return image


class ImageFileDataset(_RealDataset):
    """RGB images read from files when indexed, cropped to a box and resized to a square.

    For each image, the integer crop box ``(left, top, right, bottom)`` in original pixel
    coordinates is ``boxes[i]`` when given, otherwise derived from ``crop``: ``"center"`` is
    the centred square of side ``min(width, height)`` (the framing of torchvision's
    ``Resize(s) + CenterCrop(s)``), ``"resize"`` the whole image (aspect ratio not kept).
    The image is cropped to the box, then resampled to ``image_size x image_size`` (PIL
    bilinear, antialiased), so no pixel outside the box leaks into the output.
    """

    _per_item = ("paths", "boxes")

    def __init__(
        self,
        name: str,
        paths: Sequence,
        targets,
        classes,
        image_size: int,
        crop: str = "center",
        boxes=None,
        **kwargs,
    ):
        self.paths = np.array([str(p) for p in paths], dtype=object)
        self.image_size = _check_image_size(name, image_size, allow_none=False)
        self.crop = _check_choice(name, "crop", crop, CROP_MODES)
        self.boxes = None if boxes is None else np.asarray(boxes, dtype=np.int64)
        super().__init__(name, targets, classes, **kwargs)

    def load_image(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                box = (
                    tuple(int(v) for v in self.boxes[index])
                    if self.boxes is not None
                    else crop_box(im.width, im.height, self.crop)
                )
                im = im.crop(box).resize(
                    (self.image_size, self.image_size), Image.Resampling.BILINEAR
                )
        except FileNotFoundError:
            raise DatasetNotFoundError(
                self.name,
                path,
                self.meta.get("source", "its source"),
                "an image listed at load time has disappeared",
            ) from None
        except OSError as err:
            raise ValueError(f"{self.name}: cannot decode image '{path}': {err}") from err
        array = np.asarray(im, dtype=np.uint8)
        return torch.from_numpy(array.transpose(2, 0, 1).copy()).to(torch.float32).div_(255.0)


def crop_box(width: int, height: int, crop: str) -> tuple[int, int, int, int]:
    """The integer ``(left, top, right, bottom)`` box a crop mode takes from an image."""
    width, height = int(width), int(height)
    if crop == "resize":
        return (0, 0, width, height)
    if crop == "center":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return (left, top, left + side, top + side)
    raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")


def to_output_coords(x, y, box, image_size: int):
    """Map original pixel coordinates into the ``image_size`` square that ``box`` is resized to."""
    box = np.asarray(box, dtype=np.float64)
    left, top, right, bottom = (box[..., k] for k in range(4))
    return (
        (np.asarray(x) - left) * image_size / (right - left),
        (np.asarray(y) - top) * image_size / (bottom - top),
    )


# --------------------------------------------------------------------------------------------
# Small strict helpers
# --------------------------------------------------------------------------------------------


def _check_image_size(name: str, image_size, allow_none: bool):
    if image_size is None and allow_none:
        return None
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < 1
    ):
        raise ValueError(
            f"{name}: image_size must be a positive int"
            f"{' or None' if allow_none else ''}, got {image_size!r}"
        )
    return int(image_size)


def _check_choice(name: str, what: str, value, choices):
    if value not in choices:
        raise ValueError(f"{name}: {what} must be one of {list(choices)}, got {value!r}")
    return value


def _require(dataset: str, path: Path, source: str, detail: str = "") -> Path:
    """``path`` if it exists, else DatasetNotFoundError naming the dataset, path and source."""
    if not path.exists():
        raise DatasetNotFoundError(dataset, path, source, detail)
    return path


def _locate(dataset: str, root, folder: str, marker: str, source: str) -> Path:
    """``root/folder`` if it holds ``marker``; ``root`` itself if it does; else not found."""
    root = Path(root)
    for candidate in (root / folder, root):
        if (candidate / marker).exists():
            return candidate
    raise DatasetNotFoundError(dataset, root / folder / marker, source)


def _rows(
    path: Path, dataset: str, n_fields: int | tuple[int, int | None], maxsplit: int = -1
) -> Iterator[tuple[int, list[str]]]:
    """``(line_number, fields)`` for each non-blank line of a whitespace-separated text file.

    ``n_fields`` is an exact count or a ``(min, max)`` pair (``max`` None: unbounded); any other
    count raises ValueError naming the file and line.
    """
    low, high = (n_fields, n_fields) if isinstance(n_fields, int) else n_fields
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split(None, maxsplit)
            if not fields:
                continue
            if len(fields) < low or (high is not None and len(fields) > high):
                expected = low if low == high else f"{low}..{high if high is not None else ''}"
                raise ValueError(
                    f"{dataset}: {path}, line {lineno}: expected {expected} "
                    f"whitespace-separated fields, got {len(fields)}: "
                    f"{line.strip()!r}"
                )
            if maxsplit >= 0:
                fields[-1] = fields[-1].strip()
            yield lineno, fields


def _numbers(fields: Sequence[str], kind: type, path: Path, lineno: int, dataset: str) -> list:
    try:
        return [kind(field) for field in fields]
    except ValueError:
        raise ValueError(
            f"{dataset}: {path}, line {lineno}: expected {kind.__name__} values, "
            f"got {' '.join(fields)!r}"
        ) from None


def _check_range(value, low, high, what: str, path: Path, lineno, dataset: str):
    if not low <= value <= high:
        raise ValueError(
            f"{dataset}: {path}, line {lineno}: {what} {value} out of range [{low}, {high}]"
        )
    return value


def _split_choice(name: str, split: str, choices=SPLITS) -> str:
    return _check_choice(name, "split", split, choices)


# --------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 (python pickle batches)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# MNIST / Fashion-MNIST (idx-ubyte files, optionally gzipped)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Class-folder datasets (ImageNette, ImageNet subsets, Stanford Cars in class-folder form)
# --------------------------------------------------------------------------------------------


def _visible_entries(folder: Path) -> list[Path]:
    """Sorted entries of a folder, without hidden ones (``.DS_Store``, ``._*``)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_images(class_dir: Path, dataset: str) -> list[Path]:
    """Every image file under a class folder (recursively, sorted); other files are errors."""
    files = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(f for f in filenames if not f.startswith(".")):
            path = Path(dirpath) / filename
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(
                    f"{dataset}: {path} is not an image (extensions accepted: "
                    f"{', '.join(IMAGE_EXTENSIONS)})"
                )
            files.append(path)
    if not files:
        raise ValueError(f"{dataset}: class folder {class_dir} holds no images")
    return files


def load_image_folder(
    root,
    split: str = "train",
    image_size: int = 224,
    crop: str = "center",
    classes: Sequence[str] | None = None,
    name: str = "image_folder",
    source: str = IMAGE_FOLDER_SOURCE,
    transform: Callable | None = None,
) -> ImageFileDataset:
    """A class-folder dataset: ``root/<split dir>/<class>/<image>``, read lazily.

    ``split`` is ``"train"`` (folder ``train/``), ``"val"`` (``val/``) or ``"test"``
    (``test/``, or ``val/`` when there is no ``test/``: ImageNet and ImageNette publish their
    labelled held-out set as ``val/``). The class index comes from ``train/``'s sorted folder
    names (from the split's own folder when ``train/`` is absent), so all splits share it; a
    class folder in the split that ``train/`` lacks is an error. ``classes`` selects and
    orders a subset of class folders (an ImageNet subset, say); each must exist.
    Images are converted to RGB and framed by ``crop`` (see :class:`ImageFileDataset`).
    Hidden files are ignored; any other non-image file is an error.
    """
    split = _split_choice(name, split, ("train", "val", "test"))
    root = Path(root)
    split_dir = root / split
    if split == "test" and not split_dir.is_dir() and (root / "val").is_dir():
        split_dir = root / "val"
    if not split_dir.is_dir():
        raise DatasetNotFoundError(
            name,
            split_dir,
            source,
            "one folder per class inside" + (" (or val/)" if split == "test" else ""),
        )
    if classes is None:
        index_dir = root / "train" if (root / "train").is_dir() else split_dir
        classes = [p.name for p in _visible_entries(index_dir) if p.is_dir()]
        strays = [p for p in _visible_entries(split_dir) if not p.is_dir()]
        if strays:
            raise ValueError(f"{name}: {strays[0]} is a file where class folders are expected")
        unknown = [p.name for p in _visible_entries(split_dir) if p.name not in set(classes)]
        if unknown:
            raise ValueError(
                f"{name}: class folder(s) {unknown} in {split_dir} are absent from "
                f"{index_dir}, which defines the class index"
            )
    classes = list(classes)
    if not classes:
        raise ValueError(f"{name}: no class folders in {split_dir}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"{name}: classes lists a folder twice: {classes}")
    paths, targets = [], []
    for label, class_name in enumerate(classes):
        class_dir = _require(name, split_dir / class_name, source)
        files = _class_images(class_dir, name)
        paths += files
        targets += [label] * len(files)
    return ImageFileDataset(
        name,
        paths,
        targets,
        classes,
        image_size,
        crop,
        transform=transform,
        meta={"source": source, "root": str(root), "split": split, "folder": str(split_dir)},
    )


# --------------------------------------------------------------------------------------------
# CUB-200-2011
# --------------------------------------------------------------------------------------------


def _id_table(path: Path, dataset: str, n_fields, maxsplit: int = -1) -> dict[int, tuple]:
    """``{id: (line_number, other fields)}`` of a file whose first field is a unique int id."""
    table = {}
    for lineno, fields in _rows(path, dataset, n_fields, maxsplit):
        (key,) = _numbers(fields[:1], int, path, lineno, dataset)
        if key in table:
            raise ValueError(
                f"{dataset}: {path}, line {lineno}: id {key} already given on line {table[key][0]}"
            )
        table[key] = (lineno, fields[1:])
    return table


def _numbered_names(path: Path, dataset: str, count: int | None) -> list[str]:
    """The names of a ``<id> <name>`` file whose ids must be exactly 1..n (n = count if given)."""
    table = _id_table(path, dataset, 2, maxsplit=1)
    n = len(table)
    if sorted(table) != list(range(1, n + 1)) or (count is not None and n != count):
        raise ValueError(
            f"{dataset}: {path}: ids must be exactly 1..{count or n}, got {n} ids "
            f"from {min(table, default=None)} to {max(table, default=None)}"
        )
    return [table[i][1][0] for i in range(1, n + 1)]


def _per_image(
    path: Path, dataset: str, image_ids: Sequence[int], n_fields: int, kind: type
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of an ``<image_id> v1 .. vk`` file ordered like ``image_ids`` (every id exactly
    once), and the line number each came from."""
    table = _id_table(path, dataset, n_fields)
    known = set(image_ids)
    for key, (lineno, _) in table.items():
        if key not in known:
            raise ValueError(
                f"{dataset}: {path}, line {lineno}: image id {key} is not in images.txt"
            )
    missing = [i for i in image_ids if i not in table]
    if missing:
        raise ValueError(
            f"{dataset}: {path} has no row for image id(s) {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''} listed in images.txt"
        )
    values = np.array([_numbers(table[i][1], kind, path, table[i][0], dataset) for i in image_ids])
    return values, np.array([table[i][0] for i in image_ids])


def _numeric_rows(path: Path, dataset: str, width: int, n_fields: int, extra_fields_ok: bool):
    """The first ``width`` numbers of each non-blank row (``n_fields`` per row, or more with
    ``extra_fields_ok``) and a function from row index to line number.

    numpy's C parser reads well-formed files (the real CUB attribute file has 3.7M rows);
    when it refuses one, the line-by-line reader finds and names the offending line.
    """
    table = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on an empty file: the slow path decides
        try:
            table = np.loadtxt(
                path,
                dtype=np.float64,
                ndmin=2,
                comments=None,
                usecols=range(n_fields) if extra_fields_ok else None,
            )
        except ValueError:
            pass
    if table is not None and table.ndim == 2 and table.shape[1] == n_fields and len(table):

        def line_of(row: int) -> int:
            with open(path, encoding="utf-8") as f:
                nonblank = (lineno for lineno, line in enumerate(f, 1) if line.strip())
                return next(itertools.islice(nonblank, row, None))

        return table[:, :width], line_of
    flat, linenos = array("d"), array("q")
    for lineno, fields in _rows(path, dataset, (n_fields, None if extra_fields_ok else n_fields)):
        flat.extend(_numbers(fields[:width], float, path, lineno, dataset))
        linenos.append(lineno)
    return np.frombuffer(flat, dtype=np.float64).reshape(-1, width), linenos.__getitem__


def _per_image_item(
    path: Path,
    dataset: str,
    image_ids: Sequence[int],
    n_items: int,
    n_values: int,
    what: str,
    allowed: dict[int, tuple] | None = None,
    unread: int = 0,
    extra_fields_ok: bool = False,
) -> np.ndarray:
    """``<image_id> <item_id> v1 .. vk`` rows as an ``n_images x n_items x k`` float array.

    Every (image, item) pair must appear exactly once; ``allowed`` maps a value column (0-based
    among v1 .. vk) to the values it may take, given as ``(name, values)``. ``unread`` more
    fields must follow the values (CUB's annotation time) but are not used. With
    ``extra_fields_ok`` a row may carry more than ``2 + k + unread`` fields (only the first
    ``2 + k`` are read): the known quirk of CUB's ``image_attribute_labels.txt``, where a few
    rows have extra columns.
    """
    width = 2 + n_values
    table, line_of = _numeric_rows(path, dataset, width, width + unread, extra_fields_ok)

    def fail(mask, message):
        first = np.flatnonzero(mask)
        if len(first):
            raise ValueError(
                f"{dataset}: {path}, line {line_of(int(first[0]))}: {message}: "
                f"{table[first[0]].tolist()}"
            )

    fail(~np.isfinite(table).all(axis=1), "values must be finite")
    ids = table[:, :2]
    fail((ids != np.round(ids)).any(axis=1), f"image and {what} ids must be integers")
    lookup = np.full(max(image_ids) + 2, -1, dtype=np.int64)
    lookup[np.asarray(image_ids)] = np.arange(len(image_ids))
    image_col = ids[:, 0].astype(np.int64)
    rows = lookup[np.clip(image_col, 0, len(lookup) - 1)]
    fail(rows < 0, "image id not in images.txt")
    items = ids[:, 1].astype(np.int64) - 1
    fail((items < 0) | (items >= n_items), f"{what} id out of range [1, {n_items}]")
    cells = rows * n_items + items
    order = np.argsort(cells, kind="stable")
    repeated = np.zeros(len(cells), dtype=bool)
    repeated[order[1:]] = cells[order[1:]] == cells[order[:-1]]
    fail(repeated, f"(image, {what}) pair given twice")
    for column, (name, values) in (allowed or {}).items():
        fail(~np.isin(table[:, 2 + column], values), f"{name} must be one of {list(values)}")
    counts = np.bincount(cells, minlength=len(image_ids) * n_items)
    if (counts == 0).any():
        i, j = divmod(int(np.flatnonzero(counts == 0)[0]), n_items)
        raise ValueError(
            f"{dataset}: {path} has no row for image {image_ids[i]}, {what} {j + 1} "
            f"({int((counts == 0).sum())} (image, {what}) pairs missing)"
        )
    out = np.empty((len(image_ids) * n_items, n_values))
    out[cells] = table[:, 2:]
    return out.reshape(len(image_ids), n_items, n_values)


def _stat_key(paths: Sequence[Path]) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


@lru_cache(maxsize=1)
def _read_cub_annotations(cub_dir: str, attributes_path: str, _stamp: tuple) -> dict:
    """Every CUB annotation file parsed and cross-checked (cached: train and test share it)."""
    dataset, d = "CUB-200-2011", Path(cub_dir)
    images = _id_table(d / "images.txt", dataset, 2)
    image_ids = list(images)
    class_names = _numbered_names(d / "classes.txt", dataset, None)
    labels, linenos = _per_image(d / "image_class_labels.txt", dataset, image_ids, 2, int)
    for label, lineno in zip(labels[:, 0], linenos):
        _check_range(
            label, 1, len(class_names), "class id", d / "image_class_labels.txt", lineno, dataset
        )
    is_train, linenos = _per_image(d / "train_test_split.txt", dataset, image_ids, 2, int)
    for flag, lineno in zip(is_train[:, 0], linenos):
        _check_range(flag, 0, 1, "is_training_image", d / "train_test_split.txt", lineno, dataset)
    bboxes, linenos = _per_image(d / "bounding_boxes.txt", dataset, image_ids, 5, float)
    for (w, h), lineno in zip(bboxes[:, 2:], linenos):
        if not (w > 0 and h > 0):
            raise ValueError(
                f"{dataset}: {d / 'bounding_boxes.txt'}, line {lineno}: width and "
                f"height must be positive, got {w} x {h}"
            )
    part_names = _numbered_names(d / "parts" / "parts.txt", dataset, CUB_N_PARTS)
    parts = _per_image_item(
        d / "parts" / "part_locs.txt",
        dataset,
        image_ids,
        CUB_N_PARTS,
        3,
        "part",
        allowed={2: ("visible", (0, 1))},
    )
    attribute_names = _numbered_names(Path(attributes_path), dataset, CUB_N_ATTRIBUTES)
    attrs = _per_image_item(
        d / "attributes" / "image_attribute_labels.txt",
        dataset,
        image_ids,
        CUB_N_ATTRIBUTES,
        2,
        "attribute",
        unread=1,
        extra_fields_ok=True,
        allowed={0: ("is_present", (0, 1)), 1: ("certainty_id", (1, 2, 3, 4))},
    )
    return {
        "image_ids": np.array(image_ids, dtype=np.int64),
        "paths": [images[i][1][0] for i in image_ids],
        "labels": labels[:, 0].astype(np.int64) - 1,
        "is_train": is_train[:, 0].astype(bool),
        "bboxes": bboxes.astype(np.float64),
        "parts": parts,
        "attributes": attrs[..., 0].astype(np.uint8),
        "certainty": attrs[..., 1].astype(np.uint8),
        "class_names": class_names,
        "part_names": part_names,
        "attribute_names": attribute_names,
    }


def load_cub200(
    root,
    split: str = "train",
    image_size: int = 224,
    crop: str = "resize",
    transform: Callable | None = None,
) -> ImageFileDataset:
    """CUB-200-2011 in its official layout, with attributes, part keypoints and boxes.

    ``root`` holds ``CUB_200_2011/`` (or is it). Read: ``images.txt``, ``classes.txt``,
    ``image_class_labels.txt``, ``train_test_split.txt``, ``bounding_boxes.txt``,
    ``parts/parts.txt`` (15 parts), ``parts/part_locs.txt`` (``image part x y visible``),
    ``attributes/image_attribute_labels.txt`` (``image attribute is_present certainty time``;
    rows with extra trailing fields, a known quirk of the real file, are read by their first
    four fields), ``attributes.txt`` (312 names; next to ``CUB_200_2011/`` as in the
    tarball, or inside it, or in its ``attributes/``) and ``images/<class_dir>/<file>.jpg``.
    Every image must have exactly one row in each file.

    ``crop``: ``"resize"`` (default) squeezes the whole image into the square so every part
    stays in frame; ``"center"`` takes the centred square; ``"bbox"`` the bird's bounding box
    (grown to whole pixels and kept inside the image).

    ``ground_truth``: ``attributes`` (N x 312 uint8 is_present), ``attribute_certainty``
    (N x 312, 1..4), ``keypoints`` (N x 15 x 3 float32: x, y in output pixels, visible; a part
    not annotated is (0, 0, 0); an annotated part the crop leaves out of frame keeps its
    coordinates with visible = 0), ``bbox`` (N x 4 float32 x, y, width, height in output
    pixels, not clipped to the frame), ``image_id`` (CUB ids) and ``original_size`` (N x 2
    width, height). ``classes`` are the names of ``classes.txt``; ``attribute_names`` the 312
    attribute names; ``meta["part_names"]`` the 15 part names.
    """
    dataset = "CUB-200-2011"
    split = _split_choice(dataset, split)
    crop = _check_choice(dataset, "crop", crop, (*CROP_MODES, "bbox"))
    image_size = _check_image_size(dataset, image_size, allow_none=False)
    cub_dir = _locate(dataset, root, "CUB_200_2011", "images.txt", CUB_SOURCE)
    files = [
        cub_dir / n
        for n in (
            "images.txt",
            "classes.txt",
            "image_class_labels.txt",
            "train_test_split.txt",
            "bounding_boxes.txt",
        )
    ]
    files += [
        cub_dir / "parts" / "parts.txt",
        cub_dir / "parts" / "part_locs.txt",
        cub_dir / "attributes" / "image_attribute_labels.txt",
    ]
    for path in files:
        _require(dataset, path, CUB_SOURCE)
    candidates = [
        cub_dir.parent / "attributes.txt",
        cub_dir / "attributes.txt",
        cub_dir / "attributes" / "attributes.txt",
    ]
    attributes_path = next((p for p in candidates if p.exists()), None)
    if attributes_path is None:
        raise DatasetNotFoundError(
            dataset, candidates[0], CUB_SOURCE, f"or at {candidates[1]} or {candidates[2]}"
        )
    ann = _read_cub_annotations(
        str(cub_dir), str(attributes_path), _stat_key([*files, attributes_path])
    )

    rows = np.flatnonzero(ann["is_train"] == (split == "train"))
    paths = [cub_dir / "images" / ann["paths"][r] for r in rows]
    sizes = np.zeros((len(rows), 2), dtype=np.float64)
    for k, path in enumerate(paths):
        _require(dataset, path, CUB_SOURCE, "an image listed in images.txt")
        with Image.open(path) as im:
            sizes[k] = im.size
    bboxes = ann["bboxes"][rows]
    if crop == "bbox":  # the bounding box grown to whole pixels and kept inside the image
        boxes = np.concatenate(
            [np.floor(bboxes[:, :2]), np.ceil(bboxes[:, :2] + bboxes[:, 2:])], axis=1
        )
        boxes = np.clip(boxes, 0, np.concatenate([sizes, sizes], axis=1))
    else:
        boxes = np.array([crop_box(w, h, crop) for w, h in sizes]).reshape(-1, 4)

    parts = ann["parts"][rows]
    x, y = to_output_coords(parts[..., 0], parts[..., 1], boxes[:, None, :], image_size)
    annotated = parts[..., 2] == 1
    in_frame = (x >= 0) & (x < image_size) & (y >= 0) & (y < image_size)
    keypoints = np.stack(
        [
            np.where(annotated, x, 0.0),
            np.where(annotated, y, 0.0),
            (annotated & in_frame).astype(np.float64),
        ],
        axis=-1,
    )
    bx0, by0 = to_output_coords(bboxes[:, 0], bboxes[:, 1], boxes, image_size)
    bx1, by1 = to_output_coords(
        bboxes[:, 0] + bboxes[:, 2], bboxes[:, 1] + bboxes[:, 3], boxes, image_size
    )
    return ImageFileDataset(
        "cub200",
        paths,
        ann["labels"][rows],
        ann["class_names"],
        image_size,
        "resize",
        boxes=boxes,
        transform=transform,
        attribute_names=ann["attribute_names"],
        ground_truth={
            "attributes": ann["attributes"][rows],
            "attribute_certainty": ann["certainty"][rows],
            "keypoints": keypoints.astype(np.float32),
            "bbox": np.stack([bx0, by0, bx1 - bx0, by1 - by0], axis=1).astype(np.float32),
            "image_id": ann["image_ids"][rows],
            "original_size": sizes.astype(np.int64),
        },
        meta={
            "source": CUB_SOURCE,
            "root": str(cub_dir),
            "split": split,
            "crop": crop,
            "part_names": ann["part_names"],
            "attributes_file": str(attributes_path),
        },
    )


# --------------------------------------------------------------------------------------------
# LFW with the LFWA attributes
# --------------------------------------------------------------------------------------------

LFW_IMAGE_SETS = {"original": "lfw", "deepfunneled": "lfw-deepfunneled", "funneled": "lfw_funneled"}
_LFW_FILENAME = re.compile(r"^(?P<person>.+)_\d{4}\.(jpe?g|png)$", re.IGNORECASE)


def _find_one(root: Path, pattern: str, given, dataset: str, source: str, what: str) -> Path | None:
    """``given`` (relative to root) if set; else the single file matching ``pattern`` in
    ``root`` or ``root/anno``; None when there is none (the caller decides), error when several."""
    if given is not None:
        return _require(dataset, root / given, source, what)
    found = sorted(
        p for folder in (root, root / "anno") if folder.is_dir() for p in folder.glob(pattern)
    )
    if len(found) > 1:
        raise ValueError(
            f"{dataset}: several {what} files match {pattern}: "
            f"{[str(p) for p in found]}; pass one explicitly"
        )
    return found[0] if found else None


def read_celeba_attributes(path, dataset: str = "LFWA", n_attributes: int = LFWA_N_ATTRIBUTES):
    """Parse a CelebA-style attribute list: ``(filenames, names, N x k uint8 in {0, 1})``.

    Line 1: the number of images; line 2: the ``k`` attribute names; then one line per image,
    ``filename v1 .. vk`` with each value -1 (absent) or 1 (present). The count must match, a
    filename may appear once, and any other value or field count is an error.
    """
    path = Path(path)
    rows = _rows(path, dataset, (1, None))
    first = next(rows, None)
    if first is None or len(first[1]) != 1:
        raise ValueError(f"{dataset}: {path}, line 1: expected the number of images")
    (count,) = _numbers(first[1], int, path, first[0], dataset)
    header = next(rows, None)
    if header is None or len(header[1]) != n_attributes:
        raise ValueError(
            f"{dataset}: {path}, line 2: expected {n_attributes} attribute names, "
            f"got {0 if header is None else len(header[1])}"
        )
    filenames, values, seen = [], [], {}
    for lineno, fields in rows:
        if len(fields) != n_attributes + 1:
            raise ValueError(
                f"{dataset}: {path}, line {lineno}: expected a filename and "
                f"{n_attributes} values, got {len(fields)} fields"
            )
        row = _numbers(fields[1:], int, path, lineno, dataset)
        if any(v not in (-1, 1) for v in row):
            raise ValueError(f"{dataset}: {path}, line {lineno}: attribute values must be -1 or 1")
        if fields[0] in seen:
            raise ValueError(
                f"{dataset}: {path}, line {lineno}: {fields[0]} already listed on "
                f"line {seen[fields[0]]}"
            )
        seen[fields[0]] = lineno
        filenames.append(fields[0])
        values.append(row)
    if len(filenames) != count:
        raise ValueError(
            f"{dataset}: {path}: line 1 announces {count} images, the file lists {len(filenames)}"
        )
    attributes = (np.array(values, dtype=np.int64).reshape(-1, n_attributes) > 0).astype(np.uint8)
    return filenames, header[1], attributes


def _hash_fraction(text: str) -> float:
    """A uniform number in [0, 1) fixed by ``text`` (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def load_lfwa(
    root,
    split: str = "train",
    image_size: int = 224,
    crop: str = "center",
    image_set: str = "auto",
    attr_file=None,
    partition_file=None,
    test_fraction: float = 0.5,
    transform: Callable | None = None,
) -> ImageFileDataset:
    """LFW images with the 40 LFWA attributes (CelebA-style annotation file).

    Expected under ``root``:

    * the images, ``lfw/<Person_Name>/<Person_Name>_0001.jpg``; ``image_set`` picks
      ``"original"`` (``lfw/``), ``"deepfunneled"`` (``lfw-deepfunneled/``) or ``"funneled"``
      (``lfw_funneled/``); ``"auto"`` takes the first present in that order;
    * the attribute list (``attr_file``, relative to ``root``; by default the one file
      matching ``list_attr*.txt`` in ``root`` or ``root/anno``), in the CelebA format (see
      :func:`read_celeba_attributes`). Filenames are ``Person_Name_0001.jpg`` (the person
      folder is derived from the name) or ``Person_Name/Person_Name_0001.jpg``;
    * optionally a partition (``partition_file``; by default ``list_eval_partition*.txt`` in
      ``root`` or ``root/anno``): ``filename k`` with k = 0 train, 1 val, 2 test, one line
      per annotated image. Without one, the split is a fixed hash of each filename: an image
      is in ``test`` when the hash falls below ``test_fraction``.

    The dataset is exactly the annotated images; each must exist. ``targets`` is the
    person identity (index into ``classes``, the sorted names of every annotated person, the
    same for all splits); ``ground_truth["attributes"]`` the N x 40 attributes mapped
    -1 -> 0, 1 -> 1 (names in ``attribute_names``). ``split`` is ``"train"``, ``"val"``
    (partition file only), ``"test"`` or ``"all"``.
    """
    dataset = "LFWA"
    split = _split_choice(dataset, split, ("train", "val", "test", "all"))
    root = Path(root)
    _check_choice(dataset, "image_set", image_set, ("auto", *LFW_IMAGE_SETS))
    if image_set == "auto":
        image_dir = next(
            (root / d for d in LFW_IMAGE_SETS.values() if (root / d).is_dir()),
            root / LFW_IMAGE_SETS["original"],
        )
    else:
        image_dir = root / LFW_IMAGE_SETS[image_set]
    _require(dataset, image_dir, LFW_SOURCE, "one folder per person")
    attr_path = _find_one(root, "list_attr*.txt", attr_file, dataset, LFWA_SOURCE, "attribute list")
    if attr_path is None:
        raise DatasetNotFoundError(
            dataset,
            root / "list_attr_lfw.txt",
            LFWA_SOURCE,
            "any list_attr*.txt in the root or root/anno is accepted",
        )
    filenames, attribute_names, attributes = read_celeba_attributes(attr_path, dataset)

    relative, persons = [], []
    for filename in filenames:
        person = filename.split("/")[0] if "/" in filename else None
        if person is None:
            match = _LFW_FILENAME.match(filename)
            if match is None:
                raise ValueError(
                    f"{dataset}: {attr_path}: cannot derive the person from "
                    f"'{filename}' (expected Person_Name_0001.jpg)"
                )
            person = match.group("person")
            filename = f"{person}/{filename}"
        relative.append(filename)
        persons.append(person)
    classes = sorted(set(persons))
    index = {p: i for i, p in enumerate(classes)}

    partition_path = _find_one(
        root, "list_eval_partition*.txt", partition_file, dataset, LFWA_SOURCE, "partition"
    )
    if partition_path is not None:
        table = {}
        for lineno, fields in _rows(partition_path, dataset, 2):
            (k,) = _numbers(fields[1:], int, partition_path, lineno, dataset)
            table[fields[0]] = _check_range(k, 0, 2, "partition", partition_path, lineno, dataset)
        missing = [f for f in filenames if f not in table]
        if missing:
            raise ValueError(
                f"{dataset}: {partition_path} has no partition for {missing[0]} "
                f"({len(missing)} annotated images without one)"
            )
        part = np.array([table[f] for f in filenames])
    else:
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"{dataset}: test_fraction must be in (0, 1), got {test_fraction!r}")
        if split == "val":
            raise ValueError(
                f"{dataset}: split 'val' needs a partition file; none found in "
                f"{root} or {root / 'anno'}"
            )
        part = np.array([2 if _hash_fraction(f) < test_fraction else 0 for f in filenames])
    rows = (
        np.arange(len(filenames))
        if split == "all"
        else np.flatnonzero(part == {"train": 0, "val": 1, "test": 2}[split])
    )
    paths = [image_dir / relative[r] for r in rows]
    for path in paths:
        _require(dataset, path, LFW_SOURCE, f"an image listed in {attr_path.name}")
    return ImageFileDataset(
        "lfwa",
        paths,
        [index[persons[r]] for r in rows],
        classes,
        image_size,
        crop,
        transform=transform,
        attribute_names=attribute_names,
        ground_truth={"attributes": attributes[rows], "annotation_row": rows.astype(np.int64)},
        meta={
            "source": f"{LFW_SOURCE}; attributes: {LFWA_SOURCE}",
            "root": str(root),
            "split": split,
            "image_dir": str(image_dir),
            "attributes_file": str(attr_path),
            "partition": str(partition_path)
            if partition_path is not None
            else f"sha256(filename) < {test_fraction} -> test",
        },
    )


# --------------------------------------------------------------------------------------------
# Dispatcher
# --------------------------------------------------------------------------------------------

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
