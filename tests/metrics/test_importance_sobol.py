"""Total Sobol indices of concepts (CRAFT Sec. 3.3): unbiased per concept at the pipeline's
small design size. Planted head: score = sum_i M_i (r = 10 concepts, U = 1), so every true
total index is 0.1 (S_Ti = a_i^2 / sum_j a_j^2)."""

import numpy as np
import pytest
import torch

from reference_impls.metrics.importance import (
    concept_sobol_importance,
    per_input_designs,
    sobol_design,
)

R, TRUE = 10, 0.1


def additive_head(a):
    y = a.sum(-1)
    return torch.stack([y, -y], -1)


def class_estimate(design, seed, n_inputs=200, n_design=32):
    U = np.ones((n_inputs, R), dtype=np.float32)
    return concept_sobol_importance(
        U,
        np.eye(R, dtype=np.float32),
        additive_head,
        np.zeros(n_inputs, int),
        n_design=n_design,
        seed=seed,
        design=design,
    )


def test_every_concept_is_estimated_near_its_true_index_at_32_points():
    """The defect of one shared design: at 32 points a badly balanced pair of sequence
    dimensions scales one concept's index by ~0.2 or ~1.7 for every input of a class. With a
    design scrambled per input, each class estimate (one seed) stays within 50% of 0.1 for
    every concept, and the mean over seeds within 10% (measured spread at n = 32:
    benchmarks/results/sobol_design_size.csv)."""
    per_input = np.stack([class_estimate("per_input", s) for s in range(5)])
    assert np.abs(per_input - TRUE).max() < 0.5 * TRUE
    assert np.abs(per_input.mean(0) - TRUE).max() < 0.1 * TRUE
    shared = np.stack([class_estimate("shared", s) for s in range(5)])
    assert np.abs(shared - TRUE).max() > 0.5 * TRUE  # the old scheme fails the same check


def test_per_input_designs_are_saltelli_designs_that_differ_by_input():
    designs = per_input_designs(3, 4, 8, seed=7)
    assert designs.shape == (3, 8 * (4 + 2), 4)
    np.testing.assert_array_equal(designs, per_input_designs(3, 4, 8, seed=7))
    assert not np.allclose(designs[0], designs[1])
    for d in designs:  # rows [A; B; C_1..C_4]: C_i is A with column i from B
        a, b, c = d[:8], d[8:16], d[16:].reshape(4, 8, 4)
        for i in range(4):
            expected = a.copy()
            expected[:, i] = b[:, i]
            np.testing.assert_array_equal(c[i], expected)
    shared = sobol_design(4, 8, seed=7)
    assert shared.shape == designs.shape[1:]


def test_design_scheme_is_checked():
    with pytest.raises(ValueError, match="design must be"):
        class_estimate("halton", 0, n_inputs=2)
    with pytest.raises(ValueError, match="scramble"):
        concept_sobol_importance(
            np.ones((2, R), np.float32),
            np.eye(R, dtype=np.float32),
            additive_head,
            [0, 0],
            scramble=False,
        )
