"""Block updates shared by every solver in this package.

All of them update one non-negative factor ``F`` of shape (r, m) -- rows are components --
for the quadratic sub-problem

    min_{F >= 0}  0.5 <F, G F> - <B, F> + l1 * sum(F) + 0.5 * l2 * ||F||_F^2

given the Gram matrix ``G`` (r x r) and the cross product ``B`` (r x m). For NMF's H step,
``G = W^T W`` and ``B = W^T X``; for its W step the roles swap (``F = W^T``, ``G = H H^T``,
``B = H X^T``). Keeping the factor as (r, m) makes each component a contiguous row, which is
what the HALS row updates read and write.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor


@contextmanager
def one_thread(enabled: bool = True):
    """Run the enclosed CPU ops on one thread; yields the thread count to restore for products.

    Row sweeps, Gram-sized products and elementwise updates touch r x m arrays: they are
    memory-bound and short, so OpenMP fork/join dominates them, and on a shared machine a
    descheduled worker thread stalls each such op by a scheduler time slice (measured here:
    a 25 x 20000 gemv took 12 ms on 2 busy cores against 0.09 ms on one thread). Solvers run
    their loop inside this context and give the big products with ``X`` all threads back
    through :func:`mm_threads`.
    """
    n = torch.get_num_threads()
    if not enabled or n == 1:
        yield n
        return
    torch.set_num_threads(1)
    try:
        yield n
    finally:
        torch.set_num_threads(n)


def mm_threads(a: torch.Tensor, b: torch.Tensor, n_threads: int) -> torch.Tensor:
    """``a @ b`` on ``n_threads`` CPU threads, from inside :func:`one_thread`."""
    if n_threads <= 1 or torch.get_num_threads() == n_threads:
        return a @ b
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        return a @ b
    finally:
        torch.set_num_threads(before)


def cross_product_t(X: Tensor, H: Tensor, threads: int, out: Tensor | None = None) -> Tensor:
    """``H X^T`` (r x n), contiguous, computed as the transpose of ``X H^T``.

    For a tall ``X`` (n x p) and small r, BLAS runs ``X @ H^T`` about twice as fast as
    ``H @ X^T`` (measured on the benchmark machine: 4.6 vs 8.8 ms for 20000 x 512 x 25 on
    two threads); the transposing copy into ``out`` costs ~0.4 ms.
    """
    prod = mm_threads(X, H.T, threads)
    if out is None:
        return prod.T.contiguous()
    return out.copy_(prod.T)


def objective_from_grams(
    sq_norm_x: float, B: torch.Tensor, G: torch.Tensor, F: torch.Tensor
) -> float:
    """``0.5 * ||X - W F||_F^2`` from ``B = W^T X`` and ``G = W^T W`` (float64 accumulation).

    The expansion ``||X||^2 - 2 <B, F> + <G, F F^T>`` avoids forming the (n x p) residual; the
    r x m inner products are accumulated in float64 so the stopping rule does not drown in
    float32 rounding. Its absolute error is still that of the float32 Gram products, about
    1e-6 * ||X||^2; report exact errors with :func:`residual_sq_norm`.
    """
    F64 = F.double()
    cross = torch.sum(B.double() * F64)
    quad = torch.sum(G.double() * (F64 @ F64.T))
    return 0.5 * max(float(sq_norm_x - 2.0 * cross + quad), 0.0)


def residual_sq_norm(X: torch.Tensor, W: torch.Tensor, H: torch.Tensor, chunk: int = 4096) -> float:
    """``||X - W H||_F^2`` computed exactly, in row chunks, accumulated in float64."""
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    for start in range(0, X.shape[0], chunk):
        R = torch.addmm(X[start : start + chunk], W[start : start + chunk], H, alpha=-1.0)
        total += torch.sum(R.double() ** 2)
    return float(total)


def frobenius_sq(X: Tensor, chunk: int = 4096) -> float:
    """``||X||_F^2``: float32 norms of row chunks, squared and summed in float64.

    As accurate as the Gram products it is combined with, without a float64 copy of ``X``.
    """
    norms = [float(torch.linalg.vector_norm(X[s : s + chunk])) for s in range(0, X.shape[0], chunk)]
    return float(sum(v * v for v in norms))


def penalty(F: torch.Tensor, l1: float, l2: float) -> float:
    """``l1 * sum(F) + 0.5 * l2 * ||F||_F^2`` in float64."""
    if l1 == 0 and l2 == 0:
        return 0.0
    F64 = F.double()
    return float(l1 * F64.sum() + 0.5 * l2 * torch.sum(F64 * F64))


def hals_sweep(F: torch.Tensor, G: torch.Tensor, B: torch.Tensor) -> None:
    """One pass of HALS row updates on ``F`` in place (Cichocki & Phan 2009, Eq. 19-20).

    Row k is replaced by the exact minimiser of ``0.5 <F, G F> - <B, F>`` over that row with
    the others fixed: ``max(0, F_k + (B_k - G_k F) / G_kk)``. Penalties are folded in by the
    caller (``G + l2 I``, ``B - l1``). Rows with a zero Gram diagonal (an all-zero component
    and no ridge term) are left unchanged.
    """
    for k, d in enumerate(torch.diagonal(G).tolist()):
        if d <= 0:
            continue
        step = torch.addmv(B[k], F.T, G[k], alpha=-1.0)  # B_k - G_k F
        F[k].add_(step, alpha=1.0 / d).clamp_(min=0)


def fold_penalties(G: torch.Tensor, B: torch.Tensor, l1: float, l2: float):
    """``(G + l2 I, B - l1)``: the elastic net folded into the quadratic (new tensors if needed)."""
    if l2:
        G = G + l2 * torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    if l1:
        B = B - l1
    return G, B


def hals_update(
    F: Tensor, G: Tensor, B: Tensor, l1=0.0, l2=0.0, max_inner=1, inner_tol=0.1
) -> float:
    """Accelerated HALS (Gillis & Glineur 2012, Alg. 2): repeat sweeps with ``G``, ``B`` fixed.

    The Gram products cost O(n p r) and a sweep O(m r^2), so several sweeps per product are
    nearly free. Sweeps repeat while the change is above ``inner_tol`` times the first
    sweep's change, at most ``max_inner`` times. Returns the first sweep's L1 change (the
    same "violation" scikit-learn's coordinate-descent solver uses in its stopping rule).
    """
    G, B = fold_penalties(G, B, l1, l2)
    prev = torch.empty_like(F)
    first = None
    for i in range(max_inner):
        if i == max_inner - 1 and first is not None:  # its change would decide nothing
            hals_sweep(F, G, B)
            break
        prev.copy_(F)
        hals_sweep(F, G, B)
        change = float(torch.sum(torch.abs(prev.sub_(F))))
        if first is None:
            first = change
        elif change <= inner_tol * first:
            break
    return first


# Cost model of one HALS sweep relative to the Gram products, in GEMM multiply-adds: the
# row updates are matrix-vector products and elementwise ops, memory-bound at roughly an
# eighth of GEMM's rate per flop, and each of the r rows pays ~10 us of Python and dispatch
# (about 2.5e5 multiply-adds of GEMM time). Measured on the 2-core benchmark machine
# (benchmarks/bench_nmf.py): a 25 x 20000 sweep takes 3.7 ms, a 25 x 512 one 0.5 ms, and a
# 20000 x 512 x 25 product 10-25 ms.
SWEEP_FLOP_COST = 8.0
SWEEP_ROW_OVERHEAD = 2.5e5


def gillis_max_inner(m: int, r: int, other: int, alpha: float = 0.5) -> int:
    """Inner-sweep budget ``1 + alpha * rho`` of Gillis & Glineur (2012, Sec. 3.1).

    ``rho`` is the cost of the Gram products (``other * m * r + other * r^2``) over the cost
    of one sweep of the factor with ``m`` columns. Gillis & Glineur count both in flops
    (``rho ~ other / r``); here a sweep is charged at its real price on a CPU (see
    ``SWEEP_FLOP_COST``), which for a 20000 x 512 rank-25 problem gives 2 sweeps for W
    instead of 11 and 15 for H instead of 385 -- with the flop count the sweeps took
    longer than the products they were meant to amortise.
    """
    gram = other * m * r + other * r * r
    sweep = SWEEP_FLOP_COST * m * r * r + SWEEP_ROW_OVERHEAD * r
    return max(1, int(1 + alpha * gram / sweep))


def mu_update(F: Tensor, G: Tensor, B: Tensor, l1=0.0, l2=0.0, floor=0.0) -> None:
    """Lee & Seung (2001) multiplicative update ``F <- F * B / (G F + l1 + l2 F)`` in place.

    ``B`` must be non-negative and is overwritten (it becomes the update ratio). Entries are
    clamped at ``floor`` > 0: float32 factors otherwise drift into subnormal numbers, which
    makes every later update several times slower, and exact zeros can never recover.
    """
    denom = torch.addmm(F, G, F, beta=l2) if l2 else G @ F
    if l1:
        denom.add_(l1)
    denom.clamp_(min=torch.finfo(F.dtype).tiny)
    F.mul_(B.div_(denom)).clamp_(min=floor)


def admm_update(
    F: Tensor,
    U: Tensor,
    G: Tensor,
    B: Tensor,
    l1=0.0,
    l2=0.0,
    max_inner=10,
    inner_tol=1e-2,
    prev_rho=None,
) -> float:
    """One AO-ADMM block update (Huang, Sidiropoulos & Liavas 2016, Alg. 1) in place.

    Splits ``F = F~`` with ``F~`` carrying the least-squares term and ``F`` the elastic-net
    and non-negativity; ``U`` is the scaled dual (warm-started across outer iterations, as
    the paper recommends; with ``prev_rho`` it is rescaled so that the unscaled multiplier
    ``rho * U`` carries over). The step ``rho = trace(G) / r`` and one Cholesky
    factorisation of ``G + rho I`` are reused by every inner iteration. Stops when the relative primal and
    dual residuals are both below ``inner_tol``. Returns ``rho``; at a fixed point
    ``rho * U + l1 + l2 * F`` is the KKT multiplier of ``F >= 0``.
    """
    r = G.shape[0]
    rho = float(torch.trace(G)) / r
    if rho <= 0:
        rho = 1.0
    if prev_rho is not None and prev_rho != rho:
        U.mul_(prev_rho / rho)
    eye = torch.eye(r, dtype=G.dtype, device=G.device)
    L = torch.linalg.cholesky(G + rho * eye)
    prev = torch.empty_like(F)
    for _ in range(max_inner):
        Ft = torch.cholesky_solve(B + rho * (F + U), L)
        prev.copy_(F)
        torch.sub(Ft, U, out=F)
        F.mul_(rho)
        if l1:
            F.sub_(l1)
        F.div_(rho + l2).clamp_(min=0)
        U.add_(F).sub_(Ft)
        f_norm = float(torch.sum(F * F))
        u_norm = float(torch.sum(U * U))
        primal = float(torch.sum((F - Ft) ** 2)) / max(f_norm, 1e-300)
        dual = float(torch.sum((F - prev) ** 2)) / max(u_norm, 1e-300)
        if primal < inner_tol and dual < inner_tol:
            break
    return rho
