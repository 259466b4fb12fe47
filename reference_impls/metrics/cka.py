"""Centered kernel alignment (CKA) between two representations of the same examples.

Kornblith, Norouzi, Lee & Hinton, "Similarity of Neural Network Representations
Revisited", ICML 2019 (linear CKA); Cortes, Mohri & Rostamizadeh 2012 (centered kernel
alignment, the form the multiaspect paper's Table II uses on ``F^T F`` kernels); Song et
al. 2012 (unbiased HSIC) and Nguyen, Raghu & Kornblith, "Do Wide and Deep Networks Learn
the Same Things?", ICLR 2021 (debiased and minibatch CKA).

Every CKA here is a similarity in [0, 1] (the debiased estimators can dip slightly below 0):
**higher is more similar**, and as a stability score higher is better.

Inputs are numpy arrays or torch tensors (CPU or CUDA); a CUDA tensor is processed on its
device. Arrays with more than two dimensions are flattened to ``(n, -1)``: rows are
examples. All accumulation is in float64.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from reference_impls.metrics._validation import check_finite, check_same_rows, is_cuda_tensor
from reference_impls.utils import as_numpy

__all__ = [
    "linear_cka",
    "linear_cka_debiased",
    "minibatch_cka",
    "minibatch_cka_from_batches",
    "kernel_cka",
]


def _as_matrix(x, name: str):
    """``x`` as an ``(n, features)`` float matrix: a CUDA tensor stays on its device (float64)."""
    if is_cuda_tensor(x):
        m = x.detach().to(torch.float64)
    else:  # float32 stays float32 here; _center promotes in the same pass as the subtraction
        m = as_numpy(x)
        if m.dtype not in (np.float32, np.float64):
            m = m.astype(np.float64)
    if m.ndim == 0:
        raise ValueError(f"{name} must be an (n, features) array, got a scalar.")
    m = m.reshape(m.shape[0], -1) if m.ndim != 1 else m.reshape(-1, 1)
    check_finite(m, name)
    return m


def _same_device(A, B):
    """One array on a GPU and one not: both become float64 tensors on that GPU."""
    if is_cuda_tensor(A) == is_cuda_tensor(B):
        return A, B
    dev = A.device if is_cuda_tensor(A) else B.device
    return (
        torch.as_tensor(A, dtype=torch.float64, device=dev),
        torch.as_tensor(B, dtype=torch.float64, device=dev),
    )


def _pair(X, Y, min_rows: int):
    X, Y = _as_matrix(X, "X"), _as_matrix(Y, "Y")
    check_same_rows(X, Y)
    X, Y = _same_device(X, Y)
    if X.shape[0] < min_rows:
        raise ValueError(f"CKA needs at least {min_rows} examples (rows), got {X.shape[0]}.")
    return X, Y


def _center(X):
    """Column-centred float64 copy (one pass for float32 numpy input)."""
    if isinstance(X, np.ndarray):
        return X - X.mean(0, dtype=np.float64)
    return X - X.mean(0)


def _float64(X):
    return X.astype(np.float64, copy=False) if isinstance(X, np.ndarray) else X


def _sq(a) -> float:
    """Squared Frobenius norm as a Python float."""
    return float((a * a).sum())


def _ratio(num: float, den_x: float, den_y: float, what: str) -> float:
    if den_x <= 0 or den_y <= 0:
        which = "X" if den_x <= 0 else "Y"
        raise ValueError(
            f"{what} is undefined: {which} has a non-positive self-similarity (a constant "
            f"representation, or too few examples for an unbiased estimate)."
        )
    return num / math.sqrt(den_x * den_y)


# ----------------------------------------------------------------------------- biased CKA


def linear_cka(X, Y, *, method: str = "auto") -> float:
    """Linear CKA between representations ``X`` (n x p) and ``Y`` (n x q) of the same n inputs.

    Kornblith et al., ICML 2019, Eq. (5) with linear kernels. Higher is more similar
    (1 for identical representations; invariant to orthogonal transforms and isotropic
    scaling of either side, not to arbitrary invertible linear maps).

    ``method="features"`` centres the columns and computes, in float64,
    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` in O(n (p + q)^2) time;
    ``method="gram"`` builds the n x n Gram matrices, centres them and takes their
    normalised HSIC in O(n^2 (p + q)); both give the same number. ``"auto"`` takes whichever
    is cheaper (the feature form unless there are more features than examples).
    """
    X, Y = _pair(X, Y, min_rows=2)
    n, p, q = X.shape[0], X.shape[1], Y.shape[1]
    if method == "auto":
        method = "features" if p * p + q * q + p * q <= n * (p + q) else "gram"
    if method == "features":
        X, Y = _center(X), _center(Y)
        return _ratio(_sq(Y.T @ X), _sq(X.T @ X), _sq(Y.T @ Y), "linear CKA")
    if method == "gram":
        X, Y = _float64(X), _float64(Y)
        return kernel_cka(X @ X.T, Y @ Y.T)
    raise ValueError(f"method must be 'auto', 'features' or 'gram', got {method!r}.")


def _center_kernel(K):
    row = K.mean(0)
    return K - row[None, :] - row[:, None] + row.mean()


def _as_kernel(K, name: str):
    K = _float64(_as_matrix(K, name))
    if K.shape[0] != K.shape[1]:
        raise ValueError(
            f"{name} must be a square n x n kernel matrix, got shape {tuple(K.shape)}."
        )
    return K


def kernel_cka(K, L, *, debiased: bool = False) -> float:
    """CKA between two given n x n kernel (Gram) matrices over the same n examples.

    Cortes, Mohri & Rostamizadeh 2012 (centered alignment); Kornblith et al. 2019. Higher
    is more similar. With ``K = X X^T`` and ``L = Y Y^T`` this equals :func:`linear_cka`
    (or :func:`linear_cka_debiased` when ``debiased=True``, using Song et al.'s unbiased HSIC,
    which ignores the kernels' diagonals and needs n >= 4). The multiaspect paper (Table II)
    compares ``F^T F`` kernels of factor matrices fitted with different ``lambda_F``.
    """
    K, L = _as_kernel(K, "K"), _as_kernel(L, "L")
    check_same_rows(K, L, names=("K", "L"))
    K, L = _same_device(K, L)
    if debiased:
        return _ratio(
            _hsic_unbiased_kernel(K, L),
            _hsic_unbiased_kernel(K, K),
            _hsic_unbiased_kernel(L, L),
            "debiased (unbiased HSIC) CKA",
        )
    Kc, Lc = _center_kernel(K), _center_kernel(L)
    return _ratio(float((Kc * Lc).sum()), _sq(Kc), _sq(Lc), "kernel CKA")


# --------------------------------------------------------------------- unbiased HSIC / CKA


def _hsic_unbiased_kernel(K, L) -> float:
    """Song et al. 2012, Eq. (5): unbiased HSIC from kernels (diagonals are ignored)."""
    n = K.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 examples, got {n}.")
    eye = np.eye(n) if isinstance(K, np.ndarray) else torch.eye(n, dtype=K.dtype, device=K.device)
    Kt, Lt = K * (1 - eye), L * (1 - eye)
    trace = float((Kt * Lt).sum())
    sum_k, sum_l = float(Kt.sum()), float(Lt.sum())
    cross = float((Kt.sum(0) * Lt.sum(0)).sum())
    return (trace + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2)) / (n * (n - 3))


def _hsic_unbiased_features(X, Y) -> tuple[float, float, float]:
    """Unbiased HSIC(K, L), HSIC(K, K), HSIC(L, L) for K = X X^T, L = Y Y^T, in feature space.

    Same value as :func:`_hsic_unbiased_kernel` on the Gram matrices, in O(n (p + q)^2): with
    ``K~ = K - diag(K)``, ``tr(K~ L~) = ||X^T Y||^2 - sum_i k_ii l_ii``,
    ``1^T K~ 1 = ||X^T 1||^2 - sum_i k_ii`` and ``K~ 1 = X (X^T 1) - diag(K)``.
    """
    n = X.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 examples, got {n}.")
    # the estimator is translation invariant for linear kernels; centring keeps it accurate
    X, Y = _center(X), _center(Y)
    kd, ld = (X * X).sum(1), (Y * Y).sum(1)
    sx, sy = X.sum(0), Y.sum(0)
    k1, l1 = X @ sx - kd, Y @ sy - ld
    sum_k, sum_l = _sq(sx) - float(kd.sum()), _sq(sy) - float(ld.sum())
    c1, c2 = (n - 1) * (n - 2), n * (n - 3)

    def hsic(gram_sq: float, diag_a, diag_b, sum_a, sum_b, ones_a, ones_b) -> float:
        trace = gram_sq - float((diag_a * diag_b).sum())
        return (trace + sum_a * sum_b / c1 - 2.0 * float((ones_a * ones_b).sum()) / (n - 2)) / c2

    return (
        hsic(_sq(Y.T @ X), kd, ld, sum_k, sum_l, k1, l1),
        hsic(_sq(X.T @ X), kd, kd, sum_k, sum_k, k1, k1),
        hsic(_sq(Y.T @ Y), ld, ld, sum_l, sum_l, l1, l1),
    )


def linear_cka_debiased(X, Y) -> float:
    """Debiased linear CKA (Nguyen, Raghu & Kornblith, ICLR 2021; unbiased HSIC of Song et al.
    2012) between ``X`` (n x p) and ``Y`` (n x q). Higher is more similar.

    The biased estimator :func:`linear_cka` is inflated for small n relative to the number of
    features; this one is a ratio of unbiased HSIC estimates, computed in feature space in
    float64. Needs n >= 4; raises if an estimated self-HSIC is not positive.
    """
    X, Y = _pair(X, Y, min_rows=4)
    return _ratio(*_hsic_unbiased_features(X, Y), "debiased (unbiased HSIC) CKA")


def minibatch_cka_from_batches(batches: Iterable) -> float:
    """Minibatch CKA from an iterable of ``(X_batch, Y_batch)`` pairs (e.g. a data loader).

    Nguyen, Raghu & Kornblith, ICLR 2021, Eq. (3): the unbiased HSIC is averaged over
    minibatches, ``mean HSIC1(K_i, L_i) / sqrt(mean HSIC1(K_i, K_i) mean HSIC1(L_i, L_i))``,
    so the full n x n kernels (or even all of X) never need to be in memory. Every batch
    needs at least 4 rows. Higher is more similar.
    """
    totals = np.zeros(3)
    count = 0
    for i, (xb, yb) in enumerate(batches):
        xb, yb = _as_matrix(xb, f"X batch {i}"), _as_matrix(yb, f"Y batch {i}")
        check_same_rows(xb, yb, names=(f"X batch {i}", f"Y batch {i}"))
        if xb.shape[0] < 4:
            raise ValueError(f"batch {i} has {xb.shape[0]} rows; the unbiased HSIC needs >= 4.")
        totals += _hsic_unbiased_features(xb, yb)
        count += 1
    if count == 0:
        raise ValueError("minibatch_cka_from_batches received no batches.")
    totals /= count
    return _ratio(totals[0], totals[1], totals[2], "minibatch (unbiased HSIC) CKA")


def minibatch_cka(
    X, Y, *, batch_size: int = 1024, shuffle: bool = True, random_state: int | None = 0
) -> float:
    """Minibatch CKA (Nguyen, Raghu & Kornblith, ICLR 2021) of in-memory ``X`` and ``Y``.

    Rows are split into ``ceil(n / batch_size)`` nearly equal batches (after a seeded
    shuffle when ``shuffle``), so no row is dropped and no batch is smaller than
    ``n // ceil(n / batch_size)``; see :func:`minibatch_cka_from_batches`. Converges to the
    population CKA like :func:`linear_cka_debiased`. Higher is more similar.
    """
    X, Y = _pair(X, Y, min_rows=4)
    n = X.shape[0]
    if batch_size < 4:
        raise ValueError(f"batch_size must be >= 4 for the unbiased HSIC, got {batch_size}.")
    idx = np.random.default_rng(random_state).permutation(n) if shuffle else np.arange(n)
    chunks = np.array_split(idx, math.ceil(n / batch_size))
    if is_cuda_tensor(X):
        chunks = [torch.as_tensor(c, device=X.device) for c in chunks]
    return minibatch_cka_from_batches((X[c], Y[c]) for c in chunks)
