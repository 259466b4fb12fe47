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

The other steps live next to this module: ``table1`` (Table 1 replayed by a ground-truth
oracle), ``attribution`` (Fig. 5, localisation, implicit-gradient check), ``claims`` (the
claims ledger and results table), ``figures`` and ``steps`` (one function per rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...data.base import ArrayImageDataset
from ...data.images import ImageSource, select_class_images
from ...methods.banks import LinearBank
from ...methods.craft import (
    Craft,
    LayerHead,
    crop_size_for,
    cut_crops,
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
from ...metrics.localisation import REGION_NAMES
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


def layer_banks(
    crops: dict,
    layer: str,
    n_concepts: int = 10,
    solver: str = "hals",
    max_iter: int = 200,
    seed: int = 0,
) -> dict[int, LinearBank]:
    """One CRAFT (NMF) bank per class on the crops' pooled activations at ``layer``, without
    the recursion: the banks of the fidelity test at a layer whose head is non-linear."""
    A, labels = crops[f"acts/{layer}"], crops["label"]
    out = {}
    for c in np.unique(labels):
        craft = Craft(
            n_concepts,
            solver=solver,
            max_iter=max_iter,
            random_state=derive_seed(seed, PAPER, "nmf", layer, int(c)),
        ).fit(A[labels == c])
        out[int(c)] = LinearBank(craft.components_, None, craft.transform)
    return out


def first_per_class(labels, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` inputs of every class, in input order."""
    labels = np.asarray(labels)
    return np.sort(
        np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])
    )
