"""CRAFT's claims ledger and long results table (Fel et al., CVPR 2023)."""

from __future__ import annotations

import pandas as pd

from ...claims import claim, claims_frame, results_frame
from .experiments import PAPER, class_auc

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
