"""Compare any concept extractor against the baselines on the shared metrics.

One fit = one (method, n_components, seed) on spatial activation vectors ("patches") of a
cached layer. :func:`evaluate_fit` scores it on the held-out split: reconstruction error,
concept deletion / insertion AUCs under per-class Sobol rankings (CRAFT Sec. 4.4), attribute
SVM accuracy (Khorram Tables 4.1-4.2), bag-of-neural-activations accuracy (Kolouri et al.
Table 1) and fit time. :func:`stability_metrics` adds what needs several fits: CKA stability
across seeds and across ranks, and Hungarian-matched dictionary stability across seeds.

Methods differ in how they decode (PCA and ICA add a mean, ICA's ``components_`` is its
unmixing matrix), so every metric that rebuilds activations uses the method's own affine
decoder read off ``inverse_transform``: ``A_hat = U D + b`` (see :func:`affine_decoder`).
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pandas as pd
import torch

from . import metrics
from .methods import concept_bank, make_extractor
from .methods.banks import affine_decoder  # noqa: F401  (re-exported)
from .utils import as_numpy

SCALAR_METRICS = {  # name -> higher is better
    "reconstruction_error": False,
    "deletion_auc": False,
    "insertion_auc": True,
    "attribute_svm_accuracy": True,
    "bona_accuracy": True,
    "fit_seconds": False,
    "cka_stability_seeds": True,
    "cka_stability_ranks": True,
    "dictionary_stability": True,
}


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


def channels_last_head(model, bias=None):
    """The model's head as a function of channels-last activations ``(B, h, w, p)``.

    ``bias`` (p,) is added first: the decoder offset of methods like PCA. Uses the model's
    ``head_channels_last`` when it has one (the zoo's CNNs), else permutes for ``head``.
    """
    b = None if bias is None else torch.as_tensor(bias, dtype=torch.float32)
    if hasattr(model, "head_channels_last"):
        return lambda a: model.head_channels_last(a, None if b is None else b.to(a.device))
    if not hasattr(model, "head"):
        raise TypeError(
            f"{type(model).__name__} has no head(a) method mapping the factorized "
            f"layer to logits; concept fidelity needs one"
        )

    def head(a):
        if b is not None:
            a = a + b.to(a.device)
        return model.head(a.permute(0, 3, 1, 2) if a.ndim == 4 else a[:, :, None, None])

    return head


def fit_extractor(class_name, params, A_fit, n_components, seed):
    """Fit one extractor; returns it and the fit wall time in seconds."""
    extractor = make_extractor(class_name, params, n_components=n_components, random_state=seed)
    start = time.perf_counter()
    extractor.fit(A_fit)
    return extractor, time.perf_counter() - start


@torch.no_grad()
def evaluate_fit(
    extractor,
    eval_acts,
    labels,
    attributes,
    model,
    *,
    n_fidelity_per_class=20,
    n_design=32,
    seed=0,
    attribute_names=None,
    fidelity_score="softmax",
) -> dict:
    """Scalar metrics of one fitted extractor on held-out spatial activations.

    Concepts are ranked per class by total Sobol indices of the class logit (CRAFT); the
    deletion / insertion curves record ``fidelity_score``: the softmax probability by
    default, bounded in [0, 1] so that methods with signed decoders (semi-NMF, ICA), whose
    partial reconstructions can push logits far below zero, stay comparable.

    ``eval_acts`` is ``N x C x H x W``; ``labels`` (N,) the classes (deletion / insertion use
    the model's target class score); ``attributes`` (N x A) binary ground truth.
    """
    n, c, h, w = eval_acts.shape
    A, image_ids = patches(eval_acts)
    U = as_numpy(extractor.transform(A), np.float32)
    r = U.shape[1]
    A_hat = as_numpy(extractor.inverse_transform(U), np.float32)
    out = {"reconstruction_error": metrics.relative_frobenius_error(A, A_hat)}

    D, b = affine_decoder(extractor, r, c)
    head = channels_last_head(model, b)
    U_maps = U.reshape(n, h, w, r)
    rng = np.random.default_rng(seed)
    subset = np.sort(
        np.concatenate(
            [
                rng.choice(
                    np.flatnonzero(labels == k),
                    size=min(n_fidelity_per_class, int((labels == k).sum())),
                    replace=False,
                )
                for k in np.unique(labels)
            ]
        )
    )
    target = labels[subset]
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
    out["deletion_auc"] = metrics.concept_deletion(*curve_args, score=fidelity_score).auc
    out["insertion_auc"] = metrics.concept_insertion(*curve_args, score=fidelity_score).auc

    image_codes = U_maps.mean((1, 2))
    svm = metrics.attribute_svm_accuracy(
        image_codes, attributes, random_state=seed, attribute_names=attribute_names
    )
    out["attribute_svm_accuracy"] = svm.mean_accuracy
    bona = metrics.bona_accuracy(
        hard_assignments(U), image_ids, labels[image_ids], r + 1, random_state=seed
    )
    out["bona_accuracy"] = bona.mean_accuracy
    return out


def hard_assignments(U: np.ndarray) -> np.ndarray:
    """Argmax concept of each patch; patches with no winning concept (all coefficients
    equal, e.g. a dead all-zero patch) get the extra label ``r`` ("no concept") so they
    count in the bag-of-activations histogram instead of being dropped."""
    U = np.asarray(U)
    labels = U.argmax(1)
    labels[U.max(1) == U.min(1)] = U.shape[1]
    return labels


def stability_metrics(codes_by_seed, banks_by_seed, codes_by_rank) -> dict:
    """Across-fit metrics: CKA between codes over seeds and over ranks, bank stability."""
    out = {}
    if len(codes_by_seed) >= 2:
        out["cka_stability_seeds"] = metrics.cka_stability(codes_by_seed).mean
        out["dictionary_stability"] = metrics.pairwise_stability(banks_by_seed).mean
    if len(codes_by_rank) >= 2:
        out["cka_stability_ranks"] = metrics.cka_stability(codes_by_rank).mean
    return out


def fit_and_evaluate(
    class_name,
    params,
    train_acts,
    eval_acts,
    labels,
    attributes,
    model,
    *,
    n_components,
    seed,
    n_fit_rows,
    n_stability_rows,
    evaluate=True,
    **eval_kwargs,
) -> dict:
    """Fit on a fixed sample of training patches, evaluate (unless ``evaluate`` is False:
    rank-sweep fits only feed stability), keep codes of fixed held-out rows for stability.

    The fit sample is the same for every seed, so seed-to-seed differences measure the
    method's own randomness (initialisation, restarts), not a change of data."""
    A_train, _ = patches(train_acts)
    A_fit = A_train[sample_rows(len(A_train), n_fit_rows, 0)]
    extractor, seconds = fit_extractor(class_name, params, A_fit, n_components, seed)
    scores = (
        evaluate_fit(extractor, eval_acts, labels, attributes, model, seed=seed, **eval_kwargs)
        if evaluate
        else {}
    )
    scores["fit_seconds"] = seconds
    A_eval, _ = patches(eval_acts)
    rows = sample_rows(len(A_eval), n_stability_rows, 12345)  # same rows for every fit
    return {
        "scores": scores,
        "bank": concept_bank(extractor).astype(np.float32),
        "stability_codes": canonical_codes(extractor, A_eval[rows]),
    }


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


def load_fit(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {
            "bank": data["bank"],
            "stability_codes": data["stability_codes"],
            "scores": json.loads(str(data["scores"])),
            "meta": json.loads(str(data["meta"])),
        }


def collect_metrics(fits, main_rank: int, context: dict) -> pd.DataFrame:
    """Long table (one row per method, seed, metric) from loaded fits plus stability rows.

    ``context`` holds the constant columns (dataset, model, layer, config_hash, versions).
    Across-fit metrics get ``seed = "all"``.
    """

    rows = []
    by_method: dict = {}
    for fit in fits:
        m = fit["meta"]
        by_method.setdefault(m["method"], []).append(fit)
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
    for method, items in by_method.items():
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
        )
        rows += [
            {"method": method, "seed": "all", "n_components": main_rank, "metric": k, "value": v}
            for k, v in stab.items()
        ]
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


def summary_markdown(long) -> str:
    """The wide summary as a markdown table with the best value per metric in bold."""
    wide = summary_table(long)
    header = (
        "| method | "
        + " | ".join(f"{m} {'↑' if SCALAR_METRICS[m] else '↓'}" for m in wide.columns)
        + " |"
    )
    lines = [header, "|" + " --- |" * (len(wide.columns) + 1)]
    best = {m: (wide[m].max() if SCALAR_METRICS[m] else wide[m].min()) for m in wide.columns}
    for method, row in wide.iterrows():
        cells = []
        for m in wide.columns:
            v = row[m]
            text = "n/a" if np.isnan(v) else f"{v:.3f}"
            cells.append(f"**{text}**" if not np.isnan(v) and v == best[m] else text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
