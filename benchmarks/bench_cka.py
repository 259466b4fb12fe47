"""Benchmark linear CKA: feature-space form vs the n x n Gram (HSIC) form.

    python benchmarks/bench_cka.py [--n 10000] [--p 512] [--q 256] [--repeats 7]

Times ``linear_cka`` on float32 representations (default 10000 x 512 vs 10000 x 256; the
feature form's target is < 0.2 s on a 2-core CPU), the Gram form (``method="gram"``, float64),
the debiased and minibatch estimators, and a naive float32 Gram computation for its
accuracy. Each row reports the median and minimum wall time over ``repeats`` runs (after
one warm-up), the CKA value and ``abs_error_vs_float64``, its absolute difference from the
float64 feature-form value (a numerical error for the biased forms; for the debiased and
minibatch estimators it is the small-sample bias they remove, not an error).
Writes ``benchmarks/results/cka_timing.csv``.

The machine may be shared: the load average at start and end is recorded in every row.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reference_impls.metrics import linear_cka, linear_cka_debiased, minibatch_cka

OUT = Path(__file__).resolve().parent / "results" / "cka_timing.csv"


def naive_gram_cka_float32(X: np.ndarray, Y: np.ndarray) -> float:
    """The textbook n x n computation entirely in float32 (what the suite avoids)."""

    def centred_gram(Z):
        K = Z @ Z.T
        m = K.mean(0, dtype=np.float32)
        return K - m[None, :] - m[:, None] + m.mean(dtype=np.float32)

    K, L = centred_gram(X), centred_gram(Y)
    return float(np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L)))


def time_it(fn, repeats: int) -> tuple[float, float, float]:
    value = fn()  # warm-up (BLAS thread start, page faults)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times)), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--p", type=int, default=512)
    parser.add_argument("--q", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--gram-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    # ReLU-like activations with a shared component, so CKA is neither 0 nor 1
    X = np.maximum(rng.standard_normal((args.n, args.p)), 0).astype(np.float32)
    mix = rng.standard_normal((args.p, args.q)).astype(np.float32) / np.sqrt(args.p)
    Y = np.maximum(X @ mix + rng.standard_normal((args.n, args.q)).astype(np.float32), 0)
    Y = Y.astype(np.float32)
    load_start = os.getloadavg()[0]
    reference = linear_cka(X.astype(np.float64), Y.astype(np.float64), method="features")

    cases = [
        (
            "features",
            "linear_cka(method='features'), float32 in, float64 accumulation",
            lambda: linear_cka(X, Y, method="features"),
            args.repeats,
        ),
        (
            "features_torch",
            "linear_cka on CPU torch tensors",
            lambda: linear_cka(torch.from_numpy(X), torch.from_numpy(Y)),
            args.repeats,
        ),
        (
            "debiased",
            "linear_cka_debiased (feature space)",
            lambda: linear_cka_debiased(X, Y),
            args.repeats,
        ),
        (
            "minibatch",
            "minibatch_cka(batch_size=1024)",
            lambda: minibatch_cka(X, Y, batch_size=1024),
            args.repeats,
        ),
        (
            "gram",
            "linear_cka(method='gram'), n x n kernels in float64",
            lambda: linear_cka(X, Y, method="gram"),
            args.gram_repeats,
        ),
        (
            "gram_naive_float32",
            "textbook n x n Gram form entirely in float32",
            lambda: naive_gram_cka_float32(X, Y),
            args.gram_repeats,
        ),
    ]
    rows = []
    for name, what, fn, repeats in cases:
        median, best, value = time_it(fn, repeats)
        rows.append(
            {
                "method": name,
                "description": what,
                "n": args.n,
                "p": args.p,
                "q": args.q,
                "input_dtype": "float32",
                "repeats": repeats,
                "median_s": round(median, 4),
                "min_s": round(best, 4),
                "cka": value,
                "abs_error_vs_float64": abs(value - reference),
            }
        )
        print(
            f"{name:20s} median {median:8.4f} s  min {best:8.4f} s  cka {value:.6f}  "
            f"|diff| {abs(value - reference):.2e}",
            flush=True,
        )

    table = pd.DataFrame(rows)
    feature_median = table.loc[table.method == "features", "median_s"].item()
    table["slowdown_vs_features"] = (table["median_s"] / feature_median).round(2)
    table["cpu_count"] = os.cpu_count()
    table["torch_threads"] = torch.get_num_threads()
    table["loadavg_start"] = round(load_start, 2)
    table["loadavg_end"] = round(os.getloadavg()[0], 2)
    table["machine"] = platform.machine()
    table["numpy"] = np.__version__
    table["torch"] = torch.__version__
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(
        f"wrote {args.out}; feature form target < 0.2 s: "
        f"{'met' if feature_median < 0.2 else 'NOT met'} ({feature_median:.3f} s)"
    )


if __name__ == "__main__":
    main()
