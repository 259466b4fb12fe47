"""Stability of concept extraction across seeds and hyper-parameters.

- :func:`dictionary_stability`: concept banks compared up to a permutation of concepts:
  rows matched by the Hungarian algorithm (Kuhn 1955; ``scipy.optimize.linear_sum_assignment``)
  on absolute cosine similarity, then averaged. The matched-dictionary comparison used for
  NMF/dictionary-learning stability (e.g. Wu et al., "Stability-driven nonnegative matrix
  factorization", PNAS 2016, Eq. 3).
- :func:`cka_stability`: mean pairwise linear CKA between representations (Kornblith et al.
  2019; the multiaspect paper's Table II uses CKA across ``lambda_F`` settings).

All scores are in [0, 1]; **higher is better** (more stable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from reference_impls.metrics._validation import to_float_array
from reference_impls.metrics.cka import linear_cka

__all__ = ["PairwiseStability", "dictionary_stability", "pairwise_stability", "cka_stability"]


class PairwiseStability(NamedTuple):
    """``mean`` of the off-diagonal entries of the symmetric ``matrix`` (diagonal = 1)."""

    mean: float
    matrix: np.ndarray


def _unit_rows(W, name: str) -> np.ndarray:
    W = to_float_array(W, name, ndim=2)
    norms = np.linalg.norm(W, axis=1)
    if np.any(norms == 0):
        raise ValueError(
            f"{name} rows {np.flatnonzero(norms == 0)[:5].tolist()} are zero: "
            "cosine similarity is undefined for an empty concept."
        )
    return W / norms[:, None]


def dictionary_stability(W1, W2) -> float:
    """Hungarian-matched mean absolute cosine similarity between the rows of two banks.

    Matched-dictionary stability as in Wu et al., PNAS 2016 (staNMF), with the Hungarian
    assignment of Kuhn 1955.

    ``W1`` (r1 x p) and ``W2`` (r2 x p): each concept of the smaller bank is matched to a
    distinct concept of the other so that the total ``|cos|`` is maximal; returns the mean
    ``|cos|`` over the ``min(r1, r2)`` matched pairs. 1 means the same concepts up to order
    and scale (the sign is ignored, so the score suits signed factorizations too); random
    banks in high dimension score near 0. Higher is better.
    """
    A, B = _unit_rows(W1, "W1"), _unit_rows(W2, "W2")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"W1 has {A.shape[1]} features per concept and W2 has {B.shape[1]}; "
            "banks must live in the same activation space."
        )
    sim = np.abs(A @ B.T)
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return float(np.clip(sim[rows, cols], 0.0, 1.0).mean())


def _pairwise(items: Sequence, score: Callable, what: str) -> PairwiseStability:
    items = list(items)
    if len(items) < 2:
        raise ValueError(f"{what} needs at least 2 items to compare, got {len(items)}.")
    k = len(items)
    matrix = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            matrix[i, j] = matrix[j, i] = score(items[i], items[j])
    return PairwiseStability(float(matrix[np.triu_indices(k, 1)].mean()), matrix)


def pairwise_stability(banks: Sequence) -> PairwiseStability:
    """:func:`dictionary_stability` between every pair of concept banks (e.g. one per seed),
    as in the staNMF instability score (Wu et al., PNAS 2016), reported as a similarity.

    Returns ``(mean, matrix)``: the mean over the ``k (k - 1) / 2`` pairs and the symmetric
    ``k x k`` matrix. Higher is better.
    """
    return _pairwise(banks, dictionary_stability, "pairwise_stability")


def cka_stability(representations: Sequence) -> PairwiseStability:
    """Linear CKA (Kornblith et al. 2019; :func:`~reference_impls.metrics.cka.linear_cka`)
    between every pair of representations of the same examples (e.g. coefficients U from several seeds or
    hyper-parameters). Returns ``(mean, matrix)``; higher is better."""
    return _pairwise(representations, linear_cka, "cka_stability")
