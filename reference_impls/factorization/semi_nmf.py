"""Semi-NMF ``X ~= W H`` with signed data, ``W >= 0`` and unconstrained components.

For layers that are not post-ReLU (Ding, Li & Jordan 2010, "Convex and semi-nonnegative
matrix factorizations", Sec. 3; in their notation ``X^T ~= F G^T`` with ``G = W >= 0`` and
``F = H^T`` free). Rows of ``X`` are examples, as in :class:`~reference_impls.factorization.NMF`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans

from ._updates import (
    cross_product_t,
    frobenius_sq,
    gillis_max_inner,
    hals_update,
    mm_threads,
    objective_from_grams,
    one_thread,
)
from ._validation import (
    check_choice,
    check_matrix,
    check_non_negative_number,
    check_positive_int,
    check_rank,
    like_input,
    resolve_dtype,
    store_init_params,
    torch_generator,
)
from .nmf import _LowRankTransformer


def least_squares_components(G: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``H = (W^T W)^{-1} W^T X`` from ``G = W^T W``, ``B = W^T X`` (Ding et al. 2010, Eq. 10).

    A tiny ridge (1e-10 of the mean Gram diagonal) only matters when a column of ``W`` is
    zero, where it sets that component to zero instead of failing.
    """
    r = G.shape[0]
    jitter = 1e-10 * max(float(torch.trace(G)) / r, torch.finfo(G.dtype).tiny)
    L = torch.linalg.cholesky(G + jitter * torch.eye(r, dtype=G.dtype, device=G.device))
    return torch.cholesky_solve(B, L)


def ding_update(Wt: torch.Tensor, G: torch.Tensor, B: torch.Tensor, floor: float) -> None:
    """Ding et al. (2010, Eq. 11) multiplicative rule for ``W >= 0`` with signed data, in place.

    ``W <- W * sqrt(([B]^+ + [G]^- W) / ([B]^- + [G]^+ W))`` with ``B = H X^T`` and
    ``G = H H^T`` (transposed layout: ``Wt`` is r x n); monotone in the objective.
    """
    num = torch.addmm(B.clamp(min=0), (-G).clamp(min=0), Wt)
    den = torch.addmm((-B).clamp(min=0), G.clamp(min=0), Wt)
    den.clamp_(min=torch.finfo(Wt.dtype).tiny)
    Wt.mul_(num.div_(den).sqrt_()).clamp_(min=floor)


class SemiNMF(_LowRankTransformer):
    """Semi-non-negative matrix factorization ``X ~= W H``, ``W >= 0``, ``H`` signed.

    Minimises ``0.5 ||X - W H||_F^2`` with alternating updates: ``H`` is the exact least
    squares solution (Ding, Li & Jordan 2010, Eq. 10) and ``W`` takes either accelerated
    HALS sweeps (default; each one an exact coordinate minimisation, so the objective is
    monotone) or Ding et al.'s multiplicative rule (Eq. 11).

    Parameters
    ----------
    n_components : int
        Rank r, at most ``min(n_samples, n_features)``.
    solver : {"hals", "mu"}, default="hals"
    max_iter : int, default=200
    tol : float, default=1e-4
        Stop when the relative decrease of the objective in one iteration is below ``tol``.
    init : {"kmeans", "random"}, default="kmeans"
        ``"kmeans"``: cluster indicators plus 0.2, Ding et al.'s initialization (Sec. 3.1).
        ``"random"``: ``|N(0, 1)|`` entries.
    random_state : int, RandomState or None, default=None
    device : str, torch.device or None, default=None
    dtype : {"float32", "float64", None}, default="float32"

    Attributes
    ----------
    components_ : (n_components, n_features) signed concept directions ``H``.
    reconstruction_err_ : float, ``||X - W H||_F``.
    loss_history_ : list of float, ``0.5 ||X - W H||_F^2`` at init and after each iteration.
    n_components_, n_features_in_, n_iter_ : int
    """

    _non_negative_input = False

    def __init__(
        self,
        n_components,
        solver="hals",
        max_iter=200,
        tol=1e-4,
        init="kmeans",
        random_state=None,
        device=None,
        dtype="float32",
    ):
        store_init_params(self, locals())

    def fit(self, X, y=None):
        """Fit to signed ``X`` (n_samples x n_features)."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return ``W`` (n_samples x n_components, non-negative), typed like ``X``."""
        return like_input(self._fit(X).T.contiguous(), X)

    def _init_w(self, X: torch.Tensor, r: int) -> torch.Tensor:
        n = X.shape[0]
        if self.init == "kmeans":
            labels = KMeans(r, n_init=1, random_state=self.random_state).fit_predict(
                X.detach().cpu().numpy()
            )
            Wt = np.full((r, n), 0.2)
            Wt[labels, np.arange(n)] += 1.0
            return torch.as_tensor(Wt, dtype=X.dtype, device=X.device)
        g = torch_generator(self.random_state)
        return torch.randn(r, n, generator=g, dtype=X.dtype).abs_().to(X.device)

    def _fit(self, X):
        check_choice(self.solver, "solver", ("hals", "mu"))
        check_choice(self.init, "init", ("kmeans", "random"))
        dtype = resolve_dtype(self.dtype, X)
        Xt = check_matrix(X, "X", dtype=dtype, device=self._device_for(X)).detach()
        r = check_rank(self.n_components, Xt.shape, "X")
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_non_negative_number(self.tol, "tol")
        n, p = Xt.shape

        sq_norm = frobenius_sq(Xt)
        Wt = self._init_w(Xt, r)
        B, G = Wt @ Xt, Wt @ Wt.T
        Ht = least_squares_components(G, B)
        history = [objective_from_grams(sq_norm, B, G, Ht)]
        inner = gillis_max_inner(n, r, p)
        floor = 1e-12 * float(Wt.max())
        n_iter = 0
        with one_thread(Xt.device.type == "cpu") as threads:  # see one_thread's docstring
            for n_iter in range(1, max_iter + 1):
                G, B = Ht @ Ht.T, cross_product_t(Xt, Ht, threads)
                if self.solver == "hals":
                    hals_update(Wt, G, B, max_inner=inner)
                else:
                    ding_update(Wt, G, B, floor)
                B, G = mm_threads(Wt, Xt, threads), Wt @ Wt.T
                Ht = least_squares_components(G, B)
                history.append(objective_from_grams(sq_norm, B, G, Ht))
                if history[-2] - history[-1] <= tol * abs(history[-2]):
                    break

        self._set_fitted(X, Xt, Wt, Ht, n_iter, history)
        return Wt


__all__ = ["SemiNMF", "ding_update", "least_squares_components"]
