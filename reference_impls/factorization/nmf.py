"""Non-negative matrix factorization ``X ~= W H`` with HALS, multiplicative and AO-ADMM solvers.

Conventions follow ``sklearn.decomposition.NMF``: rows of ``X`` are examples (CRAFT's
activations ``A``, n x p), ``W = transform(X)`` are the coefficients (CRAFT's ``U``, n x r)
and ``components_ = H`` is the concept bank (r x p; CRAFT's ``W^T``).
"""

from __future__ import annotations

import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from reference_impls.utils import get_device

from ._updates import (
    admm_update,
    cross_product_t,
    frobenius_sq,
    gillis_max_inner,
    hals_update,
    mm_threads,
    mu_update,
    objective_from_grams,
    one_thread,
    penalty,
    residual_sq_norm,
)
from ._validation import (
    check_choice,
    check_matrix,
    check_non_negative_number,
    check_positive_int,
    check_rank,
    check_unit_interval,
    like_input,
    resolve_dtype,
    store_init_params,
    torch_generator,
)
from .nnls import nnls

SOLVERS = ("hals", "mu", "admm")
INITS = ("nndsvd", "nndsvda", "random", "custom")


def randomized_svd(
    X: torch.Tensor,
    rank: int,
    generator: torch.Generator,
    n_oversamples: int = 10,
    n_iter: int | None = None,
    threads: int = 0,
):
    """Truncated SVD by randomized range finding (Halko, Martinsson & Tropp 2011, Alg. 4.4).

    Returns ``U`` (n x rank), ``S`` (rank,), ``Vt`` (rank x p). The test matrix is drawn on
    the CPU from ``generator`` so results do not depend on the device. ``n_iter`` defaults to
    scikit-learn's choice (7 power iterations for a small rank, else 4). With ``threads``
    > 0, called inside :func:`one_thread`, the products with ``X`` use that many threads.
    """
    n, p = X.shape
    k = min(rank + n_oversamples, n, p)
    if n_iter is None:
        n_iter = 7 if rank < 0.1 * min(n, p) else 4
    omega = torch.randn(p, k, generator=generator, dtype=X.dtype).to(X.device)
    Q = torch.linalg.qr(mm_threads(X, omega, threads)).Q
    for _ in range(n_iter):
        Q = torch.linalg.qr(mm_threads(Q.T, X, threads).T).Q  # X^T Q; BLAS is 2x faster this way
        Q = torch.linalg.qr(mm_threads(X, Q, threads)).Q
    Uh, S, Vt = torch.linalg.svd(mm_threads(Q.T, X, threads), full_matrices=False)
    return (Q @ Uh)[:, :rank], S[:rank], Vt[:rank]


def initialize(X: torch.Tensor, rank: int, init: str, generator: torch.Generator, threads: int = 0):
    """Initial ``W^T`` (r x n) and ``H`` (r x p), both non-negative.

    ``"nndsvd"``: Boutsidis & Gallopoulos (2008) non-negative double SVD; ``"nndsvda"`` fills
    its zeros with the mean of ``X`` (better for HALS and MU, which cannot leave exact zeros);
    ``"random"``: ``sqrt(mean(X) / r) * |N(0, 1)|`` as in scikit-learn.
    """
    n, p = X.shape
    if init == "random":
        scale = (float(X.mean()) / rank) ** 0.5
        H = scale * torch.randn(rank, p, generator=generator, dtype=X.dtype).abs_()
        Wt = scale * torch.randn(rank, n, generator=generator, dtype=X.dtype).abs_()
        return Wt.to(X.device), H.to(X.device)
    U, S, Vt = randomized_svd(X, rank, generator, threads=threads)
    x, y = U.T, Vt  # (r, n), (r, p): one singular pair per row
    xp, xn, yp, yn = x.clamp(min=0), (-x).clamp(min=0), y.clamp(min=0), (-y).clamp(min=0)
    nxp, nxn = torch.linalg.vector_norm(xp, dim=1), torch.linalg.vector_norm(xn, dim=1)
    nyp, nyn = torch.linalg.vector_norm(yp, dim=1), torch.linalg.vector_norm(yn, dim=1)
    pos = nxp * nyp >= nxn * nyn
    tiny = torch.finfo(X.dtype).tiny
    u = torch.where(
        pos[:, None], xp / nxp.clamp(min=tiny)[:, None], xn / nxn.clamp(min=tiny)[:, None]
    )
    v = torch.where(
        pos[:, None], yp / nyp.clamp(min=tiny)[:, None], yn / nyn.clamp(min=tiny)[:, None]
    )
    sigma = torch.where(pos, nxp * nyp, nxn * nyn)
    # The leading singular pair of a non-negative matrix is non-negative up to sign.
    u[0], v[0], sigma[0] = x[0].abs(), y[0].abs(), 1.0
    lam = torch.sqrt(S * sigma)[:, None]
    Wt, H = lam * u, lam * v
    eps = 1e-6
    Wt[Wt < eps] = 0
    H[H < eps] = 0
    if init == "nndsvda":
        avg = X.mean()
        Wt[Wt == 0] = avg
        H[H == 0] = avg
    return Wt.contiguous(), H.contiguous()


def elastic_net_weights(alpha_W, alpha_H, l1_ratio, n_samples, n_features):
    """Per-entry (l1_W, l2_W, l1_H, l2_H) in scikit-learn's parametrisation (>= 1.2).

    The objective is ``0.5 ||X - WH||^2 + alpha_W * n_features * (l1_ratio ||W||_1 +
    0.5 (1 - l1_ratio) ||W||^2) + alpha_H * n_samples * (same for H)``; Kolouri et al.'s
    elastic NMF (Eq. 1, gamma and lambda) is ``alpha_W = gamma / n_features``,
    ``alpha_H = gamma / n_samples``, ``l1_ratio = lambda``.
    """
    a_W = check_non_negative_number(alpha_W, "alpha_W")
    if isinstance(alpha_H, str) and alpha_H == "same":
        a_H = a_W
    else:
        a_H = check_non_negative_number(alpha_H, "alpha_H")
    rho = check_unit_interval(l1_ratio, "l1_ratio")
    return (
        a_W * rho * n_features,
        a_W * (1 - rho) * n_features,
        a_H * rho * n_samples,
        a_H * (1 - rho) * n_samples,
    )


class _LowRankTransformer(TransformerMixin, BaseEstimator):
    """Shared ``transform`` / ``inverse_transform`` of ``X ~= W H`` models with ``W >= 0``.

    Subclasses set ``_H`` (r x p tensor), ``_l1W``, ``_l2W``, ``components_``,
    ``n_components_`` and ``n_features_in_`` in ``fit``; ``_non_negative_input`` says
    whether ``X`` must be non-negative.
    """

    _non_negative_input = True

    def _device_for(self, X):
        if self.device is None and isinstance(X, torch.Tensor):
            return X.device
        return get_device(self.device)

    def transform(self, X):
        """Coefficients ``W >= 0`` of new rows on the fixed ``components_`` (batched NNLS).

        Differentiable with implicit gradients when ``X`` is a tensor requiring grad
        (:class:`~reference_impls.factorization.ImplicitNNLS`).
        """
        check_is_fitted(self, "components_")
        Xt = check_matrix(
            X,
            "X",
            dtype=self._H.dtype,
            device=self._H.device,
            non_negative=self._non_negative_input,
        )
        if Xt.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {Xt.shape[1]} features but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}"
            )
        W = nnls(Xt, self._H, l1=self._l1W, l2=self._l2W)
        return like_input(W, X)

    def _set_fitted(self, X, Xt, Wt, Ht, n_iter, history, l1W=0.0, l2W=0.0):
        """Store the fitted attributes (typed like the input ``X``) and the exact error."""
        self._H = Ht
        self._l1W, self._l2W = l1W, l2W
        self.components_ = like_input(Ht, X)
        self.n_components_ = Ht.shape[0]
        self.n_features_in_ = Ht.shape[1]
        self.n_iter_ = n_iter
        self.loss_history_ = history
        self.reconstruction_err_ = residual_sq_norm(Xt, Wt.T, Ht) ** 0.5

    def inverse_transform(self, W):
        """Reconstruction ``W @ components_`` (n_samples x n_features), typed like ``W``."""
        check_is_fitted(self, "components_")
        Wt = check_matrix(W, "W", dtype=self._H.dtype, device=self._H.device)
        if Wt.shape[1] != self.n_components_:
            raise ValueError(
                f"W has {Wt.shape[1]} columns but {type(self).__name__} has "
                f"{self.n_components_} components"
            )
        return like_input(Wt @ self._H, W)


class NMF(_LowRankTransformer):
    """Non-negative matrix factorization ``X ~= W H`` on CPU or CUDA (torch).

    Minimises ``0.5 ||X - W H||_F^2`` plus elastic-net penalties on both factors (see
    ``alpha_W``) over ``W >= 0`` (n x r) and ``H >= 0`` (r x p). Rows of ``X`` are examples:
    CRAFT's activations ``A`` (Fel et al. 2023, Eq. 1) with ``U = transform(A)`` and concept
    bank ``components_``.

    Parameters
    ----------
    n_components : int
        Rank r, at most ``min(n_samples, n_features)``.
    solver : {"hals", "mu", "admm"}, default="hals"
        ``"hals"``: accelerated hierarchical alternating least squares (Cichocki & Phan
        2009; Gillis & Glineur 2012): Gram products once per outer iteration, several
        cheap row sweeps per product. ``"mu"``: Lee & Seung (2001) multiplicative updates,
        factors clamped at a small relative floor. ``"admm"``: AO-ADMM (Huang, Sidiropoulos
        & Liavas 2016, Alg. 1), which also returns the KKT multipliers ``dual_W_`` and
        ``dual_H_`` that implicit differentiation needs (CRAFT Sec. 3.4).
    alpha_W : float, default=0
        Elastic-net weight on ``W``, multiplied by ``n_features`` as in scikit-learn.
    alpha_H : float or "same", default=0
        Elastic-net weight on ``H``, multiplied by ``n_samples``; ``"same"`` uses ``alpha_W``.
    l1_ratio : float in [0, 1], default=0
        Share of L1 in the elastic net (Kolouri et al. 2017, Eq. 1, their lambda).
    max_iter : int, default=200
        Maximum number of outer iterations (one update of each factor).
    tol : float, default=1e-4
        Stop when the L1 size of an outer iteration's updates falls below ``tol`` times the
        first iteration's (scikit-learn's coordinate-descent rule; scale-free).
    init : {"nndsvda", "nndsvd", "random", "custom"}, default="nndsvda"
        ``"custom"`` takes ``W`` and ``H`` given to :meth:`fit`.
    random_state : int, RandomState or None, default=None
        Seeds the randomized SVD and the random initialization.
    device : str, torch.device or None, default=None
        Compute device; ``None`` is the tensor's device for tensors, else CUDA if present.
    dtype : {"float32", "float64", None}, default="float32"
        Compute precision; ``None`` keeps float64 inputs in float64.
    callback : callable or None, default=None
        Called as ``callback(n_iter, objective)`` after the initialization (``n_iter=0``)
        and every outer iteration, e.g. to time convergence.

    Attributes
    ----------
    components_ : ndarray or Tensor of shape (n_components, n_features)
        ``H``, numpy if ``fit`` got numpy.
    n_components_, n_features_in_, n_iter_ : int
    reconstruction_err_ : float
        ``||X - W H||_F`` at the end of ``fit``, computed exactly (float64 accumulation).
    loss_history_ : list of float
        The penalised objective (0.5 times the squared error plus penalties) at the
        initialization and after every outer iteration (from Gram products).
    dual_W_, dual_H_ : ndarray or Tensor (``solver="admm"`` only)
        KKT multipliers of ``W >= 0`` (n x r) and ``H >= 0`` (r x p): the gradient of the
        smooth objective, >= 0 and zero wherever the factor is positive.
    """

    def __init__(
        self,
        n_components,
        solver="hals",
        alpha_W=0.0,
        alpha_H=0.0,
        l1_ratio=0.0,
        max_iter=200,
        tol=1e-4,
        init="nndsvda",
        random_state=None,
        device=None,
        dtype="float32",
        callback=None,
    ):
        store_init_params(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    # ------------------------------------------------------------------ helpers
    def _check_params(self, shape):
        check_choice(self.solver, "solver", SOLVERS)
        check_choice(self.init, "init", INITS)
        r = check_rank(self.n_components, shape, "X")
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_non_negative_number(self.tol, "tol")
        weights = elastic_net_weights(self.alpha_W, self.alpha_H, self.l1_ratio, *shape)
        return r, max_iter, tol, weights

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y=None, W=None, H=None):
        """Fit the factorization to ``X`` (n_samples x n_features, non-negative)."""
        self._fit(X, W, H)
        return self

    def fit_transform(self, X, y=None, W=None, H=None):
        """Fit and return ``W`` (n_samples x n_components), typed like ``X``."""
        Wt = self._fit(X, W, H)
        return like_input(Wt.T.contiguous(), X)

    def _fit(self, X, W_init, H_init):
        dtype = resolve_dtype(self.dtype, X)
        device = self._device_for(X)
        Xt = check_matrix(X, "X", dtype=dtype, device=device, non_negative=True).detach()
        r, max_iter, tol, weights = self._check_params(Xt.shape)
        n, p = Xt.shape
        start = None
        if self.init == "custom":
            if W_init is None or H_init is None:
                raise ValueError('init="custom" needs both W and H passed to fit')
            Wc = check_matrix(W_init, "W", dtype=dtype, device=device, non_negative=True)
            Hc = check_matrix(H_init, "H", dtype=dtype, device=device, non_negative=True)
            if Wc.shape != (n, r) or Hc.shape != (r, p):
                raise ValueError(
                    f"custom W and H must have shapes {(n, r)} and {(r, p)}, got "
                    f"{tuple(Wc.shape)} and {tuple(Hc.shape)}"
                )
            start = Wc.detach().T.contiguous(), Hc.detach().clone()
        # Everything but the products with X runs on one thread (see one_thread).
        with one_thread(Xt.device.type == "cpu") as threads:
            if start is None:
                start = initialize(Xt, r, self.init, torch_generator(self.random_state), threads)
            Wt, Ht, n_iter, history, duals = self._solve(
                Xt, *start, max_iter, tol, weights, threads
            )
        self._set_fitted(X, Xt, Wt, Ht, n_iter, history, *weights[:2])
        if duals is not None:
            dual_W, dual_H = duals
            self.dual_W_ = like_input(dual_W.T.contiguous(), X)
            self.dual_H_ = like_input(dual_H, X)
        return Wt

    def _solve(self, Xt, Wt, Ht, max_iter, tol, weights, threads):
        """The outer loop: alternate W and H block updates of the chosen solver.

        Returns ``W^T``, ``H``, the iteration count, the objective history and, for ADMM,
        the KKT multipliers ``(dual of W^T, dual of H)``.
        """
        l1W, l2W, l1H, l2H = weights
        (n, p), r = Xt.shape, Ht.shape[0]
        sq_norm = frobenius_sq(Xt)

        def objective(B, G):  # B = W^T X, G = W^T W for the current W
            return (
                objective_from_grams(sq_norm, B, G, Ht)
                + penalty(Wt, l1W, l2W)
                + penalty(Ht, l1H, l2H)
            )

        history = [objective(mm_threads(Wt, Xt, threads), Wt @ Wt.T)]
        if self.callback is not None:
            self.callback(0, history[0])
        inner_W = gillis_max_inner(n, r, p)
        inner_H = gillis_max_inner(p, r, n)
        floor = 1e-12 * max(float(Xt.mean()) / r, torch.finfo(Xt.dtype).tiny) ** 0.5
        admm = self.solver == "admm"
        U_W, U_H = (torch.zeros_like(Wt), torch.zeros_like(Ht)) if admm else (None, None)
        rho_W = rho_H = None
        prev_W, prev_H = torch.empty_like(Wt), torch.empty_like(Ht)
        buf = torch.empty_like(Wt)
        first = None
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            if self.solver != "hals":
                prev_W.copy_(Wt)
                prev_H.copy_(Ht)
            # --- W step: F = W^T, G = H H^T, B = H X^T
            B, G = cross_product_t(Xt, Ht, threads, out=buf), Ht @ Ht.T
            if self.solver == "hals":
                change = hals_update(Wt, G, B, l1W, l2W, inner_W)
            elif self.solver == "mu":
                mu_update(Wt, G, B, l1W, l2W, floor)
            else:
                rho_W = admm_update(Wt, U_W, G, B, l1W, l2W, inner_W, prev_rho=rho_W)
            # --- H step: G = W^T W, B = W^T X
            B, G = mm_threads(Wt, Xt, threads), Wt @ Wt.T
            if self.solver == "hals":
                change += hals_update(Ht, G, B, l1H, l2H, inner_H)
            elif self.solver == "mu":
                loss_B = B.clone()  # mu_update overwrites B
                mu_update(Ht, G, B, l1H, l2H, floor)
                B = loss_B
            else:
                rho_H = admm_update(Ht, U_H, G, B, l1H, l2H, inner_H, prev_rho=rho_H)
            history.append(objective(B, G))
            if self.callback is not None:
                self.callback(n_iter, history[-1])
            if self.solver != "hals":
                change = float(prev_W.sub_(Wt).abs_().sum() + prev_H.sub_(Ht).abs_().sum())
            if first is None:
                first = change
            if change <= tol * first:
                break

        if admm:
            # Tighten both sub-problems at the final point so the duals satisfy the KKT
            # conditions to solver precision, not just to the loose inner tolerance.
            B = cross_product_t(Xt, Ht, threads)
            rho_W = admm_update(Wt, U_W, Ht @ Ht.T, B, l1W, l2W, 500, 1e-12, prev_rho=rho_W)
            B = mm_threads(Wt, Xt, threads)
            rho_H = admm_update(Ht, U_H, Wt @ Wt.T, B, l1H, l2H, 500, 1e-12, prev_rho=rho_H)
            duals = (rho_W * U_W + l1W + l2W * Wt, rho_H * U_H + l1H + l2H * Ht)
            return Wt, Ht, n_iter, history, duals
        return Wt, Ht, n_iter, history, None


__all__ = ["NMF", "initialize", "randomized_svd", "elastic_net_weights"]
