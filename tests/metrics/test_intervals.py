"""The shared percentile bootstrap of a mean against known answers."""

import numpy as np
import pytest

from reference_impls.metrics.intervals import bootstrap_mean_interval


def test_constant_values_give_a_point_interval():
    assert bootstrap_mean_interval(np.full(50, 0.7), seed=0) == pytest.approx((0.7, 0.7))


def test_paired_difference_of_equal_arrays_is_zero():
    v = np.random.default_rng(1).random(80)
    assert bootstrap_mean_interval(v, seed=3, baseline=v) == (0.0, 0.0)


def test_width_matches_the_normal_theory_of_a_mean():
    v = np.random.default_rng(2).normal(size=400)
    lo, hi = bootstrap_mean_interval(v, seed=0, n_boot=4000)
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert lo < v.mean() < hi


def test_bad_input_names_the_array():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        bootstrap_mean_interval(np.zeros((3, 2)), seed=0)
    with pytest.raises(ValueError, match="baseline shape"):
        bootstrap_mean_interval(np.zeros(4), seed=0, baseline=np.zeros(5))
