"""Full-batch layer-wise training of ReLU MLPs with closed-form or linearised updates: the
thesis's baselines (Khorram, MS thesis 2020, Sec. 4.2.1 and 4.4.2).

- :class:`LayerwiseADMM` — Algorithm 1 ("standard ADMM", Eq. 4.2), every constraint with a
  scaled dual; ``taylor=True`` gives Taylor et al. (ICML 2016): only the output constraint
  carries a multiplier.
- :class:`ZengBCD` — Zeng et al. (ICML 2019) prox-linear block coordinate descent.
- :class:`DLADMM` — Wang et al. (KDD 2019) deep-learning ADMM: backward-then-forward sweeps,
  quadratic upper bounds with backtracking for ``W`` and ``a``, dual on the last layer only.

Rows are samples: ``A_0 = X`` (N x d), ``Z_l = A_{l-1} W_l^T + b_l`` (pre-activation),
``A_l = relu(Z_l)``. Each object has ``step()`` (one full-batch iteration),
``augmented_lagrangian()``, ``residual()`` and ``predict(X)`` (straight-through forward).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["LayerwiseADMM", "ZengBCD", "DLADMM", "relu_prox", "init_mlp_weights"]


def relu_prox(m, a, beta, gamma):
    """Entry-wise ``argmin_z beta/2 (z - m)^2 + gamma/2 (a - relu(z))^2`` (two branches:
    ``z <= 0`` gives ``min(m, 0)``; ``z >= 0`` gives ``max((beta m + gamma a)/(beta +
    gamma), 0)``; the branch with the lower objective wins)."""
    z_neg = torch.clamp(m, max=0.0)
    z_pos = torch.clamp((beta * m + gamma * a) / (beta + gamma), min=0.0)
    f_neg = beta / 2 * (z_neg - m) ** 2 + gamma / 2 * a**2
    f_pos = beta / 2 * (z_pos - m) ** 2 + gamma / 2 * (a - z_pos) ** 2
    return torch.where(f_pos <= f_neg, z_pos, z_neg)


def init_mlp_weights(dims, generator, scale=None):
    """PyTorch's default ``nn.Linear`` init (U(-1/sqrt(fan_in), 1/sqrt(fan_in))) for W and b,
    or ``scale * N(0, 1)`` when ``scale`` is given."""
    Ws, bs = [], []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        if scale is None:
            bound = d_in**-0.5
            Ws.append((torch.rand(d_out, d_in, generator=generator) * 2 - 1) * bound)
            bs.append((torch.rand(d_out, generator=generator) * 2 - 1) * bound)
        else:
            Ws.append(torch.randn(d_out, d_in, generator=generator) * scale)
            bs.append(torch.randn(d_out, generator=generator) * scale)
    return Ws, bs


def _onehot(y, n_classes):
    return F.one_hot(torch.as_tensor(y), n_classes).float()


class _LayerwiseMLP:
    """Weights ``W_l`` (d_l x d_{l-1}), biases ``b_l``; states ``Z_l``, ``A_l`` per row."""

    def __init__(self, X, y, hidden, n_classes, seed=0, init_scale=None):
        self.X = torch.as_tensor(X, dtype=torch.float32).flatten(1)
        self.y = torch.as_tensor(y)
        self.Y = _onehot(self.y, n_classes)
        self.dims = [self.X.shape[1], *hidden, n_classes]
        g = torch.Generator().manual_seed(seed)
        self.W, self.b = init_mlp_weights(self.dims, g, init_scale)
        self.L = len(self.W)
        self.Z, self.A = [], [self.X]
        with torch.no_grad():
            a = self.X
            for l in range(self.L):
                z = a @ self.W[l].T + self.b[l]
                self.Z.append(z)
                a = torch.relu(z)
                if l < self.L - 1:
                    self.A.append(a)

    def predict(self, X):
        a = torch.as_tensor(X, dtype=torch.float32).flatten(1)
        for l in range(self.L):
            z = a @ self.W[l].T + self.b[l]
            a = torch.relu(z)
        return z

    def residual(self) -> float:
        """Sum over layers of the mean squared constraint residuals (per row)."""
        n = len(self.X)
        r = sum(float(((self.Z[l] - self._lin(l)) ** 2).sum()) for l in range(self.L))
        r += sum(
            float(((self.A[l] - torch.relu(self.Z[l - 1])) ** 2).sum()) for l in range(1, self.L)
        )
        return r / n

    def _lin(self, l):
        return self.A[l] @ self.W[l].T + self.b[l]

    def _gram(self, l):
        """``[A_l, 1]`` and its Gram matrix; cached for the fixed input ``A_0 = X``."""
        if l == 0:
            if not hasattr(self, "_gram0"):
                Aa = _augment(self.X)
                self._gram0 = (Aa, Aa.T @ Aa)
            return self._gram0
        Aa = _augment(self.A[l])
        return Aa, Aa.T @ Aa


def _augment(A):
    return torch.cat([A, torch.ones(len(A), 1)], 1)


def _ridge(Aa, gram, target, lam, beta):
    """``argmin_{W,b} beta/2 ||target - A W^T - b||^2 + lam ||W||^2 + lam b^2`` (bias folded
    into W as in the thesis: ``r = ||W||_F^2``); ``Aa = [A, 1]``, ``gram = Aa^T Aa``."""
    G = beta * gram + 2 * lam * torch.eye(Aa.shape[1])
    Wt = torch.linalg.solve(G, beta * Aa.T @ target)
    return Wt[:-1].T.contiguous(), Wt[-1].contiguous()


class LayerwiseADMM(_LayerwiseMLP):
    """Algorithm 1 (closed-form ADMM on Eq. 4.2, MSE loss ``||Z_L - Y||^2``); ``taylor=True``
    drops every dual except the output layer's (Taylor et al. 2016)."""

    def __init__(
        self, X, y, hidden, n_classes, beta=10.0, gamma=10.0, lam=5e-5, taylor=False, seed=0
    ):
        super().__init__(X, y, hidden, n_classes, seed)
        self.beta, self.gamma, self.lam, self.taylor = beta, gamma, lam, taylor
        self.U = [torch.zeros_like(z) for z in self.Z]
        self.V = [torch.zeros_like(a) for a in self.A]  # V[0] unused (A_0 = X)

    def augmented_lagrangian(self) -> float:
        out = float(((self.Z[-1] - self.Y) ** 2).sum())
        out += sum(
            self.lam * float((self.W[l] ** 2).sum() + (self.b[l] ** 2).sum()) for l in range(self.L)
        )
        for l in range(self.L):
            out += self.beta / 2 * float(((self.Z[l] - self._lin(l) + self.U[l]) ** 2).sum())
        for l in range(1, self.L):
            out += (
                self.gamma
                / 2
                * float(((self.A[l] - torch.relu(self.Z[l - 1]) + self.V[l]) ** 2).sum())
            )
        return out

    def step(self):
        """One iteration of Algorithm 1: primal sweep, then duals."""
        self.primal_step()
        self.dual_step()

    @torch.no_grad()
    def primal_step(self):
        """W (ridge), Z (two-branch ReLU), A (linear solve), Z_L: each an exact minimiser."""
        b, g = self.beta, self.gamma
        for l in range(self.L):  # W_l: ridge regression
            Aa, gram = self._gram(l)
            self.W[l], self.b[l] = _ridge(Aa, gram, self.Z[l] + self.U[l], self.lam, b)
        for l in range(self.L - 1):  # Z_l (two-branch ReLU), then A_{l+1}
            m = self._lin(l) - self.U[l]
            self.Z[l] = relu_prox(m, self.A[l + 1] + self.V[l + 1], b, g)
            W = self.W[l + 1]
            rhs = b * (self.Z[l + 1] + self.U[l + 1] - self.b[l + 1]) @ W + g * (
                torch.relu(self.Z[l]) - self.V[l + 1]
            )
            self.A[l + 1] = torch.linalg.solve(b * W.T @ W + g * torch.eye(W.shape[1]), rhs.T).T
        self.Z[-1] = (2 * self.Y + b * (self._lin(self.L - 1) - self.U[-1])) / (2 + b)

    @torch.no_grad()
    def dual_step(self):
        """Scaled dual ascent (Alg. 1, step 4); Taylor et al.: output layer only."""
        for l in range(self.L):
            if not self.taylor or l == self.L - 1:
                self.U[l] += self.Z[l] - self._lin(l)
        if not self.taylor:
            for l in range(1, self.L):
                self.V[l] += self.A[l] - torch.relu(self.Z[l - 1])


class ZengBCD(_LayerwiseMLP):
    """Zeng et al. (2019) BCD: prox-linear updates of ``V_N, U_N, (W_N, b_N)`` then, for
    ``l = N-1..1``, ``V_l`` (linear solve), ``U_l`` (ReLU prox), ``(W_l, b_l)`` (prox
    ridge); squared loss; gamma = rho = 1, alpha = 5 and ``W ~ 0.01 N(0,1)`` by default."""

    def __init__(
        self, X, y, hidden, n_classes, gamma=1.0, rho=1.0, alpha=5.0, seed=0, init_scale=0.01
    ):
        super().__init__(X, y, hidden, n_classes, seed, init_scale)
        self.gamma, self.rho, self.alpha = gamma, rho, alpha
        # Zeng's V_l = A_l (post-activation), U_l = Z_l (pre-activation); V_N = U_N linear.
        self.Vout = self.Z[-1].clone()

    def augmented_lagrangian(self) -> float:
        """Zeng et al.'s objective (their Eq. 2.3, squared loss, quadratic penalties)."""
        out = 0.5 * float(((self.Vout - self.Y) ** 2).sum())
        out += self.gamma / 2 * float(((self.Vout - self.Z[-1]) ** 2).sum())
        for l in range(self.L):
            out += self.rho / 2 * float(((self.Z[l] - self._lin(l)) ** 2).sum())
        for l in range(1, self.L):
            out += self.gamma / 2 * float(((self.A[l] - torch.relu(self.Z[l - 1])) ** 2).sum())
        return out

    def _prox_ridge(self, l):
        """``argmin rho/2 ||Z_l - A W^T - b||^2 + alpha/2 (||W - W_old||^2 + ||b - b_old||^2)``."""
        Aa, gram = self._gram(l)
        old = torch.cat([self.W[l], self.b[l][:, None]], 1)
        G = self.rho * gram + self.alpha * torch.eye(Aa.shape[1])
        Wt = torch.linalg.solve(G, self.rho * Aa.T @ self.Z[l] + self.alpha * old.T)
        self.W[l], self.b[l] = Wt[:-1].T.contiguous(), Wt[-1].contiguous()

    def step(self):
        self.primal_step()

    @torch.no_grad()
    def primal_step(self):
        """One BCD sweep (Zeng et al. have no dual variables)."""
        g, r, a = self.gamma, self.rho, self.alpha
        self.Vout = (self.Y + g * self.Z[-1] + a * self.Vout) / (1 + g + a)
        self.Z[-1] = (g * self.Vout + r * self._lin(self.L - 1) + a * self.Z[-1]) / (g + r + a)
        self._prox_ridge(self.L - 1)
        for l in range(self.L - 2, -1, -1):
            W = self.W[l + 1]
            rhs = (
                r * (self.Z[l + 1] - self.b[l + 1]) @ W
                + g * torch.relu(self.Z[l])
                + a * self.A[l + 1]
            )
            self.A[l + 1] = torch.linalg.solve(
                r * W.T @ W + (g + a) * torch.eye(W.shape[1]), rhs.T
            ).T
            m = (r * self._lin(l) + a * self.Z[l]) / (r + a)
            self.Z[l] = relu_prox(m, self.A[l + 1], r + a, g)
            self._prox_ridge(l)


class DLADMM(_LayerwiseMLP):
    """dlADMM (Wang et al. 2019) for a ReLU MLP with softmax cross-entropy.

    Augmented Lagrangian ``R(z_L; y) + <u, z_L - W_L a_{L-1} - b_L> + rho/2 ||z_L - W_L
    a_{L-1} - b_L||^2 + nu/2 sum_{l<L} (||z_l - W_l a_{l-1} - b_l||^2 + ||a_l - relu(z_l)||^2)``.
    One iteration = backward sweep (l = L..1) then forward sweep (l = 1..L) over W (quadratic
    bound with backtracking), b (closed form), z (two-branch ReLU closed form; z_L by
    gradient steps on R + penalty) and a (quadratic bound with backtracking); then the dual
    ``u += rho (z_L - W_L a_{L-1} - b_L)``. Init ``N(0, 0.1^2)`` as the public code.
    """

    def __init__(
        self, X, y, hidden, n_classes, rho=1e-3, nu=1e-3, seed=0, init_scale=0.1, zl_steps=20
    ):
        super().__init__(X, y, hidden, n_classes, seed, init_scale)
        self.rho, self.nu, self.zl_steps = rho, nu, zl_steps
        self.u = torch.zeros_like(self.Z[-1])
        self.tau = [1.0] * self.L
        self.theta = [1.0] * self.L

    def _pen(self, l):
        return self.rho if l == self.L - 1 else self.nu

    def _phi(self, l, W=None, b=None, a=None):
        """The part of the Lagrangian that couples layer l's linear constraint."""
        W = self.W[l] if W is None else W
        b = self.b[l] if b is None else b
        a = self.A[l] if a is None else a
        r = self.Z[l] - a @ W.T - b
        out = self._pen(l) / 2 * (r**2).sum()
        if l == self.L - 1:
            out = out + (self.u * r).sum()
        return out

    def augmented_lagrangian(self) -> float:
        out = float(F.cross_entropy(self.Z[-1], self.y, reduction="sum"))
        out += sum(float(self._phi(l)) for l in range(self.L))
        out += sum(
            self.nu / 2 * float(((self.A[l] - torch.relu(self.Z[l - 1])) ** 2).sum())
            for l in range(1, self.L)
        )
        return out

    def _update_W(self, l):
        W = self.W[l]
        r = self.Z[l] - self.A[l] @ W.T - self.b[l]
        rr = self._pen(l) * r + (self.u if l == self.L - 1 else 0)
        grad = -rr.T @ self.A[l]
        f0 = self._phi(l)
        tau = self.theta[l]
        while True:  # backtracking on the quadratic upper bound
            Wn = W - grad / tau
            if (
                self._phi(l, W=Wn) <= f0 - (grad**2).sum() / (2 * tau) + 1e-12 * abs(f0)
                or tau > 1e12
            ):
                break
            tau *= 2
        self.theta[l] = max(tau / 2, 1e-6)
        self.W[l] = Wn

    def _update_b(self, l):
        r = self.Z[l] - self.A[l] @ self.W[l].T
        extra = self.u / self.rho if l == self.L - 1 else 0
        self.b[l] = (r + extra).mean(0)

    def _update_z(self, l):
        if l < self.L - 1:
            self.Z[l] = relu_prox(self._lin(l), self.A[l + 1], self.nu, self.nu)
            return
        lin = self._lin(l)
        z = self.Z[l].clone()
        step = 1.0 / (0.5 + self.rho)  # softmax CE has a 1/2-Lipschitz gradient per row
        for _ in range(self.zl_steps):
            p = torch.softmax(z, 1)
            grad = p - self.Y + self.u + self.rho * (z - lin)
            z = z - step * grad
        self.Z[l] = z

    def _a_obj(self, l, a):
        """Terms of the Lagrangian in ``a_l`` (l >= 1): its own ReLU coupling + layer l's."""
        return self.nu / 2 * ((a - torch.relu(self.Z[l - 1])) ** 2).sum() + self._phi(l, a=a)

    def _update_a(self, l):
        a = self.A[l]
        r = self.Z[l] - a @ self.W[l].T - self.b[l]
        rr = self._pen(l) * r + (self.u if l == self.L - 1 else 0)
        grad = self.nu * (a - torch.relu(self.Z[l - 1])) - rr @ self.W[l]
        f0 = self._a_obj(l, a)
        tau = self.tau[l]
        while True:
            an = a - grad / tau
            if (
                self._a_obj(l, an) <= f0 - (grad**2).sum() / (2 * tau) + 1e-12 * abs(f0)
                or tau > 1e12
            ):
                break
            tau *= 2
        self.tau[l] = max(tau / 2, 1e-6)
        self.A[l] = an

    def step(self):
        self.primal_step()
        self.dual_step()

    @torch.no_grad()
    def primal_step(self):
        """Backward then forward sweep over z, b, W, a."""
        order = list(range(self.L - 1, -1, -1))
        for sweep in (order, order[::-1]):
            for l in sweep:
                self._update_z(l)
                self._update_b(l)
                self._update_W(l)
                if l >= 1:
                    self._update_a(l)

    @torch.no_grad()
    def dual_step(self):
        self.u += self.rho * (self.Z[-1] - self._lin(self.L - 1))
