# Saini & Papalexakis, multi-aspect coupled NMF of pixels, activations and examples (issue #11).
# Logic: reference_impls.papers.multiaspect (steps.py); results: results/<profile>/multiaspect/.
# Eq. 1 reads the cached layers of `model`; Fig. 8-11 and the case study run their own forward
# passes (their model / probe dataset need not be cached, e.g. CIFAR-10 model on CIFAR-100).
MULTIASPECT_CFG = paper_config("multiaspect")

if MULTIASPECT_CFG is not None:
    MA = "multiaspect"
    MA_OUT = paper_dir(MA)
    MA_CFG = MULTIASPECT_CFG
    for _key in ("model", "cam_model", "case_model"):
        if MA_CFG[_key] not in config["models"]:
            raise ValueError(f"config multiaspect.{_key}: '{MA_CFG[_key]}' is not a key of "
                             f"models ({sorted(config['models'])})")
    if MA_CFG["probe_dataset"] not in config["datasets"]:
        raise ValueError(f"config multiaspect.probe_dataset: '{MA_CFG['probe_dataset']}' is "
                         f"not a key of datasets ({sorted(config['datasets'])})")
    if 1.0 not in [float(v) for v in MA_CFG["table2_lambdas"]]:
        raise ValueError("config multiaspect.table2_lambdas must contain 1 (the paper's value)")
    MA_ACTS = [cache_of(MA_CFG["model"], MA_CFG["eval_split"], layer) for layer in MA_CFG["layers"]]
    MA_FIT_KEYS = ("model", "eval_split", "layers", "n_examples", "n_factors", "lambda_P",
                   "lambda_O", "lambda_F", "max_iter")
    MA_CASE_KEYS = ("case_layers", "probe_split", "n_examples", "n_factors", "lambda_P",
                    "lambda_O", "lambda_F", "case_max_iter", "case_inputs", "rel_group",
                    "rel_tv", "rel_ortho", "top_k")
    MA_CASE_INPUT = {"probe_manifest": f"{RESULTS}/data/{MA_CFG['probe_dataset']}/manifest.json",
                     "checkpoint": checkpoint_of(MA_CFG["case_model"])}

    # an artefact file in the report (a lambda: snakemake --lint wants no def among rules)
    ma_report = lambda name, slug, artefact: report(
        f"{MA_OUT}/{name}", caption=paper_caption(MA, slug), category=MA, subcategory=artefact)

    rule multiaspect_runtime:
        """Eq. 1-2 (multiplicative updates) on pixels + cached layers of N examples; its wall
        time is the running-time artefact (Sec. IV)."""
        input:
            manifest=manifest_of(MA_CFG["model"]), acts=MA_ACTS
        output:
            fit=f"{MA_OUT}/fit_eq1.npz",
            csv=ma_report("runtime.csv", "runningtime", "Running time"),
        params:
            cfg=section(MA, *MA_FIT_KEYS), seed=config["seed"]
        log: paper_log(MA, "runtime")
        benchmark: paper_bench(MA, "runtime")
        script: "../scripts/paper_step.py"

    rule multiaspect_table1:
        """Table I: top classes, top-20 images and top superclass per factor; purity controls."""
        input:
            fit=rules.multiaspect_runtime.output.fit, manifest=manifest_of(MA_CFG["model"])
        output:
            table=ma_report("table1_factors.csv", "table1", "Table 1"),
            control=f"{MA_OUT}/table1_purity_control.csv",
            png=ma_report("table1_top_images.png", "table1", "Table 1"),
        params:
            cfg=section(MA, "eval_split", "top_k", "n_permutations"), seed=config["seed"]
        log: paper_log(MA, "table1")
        benchmark: paper_bench(MA, "table1")
        script: "../scripts/paper_step.py"

    rule multiaspect_fig2:
        """Fig. 2: cosine similarity of the columns of O_j per layer."""
        input:
            fit=rules.multiaspect_runtime.output.fit
        output:
            png=ma_report("fig2_similarity.png", "fig2", "Fig. 2"),
            csv=f"{MA_OUT}/fig2_similarity.csv",
        params:
            cfg=section(MA, "layers"), seed=config["seed"]
        log: paper_log(MA, "fig2")
        benchmark: paper_bench(MA, "fig2")
        script: "../scripts/paper_step.py"

    rule multiaspect_fig3:
        """Fig. 3: eigenvalues of the Fig. 2 matrices, mean of the top-K per layer."""
        input:
            fit=rules.multiaspect_runtime.output.fit
        output:
            png=ma_report("fig3_eigenvalues.png", "fig3", "Fig. 3"),
            csv=f"{MA_OUT}/fig3_eigenvalues.csv",
        params:
            cfg=section(MA, "layers", "eigen_k"), seed=config["seed"]
        log: paper_log(MA, "fig3")
        benchmark: paper_bench(MA, "fig3")
        script: "../scripts/paper_step.py"

    rule multiaspect_fig4_5:
        """Fig. 4-5: latent pixel images, median masks, nearest-neighbour concept mix."""
        input:
            fit=rules.multiaspect_runtime.output.fit, manifest=manifest_of(MA_CFG["model"]), table=rules.multiaspect_table1.output.table
        output:
            png=ma_report("fig4_5_latent_pixels.png", "figs4-5", "Figs. 4-5"),
            csv=ma_report("fig4_5_masks.csv", "figs4-5", "Figs. 4-5"),
        params:
            cfg=section(MA, "eval_split", "n_neighbours"), seed=config["seed"]
        log: paper_log(MA, "fig4_5")
        benchmark: paper_bench(MA, "fig4_5")
        script: "../scripts/paper_step.py"

    rule multiaspect_table2:
        """Table II: CKA of F^T F across lambda_F (own seed each), extras, seed control."""
        input:
            manifest=manifest_of(MA_CFG["model"]), acts=MA_ACTS
        output:
            csv=ma_report("table2_cka.csv", "table2", "Table 2")
        params:
            cfg=section(MA, *MA_FIT_KEYS, "table2_lambdas", "table2_extra_lambdas", "table2_seeds"), seed=config["seed"]
        log: paper_log(MA, "table2")
        benchmark: paper_bench(MA, "table2")
        script: "../scripts/paper_step.py"

    rule multiaspect_fig6_7:
        """Fig. 6-7: LIME vs latent-pixel masks on the purest factors' top images."""
        input:
            fit=rules.multiaspect_runtime.output.fit, manifest=manifest_of(MA_CFG["model"]), checkpoint=checkpoint_of(MA_CFG["model"]), table=rules.multiaspect_table1.output.table
        output:
            png=ma_report("fig6_7_lime.png", "figs6-7", "Figs. 6-7"),
            csv=ma_report("fig6_7_lime.csv", "figs6-7", "Figs. 6-7"),
        params:
            cfg=section(MA, "eval_split", "lime"), seed=config["seed"]
        log: paper_log(MA, "fig6_7")
        benchmark: paper_bench(MA, "fig6_7")
        script: "../scripts/paper_step.py"

    rule multiaspect_fig8_11:
        """Fig. 8-11: d = 10 fit; latent mask vs Grad-CAM vs Grad-CAM++ on top images."""
        input:
            manifest=manifest_of(MA_CFG["cam_model"]), checkpoint=checkpoint_of(MA_CFG["cam_model"])
        output:
            png=ma_report("fig8_11_gradcam.png", "figs8-11", "Figs. 8-11"),
            csv=ma_report("fig8_11_maps.csv", "figs8-11", "Figs. 8-11"),
        params:
            cfg=section(MA, "cam_split", "cam_layers", "cam_factors", "cam_layer", "n_examples", "lambda_P", "lambda_O", "lambda_F", "max_iter"), seed=config["seed"]
        log: paper_log(MA, "fig8_11")
        benchmark: paper_bench(MA, "fig8_11")
        script: "../scripts/paper_step.py"

    rule multiaspect_caseref:
        """Eq. 1 on the case-study probe examples (reference for the Eq. 3 / 4 claims)."""
        input:
            **MA_CASE_INPUT
        output:
            fit=f"{MA_OUT}/case_eq1.npz"
        params:
            cfg=section(MA, *MA_CASE_KEYS), seed=config["seed"]
        log: paper_log(MA, "caseref")
        benchmark: paper_bench(MA, "caseref")
        script: "../scripts/paper_step.py"

    rule multiaspect_table4:
        """Table IV: group-sparse fit (Eq. 3, groups = probe classes) of the probe data."""
        input:
            **MA_CASE_INPUT
        output:
            fit=f"{MA_OUT}/case_eq3.npz",
            table=ma_report("table4_gs.csv", "table4", "Table 4"),
        params:
            cfg=section(MA, *MA_CASE_KEYS), seed=config["seed"]
        log: paper_log(MA, "table4")
        benchmark: paper_bench(MA, "table4")
        script: "../scripts/paper_step.py"

    rule multiaspect_table5:
        """Table V: TV + soft-orthogonality fit (Eq. 4, inputs included) of the probe data."""
        input:
            **MA_CASE_INPUT
        output:
            fit=f"{MA_OUT}/case_eq4.npz",
            table=ma_report("table5_tv.csv", "table5", "Table 5"),
        params:
            cfg=section(MA, *MA_CASE_KEYS), seed=config["seed"]
        log: paper_log(MA, "table5")
        benchmark: paper_bench(MA, "table5")
        script: "../scripts/paper_step.py"

    rule multiaspect_fig12_13:
        """Fig. 12-13: TCAV (Kim et al. CAVs) of every latent concept for every training class."""
        input:
            **MA_CASE_INPUT, manifest=manifest_of(MA_CFG["case_model"]), gs=rules.multiaspect_table4.output.fit, tv=rules.multiaspect_table5.output.fit
        output:
            fig12=ma_report("fig12_tcav_gs.png", "fig12", "Fig. 12"),
            fig13=ma_report("fig13_tcav.png", "fig13", "Fig. 13"),
            csv=f"{MA_OUT}/tcav.csv",
        params:
            cfg=section(MA, "probe_split", "tcav_split", "tcav_layer", "tcav_concept_images", "tcav_random_sets", "tcav_class_images"), seed=config["seed"]
        log: paper_log(MA, "fig12_13")
        benchmark: paper_bench(MA, "fig12_13")
        script: "../scripts/paper_step.py"

    rule multiaspect_table3:
        """Table III: the purest group-sparse factors with their highest-TCAV classes."""
        input:
            table=rules.multiaspect_table4.output.table, tcav=rules.multiaspect_fig12_13.output.csv
        output:
            table=ma_report("table3_gs_abridged.csv", "table3", "Table 3")
        params:
            cfg=section(MA, "abridged"), seed=config["seed"]
        log: paper_log(MA, "table3")
        benchmark: paper_bench(MA, "table3")
        script: "../scripts/paper_step.py"

    rule multiaspect_claims:
        """results.csv (long) and claims.csv from every artefact's numbers."""
        input:
            runtime=rules.multiaspect_runtime.output.csv,
            table1=rules.multiaspect_table1.output.table,
            control=rules.multiaspect_table1.output.control,
            fig2=rules.multiaspect_fig2.output.csv, fig3=rules.multiaspect_fig3.output.csv,
            fig4_5=rules.multiaspect_fig4_5.output.csv, table2=rules.multiaspect_table2.output.csv,
            fig6_7=rules.multiaspect_fig6_7.output.csv, fig8_11=rules.multiaspect_fig8_11.output.csv,
            gs=rules.multiaspect_table4.output.fit, tv=rules.multiaspect_table5.output.fit,
            ref=rules.multiaspect_caseref.output.fit, tcav=rules.multiaspect_fig12_13.output.csv,
        output:
            results=f"{MA_OUT}/results.csv",
            claims=report(f"{MA_OUT}/claims.csv", caption=paper_caption(MA, "claims"),
                          category=MA, subcategory="claims"),
        params:
            cfg=dict(section(MA, "model", "eigen_k", "n_neighbours"), dataset=model_dataset(MA_CFG["model"])), seed=config["seed"]
        log: paper_log(MA, "claims")
        benchmark: paper_bench(MA, "claims")
        script: "../scripts/paper_step.py"

    register_paper(MA, [
        *rules.multiaspect_runtime.output, *rules.multiaspect_table1.output,
        *rules.multiaspect_fig2.output, *rules.multiaspect_fig3.output,
        *rules.multiaspect_fig4_5.output, *rules.multiaspect_table2.output,
        *rules.multiaspect_fig6_7.output, *rules.multiaspect_fig8_11.output,
        *rules.multiaspect_table3.output, *rules.multiaspect_table4.output,
        *rules.multiaspect_table5.output, *rules.multiaspect_fig12_13.output,
        *rules.multiaspect_claims.output])

    rule multiaspect:
        """Every artefact of the multiaspect paper."""
        input:
            paper_targets(MA)
