"""Batched non-negative least squares onto a fixed concept bank, with implicit gradients.

Projecting new activations ``X`` (n x p) onto a fitted bank ``H`` (r x p) is the problem

    min_{W >= 0}  0.5 ||X - W H||_F^2 + l1 * sum(W) + 0.5 * l2 * ||W||_F^2,

separable over the n rows of ``W``. :func:`nnls` solves all rows at once with accelerated
HALS (Gillis & Glineur 2012) and then "polishes" each row by solving the KKT system on its
active set, which makes the result exact to rounding when the active set is right.

:class:`ImplicitNNLS` differentiates the solution by implicit differentiation of the KKT
conditions, as CRAFT does for its concept attribution maps (Fel et al. 2023, Sec. 3.4 and
Eq. 4): on the active set S of a row, ``W_S = (x H_S^T - l1)(H_S H_S^T + l2 I)^{-1}``, so
``dW_S/dx = H_S^T (H_S H_S^T + l2 I)^{-1}`` and the gradient is zero on inactive
coordinates. No solver iterations are back-propagated through.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._updates import cross_product_t, fold_penalties, hals_sweep, one_thread
from ._validation import (
    check_matrix,
    check_non_negative_number,
    check_positive_int,
    like_input,
    resolve_dtype,
)

_CHUNK = 4096


def _masked_solve(G: Tensor, rhs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Solve ``G_SS z_S = rhs_S`` for every row, S the row's ``mask``; ``z`` is 0 off S.

    ``G`` is (r, r), ``rhs`` and ``mask`` are (n, r). Each row gets the system
    ``(G * m m^T + diag(1 - m)) z = rhs * m`` and the batch is solved by one batched LU.
    Returns ``z`` and a boolean (n,) vector telling which rows had a non-singular system.
    """
    n = rhs.shape[0]
    z = torch.zeros_like(rhs)
    ok = torch.zeros(n, dtype=torch.bool, device=rhs.device)
    for start in range(0, n, _CHUNK):
        m = mask[start : start + _CHUNK].to(G.dtype)
        A = G * (m[:, :, None] * m[:, None, :]) + torch.diag_embed(1.0 - m)
        sol, info = torch.linalg.solve_ex(A, (rhs[start : start + _CHUNK] * m)[:, :, None])
        good = info == 0
        z[start : start + _CHUNK] = torch.where(good[:, None], sol[:, :, 0] * m, 0.0)
        ok[start : start + _CHUNK] = good
    return z, ok


def _kkt_ok(F: torch.Tensor, grad: torch.Tensor, G: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Per column of ``F`` (r, n): are ``F >= 0`` and ``grad >= 0`` where ``F == 0`` (to rounding)?"""
    eps = torch.finfo(F.dtype).eps
    scale = B.abs() + torch.abs(G) @ F.abs()
    tol = 1e3 * eps * scale.amax(dim=0, keepdim=True).clamp(min=torch.finfo(F.dtype).tiny)
    feasible = (F >= 0).all(dim=0)
    dual_ok = torch.where(F > 0, grad.abs() <= tol, grad >= -tol).all(dim=0)
    return feasible & dual_ok


def solve_nnls(
    X: Tensor, H: Tensor, l1=0.0, l2=0.0, max_iter=500, tol=1e-6, polish=True, W_init=None
) -> Tensor:
    """Batched NNLS on tensors (no validation, no autograd): returns ``W`` (n x r).

    HALS sweeps on ``W^T`` with ``G = H H^T`` and ``B = H X^T`` computed once, until the
    projected-gradient norm falls below ``tol`` times its value at ``W = 0``; then the
    active-set polish replaces every row whose KKT system solution is feasible and optimal.
    """
    with torch.no_grad():
        G, B = fold_penalties(H @ H.T, cross_product_t(X, H, 0), l1, l2)  # (r, r), (r, n)
        F = torch.zeros_like(B) if W_init is None else W_init.T.to(B).clamp(min=0).contiguous()
        ref = float(torch.linalg.vector_norm(B.clamp(min=0)))
        if ref == 0.0:  # every row's optimum is W = 0
            return torch.zeros_like(B).T.contiguous()
        with one_thread(F.device.type == "cpu"):  # memory-bound sweeps, see one_thread
            for _ in range(max_iter):
                hals_sweep(F, G, B)
                grad = G @ F - B
                pg = torch.where(F > 0, grad, grad.clamp(max=0))
                if float(torch.linalg.vector_norm(pg)) <= tol * ref:
                    break
        if polish:
            z, solved = _masked_solve(G, B.T, (F > 0).T)
            Fp = z.T
            accept = solved & _kkt_ok(Fp, G @ Fp - B, G, B)
            F = torch.where(accept[None, :], Fp.clamp(min=0), F)
        return F.T.contiguous()


class ImplicitNNLS(torch.autograd.Function):
    """NNLS layer ``W = argmin_{W>=0} 0.5||X - W H||^2 + l1 sum W + 0.5 l2 ||W||^2``.

    Forward solves with :func:`solve_nnls`. Backward applies the implicit function theorem
    to the KKT conditions on each row's active set S (CRAFT, Fel et al. 2023, Sec. 3.4):
    with ``G = H H^T + l2 I`` and ``z_S = G_SS^{-1} g_S`` for the incoming gradient ``g``,

        dL/dX = z H,    dL/dH = z^T (X - W H) - W^T (z H),

    and inactive coordinates get zero gradient (the solution does not move there under a
    small perturbation when strict complementarity holds). Usage:
    ``ImplicitNNLS.apply(X, H, l1, l2, max_iter, tol)``.
    """

    @staticmethod
    def forward(ctx, X, H, l1=0.0, l2=0.0, max_iter=500, tol=1e-6):
        W = solve_nnls(X.detach(), H.detach(), l1, l2, max_iter, tol, polish=True)
        ctx.save_for_backward(X, H, W)
        ctx.l2 = l2
        return W

    @staticmethod
    def backward(ctx, grad_W):
        X, H, W = ctx.saved_tensors
        G, _ = fold_penalties(H @ H.T, grad_W, 0.0, ctx.l2)
        Z, _ = _masked_solve(G, grad_W, W > 0)
        grad_X = Z @ H if ctx.needs_input_grad[0] else None
        grad_H = None
        if ctx.needs_input_grad[1]:
            grad_H = Z.T @ torch.addmm(X, W, H, alpha=-1.0) - W.T @ (Z @ H)
        return grad_X, grad_H, None, None, None, None


def nnls(X, H, *, l1=0.0, l2=0.0, max_iter=500, tol=1e-6, polish=True):
    """Non-negative least squares of many rows onto a fixed concept bank.

    Solves ``min_{W >= 0} 0.5 ||X - W H||_F^2 + l1 * sum(W) + 0.5 * l2 * ||W||_F^2`` for
    all rows of ``X`` at once (CRAFT's projection of new activations onto the concept bank,
    Fel et al. 2023, Sec. 3.4). Differentiable with implicit gradients when ``X`` or ``H``
    is a tensor requiring grad (see :class:`ImplicitNNLS`).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Rows to project; any sign.
    H : array-like or torch.Tensor of shape (n_components, n_features)
        The concept bank (``NMF.components_``).
    l1, l2 : float, default=0
        Elastic-net weights on ``W`` (unscaled, per entry).
    max_iter : int, default=500
        Maximum number of HALS sweeps.
    tol : float, default=1e-6
        Stop when the projected gradient norm is below ``tol`` times its value at ``W = 0``.
    polish : bool, default=True
        Solve each row's KKT system on its active set after HALS (exact optimum when the
        active set is right; rows whose polished solution fails the KKT check keep HALS's).

    Returns
    -------
    W : ndarray or torch.Tensor of shape (n_samples, n_components)
        numpy when ``X`` is numpy, a tensor on ``X``'s device otherwise. Computed in
        ``X``'s precision (float64 stays float64, anything else float32).
    """
    dtype = resolve_dtype(None, X)
    Xt = check_matrix(X, "X", dtype=dtype)
    Ht = check_matrix(H, "H", dtype=dtype, device=Xt.device)
    if Ht.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"H has {Ht.shape[1]} features (columns) but X has {Xt.shape[1]}; H must be "
            f"(n_components, n_features) and X (n_samples, n_features)"
        )
    l1 = check_non_negative_number(l1, "l1")
    l2 = check_non_negative_number(l2, "l2")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_non_negative_number(tol, "tol")
    if torch.is_grad_enabled() and (Xt.requires_grad or Ht.requires_grad):
        W = ImplicitNNLS.apply(Xt, Ht, l1, l2, max_iter, tol)
    else:
        W = solve_nnls(Xt, Ht, l1, l2, max_iter, tol, polish)
    return like_input(W, X)
