"""Writers of tiny datasets in each real dataset's on-disk format, for the loader tests.

Each ``write_*`` function builds a miniature copy of a dataset's official layout under a
directory and returns what it wrote (images, labels, annotations) so tests can compare the
loader's output with the truth. Formats follow the official distributions:

* CIFAR: python pickles with bytes keys (as the original Python 2 pickles load with
  ``encoding="bytes"``), ``data`` a uint8 N x 3072 array of R, G, B planes;
* MNIST: idx-ubyte files (magic 0x00000803 / 0x00000801, big-endian dims), plain or gzipped;
* CUB-200-2011: the txt files of the tarball, with ``attributes.txt`` next to
  ``CUB_200_2011/`` and one attribute row carrying the extra fields the real file has;
* LFW + LFWA: ``lfw/<Person>/<Person>_000k.jpg`` and a CelebA-style ``list_attr_lfw.txt``.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

CUB_PART_NAMES = [
    "back",
    "beak",
    "belly",
    "breast",
    "crown",
    "forehead",
    "left eye",
    "left leg",
    "left wing",
    "nape",
    "right eye",
    "right leg",
    "right wing",
    "tail",
    "throat",
]
CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]


def _pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _cifar_images(rng, n: int) -> np.ndarray:
    """``n`` random uint8 images, N x 32 x 32 x 3."""
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """CIFAR's row format: 1024 red, then 1024 green, then 1024 blue values per image."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def write_cifar10(root: Path, per_batch: int = 2, n_test: int = 3, seed: int = 0) -> dict:
    """``root/cifar-10-batches-py/``: 5 train batches of ``per_batch`` images, a test batch."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    written = {}
    batches = {f"data_batch_{i}": per_batch for i in range(1, 6)} | {"test_batch": n_test}
    for k, (name, n) in enumerate(batches.items()):
        images = _cifar_images(rng, n)
        labels = [(k * 3 + j) % 10 for j in range(n)]
        _pickle(
            folder / name,
            {
                b"batch_label": name.encode(),
                b"labels": labels,
                b"data": _cifar_rows(images),
                b"filenames": [f"img_{k}_{j}.png".encode() for j in range(n)],
            },
        )
        written[name] = (images, np.array(labels))
    names = [f"class_{c}" for c in range(10)]
    _pickle(
        folder / "batches.meta",
        {
            b"label_names": [n.encode() for n in names],
            b"num_cases_per_batch": per_batch,
            b"num_vis": 3072,
        },
    )
    train = [written[f"data_batch_{i}"] for i in range(1, 6)]
    return {
        "train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
        "test": written["test_batch"],
        "classes": names,
        "folder": folder,
    }


def write_cifar100(root: Path, n_train: int = 6, n_test: int = 4, seed: int = 1) -> dict:
    """``root/cifar-100-python/{train,test,meta}``; fine class c belongs to superclass c % 20."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = _cifar_images(rng, n)
        fine = rng.choice(100, size=n, replace=False)
        coarse = fine % 20
        _pickle(
            folder / split,
            {
                b"filenames": [b"x.png"] * n,
                b"batch_label": split.encode(),
                b"fine_labels": fine.tolist(),
                b"coarse_labels": coarse.tolist(),
                b"data": _cifar_rows(images),
            },
        )
        written[split] = (images, fine, coarse)
    fine_names = [f"fine_{c}" for c in range(100)]
    coarse_names = [f"coarse_{c}" for c in range(20)]
    _pickle(
        folder / "meta",
        {
            b"fine_label_names": [n.encode() for n in fine_names],
            b"coarse_label_names": [n.encode() for n in coarse_names],
        },
    )
    return {**written, "classes": fine_names, "superclasses": coarse_names, "folder": folder}


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx-ubyte encoding of a uint8 array."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_mnist(
    root: Path,
    folder: str = "MNIST",
    gz: bool = False,
    n_train: int = 5,
    n_test: int = 3,
    seed: int = 2,
) -> dict:
    """torchvision's ``root/<folder>/raw/`` with the four idx files (gzipped if ``gz``)."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    written = {}
    for prefix, split, n in (("train", "train", n_train), ("t10k", "test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        for stem, array in (
            (f"{prefix}-images-idx3-ubyte", images),
            (f"{prefix}-labels-idx1-ubyte", labels),
        ):
            data = idx_bytes(array)
            if gz:
                with gzip.open(raw / f"{stem}.gz", "wb") as f:
                    f.write(data)
            else:
                (raw / stem).write_bytes(data)
        written[split] = (images, labels)
    return {**written, "raw": raw}


def three_band_image(width: int, height: int, colors) -> Image.Image:
    """An RGB image of three vertical bands (left, middle, right) of solid colours.

    With ``width == 3 * height`` the middle band is exactly the centred square.
    """
    array = np.zeros((height, width, 3), dtype=np.uint8)
    third = width // 3
    array[:, :third], array[:, third : width - third], array[:, width - third :] = colors
    return Image.fromarray(array)


def write_image_folder(root: Path) -> dict:
    """``root/{train,val}/{cat,dog}/`` with solid-colour PNGs and JPEGs (a 3-band wide one).

    Returns, per split, ``(relative path, label, RGB colour of the centred square)``.
    """
    colors = {"cat": (200, 10, 10), "dog": (10, 10, 200)}
    written = {"train": [], "val": []}
    for split, sizes in (("train", [(20, 20), (16, 24)]), ("val", [(30, 10)])):
        for label, cls in enumerate(["cat", "dog"]):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for k, (w, h) in enumerate(sizes):
                name = f"{cls}_{k}.png" if k == 0 else f"{cls}_{k}.JPEG"
                if w == 3 * h:  # wide image: only the middle band survives a centre crop
                    image = three_band_image(w, h, [(0, 255, 0), colors[cls], (0, 255, 0)])
                else:
                    image = Image.new("RGB", (w, h), colors[cls])
                image.save(folder / name, quality=100 if name.endswith("JPEG") else None)
                written[split].append((f"{split}/{cls}/{name}", label, colors[cls]))
    return written


def write_cub(root: Path, attributes_beside: bool = True) -> dict:
    """A 3-image ``root/CUB_200_2011`` tree (2 classes, 15 parts, 312 attributes).

    Image 1 (train) is 40 x 20, image 2 (test) 30 x 30, image 3 (train) 20 x 40. Attribute
    k of image i is present when ``(i + k) % 3 == 0`` with certainty ``1 + (i + k) % 4``;
    the row of image 2, attribute 5 carries two extra fields, as a few rows of the real file do.
    Part p of image i is visible when ``(i + p) % 2 == 0``, at ``(2 + p, 1 + i)``.
    """
    cub = root / "CUB_200_2011"
    images = {
        1: ("001.Black_footed_Albatross", "Black_Footed_Albatross_0001_796111.jpg", (40, 20)),
        2: ("002.Laysan_Albatross", "Laysan_Albatross_0002_1027.jpg", (30, 30)),
        3: ("001.Black_footed_Albatross", "Black_Footed_Albatross_0003_796136.jpg", (20, 40)),
    }
    labels = {1: 1, 2: 2, 3: 1}
    is_train = {1: 1, 2: 0, 3: 1}
    bboxes = {1: (4.0, 2.0, 20.0, 10.0), 2: (0.0, 0.0, 30.0, 30.0), 3: (5.0, 10.0, 10.0, 20.0)}
    for image_id, (folder, name, size) in images.items():
        (cub / "images" / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (image_id * 40, 100, 50)).save(cub / "images" / folder / name)
    (cub / "parts").mkdir(parents=True)
    (cub / "attributes").mkdir(parents=True)

    def write(path: Path, lines) -> None:
        path.write_text("".join(f"{line}\n" for line in lines))

    write(cub / "images.txt", [f"{i} {f}/{n}" for i, (f, n, _) in images.items()])
    write(cub / "classes.txt", ["1 001.Black_footed_Albatross", "2 002.Laysan_Albatross"])
    write(cub / "image_class_labels.txt", [f"{i} {c}" for i, c in labels.items()])
    write(cub / "train_test_split.txt", [f"{i} {t}" for i, t in is_train.items()])
    write(cub / "bounding_boxes.txt", [f"{i} {' '.join(map(str, b))}" for i, b in bboxes.items()])
    write(cub / "parts" / "parts.txt", [f"{p} {n}" for p, n in enumerate(CUB_PART_NAMES, 1)])
    parts = np.zeros((4, 15, 3))
    for i in images:
        for p in range(1, 16):
            visible = (i + p) % 2 == 0
            parts[i, p - 1] = (2 + p, 1 + i, 1) if visible else (0, 0, 0)
    write(
        cub / "parts" / "part_locs.txt",
        [
            f"{i} {p} {parts[i, p - 1, 0]:.1f} {parts[i, p - 1, 1]:.1f} {int(parts[i, p - 1, 2])}"
            for i in images
            for p in range(1, 16)
        ],
    )
    names = [f"has_feature_{k // 10}::value_{k % 10}" for k in range(1, 313)]
    attributes_txt = root / "attributes.txt" if attributes_beside else cub / "attributes.txt"
    write(attributes_txt, [f"{k} {n}" for k, n in enumerate(names, 1)])
    present = np.zeros((4, 312), dtype=np.uint8)
    certainty = np.zeros((4, 312), dtype=np.uint8)
    rows = []
    for i in images:
        for k in range(1, 313):
            present[i, k - 1] = (i + k) % 3 == 0
            certainty[i, k - 1] = 1 + (i + k) % 4
            extra = " 0 0" if (i, k) == (2, 5) else ""
            rows.append(f"{i} {k} {present[i, k - 1]} {certainty[i, k - 1]}{extra} 4.5")
    write(cub / "attributes" / "image_attribute_labels.txt", rows)
    return {
        "cub": cub,
        "images": images,
        "labels": labels,
        "is_train": is_train,
        "bboxes": bboxes,
        "parts": parts,
        "present": present,
        "certainty": certainty,
        "attribute_names": names,
        "attributes_txt": attributes_txt,
    }


def write_lfw(root: Path, image_dir: str = "lfw", with_partition: bool = False) -> dict:
    """4 LFW images of 3 people (250 x 250 like the real ones, grey level by image) and a
    CelebA-style ``list_attr_lfw.txt``; attribute k of image j is present when ``(j + k) % 2``.
    With ``with_partition`` also ``list_eval_partition_lfw.txt`` (images 0, 1 train, 2 val,
    3 test)."""
    files = [
        "Aaron_Eckhart_0001.jpg",
        "Ann_Veneman_0001.jpg",
        "Ann_Veneman_0002.jpg",
        "Zico_0001.jpg",
    ]
    attributes = np.array(
        [[(j + k) % 2 for k in range(40)] for j in range(len(files))], dtype=np.uint8
    )
    for j, name in enumerate(files):
        person = name.rsplit("_", 1)[0]
        (root / image_dir / person).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (250, 250), (60 * j,) * 3).save(
            root / image_dir / person / name, quality=100
        )
    lines = [str(len(files)), " ".join(CELEBA_ATTRIBUTES)]
    lines += [
        name + "  " + " ".join("1" if v else "-1" for v in row)
        for name, row in zip(files, attributes)
    ]
    (root / "list_attr_lfw.txt").write_text("\n".join(lines) + "\n")
    if with_partition:
        (root / "list_eval_partition_lfw.txt").write_text(
            "".join(f"{name} {k}\n" for name, k in zip(files, [0, 0, 1, 2]))
        )
    return {
        "files": files,
        "attributes": attributes,
        "persons": ["Aaron_Eckhart", "Ann_Veneman", "Ann_Veneman", "Zico"],
    }
