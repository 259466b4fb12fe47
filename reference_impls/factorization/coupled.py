"""Coupled NMF of pixels and activations sharing one example factor.

Saini & Papalexakis, "Multi-aspect matrix factorization based visualization of CNNs"
(/work/shared/papers/multiaspect_coupled_nmf.md), Eq. 1-4.

Shape convention (the paper's, kept so the code reads like the equations): **examples are
columns** (axis 1) of every input matrix. ``D_i`` is (S_i x N), channel i of N images
vectorised per column; ``A_j`` is (a_j x N), layer j's activations per column. The fitted
shared factor ``F_`` is (d x N) -- column k is example k's latent code -- and ``P_[i]``
(S_i x d), ``O_[j]`` (a_j x d) embed pixels and neurons. Activation caches stored
examples-as-rows must be transposed before :meth:`CoupledNMF.fit`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator

from reference_impls.utils import get_device

from ._updates import frobenius_sq, hals_update, mu_update, objective_from_grams
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
from .nnls import solve_nnls

VARIANTS = ("l2", "group_sparse", "tv_ortho")


def project_rows_to_simplex(F: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of every row onto ``{x >= 0, sum(x) = 1}`` (Duchi et al. 2008)."""
    m = F.shape[1]
    u, _ = torch.sort(F, dim=1, descending=True)
    css = torch.cumsum(u, dim=1) - 1.0
    k = torch.arange(1, m + 1, dtype=F.dtype, device=F.device)
    cond = u - css / k > 0
    rho = cond.to(F.dtype).cumsum(dim=1).argmax(dim=1, keepdim=True)  # last True index
    rho = torch.where(cond.any(dim=1, keepdim=True), rho, torch.zeros_like(rho))
    theta = css.gather(1, rho) / (rho + 1).to(F.dtype)
    return (F - theta).clamp(min=0)


def group_membership(groups, n: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """One-hot ``(N, G)`` membership of the examples in the groups of Eq. 3.

    ``groups`` is None (one group per example) or N integer labels: examples with the same
    label form one group (a partition of the N columns of ``F``).
    """
    if groups is None:
        return torch.eye(n, dtype=dtype, device=device)
    labels = torch.as_tensor(np.asarray(groups)).reshape(-1)
    if labels.numel() != n:
        raise ValueError(
            f"groups has {labels.numel()} labels but F has {n} examples (columns): give one "
            f"group label per example"
        )
    if labels.dtype.is_floating_point and not torch.equal(labels, labels.round()):
        raise ValueError("groups must hold integer group labels, one per example")
    _, inverse = torch.unique(labels, return_inverse=True)
    return torch.nn.functional.one_hot(inverse.long()).to(dtype=dtype, device=device)


def group_norm(F: torch.Tensor, eps: float, groups=None) -> torch.Tensor:
    """Smoothed ``||F||_{1,2}`` of Eq. 3 over groups of examples.

    ``groups`` (N labels, see :func:`group_membership`) partitions the examples as in the
    group lasso the paper cites (Kim, Monteiro & Park): ``sum_g sum_i (sqrt(||F[i, cols_g]||^2
    + eps^2) - eps)``, so a group of examples uses few latent factors and whole blocks
    ``F[i, cols_g]`` vanish. ``groups=None`` keeps the older reading of one group per example
    (``sum_n ||F[:, n]||_2``), which with unit-L1 rows concentrates each factor on few
    examples instead. ``groups`` may also be a precomputed ``(N, G)`` one-hot tensor.
    """
    if groups is None:
        return torch.sum(torch.sqrt(torch.sum(F * F, dim=0) + eps * eps) - eps)
    if isinstance(groups, torch.Tensor) and groups.ndim == 2:
        member = groups.to(F)
    else:
        member = group_membership(groups, F.shape[1], F.dtype, F.device)
    if member.shape[0] != F.shape[1]:
        raise ValueError(f"groups has {member.shape[0]} rows but F has {F.shape[1]} columns")
    return torch.sum(torch.sqrt((F * F) @ member + eps * eps) - eps)


def total_variation(F: torch.Tensor, eps: float) -> torch.Tensor:
    """Smoothed isotropic TV of ``F`` seen as a 2-D image (Eq. 4, "spatial gradient of F").

    Forward differences along both axes with a replicated border, each pixel contributing
    ``sqrt(dx^2 + dy^2 + eps^2) - eps``; its gradient is ``-div(grad F / |grad F|)``, the
    ``lap(F) / sgn(F)`` term of the paper's update.
    """
    dx = torch.diff(F, dim=1, append=F[:, -1:])
    dy = torch.diff(F, dim=0, append=F[-1:, :])
    return torch.sum(torch.sqrt(dx * dx + dy * dy + eps * eps) - eps)


def soft_orthogonality(F: torch.Tensor) -> torch.Tensor:
    """``tr(F^T S F)`` with ``S = 11^T - I`` (d x d): ``sum_{k != l} <F[k], F[l]>`` (Eq. 4).

    The paper writes ``S`` as N x N, but only d x d makes ``F^T S F`` (F is d x N) and its
    update term ``S^T F + S F`` well defined; it penalises overlap between latent factors.
    """
    col_sums = F.sum(dim=0)
    return torch.sum(col_sums * col_sums) - torch.sum(F * F)


class CoupledNMF(BaseEstimator):
    """Coupled NMF ``D_i ~= P_i F``, ``A_j ~= O_j F`` with one shared ``F`` (Saini & Papalexakis).

    Variants (all factors non-negative, as the paper states):

    ``"l2"`` (Eq. 1-2): ``sum ||D_i - P_i F||^2 + sum ||A_j - O_j F||^2 + lambda_P sum
    ||P_i||^2 + lambda_O sum ||O_j||^2 + lambda_F ||F||^2``, solved with the paper's
    multiplicative updates (Eq. 2, ``solver="mu"``) or accelerated HALS; ``unit_norm``
    rescales the columns of every ``P_i`` and ``O_j`` to unit L2 norm after each update, as
    the paper's optional constraint (this breaks monotonicity, as in the paper).

    ``"group_sparse"`` (Eq. 3): data terms ``+ lambda_F ||F||_{1,2}`` (see :func:`group_norm`)
    with unit-L1 rows of ``F``; ``groups`` gives the grouping of the examples. ``"tv_ortho"`` (Eq. 4): data terms ``+ lambda_tv TV(F) +
    lambda_ortho tr(F^T S F)`` with unit-L1 rows of ``F``. For both, ``F`` takes projected
    gradient steps with backtracking on the row simplices and ``P_i``, ``O_j`` take the
    chosen solver's updates, so the (eps-smoothed) objective never increases.

    Parameters
    ----------
    n_components : int, default=20
        Latent dimension d (the paper's Table I uses 20).
    variant : {"l2", "group_sparse", "tv_ortho"}, default="l2"
    lambda_P, lambda_O : float, default=1e-4
        Ridge weights of Eq. 1 (the paper's values).
    lambda_F : float, default=1.0
        Ridge weight on ``F`` in Eq. 1 (paper: 1), group-norm weight in Eq. 3.
    lambda_tv, lambda_ortho : float, default=1e-2
        Eq. 4 weights; the paper gives no values. Both penalties are O(d) for unit-L1 rows
        while the data terms scale with the data, so tune them relative to ``sum ||A_j||^2``.
    unit_norm : bool, default=False
        Optional constraint of Eq. 1 (``"l2"`` only).
    solver : {"mu", "hals"}, default="mu"
        Updates of ``P_i``, ``O_j`` (and of ``F`` for ``"l2"``); ``"mu"`` is the paper's.
    max_iter : int, default=200
    tol : float, default=1e-4
        Stop when the objective changes by less than ``tol`` times its value.
    groups : array of N int labels or None, default=None
        Eq. 3 only: the partition of the examples the group norm sums over (the cited
        group lasso groups examples, so a group uses few factors). None: one group per
        example (the older reading; see :func:`group_norm`).
    smoothing : float, default=1e-3
        eps of the smoothed group norm and TV, relative to the mean row entry ``1 / N``.
    random_state, device, dtype
        As for :class:`~reference_impls.factorization.NMF`.

    Attributes
    ----------
    F_ : (d, N) shared example factor; column k is example k.
    P_ : list of (S_i, d) pixel factors. ``O_`` : list of (a_j, d) neuron factors.
    loss_history_ : list of float, the variant's objective at init and after each iteration.
    n_iter_ : int
    """

    def __init__(
        self,
        n_components=20,
        variant="l2",
        lambda_P=1e-4,
        lambda_O=1e-4,
        lambda_F=1.0,
        lambda_tv=1e-2,
        lambda_ortho=1e-2,
        unit_norm=False,
        solver="mu",
        groups=None,
        max_iter=200,
        tol=1e-4,
        smoothing=1e-3,
        random_state=None,
        device=None,
        dtype="float32",
    ):
        store_init_params(self, locals())

    # ---------------------------------------------------------------- checks
    def _check_inputs(self, D, A, dtype, device):
        D = [] if D is None else list(D)
        A = [] if A is None else list(A)
        if not D and not A:
            raise ValueError("CoupledNMF needs at least one matrix in D or A")
        names = [f"D[{i}]" for i in range(len(D))] + [f"A[{j}]" for j in range(len(A))]
        mats = [
            check_matrix(M, name, dtype=dtype, device=device, non_negative=True)
            for name, M in zip(names, D + A)
        ]
        N = mats[0].shape[1]
        for name, M in zip(names, mats):
            if M.shape[1] != N:
                raise ValueError(
                    f"{name} has shape {tuple(M.shape)} but {names[0]} has {N} columns: every "
                    f"matrix must have the examples as its columns (axis 1), the same N for all"
                )
        return [M.detach() for M in mats], len(D), N

    def _weights(self):
        names = ("lambda_P", "lambda_O", "lambda_F", "lambda_tv", "lambda_ortho", "smoothing")
        return {k: check_non_negative_number(getattr(self, k), k) for k in names}

    # ---------------------------------------------------------------- penalty on F
    def _f_penalty(self, F: torch.Tensor, lam, eps: float) -> torch.Tensor:
        if self.variant == "group_sparse":
            return lam["lambda_F"] * group_norm(F, eps, self._member)
        return lam["lambda_tv"] * total_variation(F, eps) + lam[
            "lambda_ortho"
        ] * soft_orthogonality(F)

    def _f_step(self, F, G, B, lam, eps, step, n_steps=3):
        """Projected gradient on the row simplices with backtracking (monotone)."""

        def phi(Fc):  # data terms as a function of F (constants dropped) + penalty
            quad = torch.sum(G * (Fc @ Fc.T)) - 2.0 * torch.sum(B * Fc)
            return quad + self._f_penalty(Fc, lam, eps)

        for _ in range(n_steps):
            Fg = F.detach().requires_grad_(True)
            with torch.enable_grad():
                val = phi(Fg)
                (grad,) = torch.autograd.grad(val, Fg)
            val = float(val.detach())
            while True:
                F_new = project_rows_to_simplex(F - step * grad)
                diff = F_new - F
                bound = (
                    val + float(torch.sum(grad * diff)) + float(torch.sum(diff * diff)) / (2 * step)
                )
                if float(phi(F_new)) <= bound + 1e-12 * abs(val) or step < 1e-20:
                    break
                step *= 0.5
            if float(torch.sum(diff * diff)) <= 1e-24 * float(torch.sum(F * F)):
                F = F_new
                break
            F = F_new
            step *= 2.0
        return F, step

    # ---------------------------------------------------------------- fitting
    def fit(self, D=(), A=()):
        """Fit to pixel matrices ``D`` (each S_i x N) and activation matrices ``A`` (each a_j x N).

        Either list may be empty, not both; examples are the columns of every matrix.
        """
        check_choice(self.variant, "variant", VARIANTS)
        check_choice(self.solver, "solver", ("mu", "hals"))
        lam = self._weights()
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_non_negative_number(self.tol, "tol")
        first = (list(D) + list(A))[:1]
        dtype = resolve_dtype(self.dtype, first[0] if first else None)
        if self.device is None and first and isinstance(first[0], torch.Tensor):
            device = first[0].device
        else:
            device = get_device(self.device)
        mats, n_pix, N = self._check_inputs(D, A, dtype, device)
        d = check_rank(
            self.n_components, (N, sum(M.shape[0] for M in mats)), "the stacked matrices [D; A]"
        )
        simplex = self.variant != "l2"
        ridge = [lam["lambda_P"] if i < n_pix else lam["lambda_O"] for i in range(len(mats))]
        if simplex:
            ridge = [0.0] * len(mats)
        eps = lam["smoothing"] / N
        if self.groups is not None and self.variant != "group_sparse":
            raise ValueError(
                f"groups is used by variant='group_sparse' (Eq. 3) only; got variant="
                f"{self.variant!r} with groups given: drop groups or change the variant"
            )
        self._member = None
        if self.variant == "group_sparse" and self.groups is not None:
            self._member = group_membership(self.groups, N, torch.float64, device)

        g = torch_generator(self.random_state)
        sq = [frobenius_sq(M) for M in mats]
        scale = (sum(float(M.sum()) for M in mats) / sum(M.numel() for M in mats) / d) ** 0.5
        F = scale * torch.randn(d, N, generator=g, dtype=dtype).abs_().to(device)
        Ms = [
            scale * torch.randn(d, M.shape[0], generator=g, dtype=dtype).abs_().to(device)
            for M in mats
        ]
        if simplex:  # move the row scale of F into the block factors: products unchanged
            s = F.sum(dim=1, keepdim=True)
            F = F / s
            Ms = [Mt * s for Mt in Ms]
        floor = 1e-12 * scale

        def loss(blocks):  # blocks: list of (B = F M^T, G = F F^T) at the current F
            total = sum(
                2.0 * objective_from_grams(q, B, G, Mt) for q, (B, G), Mt in zip(sq, blocks, Ms)
            )
            total += sum(w * float(torch.sum(Mt.double() ** 2)) for w, Mt in zip(ridge, Ms))
            if simplex:
                return total + float(self._f_penalty(F.double(), lam, eps))
            return total + lam["lambda_F"] * float(torch.sum(F.double() ** 2))

        GF = F @ F.T
        history = [loss([(F @ M.T, GF) for M in mats])]
        step = None
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            # --- F step: G = sum Mt Mt^T, B = sum Mt M
            G = sum(Mt @ Mt.T for Mt in Ms)
            B = sum(Mt @ M for Mt, M in zip(Ms, mats))
            if simplex:
                if step is None:
                    step = 0.5 / max(float(torch.linalg.matrix_norm(G, ord=2)), 1e-30)
                F, step = self._f_step(F, G, B, lam, eps, step)
            elif self.solver == "mu":
                mu_update(F, G, B, 0.0, lam["lambda_F"], floor)
            else:
                hals_update(F, G, B, 0.0, lam["lambda_F"], max_inner=10)
            # --- block steps: G = F F^T, B = F M^T
            GF = F @ F.T
            blocks = []
            for k, M in enumerate(mats):
                Bk = F @ M.T
                if self.solver == "mu":
                    mu_update(Ms[k], GF, Bk.clone(), 0.0, ridge[k], floor)
                else:
                    hals_update(Ms[k], GF, Bk, 0.0, ridge[k], max_inner=10)
                if self.unit_norm and not simplex:
                    Ms[k].div_(
                        torch.linalg.vector_norm(Ms[k], dim=1, keepdim=True).clamp(min=floor)
                    )
                blocks.append((Bk, GF))
            history.append(loss(blocks))
            if abs(history[-2] - history[-1]) <= tol * abs(history[-2]):
                break

        self._blocks, self._n_pix = Ms, n_pix
        self._ridge_F = 0.0 if simplex else lam["lambda_F"]
        like = first[0]
        self.F_ = like_input(F, like)
        self.P_ = [like_input(Mt.T.contiguous(), like) for Mt in Ms[:n_pix]]
        self.O_ = [like_input(Mt.T.contiguous(), like) for Mt in Ms[n_pix:]]
        self.n_components_ = d
        self.n_iter_ = n_iter
        self.loss_history_ = history
        return self

    def fit_transform(self, D=(), A=()):
        """Fit and return ``F_`` (d x N)."""
        return self.fit(D, A).F_

    def transform(self, D=(), A=()):
        """Latent codes (d x N') of new examples with ``P_``, ``O_`` fixed (``variant="l2"``).

        Solves the ridge NNLS ``min_{F>=0} sum ||D_i - P_i F||^2 + sum ||A_j - O_j F||^2 +
        lambda_F ||F||^2``; the matrices must be given in the same order and with the same
        row counts as in ``fit``.
        """
        if not hasattr(self, "F_"):
            raise ValueError("this CoupledNMF instance is not fitted yet; call fit first")
        if self.variant != "l2":
            raise ValueError(
                f"transform is defined for variant='l2' only; variant={self.variant!r} couples "
                "all examples through the unit-L1 rows of F"
            )
        Mref = self._blocks[0]
        mats, n_pix, _ = self._check_inputs(D, A, Mref.dtype, Mref.device)
        if n_pix != self._n_pix or len(mats) != len(self._blocks):
            raise ValueError(
                f"expected {self._n_pix} D and {len(self._blocks) - self._n_pix} A matrices "
                f"as in fit, got {n_pix} and {len(mats) - n_pix}"
            )
        for k, (M, Mt) in enumerate(zip(mats, self._blocks)):
            if M.shape[0] != Mt.shape[1]:
                name = f"D[{k}]" if k < n_pix else f"A[{k - n_pix}]"
                raise ValueError(f"{name} has {M.shape[0]} rows but had {Mt.shape[1]} in fit")
        X = torch.cat(mats, dim=0).T  # (N', sum of rows)
        H = torch.cat(self._blocks, dim=1)  # (d, sum of rows)
        F = solve_nnls(X, H, 0.0, self._ridge_F).T.contiguous()
        return like_input(F, (list(D) + list(A))[0])


__all__ = [
    "CoupledNMF",
    "group_membership",
    "group_norm",
    "project_rows_to_simplex",
    "soft_orthogonality",
    "total_variation",
]
