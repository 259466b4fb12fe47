"""ProtoNMF's claims ledger and long results table. Every threshold below was fixed before
the first run (the spec's claim list); none is tuned to the outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...claims import claim, claims_frame, results_frame
from .experiments import PAPER

FAR_BELOW_POINTS = 10.0  # "NMF only is far below the original": at least 10 points at every p


def _r(x, n=4):
    return round(float(x), n)


def _rows(frame, experiment, method_col, metrics, dataset, layer, seed="mean"):
    out = []
    for _, r in frame.iterrows():
        for m in metrics:
            if m in r and pd.notna(r[m]):
                out.append(
                    dict(
                        paper=PAPER,
                        experiment=experiment,
                        method=str(r[method_col]) if method_col else "protonmf",
                        dataset=dataset,
                        model=r["model"],
                        layer=layer,
                        seed=r.get("seed", seed),
                        metric=m if "p" not in r else f"{m}_p{int(r['p'])}",
                        value=float(r[m]),
                    )
                )
    return out


def results(t) -> pd.DataFrame:
    ds, layer = t["dataset"], t["layer"]
    rows = []
    rows += _rows(
        t["table3"],
        "table3",
        "variant",
        ["accuracy", "accuracy_hard", "gap_points", "max_dlogit_head"],
        ds,
        layer,
    )
    rows += _rows(
        t["fig5"],
        "fig5",
        None,
        ["feature_error", "head_error", "head_error_random", "balance_below_0_1"],
        ds,
        layer,
    )
    rows += _rows(
        t["table4"],
        "table4",
        None,
        ["accuracy_before", "accuracy_after_top", "accuracy_after_random"],
        ds,
        layer,
    )
    t1 = t["table1"]
    for _, r in t1.iterrows():
        for m in ("protopnet_mean", "nmf_mean", "random_patches_mean", "test_accuracy_mean"):
            rows.append(
                dict(
                    paper=PAPER,
                    experiment="table1",
                    method=m.split("_mean")[0],
                    dataset=ds,
                    model=r["model"],
                    layer=layer,
                    seed="mean",
                    metric=f"{m}_cycle{int(r['cycle'])}",
                    value=float(r[m]),
                )
            )
    for _, r in t["table2"].iterrows():
        rows.append(
            dict(
                paper=PAPER,
                experiment="table2",
                method=r["method"],
                dataset=ds,
                model=r["model"],
                layer=layer,
                seed="mean",
                metric="accuracy",
                value=float(r["accuracy"]),
            )
        )
    return results_frame(rows)


def _boot_frac(values, seed, n_boot=1000):
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=np.float64)
    stats = [v[rng.integers(0, len(v), len(v))].mean() for _ in range(n_boot)]
    return np.percentile(stats, [2.5, 97.5])


def ledger(t, seed) -> pd.DataFrame:
    rows = []
    t1, t2, t3, t4, f5 = t["table1"], t["table2"], t["table3"], t["table4"], t["fig5"]
    models = list(dict.fromkeys(t3.model))
    for m in models:
        s = t3[t3.model == m]
        # --- Table 3: exact reconstruction
        ex = s[s.variant.isin(["exact", "augmented"])]
        worst = ex.max_dlogit_head.max()
        tol = 1e-6 * ex.max_abs_logit.max()
        ctrl = s[s.variant == "nmf_only"].max_dlogit_head.max()
        rows.append(
            claim(
                PAPER,
                f"table3_exact_reconstruction_{m}",
                source="Table 3",
                statement="NMF + residual (and the augmented prototypes of Eq. 8) give the black "
                "box's logits exactly, for every p",
                paper_value="75.1 = 75.1 (identical accuracy)",
                our_value=float(f"{worst:.3g}"),
                control_value=float(f"{ctrl:.3g}"),
                interval=f"p = {', '.join(map(str, s.p.unique()))}: max over p",
                comparison=f"max |logit difference| (float64, vs the head on the same features) "
                f"<= {tol:.3g}",
                holds=bool(worst <= tol and (ex.agreement == 1).all()),
                note=f"{m}; control = NMF only. Against the cached float32 model logits the gap is "
                f"{ex.max_dlogit_model.max():.2g} (float32 rounding of the forward pass); agreement "
                f"of predictions {ex.agreement.min():.4f}",
            )
        )
        # --- Table 3: NMF only far below
        nmf = s[s.variant == "nmf_only"]
        rnd = s[s.variant == "random_only"]
        gap = nmf.gap_points.min()
        pmin = int(nmf.p.iloc[int(nmf.gap_points.values.argmin())])
        lo, hi = (
            nmf.gap_lo.iloc[int(nmf.gap_points.values.argmin())],
            nmf.gap_hi.iloc[int(nmf.gap_points.values.argmin())],
        )
        rows.append(
            claim(
                PAPER,
                f"table3_nmf_only_far_below_{m}",
                source="Table 3",
                statement="NMF prototypes alone classify far below the original model (every p)",
                paper_value="ResNet34 gap 46.7-73.8 points (ViT 21-25, CoC 17-27)",
                our_value=_r(gap, 2),
                control_value=_r(100 * (rnd.original - rnd.accuracy).min(), 2),
                interval=f"95% bootstrap over test images at p={pmin}: [{lo:.2f}, {hi:.2f}]",
                comparison=f"smallest gap over p (points) >= {FAR_BELOW_POINTS:g}",
                holds=bool(gap >= FAR_BELOW_POINTS),
                note=f"{m}; gaps per p: {', '.join(f'{g:.2f}' for g in nmf.gap_points)} points; "
                "control = random non-negative prototypes with closed-form coefficients. The 10 "
                "embedded classes are easy: the prototypes' span keeps the head's discriminative "
                "direction",
            )
        )
        hard_gap = 100 * (nmf.original_hard - nmf.accuracy_hard)
        rows.append(
            claim(
                PAPER,
                f"table3_nmf_only_far_below_hard_{m}",
                source="Table 3",
                statement="NMF only is far below the original on the hardest test images "
                "(pre-registered: lowest quartile of the black box's top-2 logit margin)",
                paper_value="gap 46.7-73.8 points (ResNet34)",
                our_value=_r(hard_gap.min(), 2),
                control_value=_r(100 * (rnd.original_hard - rnd.accuracy_hard).min(), 2),
                interval=f"gaps per p: {', '.join(f'{g:.2f}' for g in hard_gap)}",
                comparison=f"smallest gap over p (points) >= {FAR_BELOW_POINTS:g}",
                holds=bool(hard_gap.min() >= FAR_BELOW_POINTS),
                note=m,
            )
        )
        res = s[s.variant == "residual_only"].sort_values("p")
        dec = bool((np.diff(res.accuracy.values) <= 0).all())
        rows.append(
            claim(
                PAPER,
                f"table3_residual_only_decreasing_{m}",
                source="Table 3",
                statement="residual-only accuracy does not increase with p",
                paper_value="74.8 / 72.6 / 72.0 / 71.0 (ResNet34, p = 1/3/5/10)",
                our_value=" / ".join(f"{a:.4f}" for a in res.accuracy),
                control_value=" / ".join(f"{a:.4f}" for a in rnd.sort_values("p").accuracy),
                interval="bootstrap gaps to the original: "
                + ", ".join(f"[{a:.1f}, {b:.1f}]" for a, b in zip(res.gap_lo, res.gap_hi)),
                comparison="non-increasing over p",
                holds=dec,
                note=f"{m}; control row = random-prototypes-only accuracy",
            )
        )
        # --- Fig. 5
        f = f5[f5.model == m].sort_values("p")
        fe, he = f.feature_error.values, f.head_error.values
        rows.append(
            claim(
                PAPER,
                f"fig5_errors_fall_with_p_{m}",
                source="Fig. 5",
                statement="more NMF prototypes reduce both feature and head reconstruction errors",
                paper_value="both decrease with p (all architectures)",
                our_value=f"feature {' / '.join(f'{x:.3f}' for x in fe)}; head "
                f"{' / '.join(f'{x:.3f}' for x in he)}",
                control_value="random prototypes head error "
                + " / ".join(f"{x:.3f}" for x in f.head_error_random),
                interval="sd over classes: feature "
                + " / ".join(f"{x:.3f}" for x in f.feature_error_sd),
                comparison="both strictly decreasing over p",
                holds=bool((np.diff(fe) < 0).all() and (np.diff(he) < 0).all()),
                note=f"{m}; Eq. 8 denominator: classes with |sum a|/||a||_1 < 0.1 per p: "
                + ", ".join(f"{int(b)}/{int(n)}" for b, n in zip(f.balance_below_0_1, f.n_classes)),
            )
        )
        # --- Table 4
        r4 = t4[(t4.model == m) & (t4.p == t["heatmap_p"])].iloc[0]
        fixed = np.r_[np.ones(int(r4.fixed_top)), np.zeros(int(r4.n_wrong - r4.fixed_top))]
        lo, hi = _boot_frac(fixed, seed) if len(fixed) else (np.nan, np.nan)
        rows.append(
            claim(
                PAPER,
                f"table4_intervention_raises_accuracy_{m}",
                source="Table 4",
                statement="removing the predicted class's most important prototype on wrong "
                "predictions raises accuracy",
                paper_value="71.9 -> 82.7 (+10.8; 38.4% of errors fixed)",
                our_value=_r(100 * (r4.accuracy_after_top - r4.accuracy_before), 2),
                control_value=_r(100 * (r4.accuracy_after_random - r4.accuracy_before), 2),
                interval=f"fraction of errors fixed {r4.fixed_top / max(r4.n_wrong, 1):.3f}, 95% "
                f"bootstrap [{lo:.3f}, {hi:.3f}]",
                comparison="accuracy gain (points) > 0",
                holds=bool(r4.fixed_top > 0),
                note=f"{m}, p = {t['heatmap_p']}: {r4.accuracy_before:.4f} -> "
                f"{r4.accuracy_after_top:.4f} ({int(r4.fixed_top)} of {int(r4.n_wrong)} errors "
                "fixed); control = a random prototype of the predicted class",
            )
        )
    # --- Table 1 and 2 (ProtoPNet)
    for m in dict.fromkeys(t1.model):
        s = t1[t1.model == m].sort_values("cycle")
        below = bool((s.nmf_mean < s.protopnet_mean).all())
        rows.append(
            claim(
                PAPER,
                f"table1_nmf_below_protopnet_{m}",
                source="Table 1",
                statement="NMF prototypes reconstruct a class's features better than ProtoPNet's "
                "10 pushed prototypes, in each of cycles 1-3",
                paper_value="24.9 < 43.5, 25.7 < 99.0, 25.1 < 110.2",
                our_value=", ".join(
                    f"{a:.3f} < {b:.3f}" for a, b in zip(s.nmf_mean, s.protopnet_mean)
                ),
                control_value="random patches "
                + ", ".join(f"{x:.3f}" for x in s.random_patches_mean),
                interval="sd over classes and seeds: NMF "
                + ", ".join(f"{x:.3f}" for x in s.nmf_std)
                + "; ProtoPNet "
                + ", ".join(f"{x:.3f}" for x in s.protopnet_std),
                comparison="NMF mean relative error < ProtoPNet's in every cycle",
                holds=below,
                note=f"{m}; relative Frobenius error of the ProtoPNet add-on features (the paper's "
                "units are unstated); control = 10 random patches of the class",
            )
        )
        ratio = s.nmf_mean.max() / s.nmf_mean.min()
        rows.append(
            claim(
                PAPER,
                f"table1_nmf_stable_{m}",
                source="Table 1",
                statement="NMF reconstruction error stays stable across training cycles",
                paper_value="max/min 25.7/24.9 = 1.03",
                our_value=_r(ratio, 3),
                control_value=_r(s.protopnet_mean.max() / s.protopnet_mean.min(), 3),
                interval="cycles 1-3 means: " + ", ".join(f"{x:.3f}" for x in s.nmf_mean),
                comparison="max/min over cycles <= 1.1",
                holds=bool(ratio <= 1.1),
                note=f"{m}; control = the same ratio for ProtoPNet's prototypes",
            )
        )
        grows = bool(s.protopnet_mean.iloc[-1] > s.protopnet_mean.iloc[0])
        rows.append(
            claim(
                PAPER,
                f"table1_protopnet_grows_{m}",
                source="Table 1",
                statement="ProtoPNet's reconstruction error grows over cycles",
                paper_value="43.5 -> 110.2",
                our_value=f"{s.protopnet_mean.iloc[0]:.3f} -> {s.protopnet_mean.iloc[-1]:.3f}",
                control_value="random patches "
                + " -> ".join(f"{x:.3f}" for x in s.random_patches_mean.iloc[[0, -1]]),
                interval="sd " + ", ".join(f"{x:.3f}" for x in s.protopnet_std),
                comparison="cycle 3 > cycle 1",
                holds=grows,
                note=m,
            )
        )
        tb = t2[t2.model == m]
        bb = float(tb[tb.method == "black box"].accuracy.iloc[0])
        last = tb[tb.method.str.startswith("ProtoPNet")].iloc[-1]
        pn = tb[tb.method == "ProtoNMF"].iloc[0]
        rows.append(
            claim(
                PAPER,
                f"table2_protonmf_equals_blackbox_{m}",
                source="Table 2",
                statement="ProtoNMF has the black box's accuracy (identical predictions)",
                paper_value="82.3 = 82.3 (CUB); 75.1 = 75.1 (ImageNet)",
                our_value=_r(pn.accuracy),
                control_value=_r(last.accuracy),
                interval=f"agreement {pn.agreement:.4f}",
                comparison="accuracy equal and agreement == 1",
                holds=bool(pn.accuracy == bb and pn.agreement == 1),
                note=f"{m}; black box {bb:.4f}; control = ProtoPNet (last cycle)",
            )
        )
        rows.append(
            claim(
                PAPER,
                f"table2_protopnet_below_blackbox_{m}",
                source="Table 2",
                statement="ProtoPNet is less accurate than the black box it starts from",
                paper_value="79.2 < 82.3 (CUB); 65.5 < 75.1 (ImageNet)",
                our_value=_r(last.accuracy),
                control_value=_r(bb),
                interval=f"seeds: [{last.seed_min:.4f}, {last.seed_max:.4f}]",
                comparison=f"ProtoPNet ({last.method}) mean over seeds < black box {bb:.4f}",
                holds=bool(last.accuracy < bb),
                note=f"{m}; embedded ProtoPNet is capped (images, epochs; see ARTEFACTS)",
            )
        )
    # --- heatmaps
    loc = t["fig3"]
    for m in dict.fromkeys(loc.get("model", [])):
        lm = loc[loc.model == m]
        nmf, rnd = lm[lm.bank == "nmf"], lm[lm.bank == "random"]
        div = nmf.groupby("class")["part"].nunique() / nmf.groupby("class")["concept"].count()
        enr = nmf.enrichment.mean()
        cls = nmf.groupby("class").enrichment.mean().values
        lo, hi = _boot_frac(cls, seed)
        rows.append(
            claim(
                PAPER,
                f"fig3_prototypes_are_parts_{m}",
                source="Fig. 3",
                statement="NMF prototypes sit on object parts: their presence mass is enriched on "
                "their best part, and the p prototypes of a class pick different parts",
                paper_value="qualitative (head, belly, wing; dog, human, background)",
                our_value=_r(enr, 3),
                control_value=_r(rnd.enrichment.mean(), 3),
                interval=f"95% bootstrap over classes [{lo:.3f}, {hi:.3f}]",
                comparison="mean best-part enrichment > 1 and > the random bank's, mean "
                "diversity >= 2/3",
                holds=bool(enr > 1 and enr > rnd.enrichment.mean() and div.mean() >= 2 / 3),
                note=f"{m}, p = {t['heatmap_p']}; mean diversity (distinct best parts / p) "
                f"{div.mean():.3f}; control = random non-negative prototypes",
            )
        )
    f7 = t["fig7"]
    if f7.empty:
        return claims_frame(rows)
    corr = f7.pearson.mean()
    lo, hi = _boot_frac(f7.groupby("class").pearson.mean().dropna().values, seed)
    rows.append(
        claim(
            PAPER,
            "fig7_augmented_still_interpretable",
            source="Fig. 7",
            statement="augmented prototypes (Eq. 8-9) are present where the NMF prototypes are",
            paper_value="qualitative (App. A.2)",
            our_value=_r(corr, 3),
            control_value="",
            interval=f"95% bootstrap over classes [{lo:.3f}, {hi:.3f}]",
            comparison="mean Pearson correlation of E and E' >= 0.8",
            holds=bool(corr >= 0.8),
            note=f"{t['first_model']}, p = {t['heatmap_p']}; classes whose Eq. 8 denominator is "
            "near zero get augmented prototypes dominated by the residual",
        )
    )
    if "residual_enrichment" in f7:
        per = f7.groupby("class").residual_enrichment.first()
        lo, hi = _boot_frac(per.values, seed)
        rows.append(
            claim(
                PAPER,
                "fig7_residual_in_foreground",
                source="Fig. 7",
                statement="the residual prototype is mostly present in the foreground (Eq. 6)",
                paper_value="mostly foreground (Sec. 3.2)",
                our_value=_r(per.mean(), 3),
                control_value=1.0,
                interval=f"95% bootstrap over classes [{lo:.3f}, {hi:.3f}]",
                comparison="object mass share / object area share > 1",
                holds=bool(per.mean() > 1),
                note=f"{t['first_model']}; positive part of H; control = a uniform map (1.0)",
            )
        )
    f2 = t["fig2"]
    rows.append(
        claim(
            PAPER,
            "fig2_nmf_stable_across_cycles",
            source="Fig. 2",
            statement="NMF prototype areas change less across ProtoPNet's cycles than ProtoPNet's "
            "prototypes",
            paper_value="qualitative",
            our_value=_r(f2.nmf_map_correlation.mean(), 3),
            control_value=_r(f2.protopnet_map_correlation.mean(), 3),
            interval="per pair of cycles: "
            + ", ".join(
                f"{c}: {a:.3f} vs {b:.3f}"
                for c, a, b in zip(f2.cycles, f2.nmf_map_correlation, f2.protopnet_map_correlation)
            ),
            comparison="mean matched map correlation between consecutive cycles: NMF > ProtoPNet",
            holds=bool(f2.nmf_map_correlation.mean() > f2.protopnet_map_correlation.mean()),
            note=f"{t['first_model']}, seed {seed}, class {t['figure_class']}; control = "
            "ProtoPNet's similarity maps (same prototype slot across cycles)",
        )
    )
    return claims_frame(rows)


def _read(path) -> pd.DataFrame:
    """A step's CSV; empty when the step had nothing to score (no part masks)."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def write_claims(inp, out, params) -> None:
    t = {
        k: _read(getattr(inp, k))
        for k in ("table1", "table2", "table3", "table4", "fig5", "fig3", "fig7", "fig2")
    }
    t.update(
        dataset=params.dataset,
        layer=params.cfg["layer"],
        heatmap_p=params.cfg["heatmap_p"],
        figure_class=params.cfg["figure_class"],
        first_model=params.models[0],
    )
    for path in out:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    results(t).to_csv(out.results, index=False, float_format="%.6g")
    ledger(t, params.seed).to_csv(out.claims, index=False)
