"""The experiments behind CRAFT's figures and tables (Fel et al., CVPR 2023), embedded scale.

Each function maps one step of the paper onto the suite's data; the Snakemake rules in
``workflow/rules/craft.smk`` only wire files to them.

- :func:`extract_class_crops`: per class, random crops (Sec. 3.1), their pooled activations
  at the factorized layer and the earlier recursion layer, thumbnails, and (procedural data)
  the ground-truth part / background content of each crop;
- :func:`fit_class_concepts`: one NMF concept bank per class and, for every concept, its
  sub-concepts at the earlier layer (Sec. 3.2);
- :func:`importance_and_fidelity`: Sobol / TCAV / gradient x input / random concept rankings
  and the concept deletion and insertion curves of Fig. 6, for any linear concept bank (NMF,
  and PCA / ICA for appendix F, via :func:`extractor_banks`);
- :func:`table1_proxy`: Table 1's intruder and binary-choice experiments replayed by an
  oracle that sees the procedural ground truth of each crop -- a proxy for the human study;
- :func:`localisation_table`: how much of each concept attribution map falls in one part;
- :func:`craft_claims`: the claims ledger.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...claims import claim
from ...data.base import ArrayImageDataset
from ...data.images import ImageSource, select_class_images
from ...data.procedural import BACKGROUNDS, PART_NAMES
from ...methods.banks import LinearBank, extractor_banks  # noqa: F401  (re-exported)
from ...methods.craft import (
    Craft,
    LayerHead,
    concept_attribution_maps,
    crop_size_for,
    cut_crops,
    grad_cam,
    implicit_gradient_check,
    random_crop_boxes,
)
from ...metrics import (
    concept_deletion,
    concept_insertion,
    concept_sobol_importance,
    gradient_input_importance,
    importance_to_order,
    tcav_scores,
)
from ...metrics.localisation import REGION_NAMES, localisation_table, region_shares  # noqa: F401
from ...models import extract_activations
from ...utils import derive_seed

PAPER = "craft"
RANKINGS = ("sobol", "tcav", "gradient_input", "random")
RANKING_LABELS = {
    "sobol": "Sobol (total indices)",
    "tcav": "TCAV",
    "gradient_input": "gradient x input",
    "random": "random order",
}


# ------------------------------------------------------------------------------------ crops


def crop_region_fractions(
    part_masks, boxes, crop_size: int, n_regions: int = len(REGION_NAMES)
) -> np.ndarray:
    """Share of each crop's pixels in each ground-truth region (0 = background, k = part k):
    ``(n, n_regions)`` float32, rows sum to 1."""
    masks = torch.as_tensor(np.asarray(part_masks)[:, None].astype(np.int64))
    cut = cut_crops(masks, boxes, crop_size, out_size=crop_size).long().reshape(len(boxes), -1)
    counts = torch.nn.functional.one_hot(cut, n_regions).sum(1).numpy()
    return (counts / cut.shape[1]).astype(np.float32)


def crop_thumbnails(source: ImageSource, crops: dict, rows) -> np.ndarray:
    """The native (not resized) crops of rows ``rows``: ``(k, s, s, C)`` uint8, for figures."""
    rows = np.asarray(rows, dtype=np.int64)
    size = int(crops["crop_size"])
    images = source[crops["image"][rows]]
    boxes = np.column_stack([np.arange(len(rows)), crops["top"][rows], crops["left"][rows]])
    thumbs = cut_crops(images, boxes, size, out_size=size).permute(0, 2, 3, 1).numpy()
    return np.round(np.clip(thumbs, 0, 1) * 255).astype(np.uint8)


def extract_class_crops(
    model,
    dataset,
    layers,
    images_per_class: int = 80,
    crops_per_image: int = 10,
    crop_fraction: float = 64 / 224,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
) -> dict:
    """Per class: random crops (CRAFT's tau), resized to the input size, and their globally
    average-pooled activations at ``layers``. Computed once; every later step reads it.

    Returns arrays: ``image`` (dataset index), ``top``, ``left``, ``label`` (n,), ``crop_size``,
    ``acts/<layer>`` (n x p, pooled) and, when the dataset has part masks, ``regions`` (n x 6,
    :func:`crop_region_fractions`) and ``background`` (n,) of the source image. Images are
    read and cropped in chunks of ``batch_size`` crops, so memory stays bounded at full scale.
    """
    source = ImageSource(dataset)
    shape = source[[0]].shape[-2:]
    size = crop_size_for(int(shape[-1]), crop_fraction)
    chosen = select_class_images(dataset.targets, images_per_class, seed, tag=PAPER)
    parts = {k: [] for k in ("image", "top", "left", "label")}
    acts = {layer: [] for layer in layers}
    per_chunk = max(1, batch_size // crops_per_image)
    for c, idx in chosen.items():
        local = random_crop_boxes(
            len(idx), shape, size, crops_per_image, derive_seed(seed, PAPER, "crops", c)
        )
        for start in range(0, len(idx), per_chunk):
            sel = local[(local[:, 0] >= start) & (local[:, 0] < start + per_chunk)]
            images = source[idx[start : start + per_chunk]]
            crops = cut_crops(images, np.column_stack([sel[:, 0] - start, sel[:, 1:]]), size)
            labels = np.full(len(sel), c, dtype=np.int64)
            out = extract_activations(
                model,
                ArrayImageDataset(crops.clamp_(0.0, 1.0).numpy(), labels, dataset.classes),
                layers,
                pooled=True,
                batch_size=batch_size,
                device=device,
                progress=False,
            )
            for layer in layers:
                acts[layer].append(out["layers"][layer])
            parts["image"].append(idx[sel[:, 0]]), parts["top"].append(sel[:, 1])
            parts["left"].append(sel[:, 2]), parts["label"].append(labels)
    result = {k: np.concatenate(v) for k, v in parts.items()}
    result.update(
        {f"acts/{layer}": np.concatenate(v).astype(np.float32) for layer, v in acts.items()}
    )
    result["crop_size"] = np.int64(size)
    gt = dataset.ground_truth
    if "part_masks" in gt:
        boxes = np.column_stack([result["image"], result["top"], result["left"]])
        result["regions"] = crop_region_fractions(gt["part_masks"], boxes, size)
        result["background"] = np.asarray(gt["background"])[result["image"]].astype(np.int64)
    return result


# ------------------------------------------------------------------------------- concepts


def fit_class_concepts(
    crops: dict,
    layer: str,
    sub_layer: str,
    n_concepts: int = 10,
    n_subconcepts: int = 3,
    percentile: float = 90.0,
    solver: str = "hals",
    max_iter: int = 200,
    tol: float = 1e-4,
    seed: int = 0,
) -> dict:
    """One CRAFT bank per class on its crops at ``layer`` and, for every concept, sub-concepts
    at ``sub_layer`` from the crops at or above the concept's ``percentile`` (Sec. 3.2).

    Returns arrays: ``classes`` (K,), ``bank`` (K x r x p), ``coef`` (n x r, row j = crop j on
    its class's bank), ``relative_error`` (K,), ``sub_bank`` (K x r x r_sub x p'), and the
    member rows ``sub_crop``, ``sub_class``, ``sub_concept`` (M,) with ``sub_coef`` (M x r_sub).
    """
    A, A_sub, labels = crops[f"acts/{layer}"], crops[f"acts/{sub_layer}"], crops["label"]
    classes = np.unique(labels)
    coef = np.zeros((len(labels), n_concepts), dtype=np.float32)
    banks, sub_banks, errors = [], [], []
    rows = {k: [] for k in ("sub_crop", "sub_class", "sub_concept", "sub_coef")}
    for c in classes:
        idx = np.flatnonzero(labels == c)
        craft = Craft(
            n_concepts,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            percentile=percentile,
            random_state=derive_seed(seed, PAPER, "nmf", int(c)),
        ).fit(A[idx])
        coef[idx] = craft.coefficients_
        banks.append(craft.components_)
        errors.append(craft.reconstruction_err_ / max(np.linalg.norm(A[idx]), 1e-12))
        subs = []
        for i in range(n_concepts):
            sub, members = craft.decompose(i, A_sub[idx], n_subconcepts)
            subs.append(sub.components_)
            rows["sub_crop"].append(idx[members])
            rows["sub_class"].append(np.full(len(members), c))
            rows["sub_concept"].append(np.full(len(members), i))
            rows["sub_coef"].append(sub.coefficients_)
        sub_banks.append(np.stack(subs))
    out = {k: np.concatenate(v) for k, v in rows.items()}
    out.update(
        classes=classes,
        bank=np.stack(banks),
        coef=coef,
        sub_bank=np.stack(sub_banks),
        relative_error=np.asarray(errors, dtype=np.float64),
    )
    return out


# ------------------------------------------------------------------ linear concept banks


def nmf_banks(concepts: dict) -> dict[int, LinearBank]:
    """The fitted CRAFT banks of :func:`fit_class_concepts`, one per class."""
    out = {}
    for c, bank in zip(concepts["classes"], concepts["bank"]):
        craft = Craft.from_bank(bank)
        out[int(c)] = LinearBank(craft.components_, None, craft.transform)
    return out


# ------------------------------------------------------------ importance and fidelity (Fig. 6)


def concept_rankings(
    U, W, head, target, *, sobol_design: int = 32, tcav_variant: str = "sign", seed: int = 0
) -> tuple[dict, dict]:
    """Importances ``{ranking: (r,)}`` and orders ``{ranking: (r,) or (N, r)}`` for the four
    rankings of Fig. 6: Sobol, TCAV, gradient x input, and a random order per input."""
    imp = {
        "sobol": concept_sobol_importance(U, W, head, target, n_design=sobol_design, seed=seed),
        "tcav": tcav_scores(U, W, head, target, variant=tcav_variant),
        "gradient_input": gradient_input_importance(U, W, head, target),
    }
    orders = {k: importance_to_order(v) for k, v in imp.items()}
    rng = np.random.default_rng(seed)
    r = W.shape[0]
    orders["random"] = rng.permuted(np.tile(np.arange(r), (len(U), 1)), axis=1)
    return imp, orders


def pool_exact(head, U, W, n: int = 4) -> bool:
    """Does ``head`` give the same scores on spatially pooled coefficients?

    True when the part of the model above the layer starts with global average pooling (the
    suite's CNNs and torchvision ResNets above their last stage): masks broadcast over space
    and every importance and curve is then identical on ``U.mean((1, 2))``, at 1/(H W) of
    the cost. Checked numerically on ``n`` inputs rather than assumed.
    """
    if U.ndim != 4 or getattr(head, "rest", None):
        return False
    u = torch.as_tensor(U[:n])
    w = torch.as_tensor(W)
    with torch.no_grad():
        full, pooled = head(u @ w), head(u.mean((1, 2)) @ w)
    return bool(torch.allclose(full, pooled, rtol=1e-4, atol=1e-4 * float(full.abs().max())))


def importance_and_fidelity(
    banks: dict[int, LinearBank],
    maps,
    labels,
    model,
    layer: str,
    *,
    sobol_design: int = 32,
    tcav_variant: str = "sign",
    seed: int = 0,
    bank_name: str = "nmf",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per class: coefficient maps of the class's images on its bank, the four rankings and
    the deletion / insertion curves (target = the class, score = its logit, as in CRAFT).

    Coefficients are per position (NNLS of every spatial activation, as in Xplique's CRAFT),
    pooled afterwards when that is exact (:func:`pool_exact`). Returns ``(importance,
    curves)``: one row per (class, concept) with each importance and the Sobol rank; one row
    per (class, ranking, kind, step) with the mean score.
    """
    maps, labels = np.asarray(maps), np.asarray(labels)
    imp_rows, curve_rows = [], []
    for c, bank in banks.items():
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            raise ValueError(f"no evaluation image of class {c}")
        U = bank.coefficient_maps(maps[idx])
        head = LayerHead(model, layer, bank.offset)
        if pool_exact(head, U, bank.W):
            U = U.mean(axis=(1, 2))  # same scores, 1/(H W) of the head's work
        target = np.full(len(idx), c)
        s = derive_seed(seed, PAPER, bank_name, "importance", c)
        imp, orders = concept_rankings(
            U, bank.W, head, target, sobol_design=sobol_design, tcav_variant=tcav_variant, seed=s
        )
        rank = np.empty(len(bank.W), dtype=np.int64)
        rank[orders["sobol"]] = np.arange(len(bank.W))
        for i in range(len(bank.W)):
            imp_rows.append(
                {
                    "bank": bank_name,
                    "class": c,
                    "concept": i,
                    "sobol_rank": rank[i],
                    **{k: float(v[i]) for k, v in imp.items()},
                }
            )
        for name, order in orders.items():
            for kind, fn in (("deletion", concept_deletion), ("insertion", concept_insertion)):
                curve = fn(U, bank.W, head, target, order)
                for step, (x, y) in enumerate(zip(curve.x, curve.curve)):
                    curve_rows.append(
                        {
                            "bank": bank_name,
                            "class": c,
                            "ranking": name,
                            "kind": kind,
                            "step": step,
                            "x": float(x),
                            "score": float(y),
                        }
                    )
    return pd.DataFrame(imp_rows), pd.DataFrame(curve_rows)


def class_auc(curves: pd.DataFrame) -> pd.DataFrame:
    """AUC (trapezoid over the fraction of concepts) of each class's mean curve."""
    return (
        curves.sort_values("step")
        .groupby(["bank", "ranking", "kind", "class"], sort=False)
        .apply(lambda g: float(np.trapezoid(g["score"], g["x"])), include_groups=False)
        .rename("auc")
        .reset_index()
    )


def fidelity_auc(curves: pd.DataFrame) -> pd.DataFrame:
    """AUC of each class's mean curve (:func:`class_auc`), then its mean and standard
    deviation over classes."""
    out = (
        class_auc(curves)
        .groupby(["bank", "ranking", "kind"])["auc"]
        .agg(auc="mean", auc_std="std", n_classes="count")
        .reset_index()
    )
    return out.sort_values(["bank", "kind", "ranking"]).reset_index(drop=True)


# ----------------------------------------------------------- Table 1 proxy (intruder oracle)


def crop_descriptors(regions, background, n_backgrounds: int = len(BACKGROUNDS)) -> np.ndarray:
    """What the oracle sees of a crop: the share of each part, and the background share placed
    in the slot of the image's background type: ``(n, 5 + n_backgrounds)``, rows sum to 1."""
    regions = np.asarray(regions, dtype=np.float64)
    bg = np.zeros((len(regions), n_backgrounds))
    bg[np.arange(len(regions)), np.asarray(background)] = regions[:, 0]
    return np.hstack([regions[:, 1:], bg])


DESCRIPTOR_NAMES = tuple(PART_NAMES) + tuple(f"background:{b}" for b in BACKGROUNDS)


def oracle_odd_one_out(desc: np.ndarray) -> np.ndarray:
    """The oracle's intruder candidates among ``k`` crops: the crop(s) with the largest mean
    L1 (total-variation) distance to the others (ties all returned)."""
    d = np.abs(desc[:, None, :] - desc[None, :, :]).sum(-1).mean(1)
    return np.flatnonzero(np.isclose(d, d.max(), rtol=0, atol=1e-12))


def concept_sets(concepts: dict) -> tuple[dict, dict]:
    """``parents {(class, concept): crop rows}`` (the members above the percentile) and
    ``children {(class, concept, sub): crop rows}`` (members assigned to the sub-concept with
    their largest coefficient; members with all-zero sub-coefficients are left out)."""
    parents, children = {}, {}
    keys = np.column_stack([concepts["sub_class"], concepts["sub_concept"]])
    assign = concepts["sub_coef"].argmax(1)
    active = concepts["sub_coef"].max(1) > 0
    for c, i in np.unique(keys, axis=0):
        sel = (keys[:, 0] == c) & (keys[:, 1] == i)
        parents[(int(c), int(i))] = concepts["sub_crop"][sel]
        for j in range(concepts["sub_coef"].shape[1]):
            children[(int(c), int(i), j)] = concepts["sub_crop"][sel & active & (assign == j)]
    return parents, children


def intruder_accuracy(
    desc, sets: dict, pools: dict, n_trials: int, rng, set_size: int = 4
) -> tuple[float, int]:
    """Mean oracle accuracy over ``n_trials`` per set: ``set_size`` crops of the set plus one
    intruder from ``pools[key]``; a tie among k candidates that includes the intruder
    scores 1/k. Sets smaller than ``set_size`` or with an empty pool are skipped."""
    scores = []
    for key, members in sets.items():
        pool = pools[key]
        if len(members) < set_size or not len(pool):
            continue
        for _ in range(n_trials):
            trial = np.append(rng.choice(members, set_size, replace=False), rng.choice(pool))
            cand = oracle_odd_one_out(desc[trial])
            scores.append(1.0 / len(cand) if set_size in cand else 0.0)
    if not scores:
        raise ValueError("no (sub-)concept has enough members for an intruder trial")
    return float(np.mean(scores)), len(scores)


def binary_choice(desc, parents: dict, children: dict) -> tuple[float, int]:
    """Oracle's binary choice (Table 1): for each crop of a sub-concept, is it closer (mean L1
    distance, itself excluded) to its sub-concept than to the parent concept? 1/2 for a tie."""
    votes = []
    for (c, i, j), members in children.items():
        parent = parents[(c, i)]
        if len(members) < 2:
            continue
        for m in members:
            d_sub = np.abs(desc[members[members != m]] - desc[m]).sum(1).mean()
            d_par = np.abs(desc[parent[parent != m]] - desc[m]).sum(1).mean()
            votes.append(1.0 if d_sub < d_par else 0.5 if d_sub == d_par else 0.0)
    return float(np.mean(votes)), len(votes)


def _purity(labels) -> float:
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else np.nan


def purity_table(desc, parents: dict, children: dict, n_random: int = 20, seed: int = 0) -> dict:
    """Purity = share of a set's crops whose dominant ground-truth label (part or background
    type) is the set's most common one. Splitting a set can only raise size-weighted purity,
    so sub-concepts are compared with random splits of the parent into the same sizes."""
    dominant = desc.argmax(1)
    rng = np.random.default_rng(seed)
    par, sub, rnd = [], [], []
    n_sub = len({key[2] for key in children})
    for c, i in parents:
        kids = [children[(c, i, j)] for j in range(n_sub) if len(children[(c, i, j)])]
        covered = np.concatenate(kids)
        n = len(covered)
        par.append(_purity(dominant[covered]))
        sub.append(sum(len(k) * _purity(dominant[k]) for k in kids) / n)
        cuts = np.cumsum([len(k) for k in kids])[:-1]
        draws = []
        for _ in range(n_random):
            parts = np.split(rng.permutation(dominant[covered]), cuts)
            draws.append(sum(len(p) * _purity(p) for p in parts) / n)
        rnd.append(float(np.mean(draws)))
    return {
        "parent": float(np.mean(par)),
        "sub": float(np.mean(sub)),
        "random_split": float(np.mean(rnd)),
        "n_parents": len(par),
    }


def table1_proxy(concepts: dict, crops: dict, n_trials: int = 50, seed: int = 0) -> pd.DataFrame:
    """Table 1 replayed by a ground-truth oracle (a proxy for the human study).

    Intruder task: 4 crops of a concept (or of one of its sub-concepts) and 1 crop of another
    concept of the same class (a member of another concept's set, not of this concept's); the
    oracle names the crop whose part / background content differs most. Binary choice: does a
    sub-concept's crop sit closer to its sub-concept or to the parent? Plus set purity.
    """
    if "regions" not in crops:
        raise ValueError(
            "crops have no ground-truth regions: the intruder proxy needs a "
            "dataset with part masks (the procedural set)"
        )
    desc = crop_descriptors(crops["regions"], crops["background"])
    parents, children = concept_sets(concepts)
    pools = {}
    for (c, i), members in parents.items():
        others = np.concatenate([m for (c2, i2), m in parents.items() if c2 == c and i2 != i])
        pools[(c, i)] = np.setdiff1d(others, members)
    rng = np.random.default_rng(derive_seed(seed, PAPER, "intruder"))
    acc_c, n_c = intruder_accuracy(desc, parents, pools, n_trials, rng)
    acc_s, n_s = intruder_accuracy(
        desc, children, {k: pools[k[:2]] for k in children}, n_trials, rng
    )
    choice, n_b = binary_choice(desc, parents, children)
    pur = purity_table(desc, parents, children, seed=derive_seed(seed, PAPER, "purity"))
    rows = [
        ("intruder", "concept", "accuracy", acc_c, n_c),
        ("intruder", "sub-concept", "accuracy", acc_s, n_s),
        ("binary_choice", "sub-concept", "share_choosing_sub", choice, n_b),
        ("purity", "concept", "purity", pur["parent"], pur["n_parents"]),
        ("purity", "sub-concept", "purity", pur["sub"], pur["n_parents"]),
        ("purity", "random split", "purity", pur["random_split"], pur["n_parents"]),
    ]
    return pd.DataFrame(rows, columns=["experiment", "condition", "metric", "value", "n"])


# ----------------------------------------------------------------- localisation (Fig. 1, 5)


def confident_mistakes(logits, labels, n: int) -> np.ndarray:
    """Indices of the ``n`` misclassified inputs with the most confident wrong prediction."""
    logits = np.asarray(logits, dtype=np.float64)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    pred = prob.argmax(1)
    wrong = np.flatnonzero(pred != np.asarray(labels))
    return wrong[np.argsort(-prob[wrong, pred[wrong]], kind="stable")][:n]


def class_localisation(
    model,
    images: ImageSource,
    part_masks,
    labels,
    concepts: dict,
    layer: str,
    cam_layer: str,
    per_class: int = 30,
    pool: str = "coefficients",
    batch_size: int = 64,
) -> pd.DataFrame:
    """:func:`localisation_table` of every class's concepts on its first ``per_class``
    evaluation images (concept attribution maps with the class's own bank)."""
    labels = np.asarray(labels)
    frames = []
    for c, bank in zip(concepts["classes"], concepts["bank"]):
        idx = np.flatnonzero(labels == c)[:per_class]
        maps = concept_attribution_maps(
            model, images[idx], bank, layer, cam_layer=cam_layer, pool=pool, batch_size=batch_size
        )
        frames.append(localisation_table(maps, np.asarray(part_masks)[idx], int(c)))
    return pd.concat(frames, ignore_index=True)


def explain_mistakes(
    model,
    images: ImageSource,
    maps,
    logits,
    labels,
    concepts: dict,
    crops: dict,
    crop_images: ImageSource,
    layer: str,
    cam_layer: str,
    n_images: int = 4,
    n_concepts: int = 2,
    n_crops: int = 4,
    sobol_design: int = 32,
    seed: int = 0,
) -> dict:
    """Fig. 5: for the most confident mistakes, the Grad-CAM of the predicted class and the
    attribution maps of that class's ``n_concepts`` most important concepts *for the image*
    (its own total Sobol indices, target = the predicted class), with their top crops
    (cut from ``crop_images``, the split the crops came from). ``images``, ``maps``,
    ``logits`` and ``labels`` share rows (the evaluation cache's order)."""
    from ...metrics import concept_sobol_importance

    idx = confident_mistakes(logits, labels, n_images)
    pred = np.asarray(logits)[idx].argmax(1)
    class_pos = {int(c): k for k, c in enumerate(concepts["classes"])}
    head = LayerHead(model, layer)
    ids, imps, cams, strips = [], [], [], []
    for i, p in zip(idx, pred):
        bank = concepts["bank"][class_pos[int(p)]]
        U = Craft.from_bank(bank).transform_maps(maps[[i]]).mean(axis=(1, 2))
        s = concept_sobol_importance(
            U,
            bank,
            head,
            [p],
            n_design=sobol_design,
            seed=derive_seed(seed, PAPER, "fig5", int(i)),
            reduce="none",
        )[0]
        top = importance_to_order(s)[:n_concepts]
        ids.append(top), imps.append(s[top])
        cams.append(
            concept_attribution_maps(
                model, images[[i]], bank, layer, cam_layer=cam_layer, concepts=top
            )[0]
        )
        rows = np.flatnonzero(crops["label"] == p)
        strips.append(
            [
                crop_thumbnails(
                    crop_images,
                    crops,
                    rows[np.argsort(-concepts["coef"][rows, t], kind="stable")[:n_crops]],
                )
                for t in top
            ]
        )

    def predicted_logit(logits_b, _store, b):
        return logits_b.gather(1, torch.as_tensor(pred[b])[:, None])

    shown = images[idx]
    return {
        "index": idx,
        "true": np.asarray(labels)[idx],
        "pred": pred,
        "images": shown,
        "gradcam": grad_cam(model, shown, cam_layer, predicted_logit)[:, 0],
        "cams": np.stack(cams),
        "concepts": ids,
        "importance": imps,
        "crops": strips,
    }


def gradient_check_table(
    model,
    images: ImageSource,
    labels,
    concepts: dict,
    layer: str,
    per_class: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`~reference_impls.methods.craft.implicit_gradient_check` on ``per_class``
    evaluation images of every class (float64, the class's bank, random pixel directions)."""
    labels = np.asarray(labels)
    rows = []
    for c, bank in zip(concepts["classes"], concepts["bank"]):
        idx = np.flatnonzero(labels == c)[:per_class]
        out = implicit_gradient_check(
            model, images[idx], bank, layer, seed=derive_seed(seed, PAPER, "gradcheck", int(c))
        )
        for k, i in enumerate(idx):
            rows.append(
                {
                    "class": int(c),
                    "image": int(i),
                    "rel_error": float(out["rel_error"][k]),
                    "norm_numeric": float(np.linalg.norm(out["numeric"][k])),
                    "n_active_concepts": int((np.abs(out["numeric"][k]) > 0).sum()),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- claims and results


def _auc(auc: pd.DataFrame, bank: str, ranking: str, kind: str) -> float:
    sel = auc[(auc["bank"] == bank) & (auc["ranking"] == ranking) & (auc["kind"] == kind)]
    if len(sel) != 1:
        raise KeyError(f"no AUC for bank={bank}, ranking={ranking}, kind={kind}")
    return float(sel["auc"].iloc[0])


def _table1(t1: pd.DataFrame, experiment: str, condition: str) -> float:
    sel = t1[(t1["experiment"] == experiment) & (t1["condition"] == condition)]
    return float(sel["value"].iloc[0])


def fidelity_claims(
    auc: pd.DataFrame, per_class: pd.DataFrame | None = None, importance: pd.DataFrame | None = None
) -> list[dict]:
    """Fig. 6 (NMF) and appendix F (other banks): Sobol's curves steeper than TCAV's.

    ``per_class`` (:func:`class_auc`) adds to each note in how many classes Sobol wins;
    ``importance`` how many distinct TCAV scores there were to rank by."""
    rows = []
    for bank in sorted(auc["bank"].unique(), key=lambda b: (b != "nmf", b)):
        src = "Fig. 6" if bank == "nmf" else "App. F"
        for kind, better, word in (
            ("deletion", "lower", "below"),
            ("insertion", "higher", "above"),
        ):
            sob, tcav = _auc(auc, bank, "sobol", kind), _auc(auc, bank, "tcav", kind)
            holds = bool(sob < tcav) if kind == "deletion" else bool(sob > tcav)
            note = (
                f"{bank.upper()} bank; TCAV {tcav:.3f}, gradient x input "
                f"{_auc(auc, bank, 'gradient_input', kind):.3f}, random "
                f"{_auc(auc, bank, 'random', kind):.3f} (class-logit AUC, mean over "
                f"classes; {better} is better)"
            )
            if per_class is not None:
                pc = per_class[(per_class["bank"] == bank) & (per_class["kind"] == kind)]
                pc = pc.pivot(index="class", columns="ranking", values="auc")
                wins = pc["sobol"] < pc["tcav"] if kind == "deletion" else pc["sobol"] > pc["tcav"]
                note += f"; Sobol wins in {int(wins.sum())} of {len(pc)} classes"
            if importance is not None:
                tc = importance.loc[importance["bank"] == bank, "tcav"]
                note += (
                    f"; TCAV scores take {tc.nunique()} distinct values over "
                    f"{len(tc)} concepts (ties keep concept index order)"
                )
            rows.append(
                claim(
                    PAPER,
                    f"{bank}_{kind}_sobol_vs_tcav",
                    source=src,
                    statement=f"{bank.upper()} concepts ranked by total Sobol indices give "
                    f"{'a' if kind == 'deletion' else 'an'} {kind} AUC {word} the "
                    f"TCAV ranking's",
                    paper_value=f"Sobol {word} TCAV",
                    our_value=round(sob, 4),
                    comparison=f"Sobol {kind} AUC {'<' if kind == 'deletion' else '>'} TCAV's",
                    holds=holds,
                    note=note,
                )
            )
    return rows


def craft_claims(
    auc: pd.DataFrame,
    table1: pd.DataFrame | None,
    localisation: pd.DataFrame | None,
    gradients: pd.DataFrame,
    gradient_tol: float = 1e-4,
    curves: pd.DataFrame | None = None,
    importance: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The claims ledger (:data:`reference_impls.claims.CLAIM_COLUMNS`); ``curves`` (the
    fidelity curves) and ``importance`` add per-class wins and TCAV ties to the notes."""
    from ...claims import claims_frame

    rows = fidelity_claims(auc, None if curves is None else class_auc(curves), importance)
    err = float(gradients["rel_error"].max())
    rows.append(
        claim(
            PAPER,
            "implicit_gradients_match_fd",
            source="Sec. 3.4, Eq. 4",
            statement="gradients of concept values through the NNLS layer by implicit "
            "differentiation match central finite differences (float64, pixel space)",
            paper_value="exact (implicit function theorem)",
            our_value=err,
            comparison=f"max relative error < {gradient_tol:g}",
            holds=bool(err < gradient_tol),
            note=f"{len(gradients)} images, all concepts, random pixel directions",
        )
    )
    if table1 is not None:
        acc_c, acc_s = (
            _table1(table1, "intruder", "concept"),
            _table1(table1, "intruder", "sub-concept"),
        )
        rows.append(
            claim(
                PAPER,
                "intruder_subconcept_above_concept",
                source="Table 1",
                statement="intruder detection is more accurate for sub-concepts than for "
                "concepts (ground-truth oracle proxy for the human study)",
                paper_value="experts 70.19% -> 74.81%; laymen 61.08% -> 67.03%",
                our_value=round(acc_s, 4),
                comparison="sub-concept accuracy > concept accuracy",
                holds=bool(acc_s > acc_c),
                note=f"PROXY: oracle on part/background labels; concept accuracy "
                f"{acc_c:.4f}, chance 0.2",
            )
        )
        choice = _table1(table1, "binary_choice", "sub-concept")
        rows.append(
            claim(
                PAPER,
                "binary_choice_prefers_subconcept",
                source="Table 1",
                statement="a sub-concept's crop fits its sub-concept better than the parent "
                "concept (ground-truth oracle proxy)",
                paper_value="experts 76.1%; laymen 74.95%",
                our_value=round(choice, 4),
                comparison="share choosing the sub-concept > 0.5",
                holds=bool(choice > 0.5),
                note="PROXY: oracle, mean L1 distance of part/background content",
            )
        )
        sub, par = _table1(table1, "purity", "sub-concept"), _table1(table1, "purity", "concept")
        rnd = _table1(table1, "purity", "random split")
        rows.append(
            claim(
                PAPER,
                "subconcepts_purer_than_parent",
                source="Sec. 3.2, Fig. 2",
                statement="sub-concepts from the earlier layer are purer (in ground-truth part / "
                "background) than their parent concept, beyond what any split gives",
                paper_value="qualitative (Fig. 2)",
                our_value=round(sub, 4),
                comparison="sub-concept purity > random split of the parent (> parent purity)",
                holds=bool(sub > rnd and sub > par),
                note=f"parent purity {par:.4f}, random split of the same sizes {rnd:.4f}",
            )
        )
    if localisation is not None:
        loc = localisation[localisation["n_images"] > 0]
        mass, area = float(loc["mass_share"].mean()), float(loc["area_share"].mean())
        rows.append(
            claim(
                PAPER,
                "attribution_maps_localise_parts",
                source="Fig. 1, 5",
                statement="concept attribution maps put more of their mass on their best-"
                "matching ground-truth part than a uniform map would",
                paper_value="qualitative (Fig. 1, 5)",
                our_value=round(mass, 4),
                comparison="mean mass share in best part > that part's area share",
                holds=bool(mass > area),
                note=f"area share {area:.4f} (enrichment {mass / area:.2f}x); "
                f"{(loc['mass_share'] > loc['area_share']).mean():.0%} of "
                f"{len(loc)} concepts above their part's area; background holds "
                f"{loc['share_background'].mean():.0%} of the mass",
            )
        )
    return claims_frame(rows)


def craft_results(
    auc: pd.DataFrame,
    table1,
    localisation,
    gradients,
    importance,
    *,
    dataset: str,
    model: str,
    layer: str,
    sub_layer: str,
    seed: int,
) -> pd.DataFrame:
    """Every CRAFT number as long-format rows (:data:`reference_impls.claims.RESULT_COLUMNS`)."""
    from ...claims import results_frame

    base = {"paper": PAPER, "dataset": dataset, "model": model, "seed": seed}
    rows = []
    for r in auc.itertuples():
        src = "fig6_fidelity" if r.bank == "nmf" else "appF_fidelity"
        for metric, value in ((f"{r.kind}_auc", r.auc), (f"{r.kind}_auc_std", r.auc_std)):
            rows.append(
                {
                    **base,
                    "experiment": src,
                    "method": f"{r.bank}/{r.ranking}",
                    "layer": layer,
                    "metric": metric,
                    "value": float(value),
                }
            )
    for b, g in importance.groupby("bank"):
        for col in ("sobol", "tcav", "gradient_input"):
            rows.append(
                {
                    **base,
                    "experiment": "fig4_importance",
                    "method": f"{b}/{col}",
                    "layer": layer,
                    "metric": "mean_importance",
                    "value": float(g[col].mean()),
                }
            )
    if table1 is not None:
        for r in table1.itertuples():
            lay = sub_layer if r.condition == "sub-concept" else layer
            rows.append(
                {
                    **base,
                    "experiment": f"table1_proxy_{r.experiment}",
                    "method": f"craft/{r.condition}",
                    "layer": lay,
                    "metric": r.metric,
                    "value": float(r.value),
                }
            )
    if localisation is not None:
        loc = localisation[localisation["n_images"] > 0]
        for metric, value in (
            ("mass_share_best_part", loc["mass_share"].mean()),
            ("area_share_best_part", loc["area_share"].mean()),
            ("enrichment_best_part", loc["enrichment"].mean()),
            ("mass_share_background", loc["share_background"].mean()),
            ("share_concepts_above_area", (loc["mass_share"] > loc["area_share"]).mean()),
        ):
            rows.append(
                {
                    **base,
                    "experiment": "localisation",
                    "method": "craft/cam",
                    "layer": layer,
                    "metric": metric,
                    "value": float(value),
                }
            )
    for metric, value in (
        ("max_rel_error", gradients["rel_error"].max()),
        ("median_rel_error", gradients["rel_error"].median()),
    ):
        rows.append(
            {
                **base,
                "experiment": "implicit_gradients",
                "method": "craft/implicit_nnls",
                "layer": layer,
                "metric": metric,
                "value": float(value),
            }
        )
    return results_frame(rows)
