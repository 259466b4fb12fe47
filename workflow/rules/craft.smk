# CRAFT (Fel et al., CVPR 2023): concepts from random crops (NMF), recursive sub-concepts,
# total-Sobol importance, concept attribution maps. Logic: reference_impls.papers.craft
# (rule craft_<step> runs steps.<step>); results: results/<profile>/craft/. Crops are the only
# new forward passes (one rule, saved once); importance and fidelity read the activation cache
# of the evaluation split. Threads and resources: workflow/profiles/<profile>/config.yaml.
CRAFT_CFG = paper_config("craft")


if CRAFT_CFG is not None:
    check_cached("craft", CRAFT_CFG["model"], CRAFT_CFG["layer"], CRAFT_CFG["eval_split"])
    if CRAFT_CFG["layer"] == CRAFT_CFG["sub_layer"]:
        raise ValueError("config craft.sub_layer must be an earlier layer than craft.layer")
    CRAFT_BANKS = ["nmf", *CRAFT_CFG["baselines"]]  # App. F: baseline banks on the same crops
    # Fig. 6 again at a layer whose head is non-linear (optional key): bank nmf_<layer>.
    CRAFT_NL = [f"nmf_{CRAFT_CFG['nonlinear_layer']}"] if "nonlinear_layer" in CRAFT_CFG else []
    if CRAFT_NL:
        check_cached("craft", CRAFT_CFG["model"], CRAFT_CFG["nonlinear_layer"],
                     CRAFT_CFG["eval_split"])
        if CRAFT_CFG["nonlinear_layer"] not in (CRAFT_CFG["layer"], CRAFT_CFG["sub_layer"]):
            raise ValueError("config craft.nonlinear_layer must be craft.layer or "
                             "craft.sub_layer (the crops hold activations at those two)")
    CRAFT_OUT = paper_dir("craft")
    CRAFT_MODEL = CRAFT_CFG["model"]
    CRAFT_CACHE = cache_of(CRAFT_MODEL, CRAFT_CFG["eval_split"], CRAFT_CFG["layer"])
    CRAFT_DATASET = model_dataset(CRAFT_MODEL)
    # Ground-truth part masks (procedural data): Table 1 proxy and localisation.
    CRAFT_PARTS = config["datasets"][CRAFT_DATASET]["kind"] == "procedural"

    rule craft_crops:
        """Random crops per class, resized to the input; pooled activations at layer and
        sub_layer and (procedural data) the ground-truth content of each crop (Sec. 3.1)."""
        input:
            manifest=manifest_of(CRAFT_MODEL),
            checkpoint=checkpoint_of(CRAFT_MODEL),
        output:
            f"{CRAFT_OUT}/crops.npz",
        params:
            cfg=section("craft", "fit_split", "layer", "sub_layer", "images_per_class",
                        "crops_per_image", "crop_fraction"),
            seed=config["seed"],
            device=config["device"],
        log: paper_log("craft", "crops"),
        benchmark: paper_bench("craft", "crops")
        script: "../scripts/paper_step.py"

    rule craft_concepts:
        """One NMF concept bank per class (Eq. 1) and sub-concepts at sub_layer (Sec. 3.2)."""
        input:
            crops=rules.craft_crops.output[0],
        output:
            f"{CRAFT_OUT}/concepts.npz",
        params:
            cfg=section("craft", "layer", "sub_layer", "n_concepts", "n_subconcepts",
                        "percentile", "solver", "max_iter"),
            seed=config["seed"],
        log: paper_log("craft", "concepts"),
        benchmark: paper_bench("craft", "concepts")
        script: "../scripts/paper_step.py"

    rule craft_fidelity:
        """Sobol / TCAV / gradient x input / random rankings and concept deletion and
        insertion curves for one concept bank: nmf (CRAFT) or a baseline (App. F)."""
        input:
            bank=lambda wc: rules.craft_concepts.output[0] if wc.craft_bank == "nmf"
            else rules.craft_crops.output[0],
            activations=CRAFT_CACHE,
            checkpoint=checkpoint_of(CRAFT_MODEL),
        output:
            importance=f"{CRAFT_OUT}/importance_{{craft_bank}}.csv",
            curves=f"{CRAFT_OUT}/curves_{{craft_bank}}.csv",
        wildcard_constraints:
            craft_bank="|".join(CRAFT_BANKS),
        params:
            cfg=section("craft", "layer", "n_concepts", "sobol_design", "tcav_variant"),
            bank=lambda wc: wc.craft_bank,
            extractor=lambda wc: None if wc.craft_bank == "nmf" else CRAFT_CFG["baselines"][wc.craft_bank],
            seed=config["seed"],
            device=config["device"],
        log: paper_log("craft", "fidelity_{craft_bank}")
        benchmark: paper_bench("craft", "fidelity_{craft_bank}")
        script: "../scripts/paper_step.py"

    if CRAFT_NL:

        rule craft_nonlinear:
            """Fig. 6 where the estimator matters: per-class NMF banks at nonlinear_layer (a
            non-linear head above it), rankings and curves on the first nonlinear_images
            evaluation images of each class."""
            input:
                crops=rules.craft_crops.output[0],
                activations=cache_of(CRAFT_MODEL, CRAFT_CFG["eval_split"],
                                     CRAFT_CFG["nonlinear_layer"]),
                checkpoint=checkpoint_of(CRAFT_MODEL),
            output:
                importance=f"{CRAFT_OUT}/importance_{CRAFT_NL[0]}.csv",
                curves=f"{CRAFT_OUT}/curves_{CRAFT_NL[0]}.csv",
            params:
                cfg=section("craft", "nonlinear_layer", "nonlinear_images", "n_concepts",
                            "solver", "max_iter", "sobol_design", "tcav_variant"),
                seed=config["seed"],
                device=config["device"],
            log: paper_log("craft", "nonlinear")
            benchmark: paper_bench("craft", "nonlinear")
            script: "../scripts/paper_step.py"

    rule craft_fig6:
        """Fig. 6 (NMF, and at the non-linear layer) and App. F (baseline banks) curves, and
        their AUC table."""
        input:
            curves=expand(f"{CRAFT_OUT}/curves_{{bank}}.csv", bank=CRAFT_BANKS + CRAFT_NL),
        output:
            fig6=report(f"{CRAFT_OUT}/fig6_fidelity.png", caption=paper_caption("craft", "fig6"),
                        category="craft", subcategory="Fig. 6"),
            figF=report(f"{CRAFT_OUT}/figF_fidelity_baselines.png",
                        caption=paper_caption("craft", "appf"), category="craft",
                        subcategory="App. F"),
            auc=report(f"{CRAFT_OUT}/fidelity_auc.csv", caption=paper_caption("craft", "fig6"),
                       category="craft", subcategory="Fig. 6"),
        log: paper_log("craft", "fig6")
        benchmark: paper_bench("craft", "fig6")
        script: "../scripts/paper_step.py"

    rule craft_fig4:
        """Fig. 4: per class, concepts ordered by total Sobol index with their top crops."""
        input:
            crops=rules.craft_crops.output[0],
            concepts=rules.craft_concepts.output[0],
            importance=f"{CRAFT_OUT}/importance_nmf.csv",
            manifest=manifest_of(CRAFT_MODEL),
        output:
            report(f"{CRAFT_OUT}/fig4_concepts.png", caption=paper_caption("craft", "fig4"),
                   category="craft", subcategory="Fig. 4"),
        params:
            cfg=section("craft", "fit_split"),
        log: paper_log("craft", "fig4")
        benchmark: paper_bench("craft", "fig4")
        script: "../scripts/paper_step.py"

    rule craft_fig5:
        """Fig. 5: concept attribution maps (implicit NNLS gradients + Grad-CAM) of the most
        confident mistakes next to Grad-CAM; Sec. 3.4: implicit gradients vs finite
        differences."""
        input:
            crops=rules.craft_crops.output[0],
            concepts=rules.craft_concepts.output[0],
            activations=CRAFT_CACHE,
            checkpoint=checkpoint_of(CRAFT_MODEL),
            manifest=manifest_of(CRAFT_MODEL),
        output:
            fig5=report(f"{CRAFT_OUT}/fig5_attribution_maps.png",
                        caption=paper_caption("craft", "fig5"), category="craft",
                        subcategory="Fig. 5"),
            gradients=report(f"{CRAFT_OUT}/implicit_gradients.csv",
                             caption=paper_caption("craft", "sec3.4"), category="craft",
                             subcategory="Sec. 3.4"),
        params:
            cfg=section("craft", "fit_split", "eval_split", "layer", "cam_layer", "n_mistakes",
                        "sobol_design", "gradcheck_images"),
            seed=config["seed"],
            device=config["device"],
        log: paper_log("craft", "fig5")
        benchmark: paper_bench("craft", "fig5")
        script: "../scripts/paper_step.py"

    rule craft_localisation:
        """Share of each concept attribution map's mass in its best-matching part mask."""
        input:
            concepts=rules.craft_concepts.output[0],
            checkpoint=checkpoint_of(CRAFT_MODEL),
            manifest=manifest_of(CRAFT_MODEL),
        output:
            report(f"{CRAFT_OUT}/localisation.csv",
                   caption=paper_caption("craft", "localisation"), category="craft",
                   subcategory="localisation"),
        params:
            cfg=section("craft", "eval_split", "layer", "cam_layer", "localisation_images"),
            device=config["device"],
        log: paper_log("craft", "localisation")
        benchmark: paper_bench("craft", "localisation")
        script: "../scripts/paper_step.py"

    rule craft_table1:
        """Table 1 proxy: intruder and binary-choice tasks replayed by a ground-truth oracle."""
        input:
            crops=rules.craft_crops.output[0],
            concepts=rules.craft_concepts.output[0],
        output:
            report(f"{CRAFT_OUT}/table1_intruder_proxy.csv",
                   caption=paper_caption("craft", "table1"), category="craft",
                   subcategory="Table 1"),
        params:
            cfg=section("craft", "intruder_trials"),
            seed=config["seed"],
        log: paper_log("craft", "table1")
        benchmark: paper_bench("craft", "table1")
        script: "../scripts/paper_step.py"

    rule craft_claims:
        """The long results table and the claims ledger of the CRAFT paper."""
        input:
            auc=rules.craft_fig6.output.auc,
            curves=expand(f"{CRAFT_OUT}/curves_{{bank}}.csv", bank=CRAFT_BANKS + CRAFT_NL),
            importance=expand(f"{CRAFT_OUT}/importance_{{bank}}.csv", bank=CRAFT_BANKS + CRAFT_NL),
            gradients=rules.craft_fig5.output.gradients,
            table1=[rules.craft_table1.output[0]] if CRAFT_PARTS else [],
            localisation=[rules.craft_localisation.output[0]] if CRAFT_PARTS else [],
        output:
            results=f"{CRAFT_OUT}/results.csv",
            claims=report(f"{CRAFT_OUT}/claims.csv", caption=paper_caption("craft", "claims"),
                          category="craft", subcategory="claims"),
        params:
            cfg=section("craft", "model", "layer", "sub_layer"),
            dataset=CRAFT_DATASET,
            seed=config["seed"],
        log: paper_log("craft", "claims")
        benchmark: paper_bench("craft", "claims")
        script: "../scripts/paper_step.py"

    register_paper("craft", [
        *rules.craft_fig4.output, *rules.craft_fig5.output, *rules.craft_fig6.output,
        f"{CRAFT_OUT}/importance_nmf.csv", *rules.craft_claims.output,
        *(rules.craft_table1.output if CRAFT_PARTS else []),
        *(rules.craft_localisation.output if CRAFT_PARTS else []),
    ])

    rule craft:
        """Every CRAFT artefact of this profile, its results and its claims."""
        input:
            paper_targets("craft"),
