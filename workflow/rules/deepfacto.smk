# Khorram thesis ch. 4.3: DeepFacto, an NMF layer trained inside the network (issue #14).
# Logic: reference_impls.papers.deepfacto; results: results/<profile>/deepfacto/.
DEEPFACTO_CFG = paper_config("deepfacto")

if DEEPFACTO_CFG is not None:
    DEEPFACTO_OUT = paper_dir("deepfacto")
    DEEPFACTO_INPUTS = {  # a dict literal: "checkpoint" is a Snakemake keyword
        "checkpoint": checkpoint_of(DEEPFACTO_CFG["model"]),
        "train": cache_of(DEEPFACTO_CFG["model"], DEEPFACTO_CFG["fit_split"],
                          DEEPFACTO_CFG["input_layer"]),
        "probe": cache_of(DEEPFACTO_CFG["model"], DEEPFACTO_CFG["svm_split"],
                          DEEPFACTO_CFG["input_layer"]),
    }
    if DEEPFACTO_CFG["figure_rank"] not in DEEPFACTO_CFG["ranks"]:
        raise ValueError(f"config deepfacto.figure_rank: {DEEPFACTO_CFG['figure_rank']} is not "
                         f"one of deepfacto.ranks {DEEPFACTO_CFG['ranks']}")


    rule deepfacto_rank:
        """DeepFacto at one rank (Block ADMM, class labels) + the post-hoc NMF of that rank."""
        input: **DEEPFACTO_INPUTS,
        output: features=f"{DEEPFACTO_OUT}/fits/rank{{rank}}.npz",
        wildcard_constraints: rank=r"\d+",
        params:
            cfg=section("deepfacto", "block", "n_train", "n_maps", "deepfacto"),
            rank=lambda wc: int(wc.rank), seed=config["seed"],
        log: paper_log("deepfacto", "rank{rank}"),
        benchmark: paper_bench("deepfacto", "rank{rank}"),
        script: "../scripts/paper_step.py"

    rule deepfacto_baselines:
        """Weakly supervised embedding without NMF, frozen GAP features, random control."""
        input: **DEEPFACTO_INPUTS,
        output: features=f"{DEEPFACTO_OUT}/fits/baselines.npz",
        params:
            cfg=section("deepfacto", "block", "n_train", "weak_dim", "weak_epochs", "weak_lr"),
            seed=config["seed"],
        log: paper_log("deepfacto", "baselines"),
        benchmark: paper_bench("deepfacto", "baselines"),
        script: "../scripts/paper_step.py"

    rule deepfacto_tables:
        """Tables 4.1-4.2 (attribute SVMs on the probe split), Fig. B.2, results, claims."""
        input:
            manifest=manifest_of(DEEPFACTO_CFG["model"]),
            ranks=expand(f"{DEEPFACTO_OUT}/fits/rank{{r}}.npz", r=DEEPFACTO_CFG["ranks"]),
            baselines=f"{DEEPFACTO_OUT}/fits/baselines.npz",
        output:
            table41=paper_report("deepfacto", "table4_1_attribute_svm.csv", "table4.1"),
            table42=paper_report("deepfacto", "table4_2_per_attribute.csv", "table4.2"),
            figure=paper_report("deepfacto", "figB_2_heatmaps.png", "figb.2"),
            localisation=paper_report("deepfacto", "figB_2_localisation.csv", "localisation"),
            results=f"{DEEPFACTO_OUT}/results.csv",
            claims=paper_report("deepfacto", "claims.csv", "claims"),
        params:
            cfg=section("deepfacto", "svm_split", "cv", "figure_rank", "figure_images"),
            ranks=DEEPFACTO_CFG["ranks"],
        log: paper_log("deepfacto", "tables"),
        benchmark: paper_bench("deepfacto", "tables"),
        script: "../scripts/paper_step.py"

    register_paper("deepfacto", [
        f"{DEEPFACTO_OUT}/{a}" for a in (
            "table4_1_attribute_svm.csv", "table4_2_per_attribute.csv", "figB_2_heatmaps.png",
            "figB_2_localisation.csv", "results.csv", "claims.csv")
    ])

    rule deepfacto:
        input: paper_targets("deepfacto"),
