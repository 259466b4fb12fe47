"""Intervals for claims: the percentile bootstrap of a mean (or of a paired mean difference)."""

from __future__ import annotations

import numpy as np


def bootstrap_mean_interval(
    values, seed: int, *, baseline=None, n_boot: int = 1000, quantiles=(0.025, 0.975)
) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993) of ``mean(values)``, or of
    ``mean(values) - mean(baseline)`` with both resampled by the same indices (paired);
    default: the 95% interval. Rows are resampled with replacement, ``n_boot`` times."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stat = values[idx].mean(1)
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float64)
        if baseline.shape != values.shape:
            raise ValueError(f"baseline shape {baseline.shape} != values shape {values.shape}")
        stat = stat - baseline[idx].mean(1)
    lo, hi = np.quantile(stat, quantiles)
    return float(lo), float(hi)
