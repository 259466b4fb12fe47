"""Optimisers of reference_impls.optim (Khorram thesis ch. 4): closed-form updates against
numerical minimisers (scipy), monotone augmented Lagrangians over primal sweeps, and a
convex case where Block ADMM's primal and dual residuals vanish."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, minimize_scalar

from reference_impls.models.zoo import MLP
from reference_impls.optim.block_admm import BlockADMM, mlp_blocks
from reference_impls.optim.layerwise import DLADMM, LayerwiseADMM, ZengBCD, relu_prox

torch.set_num_threads(1)


def tiny(n=40, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, :classes].argmax(1)).long()
    return X, y


def test_relu_prox_matches_scalar_minimiser():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m, a = rng.normal(size=2) * 2
        beta, gamma = rng.uniform(0.1, 5, size=2)

        def f(z):
            return beta / 2 * (z - m) ** 2 + gamma / 2 * (a - max(z, 0.0)) ** 2

        best = min(
            (minimize_scalar(f, bounds=b, method="bounded") for b in [(-20, 0), (0, 20)]),
            key=lambda r: r.fun,
        )
        z = float(relu_prox(torch.tensor(m), torch.tensor(a), beta, gamma))
        assert f(z) <= best.fun + 1e-7


def test_admm_weight_and_activation_updates_are_exact_minimisers():
    X, y = tiny(n=12, d=3)
    opt = LayerwiseADMM(X, y, [4], 3, beta=2.0, gamma=3.0, lam=0.1, seed=1)
    opt.U = [torch.randn_like(z) * 0.1 for z in opt.Z]
    z_out = opt.Z[1].clone()  # Z_L is updated after A_1 in the sweep
    opt.primal_step()
    # W_1: argmin beta/2 ||Z + U - A W^T - b||^2 + lam (||W||^2 + ||b||^2)
    A, T = opt.A[0].double().numpy(), (opt.Z[0] + opt.U[0]).double().numpy()

    def ridge(w):
        W, b = w[:12].reshape(4, 3), w[12:]
        return 1.0 * ((T - A @ W.T - b) ** 2).sum() + 0.1 * ((W**2).sum() + (b**2).sum())

    res = minimize(ridge, np.zeros(16), method="BFGS", options={"gtol": 1e-9})
    Aa, gram = opt._gram(0)
    from reference_impls.optim.layerwise import _ridge

    W, b = _ridge(Aa, gram, opt.Z[0] + opt.U[0], 0.1, 2.0)
    assert ridge(np.concatenate([W.double().numpy().ravel(), b.double().numpy()])) <= res.fun + 1e-6
    # A_1: argmin beta/2 ||Z_2 + U_2 - A W_2^T - b_2||^2 + gamma/2 ||A - relu(Z_1) + V_1||^2
    W2, b2 = opt.W[1].double().numpy(), opt.b[1].double().numpy()
    T2 = (z_out + opt.U[1]).double().numpy()
    R = (torch.relu(opt.Z[0]) - opt.V[1]).double().numpy()

    def fa(a):
        a = a.reshape(12, 4)
        return 1.0 * ((T2 - a @ W2.T - b2) ** 2).sum() + 1.5 * ((a - R) ** 2).sum()

    res = minimize(fa, np.zeros(48), method="BFGS", options={"gtol": 1e-9})
    assert fa(opt.A[1].double().numpy().ravel()) <= res.fun + 1e-5


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: LayerwiseADMM(X, y, [8, 8], 3, seed=0),
        lambda X, y: LayerwiseADMM(X, y, [8, 8], 3, taylor=True, seed=0),
        lambda X, y: ZengBCD(X, y, [8, 8], 3, seed=0),
        lambda X, y: DLADMM(X, y, [8, 8], 3, rho=0.1, nu=0.1, seed=0),
    ],
    ids=["admm", "taylor", "zeng", "dladmm"],
)
def test_primal_sweeps_decrease_the_augmented_lagrangian(make):
    X, y = tiny()
    opt = make(X, y)
    for _ in range(5):
        before = opt.augmented_lagrangian()
        opt.primal_step()
        assert opt.augmented_lagrangian() <= before * (1 + 1e-5) + 1e-6
        if hasattr(opt, "dual_step"):
            opt.dual_step()


def test_block_admm_decreases_lagrangian_and_trains():
    X, y = tiny(n=64, d=6)
    torch.manual_seed(0)
    net = MLP(3, 6, [16])
    opt = BlockADMM(mlp_blocks(net), len(X), "mse", beta=1.0, z_lr=0.1, lr=3e-3)
    opt.initialize(X)
    assert max(opt.residuals(X)) < 1e-10  # Z filled by a forward pass, U = 0: feasible
    start = opt.augmented_lagrangian(X, y)
    acc0 = float((net(X).argmax(1) == y).float().mean())
    for _ in range(100):
        opt.step(X, y, torch.arange(len(X)))
    assert opt.augmented_lagrangian(X, y) < 0.7 * start
    assert float((net(X).argmax(1) == y).float().mean()) > max(acc0, 0.8)


def test_mlp_blocks_chain_is_the_network():
    torch.manual_seed(0)
    net = MLP(10, 20, [7, 5])
    x = torch.randn(4, 20)
    for pre in (True, False):
        out = x
        for block in mlp_blocks(net, preactivation=pre):
            out = block(out)
        torch.testing.assert_close(out, net(x))


def test_block_admm_convex_case_residuals_vanish_at_least_squares():
    """One linear block, MSE: a convex problem. Primal residual ||Z - X W^T|| and the dual
    residual beta ||Z^k - Z^{k-1}|| go to zero and W reaches the least-squares solution."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(30, 4, generator=g)
    y = torch.randint(0, 3, (30,), generator=g)
    lin = torch.nn.Linear(4, 3)
    opt = BlockADMM([lin], 30, "mse", beta=1.0, z_lr=0.2, lr=0.05, theta_optimizer="sgd")
    opt.initialize(X)
    for k in range(2000):
        prev = opt.Z[0].clone()
        opt.step(X, y, torch.arange(30))
    dual_res = float((opt.Z[0] - prev).norm())
    primal_res = opt.residuals(X)[0]
    Y = torch.nn.functional.one_hot(y, 3).float()
    Xa = torch.cat([X, torch.ones(30, 1)], 1)
    sol = torch.linalg.lstsq(Xa, Y).solution
    fitted = torch.cat([lin.weight.T, lin.bias[None]], 0).detach()
    assert primal_res < 1e-8 and dual_res < 1e-4
    torch.testing.assert_close(fitted, sol, atol=1e-4, rtol=0)


def test_block_admm_rejects_wrong_row_count():
    lin = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="rows"):
        BlockADMM([lin], 5).initialize(torch.zeros(4, 2))
