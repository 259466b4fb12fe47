"""SRAE / XNN (Khorram thesis ch. 3): loss terms against direct computations, recovery of a
planted sparse code, the estimator interface."""

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from reference_impls.methods.srae import SRAE, acceptance, log_penalty, pull_away


def test_loss_terms_match_numpy():
    rng = np.random.default_rng(0)
    z, zh = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    want = np.mean(np.log1p(100 * ((zh - z) ** 2).mean(0)))
    assert float(log_penalty(torch.tensor(zh), torch.tensor(z), 100.0)) == pytest.approx(want)
    e = rng.uniform(size=(9, 3))
    u = e / np.linalg.norm(e, axis=0)
    c = u.T @ u
    want = (c[~np.eye(3, dtype=bool)] ** 2).sum() / 6
    assert float(pull_away(torch.tensor(e))) == pytest.approx(want, rel=1e-6)
    assert float(pull_away(torch.tensor(np.eye(3)))) == pytest.approx(0.0, abs=1e-12)
    assert acceptance([2.0, 1.0, -1.0]) and not acceptance([2.0, 0.1, 0.0])


def _planted(n=600, d=30, r=3, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.exponential(size=(n, r)) * (rng.uniform(size=(n, r)) < 0.4)  # sparse, >= 0
    D = np.zeros((r, d))
    for k in range(r):  # disjoint atoms
        D[k, k * (d // r) : (k + 1) * (d // r)] = rng.uniform(0.5, 1.5, d // r)
    A = codes @ D + 0.01 * rng.uniform(size=(n, d))
    y = codes @ np.array([1.0, 2.0, -1.5]) + 0.3
    return A.astype(np.float32), y.astype(np.float32), codes


def test_srae_recovers_a_planted_sparse_code():
    A, y, codes = _planted()
    # the thesis / public-code weights (q = 100, beta = 15, eta = 5) on a small network
    model = SRAE(
        n_components=3,
        hidden=(24, 12),
        epochs=60,
        pretrain_epochs=2,
        weight_decay=0.0,
        random_state=0,
    ).fit(A, y)
    E = model.transform(A)
    assert E.shape == (600, 3) and (E >= 0).all()
    # faithful: error well below the spread of the target
    assert np.abs(model.predict(A) - y).mean() < 0.25 * y.std()
    # each planted code is matched by one x-feature (|corr| after an optimal matching)
    corr = np.nan_to_num(np.corrcoef(E.T, codes.T)[:3, 3:])
    rows, cols = linear_sum_assignment(-np.abs(corr))
    assert np.abs(corr[rows, cols]).min() > 0.8, corr
    # estimator interface: linear decoder components_ (r x p), reconstruction shape
    assert model.components_.shape == (3, 30)
    assert model.inverse_transform(E).shape == A.shape
    with pytest.raises(ValueError, match="features"):
        model.transform(A[:, :5])


def test_kinds_and_errors():
    A, y, _ = _planted(n=200)
    for kind in ("nn", "sae", "cae"):
        m = SRAE(n_components=3, kind=kind, hidden=(16, 8), epochs=2, random_state=0).fit(A, y)
        assert m.predict(A).shape == (200,)
        assert m.inverse_transform(m.transform(A)).shape == A.shape
    with pytest.raises(ValueError, match="kind"):
        SRAE(kind="pca").fit(A, y)
    with pytest.raises(ValueError, match="y has"):
        SRAE().fit(A, y[:5])
