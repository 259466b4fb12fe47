"""What every real-dataset loader shares: the dataset classes, crop geometry and the
strict file/row helpers that raise naming the dataset, file and line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..base import DatasetNotFoundError, LabeledImageDataset

SPLITS = ("train", "test")
CROP_MODES = ("center", "resize")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

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
