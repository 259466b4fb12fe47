# Khorram thesis ch. 4: Stochastic Block ADMM training (issue #13).
# Logic: reference_impls.papers.blockadmm; results: results/<profile>/blockadmm/.
BLOCKADMM_CFG = paper_config("blockadmm")

if BLOCKADMM_CFG is not None:
    BLOCKADMM_OUT = paper_dir("blockadmm")
    BLOCKADMM_DATA = f"{RESULTS}/data/{BLOCKADMM_CFG['dataset']}/manifest.json"
    BLOCKADMM_WIDE_DATASET = BLOCKADMM_CFG.get("wide_dataset", BLOCKADMM_CFG["dataset"])
    BLOCKADMM_WIDE = f"{RESULTS}/data/{BLOCKADMM_WIDE_DATASET}/manifest.json"
    BLOCKADMM_IMAGES = f"{RESULTS}/data/{BLOCKADMM_CFG['image_dataset']}/manifest.json"


    rule blockadmm_fig43:
        """Fig. 4.3: Block ADMM (tuned on a validation hold-out), Gotmare, SGD, Adam."""
        input: manifest=BLOCKADMM_DATA,
        output:
            grid=paper_report("blockadmm", "grid.csv", "grid"),
            history=f"{BLOCKADMM_OUT}/runs/fig43.csv",
        params: cfg=section("blockadmm", "shallow"), seed=config["seed"],
        log: paper_log("blockadmm", "fig43"),
        benchmark: paper_bench("blockadmm", "fig43"),
        script: "../scripts/paper_step.py"

    rule blockadmm_fig43_closed:
        """Fig. 4.3: standard ADMM, Taylor et al., Zeng et al. BCD, dlADMM (full batch)."""
        input: manifest=BLOCKADMM_DATA,
        output: history=f"{BLOCKADMM_OUT}/runs/fig43_closed.csv",
        params: cfg=section("blockadmm", "closed"), seed=config["seed"],
        log: paper_log("blockadmm", "fig43_closed"),
        benchmark: paper_bench("blockadmm", "fig43_closed"),
        script: "../scripts/paper_step.py"

    rule blockadmm_fig44:
        """Fig. 4.4: 10- and 20-layer MLPs, Block ADMM vs SGD vs Adam."""
        input: manifest=BLOCKADMM_DATA, grid=f"{BLOCKADMM_OUT}/grid.csv",
        output: history=f"{BLOCKADMM_OUT}/runs/fig44.csv",
        params: cfg=section("blockadmm", "deep"), seed=config["seed"],
        log: paper_log("blockadmm", "fig44"),
        benchmark: paper_bench("blockadmm", "fig44"),
        script: "../scripts/paper_step.py"

    rule blockadmm_fig45:
        """Fig. 4.5: a ResNet split in two blocks, Block ADMM vs Gotmare vs SGD."""
        input: manifest=BLOCKADMM_IMAGES,
        output: history=f"{BLOCKADMM_OUT}/runs/fig45.csv",
        params: cfg=section("blockadmm", "resnet"), seed=config["seed"],
        log: paper_log("blockadmm", "fig45"),
        benchmark: paper_bench("blockadmm", "fig45"),
        script: "../scripts/paper_step.py"

    rule blockadmm_figb1:
        """Fig. B.1: wide MLP with cross-entropy, Block ADMM vs dlADMM."""
        input: manifest=BLOCKADMM_WIDE,
        output: history=f"{BLOCKADMM_OUT}/runs/figb1.csv",
        params: cfg=section("blockadmm", "wide"), seed=config["seed"],
        log: paper_log("blockadmm", "figb1"),
        benchmark: paper_bench("blockadmm", "figb1"),
        script: "../scripts/paper_step.py"

    rule blockadmm_claims:
        """Figs. 4.3-4.6 and B.1 with their CSVs, results.csv and claims.csv."""
        input:
            fig43=rules.blockadmm_fig43.output.history,
            fig43_closed=rules.blockadmm_fig43_closed.output.history,
            fig44=rules.blockadmm_fig44.output.history,
            fig45=rules.blockadmm_fig45.output.history,
            figb1=rules.blockadmm_figb1.output.history,
        output:
            fig43=paper_report("blockadmm", "fig4_3_shallow_mlp.png", "fig4.3"),
            fig44=paper_report("blockadmm", "fig4_4_deep_mlp.png", "fig4.4"),
            fig45=paper_report("blockadmm", "fig4_5_resnet_blocks.png", "fig4.5"),
            fig46=paper_report("blockadmm", "fig4_6_wall_clock.png", "fig4.6"),
            figb1=paper_report("blockadmm", "figB_1_wide_mlp.png", "figb.1"),
            fig43_csv=f"{BLOCKADMM_OUT}/fig4_3_shallow_mlp.csv",
            fig43_closed_csv=f"{BLOCKADMM_OUT}/fig4_3_full_batch.csv",
            fig44_csv=f"{BLOCKADMM_OUT}/fig4_4_deep_mlp.csv",
            fig45_csv=f"{BLOCKADMM_OUT}/fig4_5_resnet_blocks.csv",
            figb1_csv=f"{BLOCKADMM_OUT}/figB_1_wide_mlp.csv",
            results=f"{BLOCKADMM_OUT}/results.csv",
            claims=paper_report("blockadmm", "claims.csv", "claims"),
        params: dataset=BLOCKADMM_CFG["dataset"],
        log: paper_log("blockadmm", "claims"),
        benchmark: paper_bench("blockadmm", "claims"),
        script: "../scripts/paper_step.py"

    register_paper("blockadmm", [
        *[f"{BLOCKADMM_OUT}/{a}" for a in (
            "grid.csv", "fig4_3_shallow_mlp.png", "fig4_4_deep_mlp.png", "fig4_5_resnet_blocks.png",
            "fig4_6_wall_clock.png", "figB_1_wide_mlp.png", "results.csv", "claims.csv")],
    ])

    rule blockadmm:
        input: paper_targets("blockadmm"),
