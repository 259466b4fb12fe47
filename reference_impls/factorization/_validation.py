"""Input checks shared by the factorization estimators.

Every check raises ``ValueError`` naming the array (or parameter) and what is wrong; nothing
is clipped, cast to non-negative or dropped silently.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

from reference_impls.utils import get_device

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype, x=None) -> torch.dtype:
    """The torch compute dtype for parameter ``dtype``.

    ``"float32"`` (the suite's default) or ``"float64"``; ``None`` keeps a floating input's
    own precision (float64 stays float64, anything else becomes float32).
    """
    if dtype is None:
        if x is not None and getattr(x, "dtype", None) in (np.float64, torch.float64):
            return torch.float64
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ValueError(f"dtype must be 'float32', 'float64' or None, got {dtype!r}")
    return _DTYPES[key]


def check_matrix(
    x,
    name: str,
    *,
    dtype: torch.dtype = torch.float32,
    device=None,
    non_negative: bool = False,
) -> torch.Tensor:
    """``x`` (numpy array or torch tensor) as a 2-D finite torch tensor.

    Keeps autograd history when ``x`` is a tensor. Raises ``ValueError`` for a wrong number
    of dimensions, an empty matrix, NaN or infinite entries and, with ``non_negative``,
    negative entries (reporting how many and the smallest value).
    """
    if isinstance(x, torch.Tensor):
        t = x.to(dtype=dtype, device=device if device is not None else x.device)
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        t = torch.as_tensor(arr, dtype=dtype, device=get_device(device) if device else None)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    d = t.detach()
    # Fast path: a finite sum and minimum prove every entry finite (NaN and inf propagate);
    # only an overflowing sum or a bad entry pays for the elementwise scan.
    total, low = d.sum(), d.min()
    if not (bool(torch.isfinite(total)) and bool(torch.isfinite(low))):
        finite = torch.isfinite(d)
    else:
        finite = None
    if finite is not None and not bool(finite.all()):
        n_nan = int(torch.isnan(d).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ValueError(
            f"{name} contains non-finite values: {n_nan} NaN and {n_inf} inf entries "
            f"(shape {tuple(t.shape)})"
        )
    if non_negative and float(low) < 0:
        neg = d < 0
        if bool(neg.any()):
            raise ValueError(
                f"{name} must be non-negative: {int(neg.sum())} negative entries, minimum "
                f"{float(d.min()):.4g} (use SemiNMF for signed data; nothing is clipped)"
            )
    return t


def check_rank(n_components, shape, name: str = "X") -> int:
    """``n_components`` as a positive int no larger than ``min(shape)``."""
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    r = int(n_components)
    if r < 1:
        raise ValueError(f"n_components must be a positive integer, got {r}")
    if r > min(shape):
        raise ValueError(
            f"n_components={r} is larger than min(n_samples, n_features)={min(shape)} of "
            f"{name} with shape {tuple(shape)}"
        )
    return r


def check_choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(choices)}")
    return value


def check_non_negative_number(value, name: str) -> float:
    """``value`` as a finite float >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return v


def check_positive_int(value, name: str) -> int:
    """``value`` as an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_unit_interval(value, name: str) -> float:
    """``value`` as a float in [0, 1]."""
    v = check_non_negative_number(value, name)
    if v > 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v


def torch_generator(random_state) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from an sklearn-style ``random_state``.

    Draws happen on the CPU and are moved to the compute device afterwards, so a seed gives
    the same initialization on CPU and CUDA.
    """
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


def like_input(t: torch.Tensor, ref):
    """``t`` as numpy when ``ref`` was numpy (or any non-tensor), else as a tensor."""
    if isinstance(ref, torch.Tensor):
        return t
    return t.detach().cpu().numpy()


def store_init_params(estimator, params: dict) -> None:
    """Set every ``__init__`` argument (``locals()`` of it) as an attribute, unchanged.

    scikit-learn's rule: ``__init__`` only stores its parameters; ``get_params`` reads them
    back by the signature's names.
    """
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
