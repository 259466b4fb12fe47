"""Forward hooks on named layers and the activation cache.

One cache file per (dataset, model, layer): float32 activations (spatial ``N x C x H x W`` or
pooled ``N x C``), logits, labels and dataset indices, with a SHA-256 checksum of the arrays
stored in the file. :func:`load_activations` recomputes it, so a truncated or corrupted file
is reported, never silently reused.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..utils import get_device
from .training import iterate_batches
from .zoo import named_layer

CACHE_ARRAYS = ("activations", "logits", "labels", "indices")


class CorruptCacheError(ValueError):
    """An activation cache file is unreadable, incomplete or fails its checksum."""


@contextmanager
def record_layers(model: torch.nn.Module, layers):
    """Context manager: forward hooks that store each named layer's output in a dict."""
    store, handles = {}, []
    for name in layers:
        module = named_layer(model, name)
        handles.append(
            module.register_forward_hook(
                lambda _m, _i, out, name=name: store.__setitem__(name, out)
            )
        )
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def extract_activations(
    model, dataset, layers, pooled=False, batch_size: int = 256, device=None, progress: bool = True
) -> dict:
    """Activations of ``layers`` on every image of ``dataset``, in dataset order.

    ``pooled`` is a bool for all layers or a dict layer -> bool; pooled activations are
    spatially averaged (global average pooling). Returns ``{"layers": {name: array},
    "logits", "labels", "indices"}`` as float32 / int64 numpy arrays.
    """
    device = get_device(device)
    model.eval().to(device)
    pool = {name: (pooled[name] if isinstance(pooled, dict) else bool(pooled)) for name in layers}
    out = {name: [] for name in layers}
    logits, labels, indices = [], [], []
    with record_layers(model, layers) as store:
        for x, y, idx in tqdm(
            iterate_batches(dataset, batch_size, with_index=True),
            total=-(-len(dataset) // batch_size),
            desc="activations",
            disable=not progress,
            mininterval=2.0,
        ):
            logits.append(model(x.to(device)).float().cpu())
            for name in layers:
                a = store[name].float()
                if pool[name] and a.ndim == 4:
                    a = a.mean((2, 3))
                out[name].append(a.cpu())
            labels.append(y)
            indices.append(idx)
    return {
        "layers": {k: torch.cat(v).numpy() for k, v in out.items()},
        "logits": torch.cat(logits).numpy(),
        "labels": torch.cat(labels).numpy(),
        "indices": torch.cat(indices).numpy(),
    }


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for key in CACHE_ARRAYS:
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_activations(path, activations, logits, labels, indices, meta: dict | None = None) -> None:
    """Write one cache file (``.npz``) with its checksum and metadata (JSON)."""
    arrays = {
        "activations": np.asarray(activations, dtype=np.float32),
        "logits": np.asarray(logits, dtype=np.float32),
        "labels": np.asarray(labels, dtype=np.int64),
        "indices": np.asarray(indices, dtype=np.int64),
    }
    n = len(arrays["activations"])
    for key in ("logits", "labels", "indices"):
        if len(arrays[key]) != n:
            raise ValueError(f"{path}: '{key}' has {len(arrays[key])} rows, activations have {n}")
    meta = dict(meta or {}, shape=list(arrays["activations"].shape))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, checksum=np.array(_checksum(arrays)), meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)  # atomic: a crash never leaves a half-written cache under the real name


def load_activations(path) -> dict:
    """Read a cache file and verify it; raises :class:`CorruptCacheError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"activation cache '{path}' does not exist; run the activations rule (snakemake {path})"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in CACHE_ARRAYS + ("checksum", "meta") if k not in data.files]
            if missing:
                raise CorruptCacheError(f"{path}: missing arrays {missing}; delete and recompute")
            arrays = {k: data[k] for k in CACHE_ARRAYS}
            stored, meta = str(data["checksum"]), json.loads(str(data["meta"]))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, CorruptCacheError):
            raise
        raise CorruptCacheError(
            f"{path}: unreadable or truncated activation cache ({err}); "
            f"delete it and rerun the activations rule"
        ) from err
    if _checksum(arrays) != stored:
        raise CorruptCacheError(
            f"{path}: checksum mismatch, the cache is corrupted; delete it "
            f"and rerun the activations rule"
        )
    arrays["meta"] = meta
    return arrays
