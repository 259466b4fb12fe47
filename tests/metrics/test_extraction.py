"""Holistic extraction metrics and part alignment on planted data with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from reference_impls.metrics import extraction
from reference_impls.metrics.parts import concept_part_alignment, part_fractions


def test_code_sparsity_counts_zero_coefficients():
    U = np.array([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 3.0, 1e-9]])
    assert extraction.code_sparsity(U) == pytest.approx(5 / 8)  # 1e-9 <= 1e-6 * 3
    assert extraction.code_sparsity(np.zeros((2, 3))) == 1.0


def test_frechet_distance_of_a_shift_is_the_squared_shift_over_the_trace():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((500, 4)) @ np.diag([1.0, 2.0, 0.5, 1.0])
    shift = np.array([1.0, 0.0, -2.0, 0.5])
    expected = (shift**2).sum() / np.trace(np.cov(A, rowvar=False))
    assert extraction.frechet_distance(A, A + shift) == pytest.approx(expected, rel=1e-4)
    assert extraction.frechet_distance(A, A) == pytest.approx(0, abs=1e-6)
    # a collapsed reconstruction (all rows at the mean) is far: tr(S1) / tr(S1) = 1
    assert extraction.frechet_distance(A, np.tile(A.mean(0), (500, 1)) + 1e-9) == pytest.approx(
        1.0, rel=1e-3
    )


def test_wasserstein_1d_matches_scipy_per_feature():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((300, 3)), rng.exponential(size=(300, 3))
    want = np.mean([wasserstein_distance(A[:, j], B[:, j]) / A[:, j].std() for j in range(3)])
    assert extraction.wasserstein_1d(A, B) == pytest.approx(want, rel=1e-9)


def test_ood_distance_is_zero_on_the_data_and_grows_off_it():
    rng = np.random.default_rng(2)
    R = np.abs(rng.standard_normal((200, 6)))
    assert extraction.ood_distance(R[:50], R, k=1) == pytest.approx(0, abs=1e-9)
    off = -np.abs(rng.standard_normal((50, 6)))  # opposite orthant: cosine < 0 to all data
    assert extraction.ood_distance(off, R, k=1) > 1.0  # unit vectors at angle > 60 degrees


def test_output_agreement_hand_computed():
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def head(a):  # (B, h, w, 2) -> logits: pooled codes through W
        return a.mean((1, 2)) @ W

    A = np.zeros((2, 1, 1, 2), np.float32)
    A[0, 0, 0] = [2.0, 0.0]
    A[1, 0, 0] = [0.0, 1.0]
    B = A.copy()
    B[1, 0, 0] = [1.0, 0.0]  # flips input 1's prediction
    res = extraction.output_agreement(head, A, B)
    assert res.top1 == 0.5
    p = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    q = torch.softmax(torch.tensor([1.0, 0.0]), 0)
    assert res.kl == pytest.approx(float((p * (p / q).log()).sum()) / 2, rel=1e-5)


def test_c_mufidelity_is_one_for_exact_contributions_of_an_additive_head():
    rng = np.random.default_rng(3)
    r, p = 5, 4
    W = rng.standard_normal((r, p)).astype(np.float32)
    v = rng.standard_normal((p, 2)).astype(np.float32)

    def head(a):  # linear in a: removing concept k lowers logit 0 by u_k (W_k . v_0)
        return a.mean((1, 2)) @ torch.from_numpy(v)

    U = np.abs(rng.standard_normal((6, 2, 2, r))).astype(np.float32)
    contrib = U.mean((1, 2)) * (W @ v[:, 0])[None]  # exact per-concept contribution
    target = np.zeros(6, int)
    exact = extraction.concept_mufidelity(U, W, head, target, contrib, score="logit")
    assert exact == pytest.approx(1.0, abs=1e-5)
    shuffled = extraction.concept_mufidelity(
        U, W, head, target, rng.permuted(contrib, axis=1), score="logit"
    )
    assert shuffled < 0.9


def test_part_fractions_average_each_cell():
    masks = np.array([[[0, 0, 1, 1], [0, 2, 1, 1], [0, 0, 0, 0], [2, 2, 0, 1]]])
    F = part_fractions(masks, (2, 2), 3)
    assert F.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(F[0, 0, 0], [0.75, 0, 0.25])
    np.testing.assert_allclose(F[0, 0, 1], [0, 1, 0])
    np.testing.assert_allclose(F[0, 1, 1], [0.75, 0.25, 0])
    with pytest.raises(ValueError, match="multiple"):
        part_fractions(masks, (3, 3), 3)


def test_concept_part_alignment_recovers_planted_parts_in_any_order():
    rng = np.random.default_rng(4)
    masks = rng.integers(0, 3, size=(20, 8, 8))
    F = part_fractions(masks, (4, 4), 3)
    planted = F[..., [2, 0, 1]] * 5.0  # concepts = regions, permuted and scaled
    res = concept_part_alignment(planted, F)
    assert res.mean_iou == pytest.approx(1.0)
    assert res.match.tolist() == [2, 0, 1]
    random_maps = rng.random(planted.shape)
    assert concept_part_alignment(random_maps, F).mean_iou < 0.6
