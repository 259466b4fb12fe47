"""Stochastic Block ADMM (Khorram, MS thesis, Oregon State 2020, Sec. 4.2.2, Algorithm 2).

A network is split into blocks ``Z_t = block_t(Z_{t-1})``, ``Z_0 = X`` (Eq. 4.3, reconstructed
from the text); the augmented Lagrangian (Eq. 4.4) is

    J(Y, Z_T) + sum_t beta_t / 2 ||Z_t - block_t(Z_{t-1}) + U_t||_F^2

with one row of every decoupling variable ``Z_t`` and scaled dual ``U_t`` per training sample.
Each iteration takes a minibatch ``i`` and (Algorithm 2) steps ``Z_T`` on the loss plus its
coupling term, then ``Z_{T-1}, ..., Z_1`` in reverse order (Gauss-Seidel: the freshly
updated ``Z_{t+1}`` is used), then every block's parameters ``Theta_t`` on its own coupling
term, then the duals ``U_t += Z_t - block_t(Z_{t-1})``. ``dual=False`` keeps ``U = 0``: the
quadratic-penalty method of Gotmare et al. (2018), the thesis's baseline.

Choices the thesis leaves open (see the reproduction note): Z steps are plain SGD on the
minibatch rows with the per-row gradient (``z_lr`` = zeta; per-row Adam was unstable), Theta
steps use Adam (``lr`` = eta), MLPs are split at pre-activations (:func:`mlp_blocks`).
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BlockADMM", "mlp_blocks", "block_loss"]


def block_loss(kind: str):
    """``J(Y, Z_T)`` summed over the rows: ``"mse"`` = ||Z_T - onehot(Y)||^2 per row (the
    thesis's MNIST loss), ``"ce"`` = softmax cross-entropy."""
    if kind == "mse":

        def mse(z, y):
            return ((z - F.one_hot(y, z.shape[1]).to(z.dtype)) ** 2).sum()

        return mse
    if kind == "ce":
        return lambda z, y: F.cross_entropy(z, y, reduction="sum")
    raise ValueError(f"loss must be 'mse' or 'ce', got {kind!r}")


def mlp_blocks(model: nn.Module, layers_per_block: int = 1, preactivation: bool = True):
    """Blocks of a zoo ``MLP`` sharing its parameters (training the blocks trains ``model``).

    ``preactivation=True`` (default): block 1 = ``Linear_1``, later blocks start with the
    previous layer's ReLU (``ReLU -> Linear``), so every ``Z_t`` is a pre-activation and any
    sign is reachable; ``False``: blocks end in ReLU (``Linear -> ReLU``), the last is linear.
    The first block flattens its input.
    """
    linears = [getattr(model, name)[0] for name in model.stage_names] + [model.out]
    if layers_per_block < 1:
        raise ValueError(f"layers_per_block must be >= 1, got {layers_per_block}")
    layers = []
    for i, lin in enumerate(linears):
        last = i == len(linears) - 1
        if preactivation:
            layers.append([lin] if i == 0 else [nn.ReLU(), lin])
        else:
            layers.append([lin] if last else [lin, nn.ReLU()])
    blocks = []
    for start in range(0, len(layers), layers_per_block):
        mods = [m for group in layers[start : start + layers_per_block] for m in group]
        if start == 0:
            mods = [nn.Flatten()] + mods
        blocks.append(nn.Sequential(*mods))
    return blocks


class BlockADMM:
    """Stochastic Block ADMM over ``blocks`` (a list of ``nn.Module``), torch-optimiser-like.

    Parameters
    ----------
    blocks : list of nn.Module, applied in order (``Z_t = blocks[t](Z_{t-1})``).
    n_samples : number of training rows (one row of each ``Z_t``/``U_t`` per sample).
    loss : ``"mse"`` or ``"ce"`` (:func:`block_loss`), summed over rows.
    beta : penalty beta_t (one value for all blocks).
    z_lr : zeta, the SGD step on the rows of ``Z_t`` (per-row gradients).
    lr : eta, Adam's step on every block's parameters.
    dual : keep the scaled duals (``False``: Gotmare et al., quadratic penalty only).
    inner : repeats of the Z and Theta updates per minibatch.
    z_order : ``"gauss_seidel"`` (fresh ``Z_{t+1}`` in the reverse sweep) or ``"jacobi"``.
    theta_optimizer : ``"adam"`` (the thesis) or ``"sgd"`` for the Theta steps.

    Use: ``opt.initialize(X)`` (one forward pass fills ``Z``), then ``opt.step(x, y, idx)``
    per minibatch (``idx`` = the rows' positions in the training set).
    """

    def __init__(
        self,
        blocks,
        n_samples: int,
        loss: str = "mse",
        beta: float = 1.0,
        z_lr: float = 0.3,
        lr: float = 1e-3,
        dual: bool = True,
        inner: int = 1,
        z_order: str = "gauss_seidel",
        theta_optimizer: str = "adam",
    ):
        if z_order not in ("gauss_seidel", "jacobi"):
            raise ValueError(f"z_order must be 'gauss_seidel' or 'jacobi', got {z_order!r}")
        if beta <= 0 or z_lr <= 0 or lr <= 0 or inner < 1:
            raise ValueError("beta, z_lr, lr must be > 0 and inner >= 1")
        self.blocks = list(blocks)
        self.n_samples = int(n_samples)
        self.loss_name, self.loss = loss, block_loss(loss)
        self.beta, self.z_lr, self.dual, self.inner, self.z_order = beta, z_lr, dual, inner, z_order
        params = [p for b in self.blocks for p in b.parameters()]
        if theta_optimizer not in ("adam", "sgd"):
            raise ValueError(f"theta_optimizer must be 'adam' or 'sgd', got {theta_optimizer!r}")
        optim = torch.optim.Adam if theta_optimizer == "adam" else torch.optim.SGD
        self.theta_opt = optim(params, lr=lr)
        self.Z: list[torch.Tensor] = []
        self.U: list[torch.Tensor] = []

    # ------------------------------------------------------------------ state
    @torch.no_grad()
    def initialize(self, X, batch_size: int = 1024, dual_init: float = 0.0, generator=None):
        """``Z_t`` by one forward pass over all training rows ``X``; ``U_t`` zero (or
        ``U(0, dual_init)``)."""
        if len(X) != self.n_samples:
            raise ValueError(f"X has {len(X)} rows, BlockADMM was built for {self.n_samples}")
        outs = [[] for _ in self.blocks]
        for start in range(0, len(X), batch_size):
            z = torch.as_tensor(X[start : start + batch_size])
            for t, block in enumerate(self.blocks):
                z = block(z)
                outs[t].append(z.detach())
        self.Z = [torch.cat(o) for o in outs]
        self.U = [
            torch.rand(z.shape, generator=generator) * dual_init
            if dual_init
            else torch.zeros_like(z)
            for z in self.Z
        ]
        return self

    def _coupling(self, t, z_t, z_prev, u_t):
        return 0.5 * self.beta * ((z_t - self.blocks[t](z_prev) + u_t) ** 2).sum()

    # ------------------------------------------------------------------ one iteration
    def step(self, x, y, idx):
        """Algorithm 2 on minibatch rows ``idx`` (inputs ``x``, labels ``y``)."""
        idx = torch.as_tensor(idx)
        T = len(self.blocks)
        z = [x] + [self.Z[t][idx].clone() for t in range(T)]
        u = [None] + [self.U[t][idx] for t in range(T)]
        for _ in range(self.inner):
            old = [zz.detach() for zz in z]
            for t in range(T, 0, -1):  # Z_T first, then the reverse sweep
                zt = z[t].detach().requires_grad_(True)
                obj = self._coupling(t - 1, zt, z[t - 1].detach(), u[t])
                if t == T:
                    obj = obj + self.loss(zt, y)
                else:
                    nxt = z[t + 1] if self.z_order == "gauss_seidel" else old[t + 1]
                    obj = obj + self._coupling(t, nxt.detach(), zt, u[t + 1])
                (grad,) = torch.autograd.grad(obj, zt)
                z[t] = (zt - self.z_lr * grad).detach()
            # Theta_t: one Adam step each on its coupling term (independent given Z)
            self.theta_opt.zero_grad(set_to_none=True)
            total = sum(self._coupling(t, z[t + 1], z[t], u[t + 1]) / len(idx) for t in range(T))
            total.backward()
            self.theta_opt.step()
        with torch.no_grad():
            for t in range(T):
                if self.dual:
                    self.U[t][idx] = u[t + 1] + z[t + 1] - self.blocks[t](z[t])
                self.Z[t][idx] = z[t + 1]

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def residuals(self, X, batch_size: int = 1024) -> list[float]:
        """Mean squared constraint residual ``||Z_t - block_t(Z_{t-1})||^2 / N`` per block."""
        res = [0.0] * len(self.blocks)
        for start in range(0, len(X), batch_size):
            sl = slice(start, start + batch_size)
            prev = torch.as_tensor(X[sl])
            for t, block in enumerate(self.blocks):
                res[t] += float(((self.Z[t][sl] - block(prev)) ** 2).sum())
                prev = self.Z[t][sl]
        return [r / len(X) for r in res]

    @torch.no_grad()
    def augmented_lagrangian(self, X, Y, batch_size: int = 1024) -> float:
        """Eq. 4.4 over all rows (scaled-dual form)."""
        total = 0.0
        for start in range(0, len(X), batch_size):
            sl = slice(start, start + batch_size)
            prev = torch.as_tensor(X[sl])
            total += float(self.loss(self.Z[-1][sl], torch.as_tensor(Y[sl])))
            for t in range(len(self.blocks)):
                total += float(self._coupling(t, self.Z[t][sl], prev, self.U[t][sl]))
                prev = self.Z[t][sl]
        return total

    @torch.no_grad()
    def forward(self, x):
        """Straight-through prediction (decoupling variables dropped, Sec. 4.2.2)."""
        for block in self.blocks:
            x = block(x)
        return x

    def train(self, mode: bool = True):
        for b in self.blocks:
            b.train(mode)
        return self


def run_epochs(opt, X, Y, epochs, batch_size, generator, evaluate, log=None):
    """Epoch loop shared by Block ADMM runs: shuffled minibatches, then ``evaluate()`` ->
    dict; returns rows with epoch, cumulative training seconds and the residual."""
    rows, seconds = [], 0.0
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        opt.train(True)
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            opt.step(X[idx], Y[idx], idx)
        seconds += time.perf_counter() - t0
        opt.train(False)
        row = {"epoch": epoch, "seconds": seconds, "residual": sum(opt.residuals(X))}
        row.update(evaluate())
        rows.append(row)
        if log is not None:
            log.info(f"  epoch {epoch}: {row}")
    return rows
