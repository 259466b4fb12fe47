# ProtoNMF: NMF prototypes and exact head reconstruction (issue #15).
# Logic: reference_impls.papers.protonmf; results: results/<profile>/protonmf/.
PROTONMF_CFG = paper_config("protonmf")
if PROTONMF_CFG is not None:
    PROTONMF_OUT = paper_dir("protonmf")
    PROTONMF_MODELS = PROTONMF_CFG["models"]
    PROTONMF_FIRST = PROTONMF_MODELS[0]
    PROTONMF_SEEDS = PROTONMF_CFG["protopnet"]["seeds"]
    PROTONMF_FIT, PROTONMF_EVAL = PROTONMF_CFG["fit_split"], PROTONMF_CFG["eval_split"]
    PROTONMF_FIGS = ("figure_class", "heatmap_images", "heatmap_p", "localisation_images",
                     "eval_split")

    def protonmf_fits(models=PROTONMF_MODELS):
        return [f"{PROTONMF_OUT}/{m}/prototypes.npz" for m in models]

    def protonmf_eval(models=PROTONMF_MODELS, layer=PROTONMF_CFG["layer"]):
        return [cache_of(m, PROTONMF_EVAL, layer) for m in models]

    def protonmf_runs():
        return [f"{PROTONMF_OUT}/{m}/protopnet_seed{s}.csv" for m in PROTONMF_MODELS
                for s in PROTONMF_SEEDS]

    def protonmf_run_cfg():
        """The keys one ProtoPNet run reads (the seed list is not one: adding a seed must
        not rerun the others)."""
        cfg = section("protonmf", "protopnet", "solver", "max_iter", "tol")
        cfg["protopnet"] = {k: v for k, v in cfg["protopnet"].items() if k != "seeds"}
        return cfg


    rule protonmf_prototypes:
        """Step 1 (per-class NMF, Sec. 3.1) and Step 2 (head reconstruction, Eq. 4-8) for
        every p on the training split of one model."""
        input:
            acts=lambda wc: cache_of(wc.model, PROTONMF_FIT, PROTONMF_CFG["layer"]),
            checkpoint=lambda wc: checkpoint_of(wc.model),
        output:
            f"{PROTONMF_OUT}/{{model}}/prototypes.npz",
        params:
            cfg=section("protonmf", "images_per_class", "prototypes", "solver", "max_iter", "tol"),
            seed=config["seed"],
            model="{model}",
        log:
            paper_log("protonmf", "prototypes_{model}"),
        benchmark:
            paper_bench("protonmf", "prototypes_{model}")
        script:
            "../scripts/paper_step.py"

    rule protonmf_table3:
        """Table 3: accuracy with NMF only / residual only / NMF + residual, p = 1, 3, 5, 10."""
        input:
            fits=protonmf_fits(),
            acts=protonmf_eval(),
            checkpoints=[checkpoint_of(m) for m in PROTONMF_MODELS],
        output:
            table=paper_report("protonmf", "table3_nmf_residual_accuracy.csv", "table3"),
        params:
            cfg=section("protonmf", "bootstrap"),
            seed=config["seed"],
            models=PROTONMF_MODELS,
        log:
            paper_log("protonmf", "table3"),
        benchmark:
            paper_bench("protonmf", "table3")
        script:
            "../scripts/paper_step.py"

    rule protonmf_fig5:
        """Fig. 5: feature and head reconstruction errors against p."""
        input:
            fits=protonmf_fits(),
            checkpoints=[checkpoint_of(m) for m in PROTONMF_MODELS],
        output:
            figure=paper_report("protonmf", "fig5_reconstruction_errors.png", "fig5"),
            table=f"{PROTONMF_OUT}/fig5_reconstruction_errors.csv",
        params:
            seed=config["seed"],
            models=PROTONMF_MODELS,
        log:
            paper_log("protonmf", "fig5"),
        benchmark:
            paper_bench("protonmf", "fig5")
        script:
            "../scripts/paper_step.py"

    rule protonmf_table4:
        """Table 4: test-time intervention on the top prototype of wrong predictions."""
        input:
            fits=protonmf_fits(),
            acts=protonmf_eval(),
        output:
            table=paper_report("protonmf", "table4_intervention.csv", "table4"),
        params:
            seed=config["seed"],
            models=PROTONMF_MODELS,
        log:
            paper_log("protonmf", "table4"),
        benchmark:
            paper_bench("protonmf", "table4")
        script:
            "../scripts/paper_step.py"

    rule protonmf_fig3:
        """Fig. 3: prototypes in each architecture, localised against part masks."""
        input:
            fits=protonmf_fits(),
            acts=protonmf_eval(),
            manifests=[manifest_of(m) for m in PROTONMF_MODELS],
        output:
            figure=paper_report("protonmf", "fig3_prototypes_architectures.png", "fig3"),
            table=f"{PROTONMF_OUT}/fig3_localisation.csv",
        params:
            cfg=section("protonmf", *PROTONMF_FIGS),
            seed=config["seed"],
            models=PROTONMF_MODELS,
        log:
            paper_log("protonmf", "fig3"),
        benchmark:
            paper_bench("protonmf", "fig3")
        script:
            "../scripts/paper_step.py"

    rule protonmf_fig4:
        """Fig. 4: presence of p = 1, 3, 5, 10 prototypes on the same images."""
        input:
            fits=protonmf_fits([PROTONMF_FIRST])[0],
            acts=protonmf_eval([PROTONMF_FIRST])[0],
            manifest=manifest_of(PROTONMF_FIRST),
        output:
            figure=paper_report("protonmf", "fig4_prototype_numbers.png", "fig4"),
            table=f"{PROTONMF_OUT}/fig4_diversity.csv",
        params:
            cfg=section("protonmf", *PROTONMF_FIGS),
            seed=config["seed"],
            model=PROTONMF_FIRST,
        log:
            paper_log("protonmf", "fig4"),
        benchmark:
            paper_bench("protonmf", "fig4")
        script:
            "../scripts/paper_step.py"

    rule protonmf_fig7:
        """Fig. 7 / App. A.2: original vs augmented prototypes; residual presence (Eq. 6)."""
        input:
            fits=protonmf_fits([PROTONMF_FIRST])[0],
            acts=protonmf_eval([PROTONMF_FIRST])[0],
            manifest=manifest_of(PROTONMF_FIRST),
        output:
            figure=paper_report("protonmf", "fig7_augmented_prototypes.png", "fig7"),
            table=f"{PROTONMF_OUT}/fig7_augmented_agreement.csv",
        params:
            cfg=section("protonmf", *PROTONMF_FIGS),
            model=PROTONMF_FIRST,
        log:
            paper_log("protonmf", "fig7"),
        benchmark:
            paper_bench("protonmf", "fig7")
        script:
            "../scripts/paper_step.py"

    rule protonmf_fig9:
        """Fig. 9 / App. A.4: one corrected wrong prediction."""
        input:
            fits=protonmf_fits([PROTONMF_FIRST])[0],
            acts=protonmf_eval([PROTONMF_FIRST])[0],
            manifest=manifest_of(PROTONMF_FIRST),
        output:
            figure=paper_report("protonmf", "fig9_intervention_example.png", "fig9"),
        params:
            cfg=section("protonmf", *PROTONMF_FIGS),
            model=PROTONMF_FIRST,
        log:
            paper_log("protonmf", "fig9"),
        benchmark:
            paper_bench("protonmf", "fig9")
        script:
            "../scripts/paper_step.py"

    rule protonmf_protopnet:
        """ProtoPNet baseline (Chen et al. 2019; capped for the embedded profile) for one
        model and seed: per-cycle checkpoints, test accuracy and Table 1 rows."""
        input:
            train=lambda wc: cache_of(wc.model, PROTONMF_FIT, PROTONMF_CFG["input_layer"]),
            test=lambda wc: cache_of(wc.model, PROTONMF_EVAL, PROTONMF_CFG["input_layer"]),
            checkpoint=lambda wc: checkpoint_of(wc.model),
        output:
            table=f"{PROTONMF_OUT}/{{model}}/protopnet_seed{{seed}}.csv",
            states=f"{PROTONMF_OUT}/{{model}}/protopnet_seed{{seed}}.pt",
        params:
            cfg=protonmf_run_cfg(),
            stages=PROTONMF_CFG["trained_stages"],
            seed=lambda wc: int(wc.seed),
            model="{model}",
        log:
            paper_log("protonmf", "protopnet_{model}_seed{seed}"),
        benchmark:
            paper_bench("protonmf", "protopnet_{model}_seed{seed}")
        script:
            "../scripts/paper_step.py"

    rule protonmf_table1:
        """Table 1: class-feature reconstruction error, ProtoPNet vs NMF, cycles 1-3."""
        input:
            runs=protonmf_runs(),
        output:
            table=paper_report("protonmf", "table1_reconstruction_protopnet_vs_nmf.csv", "table1"),
        log:
            paper_log("protonmf", "table1"),
        benchmark:
            paper_bench("protonmf", "table1")
        script:
            "../scripts/paper_step.py"

    rule protonmf_table2:
        """Table 2: accuracy of ProtoNMF, ProtoPNet and the black box."""
        input:
            runs=protonmf_runs(),
            table3=f"{PROTONMF_OUT}/table3_nmf_residual_accuracy.csv",
        output:
            table=paper_report("protonmf", "table2_accuracy.csv", "table2"),
        params:
            models=PROTONMF_MODELS,
        log:
            paper_log("protonmf", "table2"),
        benchmark:
            paper_bench("protonmf", "table2")
        script:
            "../scripts/paper_step.py"

    rule protonmf_fig2:
        """Fig. 2: ProtoPNet prototypes vs NMF prototypes over training cycles."""
        input:
            train=cache_of(PROTONMF_FIRST, PROTONMF_FIT, PROTONMF_CFG["input_layer"]),
            test=cache_of(PROTONMF_FIRST, PROTONMF_EVAL, PROTONMF_CFG["input_layer"]),
            checkpoint=checkpoint_of(PROTONMF_FIRST),
            manifest=manifest_of(PROTONMF_FIRST),
            states=f"{PROTONMF_OUT}/{PROTONMF_FIRST}/protopnet_seed{PROTONMF_SEEDS[0]}.pt",
        output:
            figure=paper_report("protonmf", "fig2_protopnet_vs_nmf_cycles.png", "fig2"),
            table=f"{PROTONMF_OUT}/fig2_stability.csv",
        params:
            cfg=dict(protonmf_run_cfg(), **section("protonmf", *PROTONMF_FIGS)),
            stages=PROTONMF_CFG["trained_stages"],
            seed=PROTONMF_SEEDS[0],
        log:
            paper_log("protonmf", "fig2"),
        benchmark:
            paper_bench("protonmf", "fig2")
        script:
            "../scripts/paper_step.py"

    rule protonmf_claims:
        """results.csv (long) and claims.csv (ledger) from every artefact table."""
        input:
            table1=f"{PROTONMF_OUT}/table1_reconstruction_protopnet_vs_nmf.csv",
            table2=f"{PROTONMF_OUT}/table2_accuracy.csv",
            table3=f"{PROTONMF_OUT}/table3_nmf_residual_accuracy.csv",
            table4=f"{PROTONMF_OUT}/table4_intervention.csv",
            fig5=f"{PROTONMF_OUT}/fig5_reconstruction_errors.csv",
            fig3=f"{PROTONMF_OUT}/fig3_localisation.csv",
            fig7=f"{PROTONMF_OUT}/fig7_augmented_agreement.csv",
            fig2=f"{PROTONMF_OUT}/fig2_stability.csv",
        output:
            results=f"{PROTONMF_OUT}/results.csv",
            claims=report(f"{PROTONMF_OUT}/claims.csv",
                          caption=paper_caption("protonmf", "claims"), category="protonmf"),
        params:
            cfg=section("protonmf", "layer", "heatmap_p", "figure_class"),
            dataset=model_dataset(PROTONMF_FIRST),
            seed=config["seed"],
            models=PROTONMF_MODELS,
        log:
            paper_log("protonmf", "claims"),
        benchmark:
            paper_bench("protonmf", "claims")
        script:
            "../scripts/paper_step.py"

    register_paper("protonmf", [
        f"{PROTONMF_OUT}/{name}" for name in (
            "table1_reconstruction_protopnet_vs_nmf.csv", "table2_accuracy.csv",
            "table3_nmf_residual_accuracy.csv", "table4_intervention.csv",
            "fig5_reconstruction_errors.png", "fig2_protopnet_vs_nmf_cycles.png",
            "fig3_prototypes_architectures.png", "fig4_prototype_numbers.png",
            "fig7_augmented_prototypes.png", "fig9_intervention_example.png",
            "results.csv", "claims.csv")
    ])

    rule protonmf:
        input:
            paper_targets("protonmf"),
