"""Sparse coding by batched FISTA against scikit-learn's Lasso, and dictionary recovery."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from reference_impls.factorization import fista_codes, learn_dictionary


def test_fista_codes_match_lasso_row_by_row():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((6, 20))
    X = rng.standard_normal((5, 20))
    alpha = 0.5
    U = fista_codes(torch.tensor(X), torch.tensor(D), alpha, n_iter=2000).numpy()
    for x, u in zip(X, U):  # sklearn: (1/2p)||x - D^T u||^2 + (alpha/p)||u||_1
        ref = Lasso(alpha=alpha / 20, fit_intercept=False, tol=1e-10, max_iter=100000).fit(D.T, x)
        np.testing.assert_allclose(u, ref.coef_, atol=1e-5)
    assert (U == 0).any()  # the l1 penalty zeroes some codes


def test_learn_dictionary_recovers_planted_atoms():
    rng = np.random.default_rng(1)
    atoms = rng.standard_normal((4, 30))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = rng.random((600, 4)) * (rng.random((600, 4)) < 0.3)
    X = codes @ atoms
    D, U = learn_dictionary(X, 4, alpha=0.01, n_iter=40, random_state=0)
    cos = np.abs(D.numpy() @ atoms.T).max(0)
    assert cos.min() > 0.95, cos
    with pytest.raises(ValueError, match="n_components=40 exceeds"):
        learn_dictionary(X, 40, alpha=0.1)
