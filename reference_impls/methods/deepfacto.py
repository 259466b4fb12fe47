"""DeepFacto (Khorram, MS thesis, Oregon State 2020, Sec. 4.3, Eq. 4.13): a rank-r NMF layer
``Z_t ~= M S`` (M >= 0 shared, S >= 0 per sample and position) inside a network, trained
jointly with the block above it by Block-ADMM updates; only S is passed on.

With the block below frozen (``Z_t`` = the given activations ``A``), the augmented
Lagrangian is

    J(y, Z_o) + beta/2 ||Z_o - lift(S) + U||^2 + gamma/2 ||A - M S + V||^2

with ``lift`` an affine layer on the flattened score maps (``r x P`` -> classes), ``Z_o`` the
decoupling variable of the logits, ``U`` and ``V`` scaled duals. One minibatch iteration
(Sec. 4.2.2 order): an SGD step on ``Z_o`` (loss + coupling), projected-gradient steps on
``S`` (a convex non-negative QP since ``lift`` is affine), one HALS sweep on ``M`` with
running statistics (online NMF), one Adam step on ``lift``, then the duals. Warm start
(Sec. 4.4.3.2): M from an ordinary NMF of the frozen activations, S by NNLS. Test time: S by
NNLS of every position on M (``transform``), as the thesis's non-negative projection.

Without labels (``fit(A)`` as in the comparison matrix) the weak loss and ``lift`` drop out
and the layer is an NMF trained by the same ADMM updates of M, S and V.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional as F

from ..factorization._updates import hals_sweep
from ..factorization._validation import store_init_params
from ..factorization.nmf import NMF
from ..factorization.nnls import nnls
from .base import ExtractorMixin

__all__ = ["DeepFacto"]


def _as_maps(A, name="A"):
    """(N, C, P) float32 tensor from (N, C, H, W) maps or (n, C) rows (P = 1)."""
    A = torch.as_tensor(np.asarray(A, dtype=np.float32))
    if A.ndim == 2:
        return A[:, :, None], None
    if A.ndim == 4:
        return A.flatten(2), tuple(A.shape[2:])
    raise ValueError(f"{name} must be (n, C) rows or (N, C, H, W) maps, got shape {tuple(A.shape)}")


class DeepFacto(ExtractorMixin, TransformerMixin, BaseEstimator):
    """NMF layer trained inside a network by Block ADMM (sklearn conventions).

    Parameters
    ----------
    n_components : rank r.
    n_epochs : Block ADMM epochs after the NMF warm start.
    beta, gamma : penalties of the lift coupling and of ``Z_t = M S``.
    z_lr : SGD step on the logit decoupling variable.
    lr : Adam step on the lift layer.
    s_steps : projected-gradient steps on S per minibatch.
    batch_size : samples (images) per minibatch.
    stats_decay : decay of M's running statistics (online NMF).
    init_iter : HALS iterations of the warm-start NMF.
    init_rows : rows (positions) sampled for the warm-start NMF.
    random_state : seed.

    Attributes
    ----------
    components_ : (r, C) the basis ``M^T`` (unit-norm rows).
    history_ : list of per-epoch dicts (reconstruction error, constraint residuals, accuracy).
    """

    def __init__(
        self,
        n_components=10,
        n_epochs=3,
        beta=1.0,
        gamma=1.0,
        z_lr=0.5,
        lr=1e-2,
        s_steps=2,
        batch_size=128,
        stats_decay=0.9,
        init_iter=100,
        init_rows=20000,
        random_state=None,
    ):
        store_init_params(self, locals())

    def __sklearn_tags__(self):
        # A >= 0 is required (fit refuses negative input with its own message)
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    def _checked(self, A, reset):
        """(n, C) rows go through :meth:`ExtractorMixin._validate`; maps (ndim > 2) are
        checked by :func:`_as_maps` and the channel count."""
        if getattr(A, "ndim", 2) > 2:
            if not reset:
                check_is_fitted(self, "components_")
            return A
        return self._validate(A, reset=reset)

    # ------------------------------------------------------------------ fitting
    def fit(self, A, y=None):
        """``A``: non-negative (N, C, H, W) maps (``y``: one class per map) or (n, C) rows
        (``y``: one class per row, or None for the unsupervised layer)."""
        X, self.map_shape_ = _as_maps(self._checked(A, reset=True))
        if float(X.min()) < 0:
            raise ValueError(
                "Negative values in data passed to A in DeepFacto: A must be non-negative "
                "(activations after a ReLU)"
            )
        N, C, P = X.shape
        r = int(self.n_components)
        if not 1 <= r <= C:
            raise ValueError(f"n_components must be in [1, {C}] (channels of A), got {r}")
        seed = 0 if self.random_state is None else int(self.random_state)
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        rows = X.permute(0, 2, 1).reshape(-1, C)
        pick = torch.randperm(len(rows), generator=g)[: self.init_rows]
        nmf = NMF(r, max_iter=self.init_iter, random_state=seed).fit(rows[pick])
        M = torch.as_tensor(np.asarray(nmf.components_)).T.contiguous()  # C x r
        M, _ = self._normalise(M)
        S = self._project(X, M)
        supervised = y is not None
        if supervised:
            y = np.asarray(y)
            kind = type_of_target(y)  # integer-valued floats are classes, objects unknown
            if kind not in ("binary", "multiclass") or y.dtype.kind not in "iuf" or y.min() < 0:
                raise ValueError(
                    f"Unknown label type: y must hold non-negative integer class ids "
                    f"(rows of the lift layer), got {kind} labels of dtype {y.dtype}"
                )
            y = torch.as_tensor(y, dtype=torch.long)
            if len(y) != N:
                raise ValueError(f"y has {len(y)} labels for {N} samples of A")
            self.classes_ = np.unique(y.numpy())
            lift = torch.nn.Linear(r * P, int(y.max()) + 1)
            opt = torch.optim.Adam(lift.parameters(), lr=self.lr)
            with torch.no_grad():
                Zo = lift(S.flatten(1))
            U = torch.zeros_like(Zo)
        V = torch.zeros_like(X)
        G = torch.einsum("nkp,nlp->kl", S, S) / N
        B = torch.einsum("nkp,ncp->kc", S, X) / N
        self.history_ = []
        for epoch in range(self.n_epochs):
            order = torch.randperm(N, generator=g)
            for start in range(0, N, self.batch_size):
                i = order[start : start + self.batch_size]
                a, s, v = X[i], S[i], V[i]
                if supervised:
                    zo, u = Zo[i], U[i]
                    with torch.no_grad():
                        lifted = lift(s.flatten(1))
                    zo = zo.detach().requires_grad_(True)
                    obj = (
                        F.cross_entropy(zo, y[i], reduction="sum")
                        + 0.5 * self.beta * ((zo - lifted + u) ** 2).sum()
                    )
                    (grad,) = torch.autograd.grad(obj, zo)
                    zo = (zo - self.z_lr * grad).detach()
                s = self._s_step(
                    a,
                    s,
                    v,
                    M,
                    lift if supervised else None,
                    zo if supervised else None,
                    u if supervised else None,
                )
                # M: one HALS sweep on decayed running statistics of (A + V) ~= M S
                d = self.stats_decay
                G = d * G + (1 - d) * torch.einsum("nkp,nlp->kl", s, s) / len(i)
                B = d * B + (1 - d) * torch.einsum("nkp,ncp->kc", s, a + v) / len(i)
                Mt = M.T.contiguous()
                hals_sweep(Mt, G, B)
                M = Mt.T.contiguous()
                if supervised:
                    opt.zero_grad(set_to_none=True)
                    loss = 0.5 * self.beta * ((zo - lift(s.flatten(1)) + u) ** 2).sum(1).mean()
                    loss.backward()
                    opt.step()
                    with torch.no_grad():
                        U[i] = u + zo - lift(s.flatten(1))
                        Zo[i] = zo
                V[i] = v + a - torch.einsum("ck,nkp->ncp", M, s)
                S[i] = s
            M, scale = self._normalise(M)
            S *= scale[None, :, None]
            G = G * scale[:, None] * scale[None, :]
            B = B * scale[:, None]
            if supervised:  # keep lift(S) unchanged under the rescaling of S
                with torch.no_grad():
                    w = lift.weight.view(lift.out_features, r, P)
                    w /= scale[None, :, None]
            self.history_.append(
                self._diagnostics(epoch, X, S, M, V, lift if supervised else None, y)
            )
        self.M_ = M
        self.components_ = M.T.numpy().copy()
        self.n_components_ = r
        self.n_features_in_ = C
        self.lift_ = lift if supervised else None
        return self

    @staticmethod
    def _normalise(M):
        norms = M.norm(dim=0).clamp_min(1e-12)
        return M / norms, norms

    @staticmethod
    def _project(X, M):
        """S = NNLS of every position of X on M, (N, r, P)."""
        N, C, P = X.shape
        rows = X.permute(0, 2, 1).reshape(-1, C)
        # HALS sweeps without the active-set polish: the scores feed SVMs and heat maps,
        # where 1e-4 relative KKT accuracy is plenty (5-7x faster than the polished solve)
        S = torch.as_tensor(nnls(rows, M.T.contiguous(), max_iter=100, tol=1e-4, polish=False))
        return S.reshape(N, P, -1).permute(0, 2, 1).contiguous()

    def _s_objective(self, a, s, v, M, lift, zo, u):
        """gamma/2 ||a - M s + v||^2 + beta/2 ||zo - lift(s) + u||^2 (the S sub-problem)."""
        out = 0.5 * self.gamma * ((a - torch.einsum("ck,nkp->ncp", M, s) + v) ** 2).sum()
        if lift is not None:
            out = out + 0.5 * self.beta * ((zo - lift(s.flatten(1)) + u) ** 2).sum()
        return out

    def _s_grad(self, a, s, v, M, lift, zo, u):
        """Closed-form gradient of :meth:`_s_objective` in s."""
        res = a - torch.einsum("ck,nkp->ncp", M, s) + v
        grad = -self.gamma * torch.einsum("ck,ncp->nkp", M, res)
        if lift is not None:
            with torch.no_grad():
                r2 = zo - lift(s.flatten(1)) + u
            grad = grad - self.beta * (r2 @ lift.weight.detach()).view_as(s)
        return grad

    def _s_step(self, a, s, v, M, lift, zo, u):
        """Projected gradient steps (step 1/L) on the convex S sub-problem, S >= 0."""
        lip = self.gamma * float(torch.linalg.matrix_norm(M, 2)) ** 2
        if lift is not None:
            lip += self.beta * float(torch.linalg.matrix_norm(lift.weight.detach(), 2)) ** 2
        step = 1.0 / max(lip, 1e-12)
        for _ in range(self.s_steps):
            s = (s - step * self._s_grad(a, s, v, M, lift, zo, u)).clamp_(min=0)
        return s

    @torch.no_grad()
    def _diagnostics(self, epoch, X, S, M, V, lift, y):
        MS = torch.einsum("ck,nkp->ncp", M, S)
        out = {
            "epoch": epoch + 1,
            "relative_error": float((X - MS).norm() / X.norm()),
            "nmf_residual": float((X - MS).pow(2).sum(1).mean()),
        }
        if lift is not None:
            out["train_accuracy"] = float((lift(S.flatten(1)).argmax(1) == y).float().mean())
        return out

    # ------------------------------------------------------------------ inference
    def transform(self, A):
        """Scores S >= 0: (n, r) for rows, (N, r, H, W) for maps (NNLS on M)."""
        X, shape = _as_maps(self._checked(A, reset=False))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"A has {X.shape[1]} channels, DeepFacto was fitted with {self.n_features_in_}"
            )
        S = self._project(X, self.M_)
        if shape is None:
            return S[:, :, 0].numpy()
        return S.reshape(S.shape[0], S.shape[1], *shape).numpy()

    def inverse_transform(self, U):
        """Reconstruction ``U @ components_`` of rows (n, r) -> (n, C)."""
        check_is_fitted(self, "components_")
        U = np.asarray(U, dtype=np.float32)
        if U.ndim != 2 or U.shape[1] != self.n_components_:
            raise ValueError(f"U must be (n, {self.n_components_}), got shape {U.shape}")
        return U @ self.components_

    def predict(self, A):
        """Class predictions of the lifted scores (fitted with labels only)."""
        check_is_fitted(self, "components_")
        if getattr(self, "lift_", None) is None:
            raise ValueError("DeepFacto was fitted without labels: no lift layer to predict with")
        S = torch.as_tensor(self.transform(A)).flatten(1)
        with torch.no_grad():
            return self.lift_(S).argmax(1).numpy()
