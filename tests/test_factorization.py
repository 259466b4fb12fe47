"""Tests of reference_impls.factorization: correctness against planted factors, scipy and
scikit-learn, monotonicity, KKT conditions, implicit gradients and input validation.

One configuration list per estimator drives the parametrized tests (as Captum's
test_config.py does), so a new solver is one more entry.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.optimize
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.decomposition import NMF as SklearnNMF
from sklearn.exceptions import NotFittedError

from reference_impls.factorization import NMF, CoupledNMF, ImplicitNNLS, SemiNMF, nnls
from reference_impls.factorization.coupled import project_rows_to_simplex


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These matrices are tiny: one thread avoids OpenMP contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- configs
NMF_CONFIGS = {
    "hals": dict(solver="hals"),
    "mu": dict(solver="mu"),
    "admm": dict(solver="admm"),
    "hals-elastic": dict(solver="hals", alpha_W=1e-3, alpha_H=1e-3, l1_ratio=0.5),
    "mu-elastic": dict(solver="mu", alpha_W=1e-3, alpha_H=1e-3, l1_ratio=0.5),
    "admm-elastic": dict(solver="admm", alpha_W=1e-3, alpha_H=1e-3, l1_ratio=0.5),
}
PLAIN = ["hals", "mu", "admm"]
MONOTONE = ["hals", "mu", "hals-elastic", "mu-elastic"]  # ADMM's inexact inner solves are not
SEMI_CONFIGS = {"hals": dict(solver="hals"), "mu": dict(solver="mu")}
COUPLED_CONFIGS = {
    "l2-mu": dict(variant="l2", solver="mu"),
    "l2-hals": dict(variant="l2", solver="hals"),
    "group_sparse": dict(variant="group_sparse", solver="hals", lambda_F=1.0),
    "tv_ortho": dict(variant="tv_ortho", solver="hals", lambda_tv=0.1, lambda_ortho=0.1),
}


# ----------------------------------------------------------------------------- data
def planted_nmf(n=120, p=40, r=4, seed=0):
    """Exact ``W H`` with sparse factors (identifiable: every component owns private features)."""
    rng = np.random.default_rng(seed)
    W = rng.random((n, r)) * (rng.random((n, r)) < 0.6)
    W[np.arange(n), rng.integers(0, r, n)] += 1.0
    H = rng.random((r, p)) * (rng.random((r, p)) < 0.5)
    H[:, : 2 * r] = np.kron(np.eye(r), np.ones((1, 2))) * 2.0  # private features
    return W @ H, W, H


def relu_data(n=200, p=50, seed=0):
    """ReLU of a low-rank-plus-noise Gaussian: sparse, activation-like."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 8)) @ rng.standard_normal((8, p)) + 0.5 * rng.standard_normal(
        (n, p)
    )
    return np.maximum(Z, 0.0)


def matched_cosines(A, B):
    """Cosine similarities of the rows of A and B after Hungarian matching."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    C = A @ B.T
    rows, cols = linear_sum_assignment(-C)
    return C[rows, cols]


def penalised_objective(X, W, H, alpha_W, alpha_H, l1_ratio):
    """scikit-learn's NMF objective with its alpha scaling by n_features / n_samples."""
    n, p = X.shape
    return (
        0.5 * np.sum((X - W @ H) ** 2)
        + alpha_W * p * (l1_ratio * W.sum() + 0.5 * (1 - l1_ratio) * np.sum(W**2))
        + alpha_H * n * (l1_ratio * H.sum() + 0.5 * (1 - l1_ratio) * np.sum(H**2))
    )


# ----------------------------------------------------------------------------- NMF
@pytest.mark.parametrize("name", PLAIN)
def test_nmf_recovers_planted_factors(name):
    X, _, H = planted_nmf()
    iters = {"hals": 2000, "mu": 4000, "admm": 2000}[name]
    model = NMF(4, max_iter=iters, tol=1e-12, random_state=0, dtype="float64", **NMF_CONFIGS[name])
    W_hat = model.fit_transform(X)
    rel = np.linalg.norm(X - W_hat @ model.components_) / np.linalg.norm(X)
    assert rel < {"hals": 1e-4, "mu": 1e-2, "admm": 1e-4}[name]
    exact = np.linalg.norm(X - W_hat @ model.components_)
    assert model.reconstruction_err_ == pytest.approx(exact, rel=1e-6, abs=1e-9)
    assert matched_cosines(H, model.components_).min() > 0.99


@pytest.mark.parametrize("name", MONOTONE)
def test_nmf_objective_is_monotone(name):
    X = relu_data()
    cfg = NMF_CONFIGS[name]
    model = NMF(6, max_iter=100, tol=0, random_state=0, dtype="float64", **cfg)
    W_fit = model.fit_transform(X)
    hist = np.array(model.loss_history_)
    assert len(hist) == model.n_iter_ + 1 == 101
    assert np.all(np.diff(hist) <= 1e-10 * hist[0])
    # the last recorded value is the penalised objective of the final factors
    expected = penalised_objective(
        X,
        W_fit,
        model.components_,
        cfg.get("alpha_W", 0),
        cfg.get("alpha_H", 0),
        cfg.get("l1_ratio", 0),
    )
    assert hist[-1] == pytest.approx(expected, rel=1e-8)
    W = model.transform(X)
    assert W.shape == (200, 6) and W.min() >= 0


def test_admm_kkt_residuals_are_small():
    X, _, _ = planted_nmf()
    X = X + 0.01 * np.random.default_rng(1).random(X.shape)
    l1, a = 0.5, 1e-3
    model = NMF(
        4,
        solver="admm",
        alpha_W=a,
        alpha_H=a,
        l1_ratio=l1,
        max_iter=1000,
        tol=1e-8,
        random_state=0,
        dtype="float64",
    )
    W = model.fit_transform(X)
    H = model.components_
    n, p = X.shape
    grad_H = W.T @ (W @ H - X) + a * n * (l1 + (1 - l1) * H)
    grad_W = (W @ H - X) @ H.T + a * p * (l1 + (1 - l1) * W)
    # H is solved last (tightly) at the final W: its KKT conditions hold to rounding. W's were
    # met at the previous H, so they hold to the outer solver's convergence.
    checks = [
        (H, grad_H, model.dual_H_, np.abs(W.T @ X).max(), 1e-8),
        (W, grad_W, model.dual_W_, np.abs(X @ H.T).max(), 1e-3),
    ]
    for F, grad, dual, scale, rtol in checks:
        assert dual.shape == F.shape and F.min() >= 0
        assert np.abs(grad - dual).max() <= rtol * scale  # stationarity
        assert dual.min() >= -rtol * scale  # dual feasibility
        assert np.abs(np.minimum(F, dual)).max() <= rtol * scale  # complementarity
    assert (model.dual_W_ > 1e-3 * scale).any()  # the multipliers are not trivially zero


@pytest.mark.parametrize("name", PLAIN + ["hals-elastic"])
def test_nmf_not_worse_than_sklearn_cd(name):
    X = relu_data(300, 60, seed=1).astype(np.float32)
    cfg = NMF_CONFIGS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning at its default max_iter
        sk = SklearnNMF(
            6,
            solver="cd",
            random_state=0,
            alpha_W=cfg.get("alpha_W", 0.0),
            alpha_H=cfg.get("alpha_H", "same"),
            l1_ratio=cfg.get("l1_ratio", 0.0),
        )
        W_sk = sk.fit_transform(X)
    max_iter = {"mu": 3000}.get(cfg["solver"], 500)
    model = NMF(6, max_iter=max_iter, tol=1e-6, random_state=0, **cfg)
    W = model.fit_transform(X)
    args = (cfg.get("alpha_W", 0), cfg.get("alpha_H", 0), cfg.get("l1_ratio", 0))
    ours = penalised_objective(X.astype(np.float64), W, model.components_, *args)
    theirs = penalised_objective(X.astype(np.float64), W_sk, sk.components_, *args)
    assert ours <= 1.01 * theirs


@pytest.mark.parametrize("name", PLAIN)
def test_nmf_is_deterministic(name):
    X = relu_data(80, 30)
    a = NMF(5, random_state=3, max_iter=30, **NMF_CONFIGS[name]).fit(X)
    b = NMF(5, random_state=3, max_iter=30, **NMF_CONFIGS[name]).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    c = NMF(5, init="random", random_state=3, max_iter=30, **NMF_CONFIGS[name]).fit(X)
    d = NMF(5, init="random", random_state=3, max_iter=30, **NMF_CONFIGS[name]).fit(X)
    np.testing.assert_array_equal(c.components_, d.components_)


def test_nmf_array_types_and_sklearn_api():
    X = relu_data(60, 20).astype(np.float32)
    model = NMF(3, max_iter=20, random_state=0)
    with pytest.raises(NotFittedError):
        model.transform(X)
    W = model.fit_transform(X)
    assert isinstance(W, np.ndarray) and W.dtype == np.float32 and W.shape == (60, 3)
    assert isinstance(model.components_, np.ndarray) and model.components_.shape == (3, 20)
    assert (model.n_components_, model.n_features_in_) == (3, 20)
    assert model.inverse_transform(W).shape == X.shape
    assert clone(model).get_params() == model.get_params()

    Xt = torch.as_tensor(X, dtype=torch.float64)
    m2 = NMF(3, max_iter=20, random_state=0, dtype=None).fit(Xt)
    assert isinstance(m2.components_, torch.Tensor) and m2.components_.dtype == torch.float64
    Wt = m2.transform(Xt)
    assert isinstance(Wt, torch.Tensor) and Wt.shape == (60, 3)
    assert isinstance(m2.transform(X), np.ndarray)  # numpy in, numpy out
    assert isinstance(m2.inverse_transform(Wt), torch.Tensor)


def test_mu_floor_keeps_factors_normal():
    X = relu_data(100, 30).astype(np.float32)
    model = NMF(5, solver="mu", max_iter=300, tol=0, random_state=0).fit(X)
    W = model.fit_transform(X)
    tiny = np.finfo(np.float32).tiny
    for F in (W, model.components_):
        assert not np.any((F > 0) & (F < tiny))
    assert W.min() > 0  # clamped at the floor, never exactly zero


# ----------------------------------------------------------------------------- NNLS
@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_nnls_matches_scipy_row_by_row(dtype, atol):
    rng = np.random.default_rng(0)
    H = rng.random((6, 25))
    X = rng.random((40, 25)) * 2 - 0.3  # some rows have inactive coordinates
    W = nnls(X.astype(dtype), H.astype(dtype))
    expected = np.stack([scipy.optimize.nnls(H.T, x)[0] for x in X])
    assert W.dtype == dtype and W.min() >= 0
    np.testing.assert_allclose(W, expected, atol=atol * np.abs(expected).max())
    assert 0 < (expected == 0).mean() < 1  # the test exercises both active and inactive entries


def test_nnls_elastic_net_matches_scipy():
    rng = np.random.default_rng(1)
    H, X = rng.random((5, 20)), rng.random((30, 20))
    l1, l2 = 0.3, 0.7
    W = nnls(X, H, l1=l1, l2=l2)
    # 0.5||x - wH||^2 + l1 sum w + 0.5 l2 ||w||^2 == 0.5||[x, -l1/sqrt(l2)] - w [H, sqrt(l2) I]||^2 + const
    Hx = np.hstack([H, np.sqrt(l2) * np.eye(5)])
    Xx = np.hstack([X, np.full((30, 5), -l1 / np.sqrt(l2))])
    expected = np.stack([scipy.optimize.nnls(Hx.T, x)[0] for x in Xx])
    np.testing.assert_allclose(W, expected, atol=1e-10)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.1, 0.5)])
def test_implicit_nnls_gradients_match_finite_differences(l1, l2):
    rng = np.random.default_rng(2)
    H = torch.tensor(rng.random((4, 10)), requires_grad=True)
    X = torch.tensor(rng.random((6, 10)) * 1.5 - 0.2, requires_grad=True)
    W = nnls(X, H, l1=l1, l2=l2)
    assert 0 < float((W == 0).double().mean()) < 1  # both active and inactive coordinates
    assert torch.autograd.gradcheck(
        lambda X, H: ImplicitNNLS.apply(X, H, l1, l2), (X, H), eps=1e-6, atol=1e-8, rtol=1e-4
    )


def test_transform_is_differentiable_for_craft():
    X = relu_data(60, 20)
    model = NMF(4, max_iter=50, random_state=0, dtype="float64").fit(X)
    A = torch.tensor(X[:5], requires_grad=True)
    U = model.transform(A)
    U[:, 0].sum().backward()
    assert A.grad is not None and A.grad.shape == A.shape
    H = torch.as_tensor(model.components_)
    active = U.detach() > 0
    # on rows where concept 0 is inactive its coefficient does not move: zero gradient
    for i in range(5):
        if not active[i, 0]:
            assert torch.all(A.grad[i] == 0)
    assert torch.allclose(U.detach(), torch.as_tensor(nnls(X[:5], H.numpy())), atol=1e-10)


# ----------------------------------------------------------------------------- SemiNMF
@pytest.mark.parametrize("name", list(SEMI_CONFIGS))
def test_semi_nmf_on_signed_data(name):
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((150, 4)), rng.standard_normal((4, 30))
    X = W0 @ H0 + 0.01 * rng.standard_normal((150, 30))
    model = SemiNMF(4, max_iter=300, tol=0, random_state=0, dtype="float64", **SEMI_CONFIGS[name])
    W = model.fit_transform(X)
    assert X.min() < 0 and W.min() >= 0 and model.components_.min() < 0
    hist = np.array(model.loss_history_)
    assert np.all(np.diff(hist) <= 1e-10 * hist[0])
    noise = 0.01 * np.sqrt(X.size)
    assert model.reconstruction_err_ < {"hals": 1.05, "mu": 3.0}[name] * noise
    assert model.transform(X).min() >= 0
    again = SemiNMF(
        4, max_iter=300, tol=0, random_state=0, dtype="float64", **SEMI_CONFIGS[name]
    ).fit(X)
    np.testing.assert_array_equal(again.components_, model.components_)


# ----------------------------------------------------------------------------- CoupledNMF
def planted_coupled(N=150, d=4, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.random((d, N)) * (rng.random((d, N)) < 0.7)
    F[rng.integers(0, d, N), np.arange(N)] += 1.0
    P = [rng.random((30, d)) for _ in range(2)]
    O = [rng.random((40, d)), rng.random((25, d))]
    return [p @ F for p in P], [o @ F for o in O], F


@pytest.mark.parametrize("name", list(COUPLED_CONFIGS))
def test_coupled_nmf_decreases_its_objective(name):
    D, A, F = planted_coupled()
    cfg = COUPLED_CONFIGS[name]
    model = CoupledNMF(4, max_iter=60, tol=0, random_state=0, dtype="float64", **cfg).fit(D, A)
    hist = np.array(model.loss_history_)
    assert hist[-1] < 0.05 * hist[0]
    assert np.all(np.diff(hist) <= 1e-9 * hist[0])
    assert model.F_.shape == (4, 150) and model.F_.min() >= 0
    assert [p.shape for p in model.P_] == [(30, 4), (30, 4)]
    assert [o.shape for o in model.O_] == [(40, 4), (25, 4)]
    if cfg["variant"] != "l2":  # Eq. 3-4: unit-L1 rows of F
        np.testing.assert_allclose(model.F_.sum(axis=1), 1.0, atol=1e-9)


def test_coupled_nmf_recovers_shared_factor():
    D, A, F = planted_coupled()
    model = CoupledNMF(
        4,
        solver="hals",
        lambda_P=0,
        lambda_O=0,
        lambda_F=0,
        max_iter=400,
        tol=1e-12,
        random_state=0,
        dtype="float64",
    ).fit(D, A)
    assert matched_cosines(F, model.F_).min() > 0.99
    F_new = model.transform([d[:, :10] for d in D], [a[:, :10] for a in A])
    np.testing.assert_allclose(F_new, model.F_[:, :10], atol=1e-3 * model.F_.max())


def test_coupled_nmf_unit_norm_columns():
    D, A, _ = planted_coupled()
    model = CoupledNMF(4, unit_norm=True, max_iter=30, random_state=0).fit(D, A)
    for M in model.P_ + model.O_:
        np.testing.assert_allclose(np.linalg.norm(M, axis=0), 1.0, rtol=1e-5)
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_coupled_nmf_torch_and_determinism():
    D, A, _ = planted_coupled(N=40)
    Dt = [torch.as_tensor(d) for d in D]
    a = CoupledNMF(3, max_iter=10, random_state=1).fit(Dt, A)
    b = CoupledNMF(3, max_iter=10, random_state=1).fit(Dt, A)
    assert isinstance(a.F_, torch.Tensor) and a.F_.dtype == torch.float32
    assert torch.equal(a.F_, b.F_)
    with pytest.raises(ValueError, match="variant='l2' only"):
        CoupledNMF(3, variant="tv_ortho", max_iter=2, random_state=0).fit(D, A).transform(D, A)


def test_project_rows_to_simplex():
    rng = np.random.default_rng(0)
    V = torch.tensor(rng.standard_normal((5, 7)))
    P = project_rows_to_simplex(V).numpy()
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    for v, proj in zip(V.numpy(), P):
        res = scipy.optimize.minimize(
            lambda x: np.sum((x - v) ** 2),
            np.full(7, 1 / 7),
            bounds=[(0, None)] * 7,
            constraints={"type": "eq", "fun": lambda x: x.sum() - 1},
        )
        np.testing.assert_allclose(proj, res.x, atol=1e-5)


# ----------------------------------------------------------------------------- validation
X_OK = relu_data(20, 8)
X_NEG = X_OK - 1.0
X_NAN = X_OK.copy()
X_NAN[0, 0] = np.nan
X_INF = X_OK.copy()
X_INF[1, 2] = np.inf
D_OK, A_OK, _ = planted_coupled(N=30)

INVALID = [
    ("negative", lambda: NMF(2).fit(X_NEG), r"X must be non-negative: \d+ negative entries"),
    ("nan", lambda: NMF(2).fit(X_NAN), r"X contains non-finite values: 1 NaN and 0 inf"),
    ("inf", lambda: NMF(2).fit(X_INF), r"X contains non-finite values: 0 NaN and 1 inf"),
    (
        "rank",
        lambda: NMF(9).fit(X_OK),
        r"n_components=9 is larger than min\(n_samples, n_features\)=8",
    ),
    ("solver", lambda: NMF(2, solver="als").fit(X_OK), r"unknown solver 'als'"),
    ("init", lambda: NMF(2, init="svd").fit(X_OK), r"unknown init 'svd'"),
    ("1d", lambda: NMF(2).fit(X_OK[0]), r"X must be a 2-D matrix"),
    ("l1_ratio", lambda: NMF(2, l1_ratio=1.5).fit(X_OK), r"l1_ratio must lie in \[0, 1\]"),
    ("alpha", lambda: NMF(2, alpha_W=-1).fit(X_OK), r"alpha_W must be a finite non-negative"),
    ("custom", lambda: NMF(2, init="custom").fit(X_OK), r'init="custom" needs both W and H'),
    (
        "features",
        lambda: NMF(2, max_iter=2).fit(X_OK).transform(X_OK[:, :5]),
        r"X has 5 features but NMF was fitted with 8",
    ),
    (
        "transform-neg",
        lambda: NMF(2, max_iter=2).fit(X_OK).transform(X_NEG),
        r"X must be non-negative",
    ),
    (
        "nnls-shape",
        lambda: nnls(X_OK, np.ones((2, 5))),
        r"H has 5 features \(columns\) but X has 8",
    ),
    ("nnls-nan", lambda: nnls(X_OK, np.full((2, 8), np.nan)), r"H contains non-finite values"),
    ("semi-solver", lambda: SemiNMF(2, solver="admm").fit(X_NEG), r"unknown solver 'admm'"),
    ("semi-nan", lambda: SemiNMF(2).fit(X_NAN), r"X contains non-finite values"),
    (
        "coupled-shape",
        lambda: CoupledNMF(2).fit(D_OK, [A_OK[0][:, :20]]),
        r"A\[0\] has shape \(40, 20\) but D\[0\] has 30 columns",
    ),
    ("coupled-neg", lambda: CoupledNMF(2).fit(D_OK, [-A_OK[0]]), r"A\[0\] must be non-negative"),
    ("coupled-empty", lambda: CoupledNMF(2).fit([], []), r"at least one matrix"),
    (
        "coupled-variant",
        lambda: CoupledNMF(2, variant="l1").fit(D_OK, A_OK),
        r"unknown variant 'l1'",
    ),
    ("coupled-rank", lambda: CoupledNMF(31).fit(D_OK, A_OK), r"n_components=31 is larger"),
]


@pytest.mark.parametrize(
    "fn,match", [(f, m) for _, f, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_input_raises_value_error(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()
