"""XNN experiments for one category (thesis Sec. 3.4): fit SRAE / NN / SAE / CAE / Lasso on the
attachment layer Z, faithfulness on the test split, c-MWP heatmaps of every x-feature,
orthogonality and locality, the Lasso sweep (Table A.1) and masking + inpainting (Table A.2).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import lasso_path
from torch import nn

from ...data.images import ImageSource
from ...methods.craft import grad_cam
from ...methods.excitation_backprop import excitation_backprop, flatten_modules, fold_batchnorm
from ...methods.srae import SRAE
from ...metrics.explanation import (
    f_cls,
    f_reg,
    mask_part_mass,
    orthogonality,
    part_histogram_locality,
    voronoi_part_probability,
)
from ...utils import derive_seed

ID = "xnn"
NETS = ("srae", "nn", "sae", "cae")
log = logging.getLogger(__name__)


def flat(acts) -> np.ndarray:
    """(M, C, H, W) -> (M, C*H*W) float32 (the flattened fc6 analogue)."""
    return np.asarray(acts, dtype=np.float32).reshape(len(acts), -1)


def training_rows(labels, k, n_pos, n_neg, seed) -> np.ndarray:
    """Seeded one-vs-all training rows: up to ``n_pos`` positives and ``n_neg`` negatives."""
    rng = np.random.default_rng(derive_seed(seed, ID, "rows", int(k)))
    pos, neg = np.flatnonzero(labels == k), np.flatnonzero(labels != k)
    pos = rng.choice(pos, min(n_pos, len(pos)), replace=False)
    neg = rng.choice(neg, min(n_neg, len(neg)), replace=False)
    return np.sort(np.r_[pos, neg])


def heatmap_rows(labels, k, n_images, seed) -> np.ndarray:
    """Test images for heatmaps: positives first (thesis: test set of the category), then
    negatives, ``n_images`` in all."""
    rng = np.random.default_rng(derive_seed(seed, ID, "heatmaps", int(k)))
    pos, neg = np.flatnonzero(labels == k), np.flatnonzero(labels != k)
    pos = rng.permutation(pos)[:n_images]
    neg = rng.permutation(neg)[: max(0, n_images - len(pos))]
    return np.r_[pos, neg]


def normalise_maps(maps) -> np.ndarray:
    """Thesis l. 459: ``S = C / sum_ij C`` per image and neuron (zero maps stay zero)."""
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.sum((-2, -1), keepdims=True)
    return np.divide(maps, total, out=np.zeros_like(maps), where=total > 0)


def upsample(maps, size) -> np.ndarray:
    """Nearest-neighbour upsampling of (..., h, w) maps to ``size`` (mass-preserving shape)."""
    f = size // maps.shape[-1]
    return np.repeat(np.repeat(maps, f, -2), f, -1) / (f * f)


class CNNChains:
    """The CNN split into MWP chains (BatchNorm folded): up to ``layer`` for x-features and Z
    units, to the logits' input for 1-Heatmap; saliency at the output of ``saliency``."""

    def __init__(self, model, layer: str, saliency: str):
        if not hasattr(model, "stage_names") or not hasattr(model, "fc"):
            raise NotImplementedError(
                f"{type(model).__name__}: the c-MWP chains need the suite's staged CNNs "
                f"(stage_names, pool, fc); torchvision VGG19 (full profile) is not wired yet"
            )
        stages = list(model.stage_names)
        self.model = model.eval()
        self.to_layer = fold_batchnorm(
            flatten_modules(*[getattr(model, s) for s in stages[: stages.index(layer) + 1]])
        ) + [nn.Flatten()]
        self.full = fold_batchnorm(flatten_modules(*[getattr(model, s) for s in stages])) + [
            model.pool,
            nn.Flatten(),
        ]
        self.saliency_index = len(
            fold_batchnorm(
                flatten_modules(*[getattr(model, s) for s in stages[: stages.index(saliency) + 1]])
            )
        )

    def xfeatures(self, images, srae: SRAE):
        enc = srae.encoder_chain()
        chain = self.to_layer + [m.eval() for m in enc[:-2]]
        return excitation_backprop(
            chain, images, weights=enc[-2].weight.detach(), saliency_index=self.saliency_index
        )

    def units(self, images, units):
        return excitation_backprop(
            self.to_layer, images, units=units, saliency_index=self.saliency_index
        )

    def one_heatmap(self, images, k):
        w = self.model.fc.weight.detach()[k : k + 1]
        return excitation_backprop(self.full, images, weights=w, saliency_index=self.saliency_index)


def part_probabilities(gt, rows, size) -> dict:
    """Per image: Voronoi part probabilities (Alg. 3, parts + context) and exact masks."""
    masks = gt["part_masks"][rows]
    vor = np.stack(
        [voronoi_part_probability(gt["keypoints"][r], gt["part_masks"][r] > 0) for r in rows]
    )
    return dict(voronoi=vor, masks=masks)


def locality_scores(maps, parts) -> dict:
    """Mean over x-features of the entropy of the part histogram, both variants."""
    vor_mass = np.einsum("mkhw,mphw->mkp", maps, parts["voronoi"])
    out = {}
    for name, mass in (("voronoi", vor_mass), ("mask", mask_part_mass(maps, parts["masks"], 6))):
        keep = mass.sum(-1).sum(0) > 0
        _, ent = part_histogram_locality(mass[:, keep])
        out[f"locality_{name}"] = float(ent.mean())
    return out


def lasso_sweep(Ztr, ytr, Zte, yte, n_alphas, seed) -> pd.DataFrame:
    """Table A.1: the Lasso path (alpha grid from sklearn) with Num_x and F_reg train/test."""
    scale = float(Ztr.std()) or 1.0
    mean_z, mean_y = Ztr.mean(0) / scale, ytr.mean()
    alphas, coefs, _ = lasso_path(Ztr / scale - mean_z, ytr - mean_y, alphas=n_alphas)
    rows = []
    for a, w in zip(alphas, coefs.T):
        b = mean_y - mean_z @ w
        rows.append(
            dict(
                alpha=float(a),
                num_x=int((w != 0).sum()),
                f_reg_train=f_reg(ytr, Ztr / scale @ w + b),
                f_reg_test=f_reg(yte, Zte / scale @ w + b),
                coef=w / scale,
                intercept=b,
            )
        )
    return pd.DataFrame(rows)


def masked_accuracy(model, images, maps, k, fractions, rng) -> dict:
    """Table A.2: keep the top-``fraction`` pixels of each map, inpaint the rest (biharmonic),
    classify; share predicted as ``k``. ``maps`` (N, H, W); ``None`` -> random pixels."""
    from skimage.restoration import inpaint_biharmonic

    n, _, H, W = images.shape
    out = {}
    for frac in fractions:
        n_keep = max(1, int(round(frac * H * W)))
        filled = np.empty_like(images)
        for i in range(n):
            score = rng.uniform(size=H * W) if maps is None else maps[i].ravel()
            keep = np.zeros(H * W, bool)
            keep[np.argsort(-score, kind="stable")[:n_keep]] = True
            img = images[i].transpose(1, 2, 0) * keep.reshape(H, W, 1)
            filled[i] = inpaint_biharmonic(img, ~keep.reshape(H, W), channel_axis=-1).transpose(
                2, 0, 1
            )
        with torch.no_grad():
            pred = model(torch.from_numpy(filled.astype(np.float32))).argmax(1).numpy()
        out[frac] = float((pred == k).mean())
    return out


def fit_nets(Ztr, ytr, pos, cfg, seed, k) -> dict:
    nets = {}
    for kind in NETS:
        params = dict(cfg["srae"])
        params.update(cfg.get("overrides", {}).get(kind, {}))
        nets[kind] = SRAE(
            n_components=cfg["n_xfeatures"],
            kind=kind,
            random_state=derive_seed(seed, ID, kind, int(k)),
            **params,
        ).fit(Ztr, ytr, positive=pos)
        log.info("class %d: %s fitted (revived %d)", k, kind, nets[kind].n_revived_)
    return nets


def run_class(acts_train, acts_test, images, gt, model, k, cfg, seed) -> dict:
    """Everything of one category; returns per-method metrics, the Lasso sweep and the maps
    needed for figures."""
    Ztr_all, Zte = flat(acts_train["activations"]), flat(acts_test["activations"])
    rows = training_rows(acts_train["labels"], k, cfg["n_pos_train"], cfg["n_neg_train"], seed)
    Ztr, ytr = Ztr_all[rows], acts_train["logits"][rows, k].astype(np.float32)
    pos = acts_train["labels"][rows] == k
    yte, logits_te = acts_test["logits"][:, k], acts_test["logits"]
    nets = fit_nets(Ztr, ytr, pos, cfg, seed, k)

    hm = heatmap_rows(acts_test["labels"], k, cfg["heatmap_images"], seed)
    img = ImageSource(images, acts_test["indices"])[hm]
    parts = part_probabilities(gt, acts_test["indices"][hm], img.shape[-1])
    chains = CNNChains(model, cfg["layer"], cfg["saliency_layer"])
    up = lambda m: normalise_maps(upsample(m, img.shape[-1]))  # noqa: E731

    metrics, maps = [], {}
    ctrl = f_reg(yte, np.full_like(yte, ytr.mean()))
    for kind, net in nets.items():
        ybar_tr, ybar_te = net.predict(Ztr), net.predict(Zte)
        m = up(chains.xfeatures(img, net))
        maps[kind] = m
        contrib = net.contributions(Zte[hm])
        row = dict(
            method=kind,
            f_reg_train=f_reg(ytr, ybar_tr),
            f_reg_test=f_reg(yte, ybar_te),
            f_reg_test_over_std=f_reg(yte, ybar_te) / float(yte.std()),
            f_cls_train=f_cls(acts_train["logits"][rows], ybar_tr, k),
            f_cls_test=f_cls(logits_te, ybar_te, k),
            n_positive_xfeatures=int((net.contributions(Ztr[pos]).mean(0) > 0).sum()),
            accepted=bool(net.accepted_),
            **_ortho(m),
            **locality_scores(m, parts),
        )
        maps[f"{kind}_contrib"] = contrib
        metrics.append(row)

    sweep = lasso_sweep(Ztr, ytr, Zte, yte, cfg["lasso_alphas"], seed)
    lasso = _pick_lasso(sweep, cfg["lasso_num_x"])
    w = lasso["coef"]
    sel = np.flatnonzero(w)
    top = sel[np.argsort(-np.abs(w[sel]) * np.abs(Ztr[:, sel]).mean(0))][: cfg["n_xfeatures"]]
    m = up(chains.units(img, top))
    maps["lasso"] = m
    lasso_pred_tr = Ztr @ w + lasso["intercept"]
    lasso_pred_te = Zte @ w + lasso["intercept"]
    metrics.append(
        dict(
            method="lasso",
            f_reg_train=f_reg(ytr, lasso_pred_tr),
            f_reg_test=f_reg(yte, lasso_pred_te),
            f_reg_test_over_std=f_reg(yte, lasso_pred_te) / float(yte.std()),
            f_cls_train=f_cls(acts_train["logits"][rows], lasso_pred_tr, k),
            f_cls_test=f_cls(logits_te, lasso_pred_te, k),
            num_x=int(lasso["num_x"]),
            alpha=float(lasso["alpha"]),
            **_ortho(m),
            **locality_scores(m, parts),
        )
    )
    # Z column: individual units of Z active on the category's images (seeded draw)
    rng = np.random.default_rng(derive_seed(seed, ID, "z_units", int(k)))
    active = np.flatnonzero(Zte[hm].mean(0) > 0)
    z_units = rng.choice(active, min(cfg["n_z_units"], len(active)), replace=False)
    metrics.append(dict(method="Z", **locality_scores(up(chains.units(img, z_units)), parts)))
    # 1-Heatmap (c-MWP of the logit) and the Grad-CAM of the same logit for comparison
    one = up(chains.one_heatmap(img, k))
    maps["1-heatmap"] = one
    metrics.append(dict(method="1-heatmap", **locality_scores(one, parts)))
    cam = grad_cam(
        model, img, cfg["gradcam_layer"], lambda logits, store, idx: logits[:, [k]]
    ).astype(np.float64)
    cam = normalise_maps(cam)
    agree = [
        np.corrcoef(a.ravel(), b.ravel())[0, 1]
        for a, b in zip(one[:, 0], cam[:, 0])
        if a.std() > 0 and b.std() > 0
    ]
    metrics.append(
        dict(
            method="1-heatmap-gradcam",
            corr_with_cmwp=float(np.mean(agree)) if agree else float("nan"),
            **locality_scores(cam, parts),
        )
    )
    # control: random classifier rows on the SRAE's 100-d layer (random x-features)
    srae = nets["srae"]
    enc = srae.encoder_chain()
    rw = torch.from_numpy(
        np.random.default_rng(derive_seed(seed, ID, "random", int(k)))
        .normal(size=tuple(enc[-2].weight.shape))
        .astype(np.float32)
    )
    rand = up(
        excitation_backprop(
            chains.to_layer + [m.eval() for m in enc[:-2]],
            img,
            weights=rw,
            saliency_index=chains.saliency_index,
        )
    )
    metrics.append(
        dict(
            method="random-xfeatures",
            f_reg_test=ctrl,
            f_cls_test=f_cls(logits_te, np.full_like(yte, ytr.mean()), k),
            **_ortho(rand),
            **locality_scores(rand, parts),
        )
    )
    frame = pd.DataFrame(metrics)
    frame.insert(0, "class", int(k))
    sweep = sweep.drop(columns=["coef", "intercept"])
    sweep.insert(0, "class", int(k))

    # Table A.2: mask by the x-features (positive-contribution-weighted sum) vs 1-Heatmap
    n_mask = min(cfg["mask_images"], int((acts_test["labels"][hm] == k).sum()))
    wts = np.clip(maps["srae_contrib"][:n_mask], 0, None)
    combined = np.einsum("mk,mkhw->mhw", wts, maps["srae"][:n_mask])
    mrng = np.random.default_rng(derive_seed(seed, ID, "mask", int(k)))
    a2 = []
    for name, mp in (("xfeatures", combined), ("1-heatmap", one[:n_mask, 0]), ("random", None)):
        acc = masked_accuracy(model, img[:n_mask], mp, k, cfg["mask_fractions"], mrng)
        a2 += [
            dict(**{"class": int(k)}, method=name, fraction=f, accuracy=a) for f, a in acc.items()
        ]
    with torch.no_grad():
        orig = float((model(torch.from_numpy(img[:n_mask])).argmax(1).numpy() == k).mean())
    a2.append({"class": int(k), "method": "original", "fraction": 1.0, "accuracy": orig})
    return dict(metrics=frame, sweep=sweep, masking=pd.DataFrame(a2), maps=maps, images=img)


def _ortho(maps) -> dict:
    try:
        return orthogonality(maps)
    except ValueError as err:  # a dead x-feature: recorded as NaN, said in the log
        log.warning("orthogonality undefined: %s", err)
        return dict(O1=float("nan"), O2=float("nan"), O1_alt=float("nan"))


def _pick_lasso(sweep, target) -> pd.Series:
    """The Table 3.1 Lasso: the largest alpha selecting at least ``target`` units."""
    ok = sweep[sweep["num_x"] >= target]
    if ok.empty:
        raise ValueError(f"lasso path never selects {target} units; widen lasso_alphas")
    return ok.sort_values("alpha", ascending=False).iloc[0]
