"""Reconstruction error of a factorization ``A ~ A_hat = U W``.

Relative Frobenius error is the fit measure reported by the factorization papers (ProtoNMF
Table 1 and Fig. 5 report class-feature and head reconstruction errors; CRAFT and the
multiaspect paper fit ``A ~ U W^T``); the per-row relative l2 error is the per-example
variant (ProtoNMF's per-class-feature reconstruction). **Lower is better** for both.

Inputs are numpy arrays or torch tensors (any device), computed in float64.
"""

from __future__ import annotations

import warnings

import numpy as np

from reference_impls.metrics._validation import to_float_array

__all__ = ["relative_frobenius_error", "mean_relative_l2_error"]


def _pair(A, A_hat):
    A = to_float_array(A, "A", min_ndim=1)
    A_hat = to_float_array(A_hat, "A_hat", min_ndim=1)
    if A.shape != A_hat.shape:
        raise ValueError(
            f"A has shape {A.shape} but A_hat has shape {A_hat.shape}; they must match."
        )
    return A, A_hat


def relative_frobenius_error(A, A_hat) -> float:
    """``||A - A_hat||_F / ||A||_F`` (lower is better; 0 is a perfect reconstruction).

    The fit criterion of NMF (Lee & Seung, Nature 1999) relative to the data's energy; the
    feature reconstruction error of ProtoNMF (anonymous ICLR 2024 submission, Table 1, Fig. 5).

    Any shapes, as long as they match. Raises ``ValueError`` when ``A`` is all zeros (the
    relative error is undefined) or holds NaN/inf.
    """
    A, A_hat = _pair(A, A_hat)
    norm = np.linalg.norm(A.ravel())
    if norm == 0:
        raise ValueError("A is all zeros: the relative Frobenius error is undefined.")
    return float(np.linalg.norm((A - A_hat).ravel()) / norm)


def mean_relative_l2_error(A, A_hat, *, zero_rows: str = "exclude") -> float:
    """Mean over rows of ``||a_i - a_hat_i||_2 / ||a_i||_2`` (lower is better).

    Per-example variant of :func:`relative_frobenius_error` (ProtoNMF, anonymous ICLR 2024
    submission, Sec. 4: per-feature reconstruction with NMF prototypes), so that examples
    with small activations weigh as much as those with large ones.

    Rows are the last axis: an ``N x p`` matrix has N rows; a channels-last activation
    tensor ``N x h x w x p`` has ``N h w`` rows (one per spatial position).

    A row of ``A`` that is exactly zero has no relative error. ``zero_rows`` says what
    happens then, and nothing is silent:

    - ``"exclude"`` (default): those rows are left out of the mean and a ``RuntimeWarning``
      reports how many were excluded out of how many;
    - ``"raise"``: ``ValueError`` naming the count and the first offending row indices.

    If every row is zero, ``ValueError`` either way.
    """
    if zero_rows not in ("exclude", "raise"):
        raise ValueError(f"zero_rows must be 'exclude' or 'raise', got {zero_rows!r}.")
    A, A_hat = _pair(A, A_hat)
    p = A.shape[-1]
    A2, D2 = A.reshape(-1, p), (A - A_hat).reshape(-1, p)
    norms = np.linalg.norm(A2, axis=1)
    zero = norms == 0
    n_zero = int(zero.sum())
    if n_zero == len(norms):
        raise ValueError(f"all {n_zero} rows of A are zero: the relative l2 error is undefined.")
    if n_zero:
        first = np.flatnonzero(zero)[:5].tolist()
        msg = f"{n_zero} of {len(norms)} rows of A are all zero (first: {first})"
        if zero_rows == "raise":
            raise ValueError(msg + "; their relative l2 error is undefined.")
        warnings.warn(
            msg + "; they are excluded from mean_relative_l2_error.", RuntimeWarning, stacklevel=2
        )
    keep = ~zero
    return float(np.mean(np.linalg.norm(D2[keep], axis=1) / norms[keep]))
