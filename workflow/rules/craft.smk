# CRAFT (Fel et al., CVPR 2023): concepts from random crops (NMF), recursive sub-concepts,
# total-Sobol importance, concept attribution maps. Everything lands in results/<profile>/craft/.
# Crops are the only new forward passes (one rule, saved once); importance and fidelity read
# the activation cache of the evaluation split. Logic lives in reference_impls.papers.craft.

CRAFT = f"{RESULTS}/craft"
CRAFT_CFG = paper_config("craft")
# The default profile pins one thread per job, so float reductions (and the CSVs) are
# bit-identical whatever --cores is; independent jobs run side by side instead.
EMBEDDED = config["profile"] == "default"
CRAFT_THREADS = 1 if EMBEDDED else workflow.cores
CRAFT_MEM = 4000 if EMBEDDED else 32000
CRAFT_RUNTIME = 30 if EMBEDDED else 600


def _check_craft(cfg):
    """Cross-references of the craft section, with messages naming the key."""
    if cfg is None:
        return
    model, split = cfg["model"], cfg["eval_split"]
    if model not in config["models"]:
        raise ValueError(f"config craft.model: '{model}' is not a key of models "
                         f"({sorted(config['models'])})")
    if not any(e["model"] == model and cfg["layer"] in e["layers"] and split in e["splits"]
               and not e.get("pooled", False) for e in config["activations"]):
        raise ValueError(f"config craft.layer: no activations entry caches spatial "
                         f"'{cfg['layer']}' of '{model}' on split '{split}'; add it to "
                         f"activations (CRAFT reads the cached maps)")
    if cfg["layer"] == cfg["sub_layer"]:
        raise ValueError("config craft.sub_layer must be an earlier layer than craft.layer")


_check_craft(CRAFT_CFG)


def craft_dataset():
    return model_dataset(CRAFT_CFG["model"])


def craft_has_parts():
    """Ground-truth part masks exist (procedural data): intruder proxy and localisation."""
    return config["datasets"][craft_dataset()]["kind"] == "procedural"


def craft_cache(layer_key="layer"):
    return (f"{RESULTS}/activations/{craft_dataset()}/{CRAFT_CFG['eval_split']}/"
            f"{CRAFT_CFG['model']}/{CRAFT_CFG[layer_key]}.npz")


def craft_banks():
    return ["nmf", *CRAFT_CFG["baselines"]]


def craft_targets():
    if CRAFT_CFG is None:
        return []
    targets = [f"{CRAFT}/{name}" for name in (
        "fig4_concepts.png", "importance_nmf.csv", "fig6_fidelity.png",
        "figF_fidelity_baselines.png", "fidelity_auc.csv", "fig5_attribution_maps.png",
        "implicit_gradients.csv", "results.csv", "claims.csv")]
    if craft_has_parts():
        targets += [f"{CRAFT}/table1_intruder_proxy.csv", f"{CRAFT}/localisation.csv"]
    return targets


if CRAFT_CFG is not None:

    rule craft_crops:
        """Random crops per class, resized to the input; pooled activations at layer and
        sub_layer, thumbnails, ground-truth content (the only new forward passes)."""
        input:
            manifest=f"{RESULTS}/data/{craft_dataset()}/manifest.json",
            checkpoint=f"{RESULTS}/models/{CRAFT_CFG['model']}/checkpoint.pt",
        output:
            f"{CRAFT}/crops.npz",
        params:
            cfg=CRAFT_CFG,
            seed=config["seed"],
            device=config.get("device", "auto"),
        threads: CRAFT_THREADS
        log:
            f"{LOGS}/craft/crops.log",
        benchmark:
            f"{BENCH}/craft/crops.tsv"
        resources:
            mem_mb=CRAFT_MEM,
            runtime=CRAFT_RUNTIME,
            gpu=0 if EMBEDDED else 1,
        script:
            "../scripts/craft_crops.py"

    rule craft_concepts:
        """One NMF concept bank per class (Eq. 1) and sub-concepts at sub_layer (Sec. 3.2)."""
        input:
            crops=f"{CRAFT}/crops.npz",
        output:
            f"{CRAFT}/concepts.npz",
        params:
            cfg=CRAFT_CFG,
            seed=config["seed"],
        threads: CRAFT_THREADS
        log:
            f"{LOGS}/craft/concepts.log",
        benchmark:
            f"{BENCH}/craft/concepts.tsv"
        resources:
            mem_mb=CRAFT_MEM,
            runtime=CRAFT_RUNTIME,
            gpu=0 if EMBEDDED else 1,
        script:
            "../scripts/craft_concepts.py"

    rule craft_fidelity:
        """Sobol / TCAV / gradient x input / random rankings and concept deletion and
        insertion curves (Fig. 6) for one concept bank: nmf (CRAFT) or a baseline (App. F)."""
        input:
            bank=lambda wc: f"{CRAFT}/concepts.npz" if wc.craft_bank == "nmf"
            else f"{CRAFT}/crops.npz",
            activations=craft_cache(),
            checkpoint=f"{RESULTS}/models/{CRAFT_CFG['model']}/checkpoint.pt",
        output:
            importance=f"{CRAFT}/importance_{{craft_bank}}.csv",
            curves=f"{CRAFT}/curves_{{craft_bank}}.csv",
        wildcard_constraints:
            craft_bank="|".join(craft_banks()),
        params:
            cfg=CRAFT_CFG,
            seed=config["seed"],
            device=config.get("device", "auto"),
        threads: CRAFT_THREADS
        log:
            f"{LOGS}/craft/fidelity_{{craft_bank}}.log",
        benchmark:
            f"{BENCH}/craft/fidelity_{{craft_bank}}.tsv"
        resources:
            mem_mb=CRAFT_MEM,
            runtime=CRAFT_RUNTIME,
            gpu=0 if EMBEDDED else 1,
        script:
            "../scripts/craft_fidelity.py"

    rule craft_fidelity_figures:
        """Fig. 6 (NMF) and appendix F (baselines) curves, and their AUC table."""
        input:
            curves=expand(f"{CRAFT}/curves_{{bank}}.csv", bank=craft_banks()),
        output:
            fig6=report(f"{CRAFT}/fig6_fidelity.png", caption=paper_caption("craft", "fig6"),
                        category="CRAFT"),
            figF=report(f"{CRAFT}/figF_fidelity_baselines.png",
                        caption=paper_caption("craft", "appf"), category="CRAFT"),
            auc=report(f"{CRAFT}/fidelity_auc.csv", caption=paper_caption("craft", "fig6"),
                       category="CRAFT"),
        log:
            f"{LOGS}/craft/fidelity_figures.log",
        benchmark:
            f"{BENCH}/craft/fidelity_figures.tsv"
        script:
            "../scripts/craft_fidelity_figures.py"

    rule craft_fig4:
        """Fig. 4: per class, concepts ordered by total Sobol index with their top crops."""
        input:
            crops=f"{CRAFT}/crops.npz",
            concepts=f"{CRAFT}/concepts.npz",
            importance=f"{CRAFT}/importance_nmf.csv",
            manifest=f"{RESULTS}/data/{craft_dataset()}/manifest.json",
        output:
            report(f"{CRAFT}/fig4_concepts.png", caption=paper_caption("craft", "fig4"),
                   category="CRAFT"),
        params:
            cfg=CRAFT_CFG,
        log:
            f"{LOGS}/craft/fig4.log",
        benchmark:
            f"{BENCH}/craft/fig4.tsv"
        script:
            "../scripts/craft_fig4.py"

    rule craft_attribution:
        """Fig. 5: concept attribution maps (implicit NNLS gradients + Grad-CAM) of the most
        confident mistakes next to Grad-CAM; implicit gradients vs finite differences."""
        input:
            crops=f"{CRAFT}/crops.npz",
            concepts=f"{CRAFT}/concepts.npz",
            activations=craft_cache(),
            checkpoint=f"{RESULTS}/models/{CRAFT_CFG['model']}/checkpoint.pt",
            manifest=f"{RESULTS}/data/{craft_dataset()}/manifest.json",
        output:
            fig5=report(f"{CRAFT}/fig5_attribution_maps.png",
                        caption=paper_caption("craft", "fig5"), category="CRAFT"),
            gradients=report(f"{CRAFT}/implicit_gradients.csv",
                             caption=paper_caption("craft", "sec3.4"), category="CRAFT"),
        params:
            cfg=CRAFT_CFG,
            seed=config["seed"],
            device=config.get("device", "auto"),
        threads: CRAFT_THREADS
        log:
            f"{LOGS}/craft/attribution.log",
        benchmark:
            f"{BENCH}/craft/attribution.tsv"
        resources:
            mem_mb=CRAFT_MEM,
            runtime=CRAFT_RUNTIME,
            gpu=0 if EMBEDDED else 1,
        script:
            "../scripts/craft_attribution.py"

    rule craft_localisation:
        """Share of each concept attribution map's mass in its best-matching part mask."""
        input:
            concepts=f"{CRAFT}/concepts.npz",
            checkpoint=f"{RESULTS}/models/{CRAFT_CFG['model']}/checkpoint.pt",
            manifest=f"{RESULTS}/data/{craft_dataset()}/manifest.json",
        output:
            report(f"{CRAFT}/localisation.csv", caption=paper_caption("craft", "localisation"),
                   category="CRAFT"),
        params:
            cfg=CRAFT_CFG,
            device=config.get("device", "auto"),
        threads: CRAFT_THREADS
        log:
            f"{LOGS}/craft/localisation.log",
        benchmark:
            f"{BENCH}/craft/localisation.tsv"
        resources:
            mem_mb=CRAFT_MEM,
            runtime=CRAFT_RUNTIME,
            gpu=0 if EMBEDDED else 1,
        script:
            "../scripts/craft_localisation.py"

    rule craft_intruder:
        """Table 1 proxy: intruder and binary-choice tasks replayed by a ground-truth oracle."""
        input:
            crops=f"{CRAFT}/crops.npz",
            concepts=f"{CRAFT}/concepts.npz",
        output:
            report(f"{CRAFT}/table1_intruder_proxy.csv", caption=paper_caption("craft", "table1"),
                   category="CRAFT"),
        params:
            cfg=CRAFT_CFG,
            seed=config["seed"],
        log:
            f"{LOGS}/craft/intruder.log",
        benchmark:
            f"{BENCH}/craft/intruder.tsv"
        script:
            "../scripts/craft_intruder.py"

    rule craft_claims:
        """The long results table and the claims ledger of the CRAFT paper."""
        input:
            auc=f"{CRAFT}/fidelity_auc.csv",
            curves=expand(f"{CRAFT}/curves_{{bank}}.csv", bank=craft_banks()),
            importance=expand(f"{CRAFT}/importance_{{bank}}.csv", bank=craft_banks()),
            gradients=f"{CRAFT}/implicit_gradients.csv",
            table1=[f"{CRAFT}/table1_intruder_proxy.csv"] if craft_has_parts() else [],
            localisation=[f"{CRAFT}/localisation.csv"] if craft_has_parts() else [],
        output:
            results=f"{CRAFT}/results.csv",
            claims=report(f"{CRAFT}/claims.csv", caption=paper_caption("craft", "claims"),
                          category="CRAFT"),
        params:
            cfg=CRAFT_CFG,
            dataset=craft_dataset(),
            seed=config["seed"],
        log:
            f"{LOGS}/craft/claims.log",
        benchmark:
            f"{BENCH}/craft/claims.tsv"
        script:
            "../scripts/craft_claims.py"


if CRAFT_CFG is not None:
    register_paper("craft", craft_targets())
