# Khorram thesis ch. 3: XNN / sparse reconstruction autoencoder (issue #12).
# Logic: reference_impls.papers.xnn; results: results/<profile>/xnn/. One job per category
# (fits, c-MWP maps, metrics, Lasso path, masking), then the tables, the figure and claims.
XNN_CFG = paper_config("xnn")

if XNN_CFG is not None:
    XNN_OUT = paper_dir("xnn")
    XNN_CATS = [int(c) for c in XNN_CFG["categories"]]

    rule xnn_category:
        """One category (one-vs-all XNN): SRAE, NN, SAE, CAE and Lasso fitted on the flattened
        layer; F_reg / F_cls, c-MWP heatmaps, O1 / O2, locality, Lasso path, masking
        (thesis Sec. 3.4, App. A)."""
        input:
            train=cache_of(XNN_CFG["model"], "train", XNN_CFG["layer"]),
            test=cache_of(XNN_CFG["model"], "test", XNN_CFG["layer"]),
            manifest=manifest_of(XNN_CFG["model"]),
            checkpoint=checkpoint_of(XNN_CFG["model"]),
        output:
            metrics=f"{XNN_OUT}/categories/{{xnn_cat}}/metrics.csv",
            sweep=f"{XNN_OUT}/categories/{{xnn_cat}}/lasso_path.csv",
            masking=f"{XNN_OUT}/categories/{{xnn_cat}}/masking.csv",
            maps=f"{XNN_OUT}/categories/{{xnn_cat}}/maps.npz",
        wildcard_constraints:
            xnn_cat=r"\d+",
        params:
            cfg=section("xnn", "layer", "saliency_layer", "gradcam_layer", "n_xfeatures",
                        "n_pos_train", "n_neg_train", "heatmap_images", "n_z_units",
                        "lasso_alphas", "lasso_num_x", "mask_images", "mask_fractions",
                        "srae", "overrides"),
            category=lambda wc: int(wc.xnn_cat),
            figure_images=XNN_CFG["figure_images"],
            seed=config["seed"],
        log:
            paper_log("xnn", "category_{xnn_cat}"),
        benchmark:
            paper_bench("xnn", "category_{xnn_cat}")
        script:
            "../scripts/paper_step.py"

    rule xnn_table3_3:
        """Table 3.3: a fully convolutional XNN on each configured stage (F_reg train / test),
        next to the fully connected XNN of Table 3.1."""
        input:
            train=[cache_of(XNN_CFG["model"], "train", l) for l in XNN_CFG["conv_layers"]],
            test=[cache_of(XNN_CFG["model"], "test", l) for l in XNN_CFG["conv_layers"]],
            metrics=expand(f"{XNN_OUT}/categories/{{c}}/metrics.csv", c=XNN_CATS),
        output:
            table=report(f"{XNN_OUT}/table3_3.csv", caption=paper_caption("xnn", "table3.3"),
                         category="xnn"),
            per_category=f"{XNN_OUT}/table3_3_per_category.csv",
        params:
            cfg=section("xnn", "conv_layers", "conv", "categories", "n_pos_train",
                        "n_neg_train", "n_xfeatures"),
            seed=config["seed"],
        log:
            paper_log("xnn", "table3_3"),
        benchmark:
            paper_bench("xnn", "table3_3")
        script:
            "../scripts/paper_step.py"

    rule xnn_tables:
        """Table 3.1, Table A.1 and Table A.2 (means over categories), results and claims."""
        input:
            metrics=expand(f"{XNN_OUT}/categories/{{c}}/metrics.csv", c=XNN_CATS),
            sweep=expand(f"{XNN_OUT}/categories/{{c}}/lasso_path.csv", c=XNN_CATS),
            masking=expand(f"{XNN_OUT}/categories/{{c}}/masking.csv", c=XNN_CATS),
            table3_3=f"{XNN_OUT}/table3_3.csv",
        output:
            table3_1=report(f"{XNN_OUT}/table3_1.csv", caption=paper_caption("xnn", "table3.1"),
                            category="xnn"),
            tablea1=report(f"{XNN_OUT}/tablea1.csv", caption=paper_caption("xnn", "tablea.1"),
                           category="xnn"),
            tablea2=report(f"{XNN_OUT}/tablea2.csv", caption=paper_caption("xnn", "tablea.2"),
                           category="xnn"),
            results=f"{XNN_OUT}/results.csv",
            claims=report(f"{XNN_OUT}/claims.csv", caption=paper_caption("xnn", "claims"),
                          category="xnn"),
        params:
            cfg=section("xnn", "model", "layer", "lasso_targets"),
            dataset=model_dataset(XNN_CFG["model"]),
            seed=config["seed"],
        log:
            paper_log("xnn", "tables"),
        benchmark:
            paper_bench("xnn", "tables")
        script:
            "../scripts/paper_step.py"

    rule xnn_fig3_8:
        """Fig. 3.8: SRAE x-feature c-MWP maps ordered by contribution, with 1-Heatmap."""
        input:
            maps=expand(f"{XNN_OUT}/categories/{{c}}/maps.npz", c=XNN_CATS),
        output:
            report(f"{XNN_OUT}/fig3_8_xfeatures.png", caption=paper_caption("xnn", "fig3.8"),
                   category="xnn"),
        params:
            categories=XNN_CATS,
        log:
            paper_log("xnn", "fig3_8"),
        benchmark:
            paper_bench("xnn", "fig3_8")
        script:
            "../scripts/paper_step.py"

    register_paper("xnn", [f"{XNN_OUT}/{name}" for name in (
        "table3_1.csv", "table3_3.csv", "tablea1.csv", "tablea2.csv", "fig3_8_xfeatures.png", "results.csv",
        "claims.csv")])

    rule xnn:
        """Every XNN artefact of this profile."""
        input:
            paper_targets("xnn"),
