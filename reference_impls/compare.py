"""Compare any concept extractor against the baselines on the shared metrics.

One fit = one (method, n_components, seed) on spatial activation vectors ("patches") of a
cached layer; one Snakemake job fits every seed and rank of one method (the training rows are
loaded once). :func:`evaluate_fit` scores a fit on held-out images:

- extraction (Fel et al. 2023, holistic): reconstruction error, code sparsity, Fréchet and 1-D
  Wasserstein distances between activations and reconstructions, Deep-kNN OOD distance, and
  output agreement (top-1, KL) of the model above the layer on A and on its reconstruction;
- importance (CRAFT Sec. 4.4; Fel et al. 2023): concept deletion / insertion AUCs under
  per-class Sobol rankings, raw and normalised by the full reconstruction's score, and
  C-muFidelity;
- downstream: attribute-SVM accuracy (Khorram Tables 4.1-4.2) and bag-of-neural-activations
  accuracy (Kolouri et al. Table 1), on the training classes and on the unseen probe classes;
- part-level ground truth: Hungarian-matched soft IoU of concept maps with part masks.

:func:`stability_metrics` adds what needs several fits: CKA stability across seeds and ranks,
Hungarian-matched dictionary stability across seeds and across disjoint data folds.
:func:`separation_table` says, for every metric, whether the best real method separates from
the random control (effect and interval over seeds or fit pairs), and
:func:`metric_agreement` the Kendall tau between metrics across methods.

Methods differ in how they decode (PCA and ICA add a mean, ICA's ``components_`` is its
unmixing matrix), so every metric that rebuilds activations uses the method's own affine
decoder read off ``inverse_transform``: ``A_hat = U D + b`` (see :func:`affine_decoder`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import metrics
from .methods import concept_bank, make_extractor
from .methods.banks import affine_decoder
from .metrics import extraction
from .metrics.localisation import REGION_NAMES
from .metrics.parts import concept_part_alignment, part_fractions
from .models.heads import LayerHead
from .utils import as_numpy

SCALAR_METRICS = {  # name -> higher is better (the summary's column order)
    "reconstruction_error": False,
    "code_sparsity": True,
    "frechet_distance": False,
    "wasserstein_1d": False,
    "ood_distance": False,
    "output_top1_agreement": True,
    "output_kl": False,
    "deletion_auc": False,
    "deletion_auc_normalised": False,
    "insertion_auc": True,
    "insertion_auc_normalised": True,
    "c_mufidelity": True,
    "attribute_svm_accuracy": True,
    "attribute_svm_accuracy_unseen": True,
    "bona_accuracy": True,
    "bona_accuracy_unseen": True,
    "part_alignment_iou": True,
    "cka_stability_seeds": True,
    "cka_stability_ranks": True,
    "dictionary_stability": True,
    "fold_stability": True,
    "fit_seconds": False,
}
# Not judged for separation from the control: wall time is a cost, not a quality.
NOT_SEPARATED = ("fit_seconds",)


def patches(acts: np.ndarray):
    """``N x C x H x W`` activations -> ``(N*H*W) x C`` rows and the image id of each row."""
    acts = np.asarray(acts, dtype=np.float32)
    if acts.ndim == 2:
        return acts, np.arange(len(acts))
    if acts.ndim != 4:
        raise ValueError(f"activations must be N x C x H x W or N x C, got shape {acts.shape}")
    n, c, h, w = acts.shape
    return acts.transpose(0, 2, 3, 1).reshape(-1, c), np.repeat(np.arange(n), h * w)


def sample_rows(n_rows: int, n_keep: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n_keep, n_rows)`` rows drawn without replacement."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=min(n_keep, n_rows), replace=False))


def fit_extractor(class_name, params, A_fit, n_components, seed):
    """Fit one extractor; returns it and the fit wall time in seconds."""
    extractor = make_extractor(class_name, params, n_components=n_components, random_state=seed)
    start = time.perf_counter()
    extractor.fit(A_fit)
    return extractor, time.perf_counter() - start


@dataclass
class EvalData:
    """What :func:`evaluate_fit` scores a fit on (one layer of one model).

    ``acts`` ``N x C x H x W`` held-out activations with their ``labels`` and binary
    ``attributes`` (None: a dataset without attributes, no attribute-SVM); ``probe_*`` the same for the unseen probe classes (or None);
    ``part_masks`` ``N x H' x W'`` region masks of the held-out images (0 = background) or
    None; ``reference`` real activation rows the OOD distance compares with (training rows).
    """

    acts: np.ndarray
    labels: np.ndarray
    attributes: np.ndarray | None
    model: torch.nn.Module
    layer: str
    attribute_names: list | None = None
    probe_acts: np.ndarray | None = None
    probe_labels: np.ndarray | None = None
    probe_attributes: np.ndarray | None = None
    part_masks: np.ndarray | None = None
    reference: np.ndarray | None = None


def _per_class_subset(labels, n_per_class, rng):
    return np.sort(
        np.concatenate(
            [
                rng.choice(
                    np.flatnonzero(labels == k),
                    size=min(n_per_class, int((labels == k).sum())),
                    replace=False,
                )
                for k in np.unique(labels)
            ]
        )
    )


def _downstream(U_maps, labels, attributes, r, seed, attribute_names, suffix="") -> dict:
    """Attribute-SVM accuracy from image codes (when the split has ``attributes``) and BONA
    accuracy from patch assignments."""
    n, h, w, _ = U_maps.shape
    out = {}
    if attributes is not None:
        out["attribute_svm_accuracy" + suffix] = metrics.attribute_svm_accuracy(
            U_maps.mean((1, 2)), attributes, random_state=seed, attribute_names=attribute_names
        ).mean_accuracy
    out["bona_accuracy" + suffix] = metrics.bona_accuracy(
        hard_assignments(U_maps.reshape(-1, r)),
        np.repeat(np.arange(n), h * w),
        np.repeat(labels, h * w),
        r + 1,
        random_state=seed,
    ).mean_accuracy
    return out


@torch.no_grad()
def evaluate_fit(
    extractor,
    data: EvalData,
    *,
    n_fidelity_per_class=20,
    n_design=32,
    n_distribution_rows=10000,
    seed=0,
    fidelity_score="softmax",
) -> dict:
    """Scalar metrics of one fitted extractor on held-out spatial activations.

    Concepts are ranked per class by total Sobol indices of the class logit (CRAFT); the
    deletion / insertion curves record ``fidelity_score``: the softmax probability by
    default, bounded in [0, 1] so that methods with signed decoders (semi-NMF, ICA), whose
    partial reconstructions can push logits far below zero, stay comparable. The
    ``*_normalised`` AUCs divide by the score of the full reconstruction (deletion's first
    point, insertion's last), so that they measure the ordering of the concepts, not how
    well the reconstruction is classified (which ``output_*`` measure): a bank whose
    reconstruction already scores low cannot win deletion by starting low.

    Downstream probes run on the training classes (``attribute_svm_accuracy``,
    ``bona_accuracy``) and, when given, on the unseen probe classes (``*_unseen``): on the
    classes the network was trained on, any rank-r code of its layer carries the class and
    hence most attributes, so the seen-class probes saturate; unseen classes ask whether the
    concepts carry the attributes themselves.
    """
    n, c, h, w = data.acts.shape
    A, _ = patches(data.acts)
    U = as_numpy(extractor.transform(A), np.float32)
    r = U.shape[1]
    A_hat = as_numpy(extractor.inverse_transform(U), np.float32)
    out = {"reconstruction_error": metrics.relative_frobenius_error(A, A_hat)}
    out["code_sparsity"] = extraction.code_sparsity(U)
    rows = sample_rows(len(A), n_distribution_rows, 54321)
    out["frechet_distance"] = extraction.frechet_distance(A[rows], A_hat[rows])
    out["wasserstein_1d"] = extraction.wasserstein_1d(A[rows], A_hat[rows])
    if data.reference is not None:
        out["ood_distance"] = extraction.ood_distance(A_hat[rows[:2000]], data.reference)
    plain_head = LayerHead(data.model, data.layer)
    agreement = extraction.output_agreement(
        plain_head, A.reshape(n, h, w, c), A_hat.reshape(n, h, w, c)
    )
    out["output_top1_agreement"], out["output_kl"] = agreement.top1, agreement.kl

    D, b = affine_decoder(extractor, r, c)
    head = LayerHead(data.model, data.layer, offset=b)
    U_maps = U.reshape(n, h, w, r)
    subset = _per_class_subset(data.labels, n_fidelity_per_class, np.random.default_rng(seed))
    target = data.labels[subset]
    importance = metrics.per_class_importance(
        metrics.concept_sobol_importance,
        U_maps[subset],
        D,
        head,
        target,
        n_design=n_design,
        seed=seed,
    )
    order = metrics.importance_to_order(importance)
    curve_args = (U_maps[subset], D, head, target, order)
    deletion = metrics.concept_deletion(*curve_args, score=fidelity_score)
    insertion = metrics.concept_insertion(*curve_args, score=fidelity_score)
    out["deletion_auc"], out["insertion_auc"] = deletion.auc, insertion.auc
    out["deletion_auc_normalised"] = deletion.auc / max(float(deletion.curve[0]), 1e-12)
    out["insertion_auc_normalised"] = insertion.auc / max(float(insertion.curve[-1]), 1e-12)
    out["c_mufidelity"] = extraction.concept_mufidelity(
        U_maps[subset], D, head, target, importance, seed=seed, score=fidelity_score
    )

    out.update(_downstream(U_maps, data.labels, data.attributes, r, seed, data.attribute_names))
    if data.probe_acts is not None:
        P, _ = patches(data.probe_acts)
        U_probe = as_numpy(extractor.transform(P), np.float32)
        out.update(
            _downstream(
                U_probe.reshape(len(data.probe_acts), h, w, r),
                data.probe_labels,
                data.probe_attributes,
                r,
                seed,
                data.attribute_names,
                suffix="_unseen",
            )
        )
    if data.part_masks is not None:
        fractions = part_fractions(data.part_masks, (h, w), len(REGION_NAMES))
        out["part_alignment_iou"] = concept_part_alignment(U_maps, fractions).mean_iou
    return out


def hard_assignments(U: np.ndarray) -> np.ndarray:
    """Argmax concept of each patch; patches with no winning concept (all coefficients
    equal, e.g. a dead all-zero patch) get the extra label ``r`` ("no concept") so they
    count in the bag-of-activations histogram instead of being dropped."""
    U = np.asarray(U)
    labels = U.argmax(1)
    labels[U.max(1) == U.min(1)] = U.shape[1]
    return labels


def stability_metrics(codes_by_seed, banks_by_seed, codes_by_rank, banks_by_fold=()) -> dict:
    """Across-fit metrics: CKA between codes over seeds and over ranks, bank stability over
    seeds and over disjoint data folds (Fel et al. 2023 "stability", reported as the matched
    similarity, higher better). Values are :class:`metrics.PairwiseStability` (mean and the
    matrix of pairs)."""
    out = {}
    if len(codes_by_seed) >= 2:
        out["cka_stability_seeds"] = metrics.cka_stability(codes_by_seed)
        out["dictionary_stability"] = metrics.pairwise_stability(banks_by_seed)
    if len(codes_by_rank) >= 2:
        out["cka_stability_ranks"] = metrics.cka_stability(codes_by_rank)
    if len(banks_by_fold) >= 2:
        out["fold_stability"] = metrics.pairwise_stability(banks_by_fold)
    return out


def fit_and_evaluate(
    class_name,
    params,
    A_fit,
    data: EvalData,
    *,
    n_components,
    seed,
    n_stability_rows,
    evaluate=True,
    **eval_kwargs,
) -> dict:
    """Fit on the training rows ``A_fit``, evaluate on ``data`` (unless ``evaluate`` is False:
    rank-sweep fits only feed stability), keep codes of fixed held-out rows for stability."""
    extractor, seconds = fit_extractor(class_name, params, A_fit, n_components, seed)
    scores = evaluate_fit(extractor, data, seed=seed, **eval_kwargs) if evaluate else {}
    scores["fit_seconds"] = seconds
    A_eval, _ = patches(data.acts)
    rows = sample_rows(len(A_eval), n_stability_rows, 12345)  # same rows for every fit
    return {
        "scores": scores,
        "bank": concept_bank(extractor).astype(np.float32),
        "stability_codes": canonical_codes(extractor, A_eval[rows]),
    }


def fit_rows(train_acts, n_fit_rows: int) -> np.ndarray:
    """The fixed training sample every seed and rank is fitted on (row sample seed 0): seed
    differences measure the method's own randomness, not a change of data."""
    A_train, _ = patches(train_acts)
    return A_train[sample_rows(len(A_train), n_fit_rows, 0)]


def fold_banks(class_name, params, train_acts, *, n_folds, n_fit_rows, n_components, seed):
    """Banks fitted on ``n_folds`` disjoint training samples of ``n_fit_rows`` rows each (same
    ``random_state``): the data-fold stability of Fel et al. 2023."""
    A_train, _ = patches(train_acts)
    perm = np.random.default_rng(777).permutation(len(A_train))
    size = min(n_fit_rows, len(A_train) // n_folds)
    banks = []
    for k in range(n_folds):
        ext, _ = fit_extractor(
            class_name,
            params,
            A_train[np.sort(perm[k * size : (k + 1) * size])],
            n_components,
            seed,
        )
        banks.append(concept_bank(ext).astype(np.float32))
    return banks


def run_method(class_name, params, train_acts, data: EvalData, plan: dict, log=None) -> dict:
    """Every fit of one method: ``plan`` has ``main_rank``, ``seeds``, ``rank_sweep``,
    ``n_folds``, ``n_fit_rows``, ``n_stability_rows`` and the evaluation keyword arguments
    (``eval``). Returns ``{(rank, seed): fit result}`` and ``"folds"``: the fold banks."""
    A_fit = fit_rows(train_acts, plan["n_fit_rows"])
    seed0 = min(plan["seeds"])
    combos = [(plan["main_rank"], s) for s in plan["seeds"]]
    combos += [(r, seed0) for r in plan["rank_sweep"] if r != plan["main_rank"]]
    fits = {}
    for rank, seed in combos:
        start = time.perf_counter()
        fits[(rank, seed)] = fit_and_evaluate(
            class_name,
            params,
            A_fit,
            data,
            n_components=rank,
            seed=seed,
            n_stability_rows=plan["n_stability_rows"],
            evaluate=rank == plan["main_rank"],
            **plan["eval"],
        )
        if log is not None:
            log.info(
                "r=%d seed=%d done in %.1fs: %s",
                rank,
                seed,
                time.perf_counter() - start,
                fits[(rank, seed)]["scores"],
            )
    folds = fold_banks(
        class_name,
        params,
        train_acts,
        n_folds=plan["n_folds"],
        n_fit_rows=plan["n_fit_rows"],
        n_components=plan["main_rank"],
        seed=seed0,
    )
    return {"fits": fits, "folds": folds}


def canonical_codes(extractor, A) -> np.ndarray:
    """Codes rescaled as if every decoder atom had unit norm: ``U_k * ||D_k||``.

    Factorizations are defined up to a per-concept scale (``U D = (U S)(S^-1 D)``) and linear
    CKA is not invariant to per-column scaling, so codes of two seeds that found the same
    concepts would otherwise look different.
    """
    U = as_numpy(extractor.transform(A), np.float32)
    D, _ = affine_decoder(extractor, U.shape[1], A.shape[1])
    return U * np.linalg.norm(D, axis=1)


def config_hash(obj) -> str:
    """Short stable hash of a JSON-able config (recorded next to every result row)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def package_versions() -> dict:
    import sklearn

    from . import __version__

    return {
        "reference_impls": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }


def save_fit(path, result: dict, meta: dict) -> None:
    """One fit's bank, stability codes, scores and metadata in one ``.npz``."""
    np.savez(
        path,
        bank=result["bank"],
        stability_codes=result["stability_codes"],
        scores=np.array(json.dumps(result.get("scores", {}))),
        meta=np.array(json.dumps(meta)),
    )


def save_folds(path, banks, meta: dict) -> None:
    np.savez(path, banks=np.stack(banks), meta=np.array(json.dumps(meta)))


def load_folds(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {"banks": list(data["banks"]), "meta": json.loads(str(data["meta"]))}


def load_fit(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {
            "bank": data["bank"],
            "stability_codes": data["stability_codes"],
            "scores": json.loads(str(data["scores"])),
            "meta": json.loads(str(data["meta"])),
        }


def stability_pairs(fits, main_rank: int, folds: dict | None = None) -> pd.DataFrame:
    """Across-fit metrics, one row per (method, metric, pair of fits): the pairs' mean is the
    metric, their spread its interval. ``folds`` maps method -> list of fold banks."""
    folds = folds or {}
    by_method: dict = {}
    for fit in fits:
        by_method.setdefault(fit["meta"]["method"], []).append(fit)
    rows = []
    for method in sorted(set(by_method) | set(folds)):
        items = by_method.get(method, [])
        main = sorted(
            (f for f in items if f["meta"]["n_components"] == main_rank),
            key=lambda f: f["meta"]["seed"],
        )
        seed0 = min(f["meta"]["seed"] for f in main) if main else None
        ranks = sorted(
            (f for f in items if f["meta"]["seed"] == seed0),
            key=lambda f: f["meta"]["n_components"],
        )
        stab = stability_metrics(
            [f["stability_codes"] for f in main],
            [f["bank"] for f in main],
            [f["stability_codes"] for f in ranks],
            folds.get(method, ()),
        )
        for metric, result in stab.items():
            i, j = np.triu_indices(len(result.matrix), 1)
            rows += [
                {
                    "method": method,
                    "metric": metric,
                    "pair": f"{a}-{b}",
                    "value": result.matrix[a, b],
                }
                for a, b in zip(i, j)
            ]
    return pd.DataFrame(rows, columns=["method", "metric", "pair", "value"])


def collect_metrics(fits, main_rank: int, context: dict, folds: dict | None = None) -> pd.DataFrame:
    """Long table (one row per method, seed, metric) from loaded fits plus stability rows.

    ``context`` holds the constant columns (dataset, model, layer, config_hash, versions).
    Across-fit metrics (mean over the pairs of :func:`stability_pairs`) get ``seed = "all"``.
    """
    rows = []
    for fit in fits:
        m = fit["meta"]
        if m["n_components"] != main_rank:
            continue
        for metric, value in fit["scores"].items():
            rows.append(
                {
                    "method": m["method"],
                    "seed": str(m["seed"]),
                    "n_components": m["n_components"],
                    "metric": metric,
                    "value": value,
                }
            )
    pairs = stability_pairs(fits, main_rank, folds)
    for (method, metric), sub in pairs.groupby(["method", "metric"], sort=True):
        rows.append(
            {
                "method": method,
                "seed": "all",
                "n_components": main_rank,
                "metric": metric,
                "value": float(sub["value"].mean()),
            }
        )
    frame = pd.DataFrame(rows)
    for key, value in context.items():
        frame[key] = value
    lead = ["method", "dataset", "model", "layer", "seed", "n_components", "metric", "value"]
    return (
        frame[lead + [c for c in frame.columns if c not in lead]]
        .sort_values(["method", "metric", "seed"], kind="stable")
        .reset_index(drop=True)
    )


def summary_table(long) -> pd.DataFrame:
    """Methods x metrics (mean over seeds), in :data:`SCALAR_METRICS` order."""
    wide = long.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    return wide[[m for m in SCALAR_METRICS if m in wide.columns]]


def separation_table(long, pairs=None, control: str = "random_control") -> pd.DataFrame:
    """For every metric: does the best real method beat the ``control`` method?

    ``effect`` = the better-direction difference (best real method minus control, sign
    flipped for lower-is-better metrics), its mean and ``[low, high]`` over the paired seeds
    (per-seed metrics) or over the paired fit pairs (across-fit metrics, from ``pairs``:
    :func:`stability_pairs`). A metric *separates* when the whole interval is above 0. The
    best real method is chosen by the mean (so the interval is not selected on).
    """
    wide = summary_table(long)
    if control not in wide.index:
        raise ValueError(f"separation needs the control method '{control}' in the matrix")
    per_seed = long[long["seed"] != "all"]
    rows = []
    for metric in wide.columns:
        if metric in NOT_SEPARATED:
            continue
        sign = 1.0 if SCALAR_METRICS[metric] else -1.0
        real = wide[metric].drop(control).dropna()
        if real.empty or np.isnan(wide.loc[control, metric]):
            continue
        best = (sign * real).idxmax()
        sub = per_seed[per_seed["metric"] == metric]
        if not sub.empty:
            b = sub[sub["method"] == best].set_index("seed")["value"]
            c = sub[sub["method"] == control].set_index("seed")["value"]
            over = "seeds"
        else:
            sub = pairs[pairs["metric"] == metric] if pairs is not None else pairs
            if sub is None or sub.empty:
                continue
            b = sub[sub["method"] == best].set_index("pair")["value"]
            c = sub[sub["method"] == control].set_index("pair")["value"]
            over = "fit pairs"
        keys = sorted(set(b.index) & set(c.index))
        d = sign * (b[keys].to_numpy(float) - c[keys].to_numpy(float))
        low, high = float(d.min()), float(d.max())
        verdict = (
            "separates" if low > 0 else ("control better" if high < 0 else "does not separate")
        )
        rows.append(
            {
                "metric": metric,
                "higher_is_better": bool(SCALAR_METRICS[metric]),
                "best_method": best,
                "best_value": float(wide.loc[best, metric]),
                "control_value": float(wide.loc[control, metric]),
                "effect": float(d.mean()),
                "effect_low": low,
                "effect_high": high,
                "interval_over": f"{over} ({len(keys)})",
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def metric_agreement(long) -> pd.DataFrame:
    """Kendall tau between every two metrics' rankings of the methods (each metric oriented
    so that higher is better; mean over seeds). Metrics with fewer than 3 methods: NaN."""
    from scipy.stats import kendalltau

    wide = summary_table(long).drop(columns=list(NOT_SEPARATED), errors="ignore")
    signed = wide * np.array([1.0 if SCALAR_METRICS[m] else -1.0 for m in wide.columns])
    names = list(signed.columns)
    tau = pd.DataFrame(np.nan, index=names, columns=names)
    for a in names:
        for b in names:
            both = signed[[a, b]].dropna()
            if len(both) >= 3:
                tau.loc[a, b] = kendalltau(both[a], both[b]).statistic
    return tau


def summary_markdown(long, separation=None) -> str:
    """Metrics x methods (mean over seeds; best per metric in bold), with the separation
    from the random control when ``separation`` (:func:`separation_table`) is given."""
    wide = summary_table(long)
    sep = {} if separation is None else separation.set_index("metric").to_dict("index")
    methods = list(wide.index)
    header = "| metric | " + " | ".join(methods) + (" | best − control [interval] | verdict |")
    lines = [header, "|" + " --- |" * (len(methods) + 3)]
    for m in wide.columns:
        col = wide[m]
        best = col.max() if SCALAR_METRICS[m] else col.min()
        cells = []
        for method in methods:
            v = col[method]
            text = "n/a" if np.isnan(v) else f"{v:.3f}"
            cells.append(f"**{text}**" if not np.isnan(v) and v == best else text)
        if m in sep:
            e = sep[m]
            tail = (
                f"{e['effect']:+.3f} [{e['effect_low']:+.3f}, {e['effect_high']:+.3f}] "
                f"({e['best_method']}, {e['interval_over']})",
                e["verdict"] if e["verdict"] == "separates" else f"**FLAG: {e['verdict']}**",
            )
        else:
            tail = ("—", "not judged" if m in NOT_SEPARATED else "no control value")
        arrow = "↑" if SCALAR_METRICS[m] else "↓"
        lines.append(f"| {m} {arrow} | " + " | ".join(cells) + f" | {tail[0]} | {tail[1]} |")
    return "\n".join(lines) + "\n"


def plot_pareto(long, path) -> None:
    """Reconstruction error against code sparsity (Fel et al. 2023's trade-off): one point
    per method and seed, the mean as a labelled marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_seed = long[long["seed"] != "all"]
    pts = per_seed[per_seed["metric"].isin(["reconstruction_error", "code_sparsity"])].pivot_table(
        index=["method", "seed"], columns="metric", values="value"
    )
    fig, ax = plt.subplots(figsize=(7, 5))
    labels: dict = {}  # methods whose means coincide (to 0.01) share one label
    for method, sub in pts.groupby(level="method"):
        x, y = sub["code_sparsity"], sub["reconstruction_error"]
        line = ax.scatter(x, y, s=14, alpha=0.5)
        ax.scatter(x.mean(), y.mean(), s=60, color=line.get_facecolor()[0], edgecolor="k")
        key = (round(x.mean(), 2), round(y.mean(), 2))
        labels.setdefault(key, []).append(method)
    for (x, y), names in labels.items():
        ax.annotate(", ".join(names), (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("code sparsity (share of zero coefficients, higher is sparser)")
    ax.set_ylabel("relative reconstruction error (lower is better)")
    ax.set_title("Reconstruction vs sparsity (small: seeds; large: mean)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_metric_heatmap(long, path) -> None:
    """Methods x metrics heatmap, each column min-max normalised so that 1 = best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    wide = summary_table(long)
    norm = wide.copy()
    for m in wide.columns:
        lo, hi = wide[m].min(), wide[m].max()
        scaled = (wide[m] - lo) / (hi - lo) if hi > lo else wide[m] * 0 + 1
        norm[m] = scaled if SCALAR_METRICS[m] else 1 - scaled
    fig, ax = plt.subplots(figsize=(1.25 * len(wide.columns) + 2.5, 0.5 * len(wide) + 1.8))
    sns.heatmap(
        norm,
        annot=wide.map(lambda v: f"{v:.3g}"),
        fmt="",
        cmap="viridis",
        vmin=0,
        vmax=1,
        cbar_kws={"label": "normalised per metric (1 = best)"},
        ax=ax,
        annot_kws={"fontsize": 8},
    )
    ax.set_xticklabels(
        [f"{m}\n({'higher' if SCALAR_METRICS[m] else 'lower'} better)" for m in wide.columns],
        rotation=35,
        ha="right",
        fontsize=8,
    )
    ax.set_xlabel(""), ax.set_ylabel("")
    ax.set_title("Concept extractors on the shared metrics (cell text: raw mean over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_metric_seeds(long, path) -> None:
    """One panel per per-seed metric: each method's value for every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    per_seed = long[long["seed"] != "all"]
    names = [m for m in SCALAR_METRICS if m in set(per_seed["metric"])]
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(5 * cols, 0.32 * per_seed["method"].nunique() * rows + 1.5 * rows),
        squeeze=False,
    )
    for ax, metric in zip(axes.flat, names):
        sub = per_seed[per_seed["metric"] == metric]
        sns.stripplot(data=sub, y="method", x="value", hue="seed", ax=ax, size=6, jitter=False)
        ax.set_title(
            f"{metric} ({'higher' if SCALAR_METRICS[metric] else 'lower'} is better)", fontsize=10
        )
        ax.set_ylabel(""), ax.grid(axis="x", alpha=0.3)
        if ax is not axes.flat[0]:
            ax.get_legend().remove()
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
