"""DeepFacto (Khorram thesis Sec. 4.3): the layer's factorization against a standalone NMF,
the S sub-problem's gradient against autograd, the test-time projection against NNLS, and
weak supervision on planted maps."""

import numpy as np
import pytest
import torch

from reference_impls.factorization.nmf import NMF
from reference_impls.factorization.nnls import nnls
from reference_impls.methods.deepfacto import DeepFacto
from reference_impls.papers.deepfacto.steps import _entropy

torch.set_num_threads(1)


def planted(n=60, C=12, r=3, P=4, seed=0):
    """Maps A = M S exactly (rank r), with class = the dominant component of each map."""
    rng = np.random.default_rng(seed)
    M = np.zeros((C, r))
    for k in range(r):  # disjoint channel supports: a unique NMF up to scale/permutation
        M[k * (C // r) : (k + 1) * (C // r), k] = rng.uniform(0.5, 1.5, C // r)
    y = rng.integers(0, r, n)
    S = rng.uniform(0, 0.3, (n, r, P))
    S[np.arange(n), y] += rng.uniform(1, 2, (n, P))
    A = np.einsum("ck,nkp->ncp", M, S).reshape(n, C, 2, P // 2).astype(np.float32)
    return A, y, M


def _cos_match(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.abs(a @ b.T).max(1)


def test_warm_start_layer_is_the_standalone_nmf():
    A, _, _ = planted()
    rows = A.reshape(60, 12, -1).transpose(0, 2, 1).reshape(-1, 12)
    df = DeepFacto(3, n_epochs=0, init_iter=80, init_rows=10**6, random_state=0).fit(A)
    ref = NMF(3, max_iter=80, random_state=0).fit(rows).components_
    assert np.all(_cos_match(df.components_, ref) > 0.999)


def test_admm_epochs_keep_the_planted_factorization():
    A, _, M = planted()
    df = DeepFacto(3, n_epochs=4, batch_size=16, init_iter=80, random_state=0).fit(A)
    assert df.history_[-1]["relative_error"] < 0.02
    assert np.all(_cos_match(df.components_, M.T) > 0.99)
    np.testing.assert_allclose(np.linalg.norm(df.components_, axis=1), 1.0, rtol=1e-5)


def test_transform_is_the_nnls_projection_and_inverse_is_affine():
    A, _, _ = planted()
    df = DeepFacto(3, n_epochs=1, random_state=0).fit(A)
    rows = A.reshape(60, 12, -1).transpose(0, 2, 1).reshape(-1, 12)
    U = df.transform(rows)
    ref = np.asarray(nnls(rows, df.components_))
    np.testing.assert_allclose(U, ref, atol=1e-3)
    S = df.transform(A)
    assert S.shape == (60, 3, 2, 2) and S.min() >= 0
    np.testing.assert_allclose(df.inverse_transform(U), U @ df.components_, rtol=1e-6)


def test_s_gradient_matches_autograd_and_step_descends():
    g = torch.Generator().manual_seed(0)
    df = DeepFacto(3, beta=0.7, gamma=1.3)
    a, v = torch.rand(4, 5, 6, generator=g), torch.randn(4, 5, 6, generator=g) * 0.1
    M = torch.rand(5, 3, generator=g)
    lift = torch.nn.Linear(18, 2)
    zo, u = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g) * 0.1
    s = torch.rand(4, 3, 6, generator=g).requires_grad_(True)
    obj = df._s_objective(a, s, v, M, lift, zo, u)
    (auto,) = torch.autograd.grad(obj, s)
    torch.testing.assert_close(df._s_grad(a, s.detach(), v, M, lift, zo, u), auto)
    s1 = df._s_step(a, s.detach().clone(), v, M, lift, zo, u)
    assert s1.min() >= 0
    with torch.no_grad():
        assert df._s_objective(a, s1, v, M, lift, zo, u) < obj


def test_class_labels_train_the_lift():
    A, y, _ = planted(n=120, seed=1)
    df = DeepFacto(3, n_epochs=8, batch_size=16, lr=0.05, random_state=0).fit(A, y)
    assert (df.predict(A) == y).mean() > 0.9
    assert df.history_[-1]["train_accuracy"] > 0.9


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="non-negative"):
        DeepFacto(2).fit(-np.ones((4, 3)))
    with pytest.raises(ValueError, match="n_components"):
        DeepFacto(5).fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="shape"):
        DeepFacto(2).fit(np.ones((4, 3, 2)))


def test_entropy_of_region_histograms():
    assert _entropy(np.array([[1.0, 0, 0]])) == pytest.approx(0.0, abs=1e-9)
    assert _entropy(np.array([[0.5, 0.5]])) == pytest.approx(np.log(2))
