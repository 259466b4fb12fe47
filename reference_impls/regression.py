"""Regression check: the latest numbers and claims against committed expected values.

Expected values live in ``results/expected/<profile>/``: ``compare_metrics.csv`` (the
comparison's long table), ``claims.csv`` (the ledger) and ``papers/<id>_results.csv`` (every
paper's long ``results.csv``). Tolerances, measured on the noise floor
(``benchmarks/noise_floor.py``), live in ``results/expected/tolerances.yaml``. Expected values
change only deliberately, through ``python -m reference_impls.regression update``
(``make update-expected``).

What is compared, and how (see the tolerance file for every number and why):

- a comparison value per seed, ``|got - want| <= abs + rel * |want|``, for methods whose
  per-seed values are reproducible across machines;
- for methods a metric lists as ``unstable`` (KMeans, semi-NMF, ICA: chaotic in the seed
  and in the last bits of the input), the mean or median over seeds instead, with the
  metric's ``unstable`` tolerance; their per-seed rows still have to exist;
- every paper's ``results.csv`` row by (paper, experiment, method, dataset, model, layer,
  seed, metric), with per-paper / per-metric tolerances (``skip`` for wall times);
- claims: ``holds`` must not flip (hard failure); a claim whose margin is inside the noise
  floor is reported as fragile (a note, and in ``claims.md``).

A row that disappears, or appears without an expected value, is a failure too.

    python -m reference_impls.regression check  --profile default
    python -m reference_impls.regression update --profile default
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .claims import FRAGILE_REL, fragile_claims

KEY = ["method", "dataset", "model", "layer", "seed", "n_components", "metric"]
RESULT_KEY = ["paper", "experiment", "method", "dataset", "model", "layer", "seed", "metric"]
CLAIM_KEY = ["paper", "claim_id"]
FILES = {
    "metrics": ("compare/metrics.csv", "compare_metrics.csv"),
    "claims": ("claims.csv", "claims.csv"),
}
PAPERS_DIR = "papers"  # expected/<profile>/papers/<id>_results.csv
LEVELS = ("mean", "median")
_BOUND_KEYS = {"abs", "rel"}


def _check_bounds(where, spec, extra=()):
    if spec == "skip":
        return
    if not isinstance(spec, dict) or not set(spec) <= _BOUND_KEYS | set(extra):
        raise ValueError(
            f"{where} must be 'skip' or a mapping with keys {sorted(_BOUND_KEYS | set(extra))}, "
            f"got {spec!r}"
        )
    for k in _BOUND_KEYS & set(spec):
        if not isinstance(spec[k], (int, float)) or spec[k] < 0:
            raise ValueError(f"{where}: '{k}' must be a number >= 0, got {spec[k]!r}")


def _check_spec(where, spec):
    """A tolerance: 'skip' or ``{abs, rel[, unstable]}``, ``unstable`` one group
    ``{methods, level, abs, rel}`` or a list of them (a tolerance per group of methods)."""
    _check_bounds(where, spec, extra=("unstable",))
    groups = spec.get("unstable") if isinstance(spec, dict) else None
    if groups is None:
        return
    for unstable in groups if isinstance(groups, list) else [groups]:
        if not isinstance(unstable, dict) or not isinstance(unstable.get("methods"), list):
            raise ValueError(f"{where}.unstable needs a list 'methods', got {unstable!r}")
        _check_bounds(f"{where}.unstable", unstable, extra=("methods", "level"))
        if unstable.get("level", "median") not in LEVELS + ("skip",):
            raise ValueError(
                f"{where}.unstable.level must be one of {LEVELS + ('skip',)}, "
                f"got {unstable['level']!r}"
            )


def unstable_spec(spec, method):
    """The unstable group of ``spec`` that lists ``method``, or None (a stable method)."""
    groups = spec.get("unstable") if isinstance(spec, dict) else None
    for unstable in groups if isinstance(groups, list) else [groups or {}]:
        if method in unstable.get("methods", []):
            return unstable
    return None


def _check_metric_table(where, table):
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a mapping metric -> tolerance, got {table!r}")
    for name, spec in table.items():
        _check_spec(f"{where}.{name}", spec)


def load_tolerances(path) -> dict:
    """Read and validate the tolerance file (format documented in the file itself).

    ``default`` / ``metrics``: the comparison table; ``papers``: every paper's results.csv
    (``default``, ``metrics`` for all papers, ``<id>: {default, metrics}`` per paper);
    ``claims``: ``fragile_rel``. Metric names may be glob patterns (``"*_seconds"``).
    """
    tol = yaml.safe_load(Path(path).read_text())
    if not isinstance(tol, dict) or "default" not in tol:
        raise ValueError(f"{path}: expected a mapping with a 'default' entry {{abs, rel}}")
    unknown = set(tol) - {"default", "metrics", "papers", "claims"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}")
    _check_spec(f"{path}: default", tol["default"])
    _check_metric_table(f"{path}: metrics", tol.get("metrics") or {})
    papers = tol.get("papers") or {}
    if not isinstance(papers, dict):
        raise ValueError(f"{path}: 'papers' must be a mapping, got {papers!r}")
    for name, section in papers.items():
        if name == "default":
            _check_bounds(f"{path}: papers.default", section)
        elif name == "metrics":
            _check_metric_table(f"{path}: papers.metrics", section)
        else:
            if not isinstance(section, dict) or not set(section) <= {"default", "metrics"}:
                raise ValueError(
                    f"{path}: papers.{name} must be a mapping with 'default' and/or "
                    f"'metrics', got {section!r}"
                )
            if "default" in section:
                _check_bounds(f"{path}: papers.{name}.default", section["default"])
            _check_metric_table(f"{path}: papers.{name}.metrics", section.get("metrics") or {})
    claims = tol.get("claims") or {}
    if not isinstance(claims, dict) or not set(claims) <= {"fragile_rel"}:
        raise ValueError(f"{path}: 'claims' may only hold 'fragile_rel', got {claims!r}")
    return tol


def _lookup(table: dict, metric: str):
    """Exact metric name first, then the first glob pattern that matches, else None."""
    table = table or {}
    if metric in table:
        return table[metric]
    for pattern, spec in table.items():
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(metric, pattern):
            return spec
    return None


def _bounds(spec):
    return None if spec == "skip" else (float(spec.get("abs", 0)), float(spec.get("rel", 0)))


def metric_spec(tol: dict, metric: str):
    """The comparison tolerance of ``metric``: 'skip' or ``{abs, rel[, unstable]}``."""
    spec = _lookup(tol.get("metrics"), metric)
    return tol["default"] if spec is None else spec


def paper_spec(tol: dict, paper: str, metric: str):
    """A paper metric's tolerance: per paper, then all papers, then the papers' default."""
    papers = tol.get("papers") or {}
    own = papers.get(paper) or {}
    for spec in (_lookup(own.get("metrics"), metric), _lookup(papers.get("metrics"), metric)):
        if spec is not None:
            return spec
    return own.get("default", papers.get("default", tol["default"]))


def _drift(label, want, got, bounds) -> str | None:
    """A DRIFT line when ``got`` is outside ``want`` +- tolerance (NaN only matches NaN)."""
    allowed = bounds[0] + bounds[1] * abs(want) if np.isfinite(want) else 0.0
    if np.isnan(want) and np.isnan(got):
        return None
    if np.isnan(want) or np.isnan(got) or abs(got - want) > allowed:
        return (
            f"DRIFT    {label}: expected {want:.6g}, got {got:.6g} "
            f"(|diff| {abs(got - want):.3g} > tolerance {allowed:.3g})"
        )
    return None


def _indexed(frame: pd.DataFrame, key: list[str], what: str) -> dict:
    """``{key tuple (as strings): value}``; raises on missing columns or duplicate keys."""
    missing = [k for k in key + ["value"] if k not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")
    keys = list(zip(*(frame[k].astype(str) for k in key)))
    out = dict(zip(keys, frame["value"].astype(float)))
    if len(out) != len(keys):
        seen, dup = set(), None
        for k in keys:
            if k in seen:
                dup = dict(zip(key, k))
                break
            seen.add(k)
        raise ValueError(f"{what}: {len(keys) - len(out)} duplicate rows, e.g. {dup}")
    return out


def _label(key, names, **override) -> str:
    return ", ".join(f"{k}={override.get(k, v)}" for k, v in zip(names, key))


def _new_rows(cur, exp, names, skipped) -> list[str]:
    return [
        f"NEW      {_label(key, names)}: no expected value; run 'make update-expected' "
        f"deliberately if this row is meant to exist"
        for key in cur
        if key not in exp and not skipped(key)
    ]


def _outside_seed_range(rows, bounds) -> list[str]:
    """Per-seed values of an unstable method may land on another seed's optimum, not
    outside the range the expected seeds span, widened by the tolerance."""
    wants = [r[1] for r in rows]
    lo, hi = min(wants), max(wants)
    margin = bounds[0] + bounds[1] * max(abs(lo), abs(hi))
    return [
        f"DRIFT    {label}: got {got:.6g}, outside the expected seed range "
        f"[{lo:.6g}, {hi:.6g}] +- tolerance {margin:.3g} [per-seed values are unstable]"
        for _, _, got, label in rows
        if not (lo - margin <= got <= hi + margin)  # NaN fails too
    ]


def compare_metrics(current: pd.DataFrame, expected: pd.DataFrame, tol: dict) -> list[str]:
    """Failures of the comparison table: per-seed drift of stable methods, seed-mean or
    median drift of a metric's unstable methods, missing and unexpected rows."""
    cur = _indexed(current, KEY, "current compare/metrics.csv")
    exp = _indexed(expected, KEY, "expected compare_metrics.csv")
    i_method, i_seed, i_metric = (KEY.index(k) for k in ("method", "seed", "metric"))
    failures, groups, got_of = [], {}, cur
    for key, want in exp.items():
        spec = metric_spec(tol, key[i_metric])
        if spec == "skip":
            continue
        label = _label(key, KEY)
        if key not in got_of:
            failures.append(f"MISSING  {label}: expected {want:.6g}, no current value")
            continue
        unstable = unstable_spec(spec, key[i_method])
        if unstable is not None:
            if unstable.get("level") == "skip":
                continue
            if key[i_seed] != "all":  # aggregated over seeds below
                group = key[:i_seed] + key[i_seed + 1 :]
                groups.setdefault(group, []).append((key[i_seed], want, got_of[key], label))
                continue
            bounds = _bounds(unstable)
        else:
            bounds = _bounds(spec)
        line = _drift(label, want, got_of[key], bounds)
        if line:
            failures.append(line)
    names = KEY[:i_seed] + KEY[i_seed + 1 :]
    for group, rows in groups.items():
        unstable = unstable_spec(
            metric_spec(tol, group[names.index("metric")]), group[names.index("method")]
        )
        level = unstable.get("level", "median")
        agg = np.mean if level == "mean" else np.median
        seeds = ",".join(sorted(r[0] for r in rows))
        label = _label(group[:i_seed], KEY[:i_seed]) + f", seed={level}({seeds}), "
        label += _label(group[i_seed:], KEY[i_seed + 1 :])
        line = _drift(
            label, agg([r[1] for r in rows]), agg([r[2] for r in rows]), _bounds(unstable)
        )
        if line:
            failures.append(line + f" [{level} over seeds: per-seed values are unstable]")
        failures += _outside_seed_range(rows, _bounds(unstable))
    failures += _new_rows(cur, exp, KEY, lambda k: metric_spec(tol, k[i_metric]) == "skip")
    return failures


def compare_results(
    current: pd.DataFrame, expected: pd.DataFrame, tol: dict, paper: str
) -> list[str]:
    """Failures of one paper's long results.csv against its expected copy."""
    cur = _indexed(current, RESULT_KEY, f"current {paper}/results.csv")
    exp = _indexed(expected, RESULT_KEY, f"expected {PAPERS_DIR}/{paper}_results.csv")
    i_metric = RESULT_KEY.index("metric")
    failures = []
    for key, want in exp.items():
        spec = paper_spec(tol, paper, key[i_metric])
        if spec == "skip":
            continue
        label = _label(key, RESULT_KEY)
        if key not in cur:
            failures.append(f"MISSING  {label}: expected {want:.6g}, no current value")
            continue
        line = _drift(label, want, cur[key], _bounds(spec))
        if line:
            failures.append(line)
    skipped = lambda k: paper_spec(tol, paper, k[i_metric]) == "skip"  # noqa: E731
    return failures + _new_rows(cur, exp, RESULT_KEY, skipped)


def compare_claims(current: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """A claim that flipped (holds changed), disappeared or appeared."""
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
    exp_keys = set(expected.set_index(CLAIM_KEY).index)
    failures += [
        f"NEW      claim {k[0]}/{k[1]}: no expected value; run 'make update-expected' "
        f"deliberately if this claim is meant to exist"
        for k in cur.index
        if k not in exp_keys
    ]
    return failures


def paper_results(results_dir) -> dict[str, Path]:
    """``{paper: results_dir/<paper>/results.csv}`` for every paper that wrote one."""
    return {p.parent.name: p for p in sorted(Path(results_dir).glob("*/results.csv"))}


def _no_expected(path) -> str:
    return (
        f"NO EXPECTED VALUES  {path}: run 'make update-expected' deliberately "
        f"(python -m reference_impls.regression update) and commit the file"
    )


def check(results_dir, expected_dir, tolerances, papers=None, notes=None) -> list[str]:
    """All failures of the latest results in ``results_dir`` against ``expected_dir``.

    ``papers``: the paper ids whose ``results.csv`` must be checked (default: every
    ``results_dir/*/results.csv`` plus every expected paper file). ``notes``: a list that
    receives the non-failing findings (fragile claims).
    """
    results_dir, expected_dir = Path(results_dir), Path(expected_dir)
    tol = load_tolerances(tolerances)
    failures = []
    for kind, (current_name, expected_name) in FILES.items():
        cur_path, exp_path = results_dir / current_name, expected_dir / expected_name
        if not exp_path.is_file():
            failures.append(_no_expected(exp_path))
            continue
        if not cur_path.is_file():
            failures.append(f"NO RESULTS  {cur_path}: run the reproduction first")
            continue
        cur, exp = pd.read_csv(cur_path), pd.read_csv(exp_path)
        if kind == "metrics":
            try:
                failures += compare_metrics(cur, exp, tol)
            except ValueError as err:
                failures.append(f"BAD TABLE  {cur_path} or {exp_path}: {err}")
        else:
            failures += compare_claims(cur, exp)
            if notes is not None:
                rel = (tol.get("claims") or {}).get("fragile_rel", FRAGILE_REL)
                notes += [
                    f"FRAGILE  claim {p}/{c}: {why}"
                    for (p, c), why in fragile_claims(cur, rel).items()
                ]
    found = paper_results(results_dir)
    expected_papers = {
        p.name.removesuffix("_results.csv")
        for p in (expected_dir / PAPERS_DIR).glob("*_results.csv")
    }
    for paper in sorted(set(found if papers is None else papers) | expected_papers):
        cur_path = results_dir / paper / "results.csv"
        exp_path = expected_dir / PAPERS_DIR / f"{paper}_results.csv"
        if not exp_path.is_file():
            failures.append(_no_expected(exp_path) + f" for {cur_path}")
        elif not cur_path.is_file():
            failures.append(f"NO RESULTS  {cur_path}: run the reproduction first")
        else:
            try:
                failures += compare_results(
                    pd.read_csv(cur_path), pd.read_csv(exp_path), tol, paper
                )
            except ValueError as err:  # a malformed table is a failure line, not a crash
                failures.append(f"BAD TABLE  {cur_path} or {exp_path}: {err}")
    return failures


def update(results_dir, expected_dir) -> list[Path]:
    """Overwrite the expected values with the latest results (a deliberate act): the
    comparison table, the claims and every paper's results.csv."""
    results_dir, expected_dir = Path(results_dir), Path(expected_dir)
    expected_dir.mkdir(parents=True, exist_ok=True)
    copies = [(results_dir / cur, expected_dir / exp) for cur, exp in FILES.values()]
    copies += [
        (src, expected_dir / PAPERS_DIR / f"{paper}_results.csv")
        for paper, src in paper_results(results_dir).items()
    ]
    for src, _ in copies:
        if not src.is_file():
            raise FileNotFoundError(f"{src} does not exist: run the reproduction first")
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return [dst for _, dst in copies]


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
    notes: list[str] = []
    failures = check(
        results_dir,
        expected_dir,
        Path(args.results) / "expected" / "tolerances.yaml",
        notes=notes,
    )
    if notes:
        print("\n".join(notes))
    if failures:
        print(f"regression check FAILED for profile '{args.profile}' ({len(failures)} problems):")
        print("\n".join("  " + f for f in failures))
        return 1
    print(f"regression check passed for profile '{args.profile}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
