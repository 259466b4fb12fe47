"""Tests for reference_impls.metrics: known values, invariances, analytic answers, bad input."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

from reference_impls import metrics as M
from reference_impls.metrics import (
    attribute_svm_accuracy,
    bag_of_activations,
    bona_accuracy,
    cka_stability,
    concept_deletion,
    concept_insertion,
    concept_sobol_importance,
    dictionary_stability,
    gradient_input_importance,
    importance_to_order,
    kernel_cka,
    linear_cka,
    linear_cka_debiased,
    mean_relative_l2_error,
    minibatch_cka,
    minibatch_cka_from_batches,
    occlusion_importance,
    pairwise_stability,
    per_class_importance,
    pixel_deletion,
    pixel_insertion,
    relative_frobenius_error,
    sobol_design,
    tcav_scores,
    total_sobol_indices,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def rng(seed=0):
    return np.random.default_rng(seed)


def related_pair(n=300, p=20, q=10, seed=0, offset=5.0):
    r = rng(seed)
    X = r.standard_normal((n, p)) + offset
    Y = X @ r.standard_normal((p, q)) + 2.0 * r.standard_normal((n, q))
    return X, Y


def orthogonal(d, seed=1):
    return np.linalg.qr(rng(seed).standard_normal((d, d)))[0]


def hsic_gram_cka(X, Y):
    """Reference: biased HSIC with explicit n x n Gram matrices and centring matrix H."""
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = H @ (X @ X.T) @ H, H @ (Y @ Y.T) @ H
    return np.trace(K @ L) / np.sqrt(np.trace(K @ K) * np.trace(L @ L))


# ------------------------------------------------------------------------------------ CKA


@pytest.mark.parametrize("method", ["features", "gram"])
def test_linear_cka_equals_explicit_hsic_form(method):
    X, Y = related_pair()
    expected = hsic_gram_cka(X, Y)
    assert 0.2 < expected < 0.95  # a non-trivial value
    assert linear_cka(X, Y, method=method) == pytest.approx(expected, rel=1e-12)


def test_linear_cka_float32_input_accumulates_in_float64():
    X, Y = related_pair(n=600, p=64, q=32)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    exact = hsic_gram_cka(X32.astype(np.float64), Y32.astype(np.float64))
    assert linear_cka(X32, Y32) == pytest.approx(exact, rel=1e-10)
    assert linear_cka(torch.from_numpy(X32), torch.from_numpy(Y32)) == pytest.approx(
        exact, rel=1e-10
    )


def test_linear_cka_identity_orthogonal_and_scaling_invariance():
    X, Y = related_pair()
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    base = linear_cka(X, Y)
    assert linear_cka(X @ orthogonal(20) * 7.5, Y) == pytest.approx(base, rel=1e-10)
    assert linear_cka(X, 0.01 * Y @ orthogonal(10, seed=2) + 3.0) == pytest.approx(base, rel=1e-10)
    # ...but not invariant to an anisotropic linear map
    stretch = np.diag(np.r_[np.full(10, 10.0), np.full(10, 0.1)])
    assert abs(linear_cka(X @ stretch, Y) - base) > 0.05


def test_linear_cka_of_independent_data_is_small_and_spatial_inputs_flatten():
    r = rng(3)
    X, Z = r.standard_normal((4000, 5)), r.standard_normal((4000, 5))
    assert linear_cka(X, Z) < 0.01
    A = r.standard_normal((50, 4, 4, 3))  # channels-last activations flatten to (50, 48)
    assert linear_cka(A, A.reshape(50, -1)) == pytest.approx(1.0)


def test_kernel_cka_matches_linear_cka_for_linear_kernels():
    X, Y = related_pair(n=120)
    assert kernel_cka(X @ X.T, Y @ Y.T) == pytest.approx(linear_cka(X, Y), rel=1e-10)
    assert kernel_cka(X @ X.T, Y @ Y.T, debiased=True) == pytest.approx(
        linear_cka_debiased(X, Y), rel=1e-8
    )
    # an RBF kernel is a different similarity, but still 1 against itself
    sq = ((X[:, None] - X[None]) ** 2).sum(-1)
    K = np.exp(-sq / np.median(sq))
    assert kernel_cka(K, K) == pytest.approx(1.0)
    assert kernel_cka(K, Y @ Y.T) != pytest.approx(linear_cka(X, Y), abs=1e-3)


def test_debiased_and_minibatch_cka_close_to_full_on_large_n():
    X, Y = related_pair(n=6000, p=8, q=6, seed=4)
    full = linear_cka(X, Y)
    assert 0.3 < full < 0.9
    assert linear_cka_debiased(X, Y) == pytest.approx(full, abs=0.01)
    assert minibatch_cka(X, Y, batch_size=500) == pytest.approx(full, abs=0.02)
    # minibatch CKA from explicit batches is the same estimator
    batches = [(X[i : i + 500], Y[i : i + 500]) for i in range(0, 6000, 500)]
    assert minibatch_cka_from_batches(batches) == pytest.approx(
        minibatch_cka(X, Y, batch_size=500, shuffle=False), rel=1e-12
    )


def test_debiased_cka_removes_small_sample_bias():
    # independent data, few examples, many features: biased CKA is far from 0, debiased is not
    r = rng(5)
    X, Y = r.standard_normal((40, 200)), r.standard_normal((40, 200))
    assert linear_cka(X, Y) > 0.7
    assert abs(linear_cka_debiased(X, Y)) < 0.1


def test_cka_invalid_inputs():
    X, Y = related_pair()
    with pytest.raises(ValueError, match="300 rows and Y has 299"):
        linear_cka(X, Y[:-1])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(bad, Y)
    with pytest.raises(ValueError, match="undefined"):
        linear_cka(np.ones((10, 3)), Y[:10])
    with pytest.raises(ValueError, match="square"):
        kernel_cka(X, X)
    with pytest.raises(ValueError, match="batch_size"):
        minibatch_cka(X, Y, batch_size=3)
    with pytest.raises(ValueError, match="method"):
        linear_cka(X, Y, method="cosine")


@CUDA
def test_cka_on_cuda_matches_cpu():
    X, Y = related_pair()
    gpu = linear_cka(torch.tensor(X, device="cuda"), torch.tensor(Y, device="cuda"))
    assert gpu == pytest.approx(linear_cka(X, Y), rel=1e-10)
    assert linear_cka_debiased(torch.tensor(X, device="cuda"), Y) == pytest.approx(
        linear_cka_debiased(X, Y), rel=1e-8
    )


# --------------------------------------------------------------------------- reconstruction


def test_reconstruction_errors_known_values():
    A = np.array([[3.0, 4.0], [0.0, 2.0]])
    A_hat = np.array([[3.0, 3.0], [0.0, 0.0]])
    assert relative_frobenius_error(A, A_hat) == pytest.approx(np.sqrt(5.0) / np.sqrt(29.0))
    assert relative_frobenius_error(A, A) == 0.0
    assert mean_relative_l2_error(A, A_hat) == pytest.approx((1 / 5 + 2 / 2) / 2)
    assert mean_relative_l2_error(torch.tensor(A), torch.tensor(0.5 * A)) == pytest.approx(0.5)


def test_mean_relative_l2_zero_rows_are_reported():
    A = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    A_hat = np.array([[0.5, 0.0], [1.0, 1.0], [0.0, 2.0]])
    with pytest.warns(RuntimeWarning, match="1 of 3 rows"):
        assert mean_relative_l2_error(A, A_hat) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"first: \[1\]"):
        mean_relative_l2_error(A, A_hat, zero_rows="raise")
    with pytest.raises(ValueError, match="all 2 rows"):
        mean_relative_l2_error(np.zeros((2, 2)), A_hat[:2])


def test_reconstruction_invalid_inputs():
    A = np.ones((4, 3))
    with pytest.raises(ValueError, match="shape"):
        relative_frobenius_error(A, np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        relative_frobenius_error(A, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="all zeros"):
        relative_frobenius_error(np.zeros((4, 3)), A)


# ------------------------------------------------------------------------------------ Sobol


def ishigami(u, a=7.0, b=0.1):
    x = -np.pi + 2 * np.pi * u
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_total_sobol_ishigami_matches_analytic():
    sti = total_sobol_indices(ishigami, 3, n=2**13, seed=0)
    np.testing.assert_allclose(sti, [0.558, 0.442, 0.244], atol=0.01)


def test_total_sobol_linear_model_matches_analytic():
    a = np.array([1.0, 2.0, 3.0, 0.5, 0.0])
    sti = total_sobol_indices(lambda m: m @ a, 5, n=1024, seed=1)
    np.testing.assert_allclose(sti, a**2 / np.sum(a**2), atol=0.01)
    # several outputs at once give one column each
    both = total_sobol_indices(lambda m: np.stack([m @ a, m[:, 0]], 1), 5, n=1024, seed=1)
    np.testing.assert_allclose(both[:, 0], sti)
    np.testing.assert_allclose(both[:, 1], [1, 0, 0, 0, 0], atol=1e-12)


def test_sobol_design_structure():
    m = sobol_design(3, 16, seed=0)
    assert m.shape == (16 * 5, 3) and m.min() >= 0 and m.max() <= 1
    A, B, C = m[:16], m[16:32], m[32:].reshape(3, 16, 3)
    for i in range(3):
        np.testing.assert_array_equal(C[i][:, i], B[:, i])
        np.testing.assert_array_equal(np.delete(C[i], i, 1), np.delete(A, i, 1))


def test_total_sobol_constant_output_is_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="do not vary"):
        sti = total_sobol_indices(lambda m: np.ones(len(m)), 2, n=16)
    assert np.isnan(sti).all()


# ------------------------------------------------------- concept problems with a known answer


def linear_concept_problem(n=12, r=4, p=6, k=3, spatial=True, seed=0, positive=False):
    """Positive U, a mean-pooling linear head: the class score is linear in U and in masks.

    Returns ``contrib`` (n, r): the score of input n is ``sum_i contrib[n, i]``; with
    ``positive`` every contribution is > 0.
    """
    g = rng(seed)
    shape = (n, 3, 3, r) if spatial else (n, r)
    U = g.uniform(0.2, 1.5, shape)
    W = g.standard_normal((r, p))
    H = g.standard_normal((p, k))
    if positive:
        W, H = np.abs(W), np.abs(H)
    Ht = torch.tensor(H, dtype=torch.float32)

    def head(A):
        return (A.mean(dim=(1, 2)) if A.ndim == 4 else A) @ Ht

    target = g.integers(0, k, n)
    pooled = U.mean(axis=(1, 2)) if spatial else U
    contrib = pooled * (W @ H)[:, target].T  # (n, r): score = sum_i contrib[n, i]
    return U, W, head, target, contrib


def test_concept_sobol_matches_analytic_for_head_linear_in_mask():
    U, W, head, target, c = linear_concept_problem(n=6)
    per_input = concept_sobol_importance(U, W, head, target, n_design=1024, reduce="none")
    analytic = c**2 / np.sum(c**2, axis=1, keepdims=True)
    np.testing.assert_allclose(per_input, analytic, atol=0.015)
    mean = concept_sobol_importance(U, W, head, target, n_design=1024)
    np.testing.assert_allclose(mean, analytic.mean(0), atol=0.01)


def test_occlusion_and_gradient_input_are_exact_for_linear_head():
    U, W, head, target, c = linear_concept_problem()
    np.testing.assert_allclose(
        occlusion_importance(U, W, head, target, reduce="none"), c, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        gradient_input_importance(U, W, head, target, reduce="none"), c, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        occlusion_importance(U, W, head, target), c.mean(0), rtol=1e-4, atol=1e-5
    )


def test_tcav_scores_sign_count_and_magnitude():
    U, W, head, target, c = linear_concept_problem(n=40, k=2, seed=3)
    # linear head: d score / d(direction i) = (w_i . h_t) / ||w_i||, sign set by the class
    signs = c > 0
    np.testing.assert_allclose(tcav_scores(U, W, head, target), signs.mean(0))
    assert 0 < signs.mean(0).min() or 1 > signs.mean(0).max()  # classes disagree somewhere
    mag = tcav_scores(U, W, head, target, variant="magnitude")
    assert np.all((mag >= 0) & (mag <= 1))
    np.testing.assert_allclose(mag[signs.all(0)], 1.0)
    np.testing.assert_allclose(mag[(~signs).all(0)], 0.0)


def test_per_class_importance_and_orders():
    U, W, head, target, c = linear_concept_problem(n=30)
    imp = per_class_importance(occlusion_importance, U, W, head, target)
    assert sorted(imp) == sorted(set(target.tolist()))
    for cls, v in imp.items():
        np.testing.assert_allclose(v, c[target == cls].mean(0), rtol=1e-4, atol=1e-5)
    orders = importance_to_order(imp)
    np.testing.assert_array_equal(orders[int(target[0])], np.argsort(-imp[int(target[0])]))
    # a per-class order gives the same curve as the equivalent per-input order
    per_input = np.stack([orders[int(t)] for t in target])
    a = concept_deletion(U, W, head, target, orders)
    b = concept_deletion(U, W, head, target, per_input)
    np.testing.assert_allclose(a.per_input, b.per_input)


# ---------------------------------------------------------------------------------- fidelity


def test_concept_deletion_insertion_known_curves_and_best_order():
    U, W, head, target, c = linear_concept_problem(spatial=False, r=5, seed=7, positive=True)
    r = U.shape[1]
    order = np.argsort(-c, axis=1)  # positive contributions: descending is the best order
    sorted_c = np.take_along_axis(c, order, 1)
    # after k deletions the score is the sum of the r - k smallest contributions
    expected_del = np.c_[sorted_c[:, ::-1].cumsum(1)[:, ::-1], np.zeros(len(c))]
    d = concept_deletion(U, W, head, target, order)
    np.testing.assert_allclose(d.x, np.linspace(0, 1, r + 1))
    np.testing.assert_allclose(d.per_input, expected_del, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d.curve, expected_del.mean(0), rtol=1e-4)
    np.testing.assert_allclose(d.auc, np.trapezoid(expected_del.mean(0), d.x), rtol=1e-4)
    ins = concept_insertion(U, W, head, target, order)
    expected_ins = np.c_[np.zeros(len(c)), sorted_c.cumsum(1)]
    np.testing.assert_allclose(ins.per_input, expected_ins, rtol=1e-4, atol=1e-5)
    # the reversed order is worse on both; random orders never beat the correct one
    rev = order[:, ::-1]
    assert concept_deletion(U, W, head, target, rev).auc > d.auc + 0.1
    assert concept_insertion(U, W, head, target, rev).auc < ins.auc - 0.1
    g = rng(8)
    for _ in range(5):
        rand = np.stack([g.permutation(r) for _ in range(len(target))])
        assert concept_deletion(U, W, head, target, rand).auc >= d.auc - 1e-6
        assert concept_insertion(U, W, head, target, rand).auc <= ins.auc + 1e-6


def test_concept_fidelity_softmax_and_spatial():
    U, W, head, target, c = linear_concept_problem(spatial=True)
    order = importance_to_order(occlusion_importance(U, W, head, target))
    d = concept_deletion(U, W, head, target, order, score="softmax")
    assert np.all((d.per_input >= 0) & (d.per_input <= 1))
    np.testing.assert_allclose(d.per_input[:, -1], 1 / 3, atol=1e-6)  # zero activation, no bias
    logits = concept_deletion(U, W, head, target, order)
    np.testing.assert_allclose(logits.per_input[:, 0], c.sum(1), rtol=1e-4, atol=1e-5)


def test_concept_metrics_accept_torch_and_numpy_alike():
    U, W, head, target, _ = linear_concept_problem(n=8)
    order = np.arange(4)[::-1].copy()
    a = concept_insertion(U, W, head, target, order)
    b = concept_insertion(torch.tensor(U), torch.tensor(W), head, torch.tensor(target), order)
    np.testing.assert_allclose(a.per_input, b.per_input, rtol=1e-6)
    np.testing.assert_allclose(
        tcav_scores(torch.tensor(U), W, head, target), tcav_scores(U, W, head, target)
    )


def test_concept_fidelity_invalid_inputs():
    U, W, head, target, _ = linear_concept_problem(spatial=False)
    order = np.arange(4)
    with pytest.raises(ValueError, match="permutation"):
        concept_deletion(U, W, head, target, np.array([0, 1, 1, 2]))
    with pytest.raises(ValueError, match="W has 3 rows"):
        concept_deletion(U, W[:3], head, target, order)
    bad = U.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="U contains NaN"):
        concept_insertion(bad, W, head, target, order)
    with pytest.raises(ValueError, match="out of range"):
        concept_deletion(U, W, head, np.full(len(target), 9), order)
    with pytest.raises(ValueError, match="target has"):
        concept_deletion(U, W, head, target[:-1], order)
    with pytest.raises(ValueError, match="no entry for target classes"):
        concept_deletion(U, W, head, target, {0: order})
    with pytest.raises(ValueError, match=r"\(batch, n_classes\)"):
        concept_deletion(U, W, lambda a: a.sum(1), target, order)
    with pytest.raises(ValueError, match="score"):
        concept_deletion(U, W, head, target, order, score="prob")


def brightness_model(x):
    s = x.mean(dim=(1, 2, 3))
    return torch.stack([10 * s, -10 * s], dim=1)


def test_pixel_deletion_insertion_rise():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 3, 12, 12, generator=g)
    heat = images.mean(1)  # brightest pixels first: the correct order for this model
    target = np.zeros(5, dtype=int)
    d = pixel_deletion(brightness_model, images, heat, target, n_steps=12, score="logit")
    assert d.x[0] == 0 and d.x[-1] == 1 and len(d.x) == 13
    np.testing.assert_allclose(d.per_input[:, 0], 10 * images.mean((1, 2, 3)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(d.per_input[:, -1], 0.0, atol=1e-6)  # baseline 0
    assert np.all(np.diff(d.per_input, axis=1) <= 1e-6)  # removing pixels never adds brightness
    worse = pixel_deletion(brightness_model, images, -heat, target, n_steps=12, score="logit")
    assert worse.auc > d.auc + 0.5
    ins = pixel_insertion(
        brightness_model, images, heat, target, n_steps=12, baseline=0.0, score="logit"
    )
    assert (
        ins.auc
        > pixel_insertion(
            brightness_model, images, -heat, target, n_steps=12, baseline=0.0, score="logit"
        ).auc
        + 0.5
    )
    # the default blurred baseline keeps the mean brightness of a constant image
    flat = torch.full((2, 3, 12, 12), 0.4)
    blur = pixel_insertion(
        brightness_model,
        flat,
        torch.rand(2, 12, 12, generator=g),
        np.zeros(2, int),
        n_steps=4,
        score="logit",
    )
    np.testing.assert_allclose(blur.per_input, 4.0, rtol=1e-5)
    prob = pixel_deletion(brightness_model, images, heat, target, n_steps=4)  # softmax default
    logit = 10 * images.mean((1, 2, 3)).numpy()
    np.testing.assert_allclose(prob.per_input[:, 0], 1 / (1 + np.exp(-2 * logit)), rtol=1e-5)
    np.testing.assert_allclose(prob.per_input[:, -1], 0.5, rtol=1e-6)


def test_pixel_fidelity_invalid_inputs():
    images = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="heatmaps must be"):
        pixel_deletion(brightness_model, images, torch.rand(2, 7, 8), [0, 0])
    with pytest.raises(ValueError, match="n_steps"):
        pixel_deletion(brightness_model, images, torch.rand(2, 8, 8), [0, 0], n_steps=0)
    with pytest.raises(ValueError, match="baseline"):
        pixel_insertion(brightness_model, images, torch.rand(2, 8, 8), [0, 0], baseline="noise")
    with pytest.raises(ValueError, match="images must be"):
        pixel_deletion(brightness_model, images[0], torch.rand(3, 8, 8), [0, 0, 0])


# ------------------------------------------------------------------------------- attributes


def planted_attributes(n=300, d=12, n_attr=4, seed=0, margin=0.4):
    g = rng(seed)
    X = g.standard_normal((n * 2, d))
    w = g.standard_normal((n_attr, d))
    s = X @ w.T / np.linalg.norm(w, axis=1)
    keep = np.all(np.abs(s) > margin, axis=1)  # a margin makes them linearly separable
    return X[keep][:n], (s[keep][:n] > 0).astype(int)


def test_attribute_svm_separable_vs_noise():
    X, Y = planted_attributes()
    res = attribute_svm_accuracy(X, Y, random_state=0)
    assert res.mean_accuracy > 0.97
    assert list(res.per_attribute["attribute"]) == [f"attribute_{j}" for j in range(4)]
    assert (res.per_attribute["accuracy"] > 0.95).all()
    noise = rng(1).integers(0, 2, Y.shape)
    assert attribute_svm_accuracy(X, noise, random_state=0).mean_accuracy == pytest.approx(
        0.5, abs=0.07
    )


def test_attribute_svm_degenerate_columns():
    X, Y = planted_attributes(n=100, n_attr=2)
    Yc = np.c_[Y, np.ones(len(Y))]
    with pytest.raises(ValueError, match="'smile' is constant"):
        attribute_svm_accuracy(X, Yc, attribute_names=["a", "b", "smile"])
    rare = np.zeros(len(Y))
    rare[:3] = 1
    with pytest.raises(ValueError, match="3 positive"):
        attribute_svm_accuracy(X, np.c_[Y, rare])
    with pytest.warns(RuntimeWarning, match="reported as NaN"):
        res = attribute_svm_accuracy(X, Yc, degenerate="nan")
    assert res.skipped == ("attribute_2",)
    assert np.isnan(res.per_attribute["accuracy"].iloc[2])
    assert res.mean_accuracy == pytest.approx(res.per_attribute["accuracy"].iloc[:2].mean())


def test_attribute_svm_invalid_inputs():
    X, Y = planted_attributes(n=100, n_attr=2)
    with pytest.raises(ValueError, match="not binary"):
        attribute_svm_accuracy(X, np.c_[Y, np.arange(len(Y)) % 3])
    with pytest.raises(ValueError, match="rows"):
        attribute_svm_accuracy(X[:-1], Y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        attribute_svm_accuracy(Xn, Y)


# ------------------------------------------------------------------------------------- BONA


def planted_patches(n_images=150, n_classes=3, k=8, patches=12, seed=0):
    g = rng(seed)
    labels = np.arange(n_images) % n_classes
    profiles = g.dirichlet(np.full(k, 0.3), n_classes)
    assign = np.concatenate([g.choice(k, patches, p=profiles[lab]) for lab in labels])
    ids = np.repeat(np.arange(n_images) * 7 + 100, patches)  # arbitrary, non-contiguous ids
    return assign, ids, np.repeat(labels, patches), labels


def test_bag_of_activations_histograms():
    hist, images = bag_of_activations([0, 2, 2, 1, 1, 1], ["b", "b", "b", "a", "a", "c"], 3)
    np.testing.assert_array_equal(images, ["a", "b", "c"])
    np.testing.assert_allclose(hist, [[0, 1, 0], [1 / 3, 0, 2 / 3], [0, 1, 0]])
    coef = np.eye(3)[[0, 2, 2, 1, 1, 1]] * 5 + 0.1
    np.testing.assert_allclose(bag_of_activations(coef, ["b"] * 3 + ["a", "a", "c"], 3)[0], hist)


def test_bona_planted_vs_shuffled():
    assign, ids, patch_labels, labels = planted_patches()
    res = bona_accuracy(assign, ids, patch_labels, 8, random_state=0)
    assert res.mean_accuracy > 0.9
    assert res.histograms.shape == (150, 8) and len(res.fold_accuracies) == 5
    svm = bona_accuracy(assign, ids, patch_labels, 8, classifier="linear_svm")
    assert svm.mean_accuracy > 0.9
    shuffled = rng(1).permutation(labels)
    by_image = dict(zip(np.unique(ids).tolist(), shuffled.tolist()))
    chance = bona_accuracy(assign, ids, by_image, 8, random_state=0)
    assert chance.mean_accuracy == pytest.approx(1 / 3, abs=0.12)


def test_bona_invalid_inputs():
    assign, ids, patch_labels, _ = planted_patches(n_images=30)
    mixed = patch_labels.copy()
    mixed[1] = (mixed[1] + 1) % 3
    with pytest.raises(ValueError, match="different labels"):
        bona_accuracy(assign, ids, mixed, 8)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        bag_of_activations(assign, ids, 5)
    with pytest.raises(ValueError, match="all-equal"):
        bag_of_activations(np.zeros((4, 3)), [0, 0, 1, 1], 3)
    with pytest.raises(ValueError, match="at least 5"):
        bona_accuracy(assign[:36], ids[:36], patch_labels[:36], 8)


# -------------------------------------------------------------------------------- stability


def test_dictionary_stability_permutation_and_random():
    g = rng(0)
    W = np.abs(g.standard_normal((10, 64)))
    perm = W[g.permutation(10)] * g.uniform(0.5, 3, (10, 1))
    assert dictionary_stability(W, perm) == pytest.approx(1.0)
    assert dictionary_stability(W, -perm) == pytest.approx(1.0)  # sign-invariant
    assert dictionary_stability(g.standard_normal((10, 256)), g.standard_normal((10, 256))) < 0.3
    # half the concepts shared: in between
    half = np.r_[W[:5], g.standard_normal((5, 64))]
    assert 0.5 < dictionary_stability(W, half) < 0.95
    # a smaller bank is matched into the larger one
    assert dictionary_stability(W[:4], W) == pytest.approx(1.0)


def test_pairwise_and_cka_stability():
    g = rng(0)
    W = g.standard_normal((6, 32))
    res = pairwise_stability([W, W[::-1], g.standard_normal((6, 32))])
    assert res.matrix.shape == (3, 3) and np.allclose(res.matrix, res.matrix.T)
    np.testing.assert_allclose(np.diag(res.matrix), 1.0)
    assert res.matrix[0, 1] == pytest.approx(1.0)
    assert res.mean == pytest.approx((1 + 2 * res.matrix[0, 2]) / 3)
    U = g.standard_normal((200, 6))
    cka = cka_stability([U, U @ orthogonal(6) * 3, U])
    assert cka.mean == pytest.approx(1.0)
    mean, matrix = cka_stability([U, g.standard_normal((200, 6))])
    assert mean < 0.15 and matrix[0, 1] == mean


def test_stability_invalid_inputs():
    with pytest.raises(ValueError, match="same activation space"):
        dictionary_stability(np.ones((3, 4)), np.ones((3, 5)))
    W = np.eye(3)
    W[1] = 0
    with pytest.raises(ValueError, match=r"W2 rows \[1\] are zero"):
        dictionary_stability(np.eye(3), W)
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_stability([np.eye(3)])


# -------------------------------------------------------------------------------- registry


def test_higher_is_better_covers_every_metric_and_matches_docstrings():
    importance_fns = {
        "sobol_design",
        "jansen_total_indices",
        "total_sobol_indices",
        "concept_sobol_importance",
        "tcav_scores",
        "gradient_input_importance",
        "occlusion_importance",
        "importance_to_order",
        "per_class_importance",
        "bag_of_activations",
        "concept_orders",
    }
    public_fns = {name for name in M.__all__ if inspect.isfunction(getattr(M, name))}
    assert public_fns - importance_fns == set(M.HIGHER_IS_BETTER)
    for name, higher in M.HIGHER_IS_BETTER.items():
        doc = inspect.getdoc(getattr(M, name))
        assert ("higher" if higher else "lower") in doc.lower(), f"{name} must state its direction"
        assert re.search(r"\b(19|20)\d\d\b", doc), f"{name} must cite its paper (with a year)"
