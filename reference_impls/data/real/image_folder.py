"""Class-folder datasets (ImageNette, ImageNet subsets, Stanford Cars in class-folder form)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from ..base import DatasetNotFoundError
from ._common import (
    IMAGE_EXTENSIONS,
    ImageFileDataset,
    _require,
    _split_choice,
)

IMAGENETTE_SOURCE = "https://github.com/fastai/imagenette"
IMAGENET_SOURCE = "https://image-net.org/download.php (arranged as train/<wnid>/, val/<wnid>/)"
STANFORD_CARS_SOURCE = (
    "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (arranged as "
    "train/<class>/, test/<class>/)"
)
IMAGE_FOLDER_SOURCE = "the dataset's official site (arranged as train/<class>/, val/<class>/)"


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
