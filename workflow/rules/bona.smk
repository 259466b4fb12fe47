# Kolouri, Martin & Hoffmann: bag of neural activations (issue #16).
# Logic: reference_impls.papers.bona; results: results/<profile>/bona/.
# Per setting (in-domain classes, unseen probe classes): bona_patches (per-image NMF, LoG
# patches, GAP features) -> bona_clusters (DEC, histograms); then Table 1, Fig. 2, Figs. 5-6
# and the claims. Settings run side by side, one thread each.
BONA_CFG = paper_config("bona")


def _bona_check(cfg):
    """Cross-references the schema cannot express, with messages naming the key."""
    for key, model in [("model", cfg["model"])] + [
        (f"cnn_models.{m}", m) for m in cfg["cnn_models"]
    ]:
        if model not in config["models"]:
            raise ValueError(f"config bona.{key}: '{model}' is not a key of models "
                             f"({sorted(config['models'])})")
    if len(cfg["gap_layers"]) != len(cfg["gap_widths"]):
        raise ValueError("config bona.gap_widths must give one width per gap_layers entry")
    for name, s in cfg["settings"].items():
        for split in (s["fit_split"], s["eval_split"]):
            cache_of(cfg["model"], split, cfg["nmf_layer"])
            for m, layer in cfg["cnn_models"].items():
                cache_of(m, split, layer)


if BONA_CFG is not None:
    _bona_check(BONA_CFG)
    BONA_OUT = paper_dir("bona")
    BONA_SETTINGS = list(BONA_CFG["settings"])
    BONA_PATCH_KEYS = ("model", "nmf_layer", "gap_layers", "settings", "nmf", "blob",
                       "figure_images")
    BONA_CLUSTER_KEYS = ("settings", "gap_widths", "n_clusters", "embedding_dims",
                         "fisher_holdout", "dec_patches", "dec",
                         "paper_embedding_dim")

    def _bona_setting_cache(wc, role):
        s = BONA_CFG["settings"][wc.setting]
        return cache_of(BONA_CFG["model"], s[f"{role}_split"], BONA_CFG["nmf_layer"])

    def _bona_cnn_caches(role):
        return [cache_of(m, BONA_CFG["settings"][s][f"{role}_split"], layer)
                for s in BONA_SETTINGS for m, layer in BONA_CFG["cnn_models"].items()]

    rule bona_patches:
        """Phases 1-2 of one setting: NMF rank by the 95% rule, per-image elastic NMF of
        the last conv layer, LoG blobs, salient patches and their multi-layer GAP features."""
        input:
            manifest=manifest_of(BONA_CFG["model"]),
            checkpoint=checkpoint_of(BONA_CFG["model"]),
            fit_cache=lambda wc: _bona_setting_cache(wc, "fit"),
            eval_cache=lambda wc: _bona_setting_cache(wc, "eval"),
        output:
            f"{BONA_OUT}/patches_{{setting}}.npz",
        params:
            cfg=section("bona", *BONA_PATCH_KEYS),
            setting=lambda wc: wc.setting,
            seed=config["seed"],
        wildcard_constraints:
            setting="|".join(BONA_SETTINGS),
        log:
            paper_log("bona", "patches_{setting}"),
        benchmark:
            paper_bench("bona", "patches_{setting}")
        script:
            "../scripts/paper_step.py"

    rule bona_clusters:
        """Phases 3-4 of one setting: DEC (Algorithm 1) with the embedding dimension of
        lowest held-out Fisher score, clusters and bag-of-neural-activations histograms."""
        input:
            patches=f"{BONA_OUT}/patches_{{setting}}.npz",
            manifest=manifest_of(BONA_CFG["model"]),
        output:
            f"{BONA_OUT}/clusters_{{setting}}.npz",
        params:
            cfg=section("bona", *BONA_CLUSTER_KEYS),
            setting=lambda wc: wc.setting,
            seed=config["seed"],
        wildcard_constraints:
            setting="|".join(BONA_SETTINGS),
        log:
            paper_log("bona", "clusters_{setting}"),
        benchmark:
            paper_bench("bona", "clusters_{setting}")
        script:
            "../scripts/paper_step.py"

    rule bona_table1:
        """Table 1: BONA alone, each CNN and CNN + BONA (softmax retrained), per setting."""
        input:
            patches=expand(f"{BONA_OUT}/patches_{{s}}.npz", s=BONA_SETTINGS),
            clusters=expand(f"{BONA_OUT}/clusters_{{s}}.npz", s=BONA_SETTINGS),
            cnn_fit=_bona_cnn_caches("fit"),
            cnn_eval=_bona_cnn_caches("eval"),
        output:
            table=report(f"{BONA_OUT}/table1_accuracy.csv",
                         caption=paper_caption("bona", "table1"), category="bona"),
        params:
            cfg=section("bona", "model", "settings", "cnn_models", "softmax_C"),
            seed=config["seed"],
        log:
            paper_log("bona", "table1"),
        benchmark:
            paper_bench("bona", "table1")
        script:
            "../scripts/paper_step.py"

    rule bona_fig2:
        """Fig. 2: NMF components, LoG blobs and salient patches; blob centres on parts."""
        input:
            patches=expand(f"{BONA_OUT}/patches_{{s}}.npz", s=BONA_SETTINGS),
            manifest=manifest_of(BONA_CFG["model"]),
        output:
            figure=report(f"{BONA_OUT}/fig2_components_blobs_patches.png",
                          caption=paper_caption("bona", "fig2"), category="bona"),
            table=f"{BONA_OUT}/fig2_blob_localisation.csv",
        params:
            cfg=section("bona", "model", "nmf_layer", "settings"),
            seed=config["seed"],
        log:
            paper_log("bona", "fig2"),
        benchmark:
            paper_bench("bona", "fig2")
        script:
            "../scripts/paper_step.py"

    for _bona_fig, _bona_setting in BONA_CFG["figure_settings"].items():

        rule:
            name:
                f"bona_{_bona_fig}"
            input:
                patches=f"{BONA_OUT}/patches_{_bona_setting}.npz",
                clusters=f"{BONA_OUT}/clusters_{_bona_setting}.npz",
                manifest=manifest_of(BONA_CFG["model"]),
            output:
                figure=report(f"{BONA_OUT}/{_bona_fig}_cluster_members.png",
                              caption=paper_caption("bona", _bona_fig), category="bona"),
                table=f"{BONA_OUT}/{_bona_fig}_cluster_purity.csv",
            params:
                cfg=section("bona", "top_members", "random_sets", "settings"),
                setting=_bona_setting,
                seed=config["seed"],
            log:
                paper_log("bona", _bona_fig),
            benchmark:
                paper_bench("bona", _bona_fig)
            script:
                "../scripts/paper_step.py"

    rule bona_claims:
        """results.csv (long) and claims.csv from Table 1, Fig. 2 and Figs. 5-6."""
        input:
            table1=f"{BONA_OUT}/table1_accuracy.csv",
            fig2=f"{BONA_OUT}/fig2_blob_localisation.csv",
            fig5=f"{BONA_OUT}/fig5_cluster_purity.csv",
            fig6=f"{BONA_OUT}/fig6_cluster_purity.csv",
            patches=expand(f"{BONA_OUT}/patches_{{s}}.npz", s=BONA_SETTINGS),
            clusters=expand(f"{BONA_OUT}/clusters_{{s}}.npz", s=BONA_SETTINGS),
        output:
            results=f"{BONA_OUT}/results.csv",
            claims=report(f"{BONA_OUT}/claims.csv", caption=paper_caption("bona", "claims"),
                          category="bona"),
        params:
            cfg=section("bona", "model", "nmf_layer", "settings", "cnn_models", "nmf"),
        log:
            paper_log("bona", "claims"),
        benchmark:
            paper_bench("bona", "claims")
        script:
            "../scripts/paper_step.py"

    register_paper("bona", [
        f"{BONA_OUT}/table1_accuracy.csv",
        f"{BONA_OUT}/fig2_components_blobs_patches.png",
        f"{BONA_OUT}/fig2_blob_localisation.csv",
        f"{BONA_OUT}/fig5_cluster_members.png",
        f"{BONA_OUT}/fig5_cluster_purity.csv",
        f"{BONA_OUT}/fig6_cluster_members.png",
        f"{BONA_OUT}/fig6_cluster_purity.csv",
        f"{BONA_OUT}/results.csv",
        f"{BONA_OUT}/claims.csv",
    ])

    rule bona:
        """Every BONA artefact, results.csv and claims.csv."""
        input:
            paper_targets("bona"),
