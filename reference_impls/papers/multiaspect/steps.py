"""One function per rule ``multiaspect_<step>`` (signature ``step(inp, out, params, log)``).

Inputs and outputs are the rule's named files (``workflow/rules/multiaspect.smk``); ``params``
holds ``cfg`` (the slice of the config section a step reads) and ``seed``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ...data import load_split, read_manifest
from ...models import load_activations, load_checkpoint
from ...utils import derive_seed
from . import experiments as ex
from . import figures as fg
from .claims import claims_and_results

PAPER = ex.PAPER


# ----------------------------------------------------------------------------- loading
def _dataset(manifest, split):
    return load_split(manifest, split)


def _truth(dataset, rows, key):
    gt = getattr(dataset, "ground_truth", None) or {}
    return np.asarray(gt[key])[rows] if key in gt else None


def _superclass_names(manifest, dataset, n: int) -> list[str]:
    names = (getattr(dataset, "meta", None) or {}).get("superclass_names")
    if names is not None:  # CIFAR-100's 20 coarse labels
        return [str(s) for s in names]
    info = read_manifest(manifest)
    if info.get("kind") == "procedural":
        with np.load(Path(manifest).parent / info["arrays"]) as arrays:
            return [str(s) for s in arrays["superclass_names"]]
    return [f"superclass {k}" for k in range(n)]


def _n_super(dataset) -> int:
    sup = (getattr(dataset, "ground_truth", None) or {}).get("superclass")
    return int(np.max(sup)) + 1 if sup is not None else 0


def _images(dataset, rows) -> np.ndarray:
    return ex.load_images(dataset, rows)


def _cached_blocks(acts_files, cfg, seed, tag):
    """Pixel and layer blocks of a stratified sample of the cached split (Sec. III-B.1)."""
    caches = [load_activations(p) for p in acts_files]
    indices = caches[0]["indices"]
    for c, p in zip(caches, acts_files):
        if not np.array_equal(c["indices"], indices):
            raise ValueError(f"{p}: its image indices differ from {acts_files[0]}'s")
    rows = ex.stratified_sample(caches[0]["labels"], cfg["n_examples"], seed, tag)
    A = [ex.layer_block(c["activations"][rows], str(p)) for c, p in zip(caches, acts_files)]
    return indices[rows], caches[0]["labels"][rows], A


def _weights(cfg):
    return {k: cfg[k] for k in ("lambda_P", "lambda_O")}


def _save_fit(path, fit, **extra):
    arrays = {f"P{i}": p for i, p in enumerate(fit["P"])}
    arrays.update({f"O{j}": o for j, o in enumerate(fit["O"])})
    np.savez(path, F=fit["F"], loss=fit["loss"], seconds=fit["seconds"], **arrays, **extra)


def _load_fit(path) -> dict:
    with np.load(path) as z:
        out = {k: z[k] for k in z.files}
    out["P"] = [out.pop(f"P{i}") for i in range(sum(k.startswith("P") for k in out))]
    out["O"] = [out.pop(f"O{j}") for j in range(sum(k.startswith("O") for k in out))]
    return out


# ----------------------------------------------------------------------------- Eq. 1 fit
def runtime(inp, out, params, log):
    """Eq. 1-2 on pixels + the cached layers of N examples (Table I, Fig. 2-5 read it); the
    fit's wall time is the running-time artefact (Sec. IV: 3 layers x 3000 examples < 15 min)."""
    cfg, seed = params.cfg, params.seed
    rows, labels, A = _cached_blocks(list(inp.acts), cfg, seed, "sample")
    dataset = _dataset(inp.manifest, cfg["eval_split"])
    D = ex.pixel_blocks(_images(dataset, rows))
    log.info("Eq. 1 fit: N=%d, %d pixel blocks, layers %s", len(rows), len(D), cfg["layers"])
    fit = ex.fit_coupled(
        D,
        A,
        d=cfg["n_factors"],
        seed=derive_seed(seed, PAPER, "lambda", cfg["lambda_F"]),
        max_iter=cfg["max_iter"],
        lambda_F=cfg["lambda_F"],
        **_weights(cfg),
    )
    log.info("fit: %.1f s, objective %.4g -> %.4g", fit["seconds"], fit["loss"][0], fit["loss"][-1])
    _save_fit(out.fit, fit, rows=rows, labels=labels)
    pd.DataFrame(
        [
            dict(
                model=cfg["model"],
                n_examples=len(rows),
                n_layers=len(A),
                layers=" ".join(cfg["layers"]),
                n_pixel_blocks=len(D),
                n_factors=cfg["n_factors"],
                iterations=cfg["max_iter"],
                seconds=fit["seconds"],
                paper_seconds_limit=900.0,
            )
        ]
    ).to_csv(out.csv, index=False)


# ----------------------------------------------------------------------------- Table I
def factor_table(F, dataset, rows, class_names, super_names, top_k: int) -> pd.DataFrame:
    """Per factor: top classes by class score, top superclass, purities, top-k images."""
    labels = np.asarray(dataset.targets)[rows]
    superclass = _truth(dataset, rows, "superclass")
    background = _truth(dataset, rows, "background")
    scores = ex.class_scores(F, labels, len(class_names))
    top = ex.top_examples(F, top_k)
    table = []
    for i in range(len(F)):
        row = dict(
            factor=i,
            top_classes="; ".join(class_names[c] for c in np.argsort(-scores[i])[:3]),
            class_purity=ex.modal_share(labels[top[i]])[1],
            top_images=" ".join(str(int(r)) for r in rows[top[i]]),
        )
        if superclass is not None:
            sup = ex.class_scores(F[i : i + 1], superclass, len(super_names))[0]
            row["top_superclass"] = super_names[int(np.argmax(sup))]
            row["superclass_purity"] = ex.modal_share(superclass[top[i]])[1]
        if background is not None:
            row["background_purity"] = ex.modal_share(background[top[i]])[1]
        table.append(row)
    return pd.DataFrame(table)


def _purity_control(F, labels, cfg, seed, tag):
    perm = ex.permutation_purity(F, labels, cfg["top_k"], cfg["n_permutations"], seed)
    return dict(
        control=tag,
        n_permutations=len(perm),
        mean=float(perm.mean()),
        p95=float(np.quantile(perm, 0.95)),
        chance=1.0 / len(np.unique(labels)),
    )


def table1(inp, out, params, log):
    """Table I: per latent factor the top classes, top-20 images and top superclass."""
    cfg, seed = params.cfg, params.seed
    fit = _load_fit(inp.fit)
    rows, F = fit["rows"], fit["F"]
    dataset = _dataset(inp.manifest, cfg["eval_split"])
    n_super = _n_super(dataset)
    supers = _superclass_names(inp.manifest, dataset, n_super)
    table = factor_table(F, dataset, rows, list(dataset.classes), supers, cfg["top_k"])
    table.to_csv(out.table, index=False)
    controls = [_purity_control(F, np.asarray(dataset.targets)[rows], cfg, seed, "class")]
    superclass = _truth(dataset, rows, "superclass")
    if superclass is not None:
        controls.append(_purity_control(F, superclass, cfg, seed, "superclass"))
    pd.DataFrame(controls).to_csv(out.control, index=False)
    log.info(
        "Table I: mean superclass purity %s", table.get("superclass_purity", pd.Series()).mean()
    )
    fg.top_images_figure(table, dataset, out.png, "Table I: top-20 images per latent factor")


# ----------------------------------------------------------------------------- Fig. 2-3
def _random_block(O, seed):
    rng = np.random.default_rng(derive_seed(seed, PAPER, "random_O"))
    return np.abs(rng.standard_normal(O.shape))


def fig2(inp, out, params, log):
    """Fig. 2: cosine similarity between the columns of O_j, per analysed layer."""
    cfg, seed = params.cfg, params.seed
    fit = _load_fit(inp.fit)
    mats = [ex.cosine_matrix(O) for O in fit["O"]]
    rand = ex.mean_off_diagonal(ex.cosine_matrix(_random_block(fit["O"][-1], seed)))
    pd.DataFrame(
        [
            dict(layer=name, depth=j, mean_off_diagonal=ex.mean_off_diagonal(C))
            for j, (name, C) in enumerate(zip(cfg["layers"], mats))
        ]
        + [dict(layer="random_control", depth=-1, mean_off_diagonal=rand)]
    ).to_csv(out.csv, index=False)
    fg.similarity_figure(mats, cfg["layers"], out.png)


def fig3(inp, out, params, log):
    """Fig. 3: eigenvalues of the Fig. 2 similarity matrices; mean of the top-K (#3)."""
    cfg, seed = params.cfg, params.seed
    fit = _load_fit(inp.fit)
    mats = [ex.cosine_matrix(O) for O in fit["O"]]
    rand = ex.topk_eigen_means(ex.cosine_matrix(_random_block(fit["O"][-1], seed)), cfg["eigen_k"])
    rows = []
    for j, (name, C) in enumerate(zip(cfg["layers"], mats)):
        for k, v in ex.topk_eigen_means(C, cfg["eigen_k"]).items():
            rows.append(dict(layer=name, depth=j, k=k, topk_eigen_mean=v))
    rows += [
        dict(layer="random_control", depth=-1, k=k, topk_eigen_mean=v) for k, v in rand.items()
    ]
    pd.DataFrame(rows).to_csv(out.csv, index=False)
    eig = [np.sort(np.linalg.eigvalsh(C))[::-1] for C in mats]
    fg.eigen_figure(eig, cfg["layers"], out.png)


# ----------------------------------------------------------------------------- Fig. 4-5
def fig4_5(inp, out, params, log):
    """Fig. 4-5: latent pixel image, top image, median mask on it, and the concept
    distribution of its nearest neighbours in F; masks scored against part masks."""
    cfg = params.cfg
    fit = _load_fit(inp.fit)
    rows, F = fit["rows"], fit["F"]
    dataset = _dataset(inp.manifest, cfg["eval_split"])
    table = pd.read_csv(inp.table)
    h, w = _images(dataset, rows[:1]).shape[2:]
    latent = ex.latent_images(fit["P"], h, w)
    masks = ex.median_masks(latent)
    top = ex.top_examples(F, 1)[:, 0]
    parts = _truth(dataset, rows[top], "part_masks")
    superclass = _truth(dataset, rows, "superclass")
    enrich = ex.object_enrichment(masks, parts) if parts is not None else np.full(len(F), np.nan)
    records = []
    for i in range(len(F)):
        nn = ex.nearest_neighbours(F, int(top[i]), cfg["n_neighbours"])
        dist = ex.concept_distribution(F, nn)
        rec = dict(factor=i, top_image=int(rows[top[i]]), object_enrichment=float(enrich[i]))
        if superclass is not None:
            rec["neighbours_same_superclass"] = float(np.mean(superclass[nn] == superclass[top[i]]))
        rec["neighbour_top_factors"] = " ".join(str(int(f)) for f in np.argsort(-dist)[:3])
        records.append(rec)
    pd.DataFrame(records).to_csv(out.csv, index=False)
    order = table.sort_values(
        "superclass_purity" if "superclass_purity" in table else "class_purity",
        ascending=False,
        kind="stable",
    )["factor"].to_numpy()[:2]
    shown = []
    for i in order:
        nn = ex.nearest_neighbours(F, int(top[i]), cfg["n_neighbours"])
        shown.append(
            (
                int(i),
                latent[i],
                _images(dataset, rows[top[i : i + 1]])[0],
                masks[i],
                ex.concept_distribution(F, nn),
            )
        )
    fg.latent_pixels_figure(shown, cfg["n_neighbours"], out.png)


# ----------------------------------------------------------------------------- Table II
def table2(inp, out, params, log):
    """Table II: CKA between F^T F kernels across lambda_F, each fit with its own seed (#14),
    plus extra lambdas and a seed-only control at lambda_F = 1."""
    cfg, seed = params.cfg, params.seed
    rows, _, A = _cached_blocks(list(inp.acts), cfg, seed, "sample")
    D = ex.pixel_blocks(_images(_dataset(inp.manifest, cfg["eval_split"]), rows))
    fits = {}

    def run(key, lam, s):
        log.info("Table II fit %s (lambda_F=%g)", key, lam)
        fits[key] = ex.fit_coupled(
            D,
            A,
            d=cfg["n_factors"],
            seed=s,
            max_iter=cfg["max_iter"],
            lambda_F=lam,
            **_weights(cfg),
        )["F"]

    grid = [float(v) for v in cfg["table2_lambdas"]]
    for lam in grid + [float(v) for v in cfg["table2_extra_lambdas"]]:
        run(("lambda", lam), lam, derive_seed(seed, PAPER, "lambda", lam))
    for s in range(1, cfg["table2_seeds"]):
        run(("seed", s), 1.0, derive_seed(seed, PAPER, "seed", s))
    rng = np.random.default_rng(derive_seed(seed, PAPER, "random_F"))
    F_rand = np.abs(rng.standard_normal(fits[("lambda", grid[0])].shape))
    records = []
    keys = list(fits)
    for a in range(len(keys)):
        for b in range(len(keys)):
            ka, kb = keys[a], keys[b]
            kind = (
                "grid"
                if ka[1] in grid and kb[1] in grid and ka[0] == kb[0] == "lambda"
                else "extra"
            )
            records.append(
                dict(
                    a=f"{ka[0]}={ka[1]:g}",
                    b=f"{kb[0]}={kb[1]:g}",
                    kind=kind,
                    cka=ex.kernel_cka(fits[ka], fits[kb]),
                )
            )
    seed_keys = [("lambda", 1.0)] + [k for k in keys if k[0] == "seed"]
    for a in range(len(seed_keys)):
        for b in range(a + 1, len(seed_keys)):
            records.append(
                dict(
                    a=str(seed_keys[a]),
                    b=str(seed_keys[b]),
                    kind="seeds",
                    cka=ex.kernel_cka(fits[seed_keys[a]], fits[seed_keys[b]]),
                )
            )
    records.append(
        dict(
            a="lambda=1",
            b="random F",
            kind="random_control",
            cka=ex.kernel_cka(fits[("lambda", 1.0)], F_rand),
        )
    )
    pd.DataFrame(records).to_csv(out.csv, index=False)


# ----------------------------------------------------------------------------- Fig. 6-7
def _predict_fn(model):
    import torch

    def predict(batch):
        with torch.no_grad():
            return torch.softmax(model(torch.as_tensor(batch)), 1).numpy()

    return predict


def fig6_7(inp, out, params, log):
    """Fig. 6-7: LIME vs the latent-pixel mask on the top images of the purest factors."""
    cfg, seed = params.cfg, params.seed
    fit = _load_fit(inp.fit)
    rows, F = fit["rows"], fit["F"]
    dataset = _dataset(inp.manifest, cfg["eval_split"])
    model = load_checkpoint(inp.checkpoint)
    table = pd.read_csv(inp.table)
    key = "superclass_purity" if "superclass_purity" in table else "class_purity"
    factors = table.sort_values(key, ascending=False, kind="stable")["factor"].to_numpy()
    factors = factors[: cfg["lime"]["n_images"]]
    top = ex.top_examples(F, 1)[:, 0]
    images = _images(dataset, rows[top[factors]])
    h, w = images.shape[2:]
    masks = ex.median_masks(ex.latent_images(fit["P"], h, w))[factors]
    predict = _predict_fn(model)
    lime = []
    for n, img in enumerate(images):
        seg = ex.superpixels(img, cfg["lime"]["n_segments"])
        target = int(np.argmax(predict(img[None])[0]))
        wts = ex.lime_weights(
            predict,
            img,
            seg,
            target,
            cfg["lime"]["num_samples"],
            derive_seed(seed, PAPER, "lime", int(factors[n])),
        )
        lime.append(ex.lime_mask(wts, seg, cfg["lime"]["num_features"]))
    lime = np.stack(lime)
    parts = _truth(dataset, rows[top[factors]], "part_masks")
    nan = np.full(len(factors), np.nan)
    pd.DataFrame(
        dict(
            factor=factors,
            image=rows[top[factors]],
            iou_lime_latent=[ex.iou(a, b) for a, b in zip(lime, masks)],
            enrichment_latent=ex.object_enrichment(masks, parts) if parts is not None else nan,
            enrichment_lime=ex.object_enrichment(lime, parts) if parts is not None else nan,
        )
    ).to_csv(out.csv, index=False)
    fg.mask_rows_figure(
        images,
        {"LIME (Fig. 6)": lime, "latent pixels (Fig. 7)": masks},
        [f"factor {f}" for f in factors],
        out.png,
    )


# ----------------------------------------------------------------------------- Fig. 8-11
def _fresh_blocks(model, dataset, cfg, seed, tag, layers, sort_by_label=False):
    labels_all = np.asarray(dataset.targets)
    rows = ex.stratified_sample(labels_all, cfg["n_examples"], seed, tag)
    if sort_by_label:  # #6: TV needs an example order; class blocks
        rows = rows[np.argsort(labels_all[rows], kind="stable")]
    images = _images(dataset, rows)
    acts = ex.forward_layers(model, images, layers)
    A = [ex.layer_block(acts[name], name) for name in layers]
    return rows, images, ex.pixel_blocks(images), A


def fig8_11(inp, out, params, log):
    """Fig. 8-11: top image per factor of a d = 10 fit, its latent mask, Grad-CAM and
    Grad-CAM++ w.r.t. the true label at cam_layer."""
    cfg, seed = params.cfg, params.seed
    model = load_checkpoint(inp.checkpoint)
    dataset = _dataset(inp.manifest, cfg["cam_split"])
    rows, images, D, A = _fresh_blocks(model, dataset, cfg, seed, "cam", cfg["cam_layers"])
    fit = ex.fit_coupled(
        D,
        A,
        d=cfg["cam_factors"],
        seed=derive_seed(seed, PAPER, "cam"),
        max_iter=cfg["max_iter"],
        lambda_F=cfg["lambda_F"],
        **_weights(cfg),
    )
    top = ex.top_examples(fit["F"], 1)[:, 0]
    imgs = images[top]
    labels = np.asarray(dataset.targets)[rows[top]]
    h, w = imgs.shape[2:]
    latent = ex.median_masks(ex.latent_images(fit["P"], h, w))
    gc = ex.cam_maps(model, imgs, labels, cfg["cam_layer"], plus_plus=False)
    gcpp = ex.cam_maps(model, imgs, labels, cfg["cam_layer"], plus_plus=True)
    parts = _truth(dataset, rows[top], "part_masks")
    nan = np.full(len(top), np.nan)
    rho = [stats.spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(gc, gcpp)]
    pd.DataFrame(
        dict(
            factor=np.arange(len(top)),
            image=rows[top],
            label=labels,
            spearman_gradcam_pp=rho,
            enrichment_latent=ex.object_enrichment(latent, parts) if parts is not None else nan,
            enrichment_gradcam=ex.object_enrichment(gc, parts) if parts is not None else nan,
            enrichment_gradcam_pp=ex.object_enrichment(gcpp, parts) if parts is not None else nan,
        )
    ).to_csv(out.csv, index=False)
    names = list(dataset.classes)
    fg.mask_rows_figure(
        imgs,
        {"latent pixels (Fig. 9)": latent, "Grad-CAM (Fig. 10)": gc, "Grad-CAM++ (Fig. 11)": gcpp},
        [f"factor {i}\n{names[c][:14]}" for i, c in enumerate(labels)],
        out.png,
    )


# ----------------------------------------------------------------------------- case study
def _case_fit(inp, out, params, log, variant):
    """Eq. 1 / 3 / 4 on the probe classes (the CIFAR-10 -> CIFAR-100 analogue)."""
    cfg, seed = params.cfg, params.seed
    model = load_checkpoint(inp.checkpoint)
    dataset = _dataset(inp.probe_manifest, cfg["probe_split"])
    rows, _, D, A = _fresh_blocks(
        model, dataset, cfg, seed, "case", cfg["case_layers"], sort_by_label=variant == "tv_ortho"
    )
    if not cfg["case_inputs"]:
        D = []
    labels = np.asarray(dataset.targets)[rows]
    scale = ex.penalty_scale(D, A, cfg["n_factors"])
    weights = dict(lambda_F=cfg["lambda_F"], **_weights(cfg))
    if variant == "group_sparse":  # #5: groups = probe classes (labels used, as "known groups")
        weights = dict(lambda_F=cfg["rel_group"] * scale, groups=labels)
    elif variant == "tv_ortho":
        weights = dict(lambda_tv=cfg["rel_tv"] * scale, lambda_ortho=cfg["rel_ortho"] * scale)
    log.info(
        "case study %s: weights %s", variant, {k: v for k, v in weights.items() if k != "groups"}
    )
    fit = ex.fit_coupled(
        D,
        A,
        d=cfg["n_factors"],
        seed=derive_seed(seed, PAPER, "case", variant),
        max_iter=cfg["case_max_iter"],
        variant=variant,
        **weights,
    )
    _save_fit(
        out.fit,
        fit,
        rows=rows,
        labels=labels,
        weights=json.dumps({k: v for k, v in weights.items() if k != "groups"}),
    )
    return fit, dataset, rows


def _case_table(inp, out, params, log, variant):
    fit, dataset, rows = _case_fit(inp, out, params, log, variant)
    n_super = _n_super(dataset)
    supers = _superclass_names(inp.probe_manifest, dataset, n_super)
    factor_table(
        fit["F"], dataset, rows, list(dataset.classes), supers, params.cfg["top_k"]
    ).to_csv(out.table, index=False)


def caseref(inp, out, params, log):
    """Eq. 1 on the same probe examples: the reference of the extensions' disjointness."""
    _case_fit(inp, out, params, log, "l2")


def table4(inp, out, params, log):
    """Table IV: factors of the group-sparse fit (Eq. 3) on the probe classes."""
    _case_table(inp, out, params, log, "group_sparse")


def table5(inp, out, params, log):
    """Table V: factors of the TV + soft-orthogonality fit (Eq. 4, inputs included)."""
    _case_table(inp, out, params, log, "tv_ortho")


def _ttest(a, b) -> float:
    """Two-sided t-test p-value of TCAV scores vs random-CAV scores (1 when both constant)."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b).pvalue)


def fig12_13(inp, out, params, log):
    """Fig. 12-13: TCAV (Kim et al. CAVs) of every latent concept for every training class."""
    cfg, seed = params.cfg, params.seed
    model = load_checkpoint(inp.checkpoint)
    probe = _dataset(inp.probe_manifest, cfg["probe_split"])
    train = _dataset(inp.manifest, cfg["tcav_split"])
    layer, k = cfg["tcav_layer"], cfg["tcav_concept_images"]
    train_labels = np.asarray(train.targets)
    class_rows = ex.stratified_sample(
        train_labels, cfg["tcav_class_images"] * len(train.classes), seed, "tcav_classes"
    )
    grads = {}
    for c in range(len(train.classes)):
        sel = class_rows[train_labels[class_rows] == c]
        grads[c] = ex.class_gradients(model, _images(train, sel), layer, c)
    train_super = _truth(train, class_rows, "superclass")
    records = []
    for variant, path in (("group_sparse", inp.gs), ("tv_ortho", inp.tv)):
        fit = _load_fit(path)
        rows, F = fit["rows"], fit["F"]
        acts = ex.forward_layers(model, _images(probe, rows), [layer])[layer]
        rng = np.random.default_rng(derive_seed(seed, PAPER, "tcav_random", variant))
        randoms = [
            rng.choice(len(rows), size=k, replace=False) for _ in range(cfg["tcav_random_sets"] + 1)
        ]
        rand_cavs = [
            ex.learn_cav(acts[randoms[r]], acts[randoms[r + 1]], seed)
            for r in range(cfg["tcav_random_sets"])
        ]
        top = ex.top_examples(F, k)
        probe_super = _truth(probe, rows, "superclass")
        for i in range(len(F)):
            cavs = [
                ex.learn_cav(acts[top[i]], acts[randoms[r]], seed)
                for r in range(cfg["tcav_random_sets"])
            ]
            dom = ex.modal_share(probe_super[top[i]])[0] if probe_super is not None else -1
            for c in range(len(train.classes)):
                q = np.array([ex.tcav_q(grads[c], v) for v in cavs])
                qr = np.array([ex.tcav_q(grads[c], v) for v in rand_cavs])
                p = _ttest(q, qr)
                sup = (
                    ex.modal_share(train_super[train_labels[class_rows] == c])[0]
                    if train_super is not None
                    else -2
                )
                records.append(
                    dict(
                        variant=variant,
                        factor=i,
                        train_class=c,
                        class_name=train.classes[c],
                        tcav=float(q.mean()),
                        tcav_random=float(qr.mean()),
                        p_value=float(p),
                        significant=bool(p < 0.05),
                        same_superclass=bool(sup == dom),
                    )
                )
        log.info("TCAV %s done", variant)
    frame = pd.DataFrame(records)
    frame.to_csv(out.csv, index=False)
    fg.tcav_figure(
        frame[frame.variant == "group_sparse"], out.fig12, "Fig. 12: TCAV, group sparsity"
    )
    fg.tcav_figure(frame, out.fig13, "Fig. 13: TCAV, group sparsity (a) and TV + orthogonality (b)")


def table3(inp, out, params, log):
    """Table III: abridged group-sparsity table, with each factor's highest-TCAV classes."""
    table = pd.read_csv(inp.table)
    tcav = pd.read_csv(inp.tcav)
    tcav = tcav[tcav.variant == "group_sparse"]
    best = tcav.sort_values(["factor", "tcav"], ascending=[True, False], kind="stable")
    table["top_tcav_classes"] = [
        "; ".join(best[best.factor == i]["class_name"].head(3)) for i in table["factor"]
    ]
    key = "superclass_purity" if "superclass_purity" in table else "class_purity"
    table.sort_values(key, ascending=False, kind="stable").head(params.cfg["abridged"]).to_csv(
        out.table, index=False
    )


# ----------------------------------------------------------------------------- claims
def claims(inp, out, params, log):
    """results.csv and claims.csv from every artefact's numbers."""
    claims_frame, results = claims_and_results(inp, params.cfg, params.seed)
    results.to_csv(out.results, index=False)
    claims_frame.to_csv(out.claims, index=False)
