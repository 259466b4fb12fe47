"""Benchmark of the NMF solvers against scikit-learn's coordinate descent (not a test).

On a 20000 x 512 activation-like matrix (ReLU of a low-rank-plus-noise Gaussian with
heavy-tailed row and column scales; fixed seed) and rank 25 it measures

* scikit-learn ``NMF(solver="cd")`` with its defaults: wall time and final error, which
  becomes the target;
* for each solver of ``reference_impls.factorization.NMF``: the time until its error first
  reaches that target (initialization included), from per-iteration callbacks;
* the GFLOP/s of one multiplicative-update iteration (4 n p r + 4 r^2 (n + p) flops)
  against torch float32 matmul throughput measured here on the same shapes
  (``(n x p) @ (p x r)``) and on a square 2048^3 product (this machine's peak).

Times are the best of ``--repeats`` runs: the machine is shared, and the minimum is the
least contaminated estimate. Writes ``benchmarks/results/nmf_solvers.csv`` (long format,
one row per method and metric, with versions) and ``nmf_solvers.png``.

Usage: ``python benchmarks/bench_nmf.py [--repeats 3] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.decomposition import NMF as SklearnNMF

from reference_impls.factorization import NMF

RESULTS = Path(__file__).resolve().parent / "results"
SOLVERS = ("hals", "mu", "admm")


def make_activations(n=20000, p=512, k=50, seed=0) -> np.ndarray:
    """ReLU(low rank + noise) with log-normal row and column scales: sparse, heavy-tailed."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, k), dtype=np.float32) @ (
        rng.standard_normal((k, p), dtype=np.float32) / np.sqrt(k)
    )
    Z += 0.5 * rng.standard_normal((n, p), dtype=np.float32)
    Z *= rng.lognormal(0.0, 0.5, (n, 1)).astype(np.float32)
    Z *= rng.lognormal(0.0, 0.5, (1, p)).astype(np.float32)
    return np.maximum(Z - 0.3, 0.0, out=Z)


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(n, p, r, repeats):
    """float32 torch matmul GFLOP/s on NMF's product shapes and on a square product."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n, p, generator=g)
    H = torch.rand(r, p, generator=g)
    W = torch.rand(n, r, generator=g)
    flops = 2.0 * n * p * r
    t_xh = best_time(lambda: X @ H.T, 5 * repeats)
    t_wx = best_time(lambda: W.T @ X, 5 * repeats)
    m = 2048
    A, B = torch.rand(m, m, generator=g), torch.rand(m, m, generator=g)
    t_sq = best_time(lambda: A @ B, 3 * repeats)
    return {
        "same_shape": 2 * flops / (t_xh + t_wx) / 1e9,
        "square_2048": 2.0 * m**3 / t_sq / 1e9,
    }


class _Stop(Exception):
    pass


def run_solver(X, solver, rank, target, time_cap, max_iter=5000):
    """One fit with per-iteration timestamps; stops at ``target`` or after ``time_cap`` s."""
    times, errors = [], []
    t0 = time.perf_counter()

    def callback(it, objective):
        times.append(time.perf_counter() - t0)
        errors.append((2.0 * objective) ** 0.5)
        if errors[-1] <= target or times[-1] > time_cap:
            raise _Stop

    model = NMF(rank, solver=solver, max_iter=max_iter, tol=0.0, random_state=0, callback=callback)
    try:
        model.fit(X)
    except _Stop:
        pass
    times, errors = np.array(times), np.array(errors)
    hit = np.flatnonzero(errors <= target)
    return {
        "times": times,
        "errors": errors,
        "time_to_target": float(times[hit[0]]) if hit.size else float("nan"),
        "iters_to_target": int(hit[0]) if hit.size else -1,
        "iter_time": float(np.median(np.diff(times[1:]))) if len(times) > 2 else float("nan"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5000 x 512 matrix, 1 repeat")
    args = parser.parse_args()
    n, p, r = (5000, 512, 25) if args.quick else (20000, 512, 25)
    repeats = 1 if args.quick else args.repeats
    X = make_activations(n, p)
    print(f"X: {n} x {p}, {100 * (X == 0).mean():.1f}% zeros, max/mean {X.max() / X.mean():.1f}")

    gf = matmul_gflops(n, p, r, repeats)
    print(f"matmul float32: same shapes {gf['same_shape']:.1f} GFLOP/s, square 2048 {gf['square_2048']:.1f} GFLOP/s")

    sk_times = []
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at the default max_iter
            t0 = time.perf_counter()
            sk = SklearnNMF(r, solver="cd").fit(X)
            sk_times.append(time.perf_counter() - t0)
    target = float(sk.reconstruction_err_)
    sk_time = min(sk_times)
    print(f"sklearn cd: {sk_time:.2f} s, {sk.n_iter_} iterations, error {target:.2f}")

    runs = {}
    for solver in SOLVERS:
        best = None
        for _ in range(repeats):
            res = run_solver(X, solver, r, target, time_cap=3 * sk_time)
            if best is None or not res["time_to_target"] >= best["time_to_target"]:
                best = res
        runs[solver] = best
        print(
            f"{solver}: time to target {best['time_to_target']:.2f} s "
            f"({best['iters_to_target']} iterations), {best['iter_time'] * 1e3:.1f} ms/iteration, "
            f"ratio to sklearn {best['time_to_target'] / sk_time:.3f}"
        )

    flops_mu = 4.0 * n * p * r + 4.0 * r * r * (n + p)
    mu_gflops = flops_mu / runs["mu"]["iter_time"] / 1e9
    print(
        f"MU iteration: {mu_gflops:.1f} GFLOP/s = {100 * mu_gflops / gf['same_shape']:.0f}% of same-shape "
        f"matmul, {100 * mu_gflops / gf['square_2048']:.0f}% of square matmul"
    )

    rows = [("sklearn_cd", "time_to_own_error", sk_time, "s"), ("sklearn_cd", "final_error", target, "frobenius"),
            ("sklearn_cd", "n_iter", sk.n_iter_, "iterations")]
    for solver, res in runs.items():
        rows += [
            (solver, "time_to_target", res["time_to_target"], "s"),
            (solver, "iters_to_target", res["iters_to_target"], "iterations"),
            (solver, "ratio_to_sklearn_time", res["time_to_target"] / sk_time, "ratio"),
            (solver, "iteration_time", res["iter_time"], "s"),
        ]
    rows += [
        ("mu", "iteration_gflops", mu_gflops, "GFLOP/s"),
        ("torch_matmul", "same_shape_gflops", gf["same_shape"], "GFLOP/s"),
        ("torch_matmul", "square_2048_gflops", gf["square_2048"], "GFLOP/s"),
        ("mu", "fraction_of_same_shape_matmul", mu_gflops / gf["same_shape"], "ratio"),
        ("mu", "fraction_of_square_matmul", mu_gflops / gf["square_2048"], "ratio"),
    ]
    table = pd.DataFrame(rows, columns=["method", "metric", "value", "unit"])
    table.insert(0, "benchmark", "nmf_activation_like")
    for key, value in {
        "n_samples": n, "n_features": p, "rank": r, "repeats": repeats,
        "torch_version": torch.__version__, "sklearn_version": sklearn.__version__,
        "torch_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
    }.items():
        table[key] = value
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    table.to_csv(RESULTS / f"nmf_solvers{suffix}.csv", index=False)
    plot(runs, sk_time, target, mu_gflops, gf, n, p, r, RESULTS / f"nmf_solvers{suffix}.png")
    print(f"wrote {RESULTS / f'nmf_solvers{suffix}.csv'}")


def plot(runs, sk_time, target, mu_gflops, gf, n, p, r, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1.6, 1]})
    for solver, res in runs.items():
        rel = res["errors"] / target - 1.0
        ax1.plot(res["times"], np.maximum(rel, 1e-6), label=f"{solver} (ours)", lw=1.8)
    ax1.axvline(sk_time, color="k", ls="--", lw=1, label=f"sklearn cd, defaults ({sk_time:.1f} s)")
    ax1.axvline(sk_time / 3, color="grey", ls=":", lw=1, label="target: 1/3 of sklearn time")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("wall time including initialization [s]")
    ax1.set_ylabel("relative excess error  ||X - WH||_F / err_sklearn - 1")
    ax1.set_title(f"Time to sklearn-cd's error (X: {n} x {p}, rank {r})")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)

    names = ["MU iteration", "matmul\nsame shapes", "matmul\nsquare 2048"]
    vals = [mu_gflops, gf["same_shape"], gf["square_2048"]]
    bars = ax2.bar(names, vals, color=["tab:orange", "tab:blue", "tab:gray"])
    ax2.axhline(0.5 * gf["same_shape"], color="tab:blue", ls=":", lw=1, label="50% of same-shape matmul")
    for bar, v in zip(bars, vals):
        ax2.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom", fontsize=9)
    ax2.set_ylabel("float32 GFLOP/s")
    ax2.set_title(f"Throughput ({torch.get_num_threads()} threads)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
