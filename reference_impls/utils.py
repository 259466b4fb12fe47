"""Small shared helpers: seeding, devices, array conversion."""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch


def derive_seed(global_seed: int, *axes: object) -> int:
    """A 31-bit seed derived deterministically from a global seed and experiment axes.

    ``derive_seed(0, "craft", "layer3", 2)`` is stable across runs, machines and Python
    versions (it hashes the text, unlike ``hash()`` which is salted per process).
    """
    text = "/".join([str(global_seed), *map(str, axes)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def get_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_numpy(x, dtype=None) -> np.ndarray:
    """A numpy view/copy of an array or tensor (detached, on the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x.astype(dtype, copy=False) if dtype is not None else x


def as_tensor(x, dtype=torch.float32, device=None) -> torch.Tensor:
    """A torch tensor of ``dtype`` on ``device`` (default: where it already is, CPU for numpy)."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype=dtype, device=device if device is not None else x.device)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def deep_update(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` merged in key by key (nested mappings merged, not replaced)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged
