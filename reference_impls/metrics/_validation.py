"""Input checks shared by the metrics: conversion, finiteness, shapes.

Every check raises a ``ValueError`` that names the argument and what was expected, so a
metric never silently clips, skips or broadcasts bad input.
"""

from __future__ import annotations

import numpy as np
import torch

from reference_impls.utils import as_numpy


def is_cuda_tensor(x) -> bool:
    return isinstance(x, torch.Tensor) and x.device.type != "cpu"


def check_finite(x, name: str) -> None:
    """Raise if ``x`` (numpy array or tensor) holds NaN or infinity."""
    finite = torch.isfinite(x).all().item() if isinstance(x, torch.Tensor) else np.isfinite(x).all()
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite values; metrics need finite input.")


def to_float_array(
    x,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    min_ndim: int | None = None,
    dtype=np.float64,
) -> np.ndarray:
    """``x`` (numpy, torch on any device, nested lists) as a finite numpy array of ``dtype``."""
    if x is None:
        raise ValueError(f"{name} is None; expected an array.")
    try:
        arr = as_numpy(x).astype(dtype, copy=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} could not be read as a {np.dtype(dtype).name} array: {err}"
        ) from err
    check_ndim(arr, name, ndim=ndim, min_ndim=min_ndim)
    check_finite(arr, name)
    return arr


def check_ndim(arr, name: str, *, ndim=None, min_ndim=None) -> None:
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape "
                f"{tuple(arr.shape)}."
            )
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(arr.shape)}."
        )


def to_label_array(y, name: str, *, length: int | None = None) -> np.ndarray:
    """A 1-D array of labels (any hashable dtype); NaN labels are rejected."""
    arr = as_numpy(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} has {arr.shape[0]} entries, expected {length}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite labels.")
    return arr


def to_index_array(y, name: str, *, length: int | None = None) -> np.ndarray:
    """A 1-D int64 array (class indices, image ids...); non-integral values are rejected."""
    arr = to_label_array(y, name, length=length)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind in "fb" and np.all(np.asarray(arr, dtype=np.float64) % 1 == 0):
        return arr.astype(np.int64)
    raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}.")


def check_same_rows(X, Y, names=("X", "Y")) -> None:
    nx, ny = X.shape[0], Y.shape[0]
    if nx != ny:
        raise ValueError(
            f"{names[0]} has {nx} rows and {names[1]} has {ny}: both must describe the same "
            f"examples, row i of {names[0]} and row i of {names[1]} coming from the same input."
        )
