"""Regression check: the latest metrics and claims against committed expected values.

Expected values live in ``results/expected/<profile>/`` (``compare_metrics.csv``,
``claims.csv``) with per-metric tolerances in ``results/expected/tolerances.yaml``. They
change only deliberately, through ``python -m reference_impls.regression update``.

    python -m reference_impls.regression check  --profile default
    python -m reference_impls.regression update --profile default
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

KEY = ["method", "dataset", "model", "layer", "seed", "n_components", "metric"]
CLAIM_KEY = ["paper", "claim_id"]
FILES = {
    "metrics": ("compare/metrics.csv", "compare_metrics.csv"),
    "claims": ("claims.csv", "claims.csv"),
}


def load_tolerances(path) -> dict:
    """``{"default": {"abs", "rel"}, "metrics": {name: {"abs", "rel"} | "skip"}}``."""
    tol = yaml.safe_load(Path(path).read_text())
    if not isinstance(tol, dict) or "default" not in tol:
        raise ValueError(f"{path}: expected a mapping with a 'default' entry {{abs, rel}}")
    for name, spec in {"default": tol["default"], **tol.get("metrics", {})}.items():
        if spec != "skip" and not (isinstance(spec, dict) and set(spec) <= {"abs", "rel"}):
            raise ValueError(
                f"{path}: tolerance of '{name}' must be 'skip' or {{abs, rel}}, got {spec!r}"
            )
    return tol


def _tolerance(tol: dict, metric: str):
    spec = tol.get("metrics", {}).get(metric, tol["default"])
    return None if spec == "skip" else (float(spec.get("abs", 0)), float(spec.get("rel", 0)))


def compare_metrics(current: pd.DataFrame, expected: pd.DataFrame, tol: dict) -> list[str]:
    """Readable failures: values outside tolerance and expected rows that went missing."""
    cur = current.astype({k: str for k in KEY}).set_index(KEY)["value"]
    exp = expected.astype({k: str for k in KEY}).set_index(KEY)["value"]
    failures = []
    for key, want in exp.items():
        metric = key[KEY.index("metric")]
        bounds = _tolerance(tol, metric)
        if bounds is None:
            continue
        label = ", ".join(f"{k}={v}" for k, v in zip(KEY, key))
        if key not in cur.index:
            failures.append(f"MISSING  {label}: expected {want:.6g}, no current value")
            continue
        got = float(cur[key])
        allowed = bounds[0] + bounds[1] * abs(want)
        if not (np.isfinite(got) or not np.isfinite(want)) or abs(got - want) > allowed:
            failures.append(
                f"DRIFT    {label}: expected {want:.6g}, got {got:.6g} "
                f"(|diff| {abs(got - want):.3g} > tolerance {allowed:.3g})"
            )
    return failures


def compare_claims(current: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """A claim that flipped (holds changed) or disappeared."""
    cur = current.set_index(CLAIM_KEY)["holds"].astype(str).str.lower()
    failures = []
    for key, row in expected.set_index(CLAIM_KEY).iterrows():
        want = str(row["holds"]).lower()
        if key not in cur.index:
            failures.append(f"MISSING  claim {key[0]}/{key[1]}: expected holds={want}")
        elif cur[key] != want:
            failures.append(
                f"FLIPPED  claim {key[0]}/{key[1]}: expected holds={want}, now "
                f"holds={cur[key]} ({row['statement']})"
            )
    return failures


def check(results_dir, expected_dir, tolerances) -> list[str]:
    """All failures of the latest results in ``results_dir`` against ``expected_dir``."""
    results_dir, expected_dir = Path(results_dir), Path(expected_dir)
    tol = load_tolerances(tolerances)
    failures = []
    for kind, (current_name, expected_name) in FILES.items():
        cur_path, exp_path = results_dir / current_name, expected_dir / expected_name
        if not exp_path.is_file():
            failures.append(
                f"NO EXPECTED VALUES  {exp_path}: run "
                f"'python -m reference_impls.regression update' deliberately"
            )
            continue
        if not cur_path.is_file():
            failures.append(f"NO RESULTS  {cur_path}: run the reproduction first")
            continue
        cur, exp = pd.read_csv(cur_path), pd.read_csv(exp_path)
        failures += (
            compare_metrics(cur, exp, tol) if kind == "metrics" else compare_claims(cur, exp)
        )
    return failures


def update(results_dir, expected_dir) -> list[Path]:
    """Overwrite the expected values with the latest results (a deliberate act)."""
    results_dir, expected_dir = Path(results_dir), Path(expected_dir)
    expected_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for current_name, expected_name in FILES.values():
        src = results_dir / current_name
        if not src.is_file():
            raise FileNotFoundError(f"{src} does not exist: run the reproduction first")
        shutil.copyfile(src, expected_dir / expected_name)
        written.append(expected_dir / expected_name)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["check", "update"])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--results", default="results", help="the results root folder")
    args = parser.parse_args(argv)
    results_dir = Path(args.results) / args.profile
    expected_dir = Path(args.results) / "expected" / args.profile
    if args.action == "update":
        for path in update(results_dir, expected_dir):
            print(f"updated {path}")
        return 0
    failures = check(results_dir, expected_dir, Path(args.results) / "expected" / "tolerances.yaml")
    if failures:
        print(f"regression check FAILED for profile '{args.profile}' ({len(failures)} problems):")
        print("\n".join("  " + f for f in failures))
        return 1
    print(f"regression check passed for profile '{args.profile}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
