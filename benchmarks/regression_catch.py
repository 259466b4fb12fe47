"""Sensitivity of the regression check: the smallest drift it catches, per method and metric.

Takes a measured comparison table (default: the 1-thread noise-floor run,
``benchmarks/results/noise_runs/base.csv``) as the expected values and plants drifts into a
copy, one (method, metric) at a time, in two shapes:

  one_seed   one seed's value moved (a bug that hits one seed; the three seeds in turn)
  all_seeds  every seed moved together (a bug in the method or the metric)

For each shape it bisects the smallest |drift| that ``compare_metrics`` reports, naming the
method, the metric and the seed (or the seed aggregate), and checks the catch rate of drifts
at 1.05 x the tolerance. Writes ``benchmarks/results/regression_catch.csv``:

    python benchmarks/regression_catch.py [--expected CSV] [--tolerances YAML]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from reference_impls import regression

ROOT = Path(__file__).resolve().parents[1]


def _caught(expected, tol, idx, drift, method, metric) -> bool:
    drifted = expected.copy()
    drifted.loc[idx, "value"] += drift
    return any(
        f"method={method}," in f and f"metric={metric}" in f and "seed=" in f
        for f in regression.compare_metrics(drifted, expected, tol)
    )


def smallest_caught(expected, tol, idx, method, metric, hi=2.0, steps=18) -> float:
    """Smallest |drift| (either sign, the worse of the two) that is caught; inf if none
    up to ``hi``."""
    worst = 0.0
    for sign in (1, -1):
        if not _caught(expected, tol, idx, sign * hi, method, metric):
            return np.inf
        lo, up = 0.0, hi
        for _ in range(steps):
            mid = (lo + up) / 2
            lo, up = (
                (lo, mid) if _caught(expected, tol, idx, sign * mid, method, metric) else (mid, up)
            )
        worst = max(worst, up)
    return worst


def catch_table(expected: pd.DataFrame, tol: dict) -> pd.DataFrame:
    rows = []
    for (method, metric), g in expected.groupby(["method", "metric"]):
        g = g.copy()  # the check sees this (method, metric) alone: same verdict, faster
        expected_g = g
        spec = regression.metric_spec(tol, metric)
        if spec == "skip":
            continue
        group = regression.unstable_spec(spec, method)
        unstable = group is not None
        level = group.get("level", "median") if unstable else "seed"
        per_seed = g[g["seed"] != "all"]
        shapes = {"all_seeds": g.index}
        shapes.update({f"one_seed_{s}": [i] for i, s in per_seed["seed"].items()})
        for shape, idx in shapes.items():
            rows.append(
                dict(
                    metric=metric,
                    method=method,
                    level=level if len(per_seed) else ("all" if not unstable else "all (unstable)"),
                    shape=shape,
                    smallest_caught=smallest_caught(expected_g, tol, idx, method, metric),
                    expected=float(g["value"].mean()),
                )
            )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--expected", default=ROOT / "benchmarks" / "results" / "noise_runs" / "base.csv"
    )
    parser.add_argument("--tolerances", default=ROOT / "results" / "expected" / "tolerances.yaml")
    args = parser.parse_args(argv)
    expected = pd.read_csv(args.expected, dtype={"seed": str})
    table = catch_table(expected, regression.load_tolerances(args.tolerances))
    out = ROOT / "benchmarks" / "results" / "regression_catch.csv"
    table.to_csv(out, index=False, float_format="%.4g")
    table["kind"] = np.where(table["shape"] == "all_seeds", "all_seeds", "one_seed")
    summary = table.groupby(["metric", "level", "kind"])["smallest_caught"].agg(["min", "max"])
    print(summary.to_string(float_format=lambda v: f"{v:.3g}"))
    print(out)


if __name__ == "__main__":
    main()
