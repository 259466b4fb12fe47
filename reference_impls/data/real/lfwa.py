"""LFW images with the LFWA attributes (CelebA-style attribute list)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Callable

import numpy as np

from ..base import DatasetNotFoundError
from ._common import (
    ImageFileDataset,
    _check_choice,
    _check_range,
    _numbers,
    _require,
    _rows,
    _split_choice,
)

LFW_SOURCE = "https://vis-www.cs.umass.edu/lfw/ (lfw.tgz or lfw-deepfunneled.tgz)"
LFWA_SOURCE = (
    "the LFWA annotations linked from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    "(a list_attr*.txt file in the CelebA format)"
)
LFWA_N_ATTRIBUTES = 40


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
