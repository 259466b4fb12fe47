"""CUB-200-2011 (the official tarball's txt annotations and images)."""

from __future__ import annotations

import itertools
import warnings
from array import array
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..base import DatasetNotFoundError
from ._common import (
    CROP_MODES,
    ImageFileDataset,
    _check_choice,
    _check_image_size,
    _check_range,
    _locate,
    _numbers,
    _require,
    _rows,
    _split_choice,
    crop_box,
    to_output_coords,
)

CUB_SOURCE = "https://www.vision.caltech.edu/datasets/cub_200_2011/ (CUB_200_2011.tgz)"
CUB_N_ATTRIBUTES = 312
CUB_N_PARTS = 15


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
