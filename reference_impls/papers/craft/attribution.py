"""CRAFT's concept attribution maps in use (Fel et al., CVPR 2023, Sec. 3.4, Fig. 1, 5): the
most confident mistakes explained (Fig. 5), localisation against part masks, and the
implicit-gradient check of the maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...data.images import ImageSource
from ...methods.craft import (
    Craft,
    LayerHead,
    concept_attribution_maps,
    grad_cam,
    implicit_gradient_check,
)
from ...metrics import concept_sobol_importance, importance_to_order
from ...metrics.localisation import localisation_table
from ...utils import derive_seed
from .experiments import PAPER, crop_thumbnails

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
    localisation_images: int = 30,
    pool: str = "coefficients",
    batch_size: int = 64,
) -> pd.DataFrame:
    """:func:`localisation_table` of every class's concepts on its first ``localisation_images``
    evaluation images (concept attribution maps with the class's own bank, ``method`` =
    ``concept``), and as a control the class's own Grad-CAM on the same images (one row per
    class, ``method`` = ``class_gradcam``, ``concept`` = -1): a concept map that localises no
    better than the class map shows saliency, not a concept."""
    labels = np.asarray(labels)
    frames = []
    for c, bank in zip(concepts["classes"], concepts["bank"]):
        idx = np.flatnonzero(labels == c)[:localisation_images]
        shown, masks = images[idx], np.asarray(part_masks)[idx]
        maps = concept_attribution_maps(
            model, shown, bank, layer, cam_layer=cam_layer, pool=pool, batch_size=batch_size
        )
        frames.append(localisation_table(maps, masks, int(c)).assign(method="concept"))
        cam = grad_cam(model, shown, cam_layer, lambda logits, _store, _b, c=int(c): logits[:, [c]])
        control = localisation_table(cam, masks, int(c)).assign(method="class_gradcam", concept=-1)
        frames.append(control)
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
    n_mistakes: int = 4,
    concepts_shown: int = 2,
    n_crops: int = 4,
    sobol_design: int = 32,
    seed: int = 0,
) -> dict:
    """Fig. 5: for the most confident mistakes, the Grad-CAM of the predicted class and the
    attribution maps of that class's ``concepts_shown`` most important concepts *for the image*
    (its own total Sobol indices, target = the predicted class), with their top crops
    (cut from ``crop_images``, the split the crops came from). ``images``, ``maps``,
    ``logits`` and ``labels`` share rows (the evaluation cache's order)."""
    idx = confident_mistakes(logits, labels, n_mistakes)
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
        top = importance_to_order(s)[:concepts_shown]
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
    gradcheck_images: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`~reference_impls.methods.craft.implicit_gradient_check` on ``gradcheck_images``
    evaluation images of every class (float64, the class's bank, random pixel directions)."""
    labels = np.asarray(labels)
    rows = []
    for c, bank in zip(concepts["classes"], concepts["bank"]):
        idx = np.flatnonzero(labels == c)[:gradcheck_images]
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
