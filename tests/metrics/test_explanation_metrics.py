"""XNN metrics (Khorram thesis Sec. 3.3.2, App. A Alg. 3) on cases with known answers."""

import numpy as np
import pytest

from reference_impls.metrics.explanation import (
    entropy_locality,
    f_cls,
    f_reg,
    mask_part_mass,
    orthogonality,
    part_histogram_locality,
    voronoi_part_probability,
)


def test_faithfulness():
    assert f_reg([1.0, 2.0, 3.0], [1.5, 2.0, 1.0]) == pytest.approx((0.5 + 0 + 2) / 3)
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 4.0]])
    # replacing logit 0 by ybar: row 0 keeps class 0 (2.5 > 1), row 1 flips to 0 (5 > 2),
    # row 2 keeps class 2 (-1 < 4)
    assert f_cls(logits, [2.5, 5.0, -1.0], k=0) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ"):
        f_reg([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="logits"):
        f_cls(logits, [1.0, 2.0, 3.0], k=3)


def test_orthogonality_known_values():
    rng = np.random.default_rng(0)
    # disjoint supports of equal size: corr = -1/(n-1) between every pair is not 0, so use
    # maps built from exactly uncorrelated centred sign patterns (Hadamard rows)
    h = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1]], float)
    maps = (h[1:] + 2.0)[None, :, :, None]  # (1, 2, 4, 1): two uncorrelated maps
    o = orthogonality(maps)
    assert o["O1"] == pytest.approx(0.0, abs=1e-12) and o["O2"] == pytest.approx(0.0, abs=1e-12)
    # two maps with correlation r: P = [[1, r], [r, 1]] -> O1 = sqrt(2 + 2r^2) - sqrt(2),
    # O2 = -log(1 - r^2)
    a = rng.normal(size=5000)
    b = 0.6 * a + 0.8 * rng.normal(size=5000)
    r = np.corrcoef(a, b)[0, 1]
    o = orthogonality(np.stack([a, b])[None, :, :, None])
    assert o["O1"] == pytest.approx(np.sqrt(2 + 2 * r**2) - np.sqrt(2))
    assert o["O2"] == pytest.approx(-np.log(1 - r**2))
    assert o["O1_alt"] == pytest.approx(abs(r))
    with pytest.raises(ValueError, match="constant"):
        orthogonality(np.ones((2, 2, 3, 3)))


def test_entropy_and_mask_locality():
    assert entropy_locality([1, 0, 0]) == 0.0
    assert entropy_locality([1, 1, 1, 1, 1, 1]) == pytest.approx(np.log(6))
    masks = np.array([[[0, 1], [2, 2]]])  # (1, 2, 2)
    maps = np.array([[[[0.5, 0.5], [0.0, 0.0]], [[0.0, 0.0], [0.3, 0.7]]]])  # (1, 2, 2, 2)
    mass = mask_part_mass(maps, masks, n_regions=3)
    np.testing.assert_allclose(mass[0], [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    hist, ent = part_histogram_locality(mass)
    np.testing.assert_allclose(ent, [np.log(2), 0.0])
    with pytest.raises(ValueError, match="histogram"):
        entropy_locality([0, 0])


def test_voronoi_probability_on_a_toy_image():
    obj = np.zeros((5, 9), bool)
    obj[1:4, 1:8] = True  # box rows 1-3, cols 1-7
    kp = np.array([[2.0, 2.0, 1], [6.0, 2.0, 1], [0.0, 0.0, 0]])  # third part invisible
    prob = voronoi_part_probability(kp, obj)
    assert prob.shape == (4, 5, 9)
    assert prob[0, 2, 2] == 1.0 and prob[1, 2, 6] == 1.0  # at the keypoints
    assert (prob[2] == 0).all()  # invisible part: no cell
    assert prob[3, 0, 0] == 1.0 and prob[3, 2, 2] == 0.0  # context outside the box only
    # pixel (row 1, col 1) is in part 0's cell; farthest cell pixels have probability 0
    dmax = max(np.hypot(c - 2, r - 2) for r in range(1, 4) for c in range(1, 5))
    assert prob[0, 1, 1] == pytest.approx(1 - np.hypot(1, 1) / dmax)
    assert prob[0, 1:4, 1:5].min() == pytest.approx(0.0)
    assert (prob[0, :, 5:] == 0).all()
