"""Noise floor of the comparison metrics: how far each (method, metric) moves when nothing but
the arithmetic changes (what another machine does to a correct reproduction).

Each condition refits every method of the profile's ``compare`` section (main rank x seeds,
plus the rank sweep at the first seed) on the cached activations, exactly as rules
``compare_fit`` / ``compare_collect`` do, and writes the long metrics table to
``benchmarks/results/noise_runs/<condition>.csv``:

  base       1 thread, torch deterministic algorithms on (what the Snakemake rule does)
  threads2   torch and BLAS on 2 threads, torch deterministic algorithms off
  ulp        every non-zero cached activation (train and test) moved by 1 ulp
             (``np.nextafter`` towards a random side; zeros stay zero: ReLU sparsity kept)
  retrained  the CNN retrained on 1 thread instead of 2 (profile ``noise``: a copy of
             ``default.yaml`` with ``profile: noise``, built into ``results/noise/``): new
             weights, new activations, same data and seeds

``summarise`` compares every condition with ``base``; per (method, metric, condition): the
largest |difference| of a per-seed value (``seed=all`` stability rows: of the one value), of
the mean and of the median over seeds, and the base seed-to-seed range, written to
``benchmarks/results/noise_floor.csv`` (condition ``max`` = the largest over conditions).

    OMP_NUM_THREADS=1 python benchmarks/noise_floor.py run base
    OMP_NUM_THREADS=2 python benchmarks/noise_floor.py run threads2
    python benchmarks/noise_floor.py summarise

Fits are cached in ``benchmarks/out/noise_fits/<condition>/`` (gitignored), so an
interrupted run resumes.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
CONDITIONS = ("base", "threads2", "ulp", "retrained")
PROFILE_OF = {"retrained": "noise"}
# the comparison protocol the committed noise floor was measured with (compare.py before the
# one-job-per-method refactor, 9 metrics); the current API (run_method, EvalData) needs an
# adapter here before the new metrics can be measured
PROTOCOL_REV = "f5f1fb1724abfee0948da010f7a060e409a847b4"
PRIORITY = [
    "ica",
    "kmeans_ace",
    "semi_nmf",
    "pca",
    "nmf_hals",
    "sparse_dictionary",
    "random_control",
]
log = logging.getLogger("noise_floor")


def _perturb_ulp(acts: np.ndarray, seed: int) -> np.ndarray:
    """Every non-zero entry moved by one unit in the last place, up or down at random."""
    acts = np.array(acts, dtype=np.float32, copy=True)
    nz = acts != 0
    up = np.random.default_rng(seed).random(int(nz.sum())) < 0.5
    acts[nz] = np.nextafter(acts[nz], np.where(up, np.inf, -np.inf).astype(np.float32))
    return acts


def _protocol(rev):
    """``reference_impls.compare`` as it is, or as it was at git revision ``rev`` (so that
    conditions measured at different times share one protocol while the module evolves)."""
    import importlib
    import subprocess
    import types

    if rev is None:
        return importlib.import_module("reference_impls.compare")
    source = subprocess.run(
        ["git", "show", f"{rev}:reference_impls/compare.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("reference_impls._compare_at_rev")
    module.__package__ = "reference_impls"
    exec(compile(source, f"compare.py@{rev}", "exec"), module.__dict__)
    return module


def run(condition: str, profile: str = "default", methods=None, rev=None) -> Path:
    """Refit the comparison under ``condition``; returns the metrics CSV it wrote."""
    import torch
    from threadpoolctl import threadpool_limits

    cmp_module = _protocol(rev)
    collect_metrics, config_hash = cmp_module.collect_metrics, cmp_module.config_hash
    fit_and_evaluate, load_fit = cmp_module.fit_and_evaluate, cmp_module.load_fit
    save_fit = cmp_module.save_fit
    from reference_impls.data import load_split
    from reference_impls.models import load_activations, load_checkpoint
    from reference_impls.utils import seed_everything

    threads = 2 if condition == "threads2" else 1
    torch.set_num_threads(threads)
    cfg = yaml.safe_load((ROOT / "workflow" / "config" / f"{profile}.yaml").read_text())
    cmp = cfg["compare"]
    res = ROOT / "results" / PROFILE_OF.get(condition, profile)
    dataset = cfg["models"][cmp["model"]]["dataset"]
    cache = res / "activations" / dataset / "{}" / cmp["model"] / f"{cmp['layer']}.npz"
    train = load_activations(str(cache).format(cmp.get("fit_split", "train")))["activations"]
    test = load_activations(str(cache).format(cmp.get("eval_split", "test")))
    eval_acts = test["activations"]
    if condition == "ulp":
        train, eval_acts = _perturb_ulp(train, 1), _perturb_ulp(eval_acts, 2)
    data = load_split(res / "data" / dataset / "manifest.json", cmp.get("eval_split", "test"))
    model = load_checkpoint(res / "models" / cmp["model"] / "checkpoint.pt")
    fits_dir = ROOT / "benchmarks" / "out" / "noise_fits" / condition
    fits_dir.mkdir(parents=True, exist_ok=True)
    seed0 = min(cmp["seeds"])
    context = {
        "dataset": dataset,
        "model": cmp["model"],
        "layer": cmp["layer"],
        "config_hash": config_hash(cmp),
    }
    out = OUT / "noise_runs" / f"{condition}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    # chaotic methods first, so that a run cut short has measured what matters most
    order = sorted(
        cmp["methods"], key=lambda m: (m not in PRIORITY, PRIORITY.index(m) if m in PRIORITY else 0)
    )
    fits = []
    for method in order:
        if methods and method not in methods:
            continue
        jobs = [(cmp["n_components"], s) for s in cmp["seeds"]]
        jobs += [(r, seed0) for r in cmp.get("rank_sweep", [])]
        for rank, seed in jobs:
            path = fits_dir / f"{method}_r{rank}_s{seed}.npz"
            if not path.is_file():
                start = time.perf_counter()
                seed_everything(seed)
                if condition == "threads2":
                    torch.use_deterministic_algorithms(False)
                spec = cmp["methods"][method]
                with threadpool_limits(threads):
                    result = fit_and_evaluate(
                        spec["class"],
                        spec.get("params", {}),
                        train,
                        eval_acts,
                        test["labels"],
                        data.ground_truth["attributes"],
                        model,
                        n_components=rank,
                        seed=seed,
                        n_fit_rows=cmp.get("n_fit_rows", 20000),
                        n_stability_rows=cmp.get("n_stability_rows", 10000),
                        evaluate=rank == cmp["n_components"],
                        n_fidelity_per_class=cmp.get("n_fidelity_per_class", 20),
                        n_design=cmp.get("n_design", 32),
                        fidelity_score=cmp.get("fidelity_score", "softmax"),
                        attribute_names=data.attribute_names,
                    )
                meta = {"method": method, "class": spec["class"], "n_components": rank}
                save_fit(path, result, {**meta, "seed": seed})
                log.info(
                    "%s %s r=%d s=%d %.1fs",
                    condition,
                    method,
                    rank,
                    seed,
                    time.perf_counter() - start,
                )
            fits.append(load_fit(path))
        # rewrite after every method: a run cut short still leaves a usable table
        long = collect_metrics(fits, cmp["n_components"], context)
        long.to_csv(out, index=False, float_format="%.6g")
    return out


def spread(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Per (method, metric): how far ``other`` is from ``base`` per seed, in the seed mean
    and in the seed median (seed=all rows: the one value in every column)."""
    key = ["method", "seed", "metric"]
    base = base[base["method"].isin(set(other["method"]))]  # a run cut short: its methods
    both = base[key + ["value"]].merge(other[key + ["value"]], on=key, suffixes=("_b", "_o"))
    if len(both) != len(base):
        raise ValueError(f"runs differ in rows: {len(base)} in base, {len(both)} matched")
    both["diff"] = (both["value_o"] - both["value_b"]).abs()
    both["rel"] = both["diff"] / both["value_b"].abs().clip(lower=1e-12)
    rows = []
    for (method, metric), g in both.groupby(["method", "metric"]):
        per_seed = g[g["seed"] != "all"]
        agg = per_seed if len(per_seed) else g
        rows.append(
            {
                "method": method,
                "metric": metric,
                "seed_max_abs": g["diff"].max(),
                "seed_max_rel": g["rel"].max(),
                "mean_abs": abs(agg["value_o"].mean() - agg["value_b"].mean()),
                "median_abs": abs(agg["value_o"].median() - agg["value_b"].median()),
                "base_mean": agg["value_b"].mean(),
                "base_seed_range": np.ptp(agg["value_b"]) if len(per_seed) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def summarise() -> Path:
    runs = OUT / "noise_runs"
    base = pd.read_csv(runs / "base.csv", dtype={"seed": str})
    frames = []
    for cond in CONDITIONS[1:]:
        if (runs / f"{cond}.csv").is_file():
            s = spread(base, pd.read_csv(runs / f"{cond}.csv", dtype={"seed": str}))
            frames.append(s.assign(condition=cond))
    table = pd.concat(frames, ignore_index=True)
    worst = table.groupby(["method", "metric"], as_index=False).agg(
        {
            "seed_max_abs": "max",
            "seed_max_rel": "max",
            "mean_abs": "max",
            "median_abs": "max",
            "base_mean": "first",
            "base_seed_range": "first",
        }
    )
    table = pd.concat([table, worst.assign(condition="max")], ignore_index=True)
    lead = ["metric", "method", "condition"]
    table = table[lead + [c for c in table.columns if c not in lead]].sort_values(lead)
    path = OUT / "noise_floor.csv"
    table.to_csv(path, index=False, float_format="%.4g")
    per_metric = table[table["condition"] == "max"].groupby("metric")[
        ["seed_max_abs", "mean_abs", "median_abs"]
    ]
    print(per_metric.max().to_string(float_format=lambda v: f"{v:.4g}"))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["run", "summarise"])
    parser.add_argument("condition", nargs="?", choices=CONDITIONS)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--methods", nargs="*", help="only these methods (for timing)")
    parser.add_argument(
        "--rev", default=PROTOCOL_REV, help="git revision of reference_impls/compare.py to use"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.action == "run":
        if args.condition is None:
            parser.error("run needs a condition")
        print(run(args.condition, args.profile, args.methods, args.rev))
    else:
        print(summarise())


if __name__ == "__main__":
    main()
