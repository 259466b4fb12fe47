"""The multiaspect claims (paper vs ours vs control) and the long results table.

Protocols and thresholds are fixed by the spec (/work/shared/notes/multiaspect_protonmf_bona.md,
Sec. 1.B) before any run; a claim that fails at embedded scale stays false.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...claims import claim, claims_frame, results_frame
from . import experiments as ex

PAPER = ex.PAPER


def _fmt(lo, hi) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def _rows_std(F) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    return F / np.maximum(F.sum(1, keepdims=True), 1e-30)


def mean_row_cosine(F) -> float:
    """Mean pairwise cosine between the rows of F (overlap of the latent factors' usage)."""
    return ex.mean_off_diagonal(ex.cosine_matrix(np.asarray(F, dtype=np.float64).T))


def factors_per_group(F, groups) -> float:
    """Mean over groups of the effective number of factors a group uses: exp(entropy) of the
    group's mass per factor, rows of F scaled to unit L1 first (comparable across variants)."""
    R = _rows_std(F)
    groups = np.asarray(groups)
    eff = []
    for g in np.unique(groups):
        m = R[:, groups == g].sum(1)
        p = m / m.sum()
        p = p[p > 0]
        eff.append(np.exp(-(p * np.log(p)).sum()))
    return float(np.mean(eff))


def _load(path):
    with np.load(path) as z:
        return {k: z[k] for k in ("F", "labels")}


def claims_and_results(inp, cfg, seed):
    """Everything the claims step writes: (claims frame, results frame)."""
    rows, res = [], []
    base = dict(paper=PAPER, dataset=cfg["dataset"], model=cfg["model"], seed=seed)

    def result(experiment, metric, value, method="coupled_nmf", layer=""):
        res.append(
            dict(
                base,
                experiment=experiment,
                method=method,
                layer=layer,
                metric=metric,
                value=float(value),
            )
        )

    # ---- Table 1
    t1 = pd.read_csv(inp.table1)
    ctrl = pd.read_csv(inp.control).set_index("control")
    result("table1", "class_purity_mean", t1["class_purity"].mean())
    if "superclass_purity" in t1:
        pur = t1["superclass_purity"].to_numpy()
        sc = ctrl.loc["superclass"]
        chance = float(sc["chance"])
        lo, hi = ex.bootstrap_mean(pur, seed, "table1")
        result("table1", "superclass_purity_mean", pur.mean())
        result("table1", "superclass_purity_permuted_p95", sc["p95"], method="permuted_labels")
        rows.append(
            claim(
                PAPER,
                "table1_superclass_coherent",
                source="Table 1",
                statement="the top-20 images of a factor share a superclass: mean purity >= 2x "
                "chance and above the 95th percentile with permuted labels",
                paper_value="10 of 20 factors named by one superclass (qualitative)",
                our_value=round(float(pur.mean()), 4),
                control_value=f"permuted labels p95 {sc['p95']:.3f}; chance {chance:.3f}",
                interval=f"95% bootstrap over factors {_fmt(lo, hi)}",
                comparison=">= 2 x chance and > permuted p95",
                holds=bool(pur.mean() >= 2 * chance and pur.mean() > sc["p95"]),
            )
        )
        share = float(np.mean(pur >= 0.5))
        result("table1", "share_coherent_factors", share)
        rows.append(
            claim(
                PAPER,
                "table1_share_coherent_factors",
                source="Table 1",
                statement="at least half of the factors have top-20 superclass purity >= 0.5",
                paper_value=0.5,
                our_value=share,
                control_value=f"chance purity {chance:.3f}",
                interval=f"factor purities [{pur.min():.3f}, {pur.max():.3f}]",
                comparison=">= 0.5",
                holds=share >= 0.5,
            )
        )
    if "background_purity" in t1:
        result("table1", "background_purity_mean", t1["background_purity"].mean())

    # ---- Fig. 2-3
    f2 = pd.read_csv(inp.fig2)
    layers = f2[f2.depth >= 0].sort_values("depth")
    for r in layers.itertuples():
        result("fig2", "mean_off_diagonal_cosine", r.mean_off_diagonal, layer=r.layer)
    off = layers["mean_off_diagonal"].to_numpy()
    rand = float(f2.loc[f2.depth < 0, "mean_off_diagonal"].iloc[0])
    rows.append(
        claim(
            PAPER,
            "fig2_similarity_diagonalises_with_depth",
            source="Fig. 2",
            statement="the cosine similarity of O_j's columns is closer to diagonal in the deepest "
            "analysed layer than in the shallowest",
            paper_value="becomes diagonal with depth (qualitative)",
            our_value=" / ".join(f"{v:.3f}" for v in off),
            control_value=f"random non-negative O: {rand:.3f}",
            interval="one fit (seed 0)",
            comparison="deepest < shallowest",
            holds=bool(off[-1] < off[0]),
            note="strictly monotone across all layers: " + str(bool(np.all(np.diff(off) < 0))),
        )
    )
    f3 = pd.read_csv(inp.fig3)
    k = max(cfg["eigen_k"])
    top = f3[(f3.depth >= 0) & (f3.k == k)].sort_values("depth")["topk_eigen_mean"].to_numpy()
    rand3 = float(f3[(f3.depth < 0) & (f3.k == k)]["topk_eigen_mean"].iloc[0])
    for r in f3[f3.depth >= 0].itertuples():
        result("fig3", f"top{r.k}_eigen_mean", r.topk_eigen_mean, layer=r.layer)
    others = {
        kk: f3[(f3.depth >= 0) & (f3.k == kk)].sort_values("depth")["topk_eigen_mean"].to_numpy()
        for kk in cfg["eigen_k"]
        if kk != k
    }
    rows.append(
        claim(
            PAPER,
            "fig3_topk_eigen_falls_with_depth",
            source="Fig. 3",
            statement=f"the mean of the top-{k} eigenvalues of the similarity matrix strictly "
            "decreases with depth",
            paper_value="falls with depth (qualitative)",
            our_value=" / ".join(f"{v:.3f}" for v in top),
            control_value=f"random non-negative O: {rand3:.3f}",
            interval="one fit (seed 0)",
            comparison="strictly decreasing",
            holds=bool(np.all(np.diff(top) < 0)),
            note="; ".join(
                f"K={kk}: " + " / ".join(f"{v:.2f}" for v in vals) for kk, vals in others.items()
            ),
        )
    )

    # ---- Fig. 4-5
    f4 = pd.read_csv(inp.fig4_5)
    enr = f4["object_enrichment"].to_numpy()
    if np.isfinite(enr).any():
        lo, hi = ex.bootstrap_mean(enr, seed, "fig4")
        result("fig4_5", "latent_mask_object_enrichment", np.nanmean(enr))
        rows.append(
            claim(
                PAPER,
                "fig4_latent_mask_on_object",
                source="Figs. 4-5",
                statement="the median mask of a factor's latent pixels puts more than its area share "
                "on the object of the factor's top image",
                paper_value="mostly on the object (qualitative)",
                our_value=round(float(np.nanmean(enr)), 4),
                control_value="uniform mask: 1.0",
                interval=f"95% bootstrap over factors {_fmt(lo, hi)}",
                comparison="> 1",
                holds=bool(np.nanmean(enr) > 1),
                note=f"{int(np.sum(enr < 1))} of {len(enr)} factors below 1 (background factors)",
            )
        )
    if "neighbours_same_superclass" in f4 and "superclass_purity" in t1:
        nn = f4["neighbours_same_superclass"].to_numpy()
        lo, hi = ex.bootstrap_mean(nn, seed, "fig4nn")
        result("fig4_5", "neighbours_same_superclass", nn.mean())
        rows.append(
            claim(
                PAPER,
                "fig4_neighbours_share_concept",
                source="Figs. 4-5",
                statement=f"the {cfg['n_neighbours']} nearest neighbours in F of a factor's top image "
                "share its superclass at >= 2x chance",
                paper_value="neighbours in related factors (qualitative)",
                our_value=round(float(nn.mean()), 4),
                control_value=f"chance {chance:.3f}",
                interval=f"95% bootstrap over factors {_fmt(lo, hi)}",
                comparison=">= 2 x chance",
                holds=bool(nn.mean() >= 2 * chance),
            )
        )

    # ---- Table 2
    t2 = pd.read_csv(inp.table2)
    grid = t2[(t2.kind == "grid") & (t2.a != t2.b)]["cka"].to_numpy()
    seeds = t2[t2.kind == "seeds"]["cka"].to_numpy()
    extra = t2[(t2.kind == "extra") & (t2.a != t2.b)]["cka"].to_numpy()
    rnd = float(t2[t2.kind == "random_control"]["cka"].iloc[0])
    result("table2", "cka_lambda_min", grid.min())
    result("table2", "cka_lambda_mean", grid.mean())
    result("table2", "cka_seeds_mean", seeds.mean())
    result("table2", "cka_random_control", rnd, method="random_F")
    rows.append(
        claim(
            PAPER,
            "table2_cka_lambdaF",
            source="Table 2",
            statement="CKA between F^T F kernels >= 0.9 for every pair of lambda_F in "
            "{1, 0.1, 0.01, 0.001} (each fit with its own seed)",
            paper_value="0.95-0.96",
            our_value=round(float(grid.min()), 4),
            control_value=f"CKA with a random non-negative F: {rnd:.3f}",
            interval=f"off-diagonal range [{grid.min():.3f}, {grid.max():.3f}]",
            comparison="min >= 0.9",
            holds=bool(grid.min() >= 0.9),
            note=f"extra lambdas (100, 1e4) vs the grid: [{extra.min():.3f}, {extra.max():.3f}]",
        )
    )
    rows.append(
        claim(
            PAPER,
            "table2_cka_seeds",
            source="Table 2",
            statement="(control, not in the paper) CKA across seeds at lambda_F = 1 is as high: "
            "the lambda robustness is seed robustness",
            paper_value="not reported",
            our_value=round(float(seeds.min()), 4),
            control_value=f"random F: {rnd:.3f}",
            interval=f"seed pairs [{seeds.min():.3f}, {seeds.max():.3f}]",
            comparison="min >= 0.9",
            holds=bool(seeds.min() >= 0.9),
        )
    )

    # ---- running time
    rt = pd.read_csv(inp.runtime).iloc[0]
    # wall time stays out of results.csv (machine- and load-dependent): runtime.csv has it
    rows.append(
        claim(
            PAPER,
            "runtime_under_15min",
            source="Running time",
            statement=f"one Eq. 1 fit of pixels + {int(rt['n_layers'])} layers over "
            f"{int(rt['n_examples'])} examples takes under 15 minutes",
            paper_value="< 900 s (3 layers x 3000 examples, GPU)",
            our_value=round(float(rt["seconds"]), 2),
            control_value="",
            interval="one run (wall time, 1 thread)",
            comparison="< 900 s",
            holds=bool(rt["seconds"] < 900),
            note="timing, not a regression value",
        )
    )

    # ---- Fig. 6-7
    f6 = pd.read_csv(inp.fig6_7)
    result("fig6_7", "iou_lime_latent", f6["iou_lime_latent"].mean())
    if np.isfinite(f6["enrichment_lime"]).any():
        lat, lime = f6["enrichment_latent"].mean(), f6["enrichment_lime"].mean()
        result("fig6_7", "enrichment", lat, method="latent_mask")
        result("fig6_7", "enrichment", lime, method="lime")
        d = (f6["enrichment_latent"] - f6["enrichment_lime"]).to_numpy()
        lo, hi = ex.bootstrap_mean(d, seed, "fig6")
        rows.append(
            claim(
                PAPER,
                "fig6_latent_localises_like_lime",
                source="Figs. 6-7",
                statement="latent-pixel masks localise the object at least as well as LIME "
                "(object enrichment on part masks, top images of the purest factors)",
                paper_value="similar explanations (qualitative)",
                our_value=f"latent {lat:.3f} vs LIME {lime:.3f}",
                control_value="uniform mask: 1.0",
                interval=f"95% bootstrap of the difference {_fmt(lo, hi)}",
                comparison="latent >= LIME",
                holds=bool(lat >= lime),
                note=f"mean IoU of the two masks {f6['iou_lime_latent'].mean():.3f}",
            )
        )

    # ---- Fig. 8-11
    f8 = pd.read_csv(inp.fig8_11)
    rho = f8["spearman_gradcam_pp"].to_numpy()
    result("fig8_11", "spearman_gradcam_pp_median", np.median(rho))
    rows.append(
        claim(
            PAPER,
            "fig10_11_gradcam_pp_agree",
            source="Figs. 8-11",
            statement="Grad-CAM and Grad-CAM++ maps of the factors' top images agree "
            "(median Spearman >= 0.8)",
            paper_value="very similar (qualitative)",
            our_value=round(float(np.median(rho)), 4),
            control_value="independent maps: 0",
            interval=f"images [{rho.min():.3f}, {rho.max():.3f}]",
            comparison="median >= 0.8",
            holds=bool(np.median(rho) >= 0.8),
        )
    )
    if np.isfinite(f8["enrichment_latent"]).any():
        lat = f8["enrichment_latent"].to_numpy()
        for m in ("latent", "gradcam", "gradcam_pp"):
            result("fig8_11", "enrichment", f8[f"enrichment_{m}"].mean(), method=m)
        share = float(np.mean(lat > 1))
        rows.append(
            claim(
                PAPER,
                "fig9_latent_mask_mostly_object",
                source="Figs. 8-11",
                statement="for most factors the latent mask favours the object (enrichment > 1)",
                paper_value="mostly objects, exceptions 9e-9f",
                our_value=share,
                control_value="uniform mask: enrichment 1 (share 0 above 1)",
                interval=f"enrichment [{np.nanmin(lat):.3f}, {np.nanmax(lat):.3f}]",
                comparison=">= 0.5",
                holds=share >= 0.5,
            )
        )
        gc = f8["enrichment_gradcam"].mean()
        d = lat - f8["enrichment_gradcam"].to_numpy()
        lo, hi = ex.bootstrap_mean(d, seed, "fig8")
        rows.append(
            claim(
                PAPER,
                "fig9_latent_localises_like_gradcam",
                source="Figs. 8-11",
                statement="latent-pixel masks localise the object at least as well as Grad-CAM",
                paper_value="similar insights (qualitative)",
                our_value=f"latent {np.nanmean(lat):.3f} vs Grad-CAM {gc:.3f} vs Grad-CAM++ "
                f"{f8['enrichment_gradcam_pp'].mean():.3f}",
                control_value="uniform mask: 1.0",
                interval=f"95% bootstrap of the difference {_fmt(lo, hi)}",
                comparison="latent >= Grad-CAM",
                holds=bool(np.nanmean(lat) >= gc),
            )
        )

    # ---- case study
    gs, tv, ref = _load(inp.gs), _load(inp.tv), _load(inp.ref)
    cos = {k: mean_row_cosine(v["F"]) for k, v in (("l2", ref), ("gs", gs), ("tv", tv))}
    for kk, v in cos.items():
        result("case_study", "mean_row_cosine", v, method=kk)
    rows.append(
        claim(
            PAPER,
            "ext_disjoint_usage",
            source="Table 4, Table 5",
            statement="Eq. 3 and Eq. 4 give more disjoint factor usage than Eq. 1 on the same probe "
            "examples (lower mean cosine between rows of F)",
            paper_value="encourage disjoint usage (motivation)",
            our_value=f"GS {cos['gs']:.3f}, TV {cos['tv']:.3f}",
            control_value=f"Eq. 1: {cos['l2']:.3f}",
            interval="one fit each (seed 0)",
            comparison="both < Eq. 1",
            holds=bool(cos["gs"] < cos["l2"] and cos["tv"] < cos["l2"]),
        )
    )
    fpg = {k: factors_per_group(v["F"], v["labels"]) for k, v in (("l2", ref), ("gs", gs))}
    for kk, v in fpg.items():
        result("case_study", "effective_factors_per_group", v, method=kk)
    rows.append(
        claim(
            PAPER,
            "gs_fewer_factors_per_group",
            source="Table 4",
            statement="with groups = probe classes, Eq. 3 uses fewer factors per group than Eq. 1",
            paper_value="group sparsity (Eq. 3)",
            our_value=round(fpg["gs"], 4),
            control_value=f"Eq. 1: {fpg['l2']:.3f}",
            interval="one fit each (seed 0)",
            comparison="GS < Eq. 1",
            holds=bool(fpg["gs"] < fpg["l2"]),
            note="effective number = exp(entropy) of the group's mass per factor (rows unit-L1)",
        )
    )
    tc = pd.read_csv(inp.tcav)
    sub = tc[tc.variant == "group_sparse"]
    best = sub.loc[sub.groupby("factor")["tcav"].idxmax()]
    n_cls = sub["train_class"].nunique()
    per_super = sub.groupby("factor")["same_superclass"].mean().mean()
    if best["same_superclass"].notna().all() and per_super > 0:
        share = float(best["same_superclass"].mean())
        result("fig12_13", "tcav_top_class_same_superclass", share)
        rows.append(
            claim(
                PAPER,
                "fig12_tcav_superclass_alignment",
                source="Fig. 12",
                statement="a latent concept's highest-TCAV training class lies in the superclass "
                "of its dominant probe class at >= 2x chance",
                paper_value="dolphin/whale/plain -> ship, airplane, bird (qualitative)",
                our_value=share,
                control_value=f"chance {per_super:.3f}",
                interval=f"{len(best)} factors",
                comparison="share >= 2 x chance",
                holds=bool(share >= 2 * per_super),
                note=f"{int(sub['significant'].sum())} of {len(sub)} (factor, class) TCAV scores "
                f"differ from random CAVs (p < 0.05); {n_cls} classes",
            )
        )
    result("fig12_13", "share_significant", tc["significant"].mean())
    return claims_frame(rows), results_frame(res)
