"""Rule craft_attribution: Fig. 5 (concept attribution maps of mistakes) and the implicit
gradient check."""

import numpy as np

from reference_impls.data import load_split, read_manifest
from reference_impls.models import load_activations, load_checkpoint
from reference_impls.papers.craft import ImageSource, explain_mistakes, gradient_check_table
from reference_impls.papers.craft.figures import plot_attribution_maps
from reference_impls.workflow_io import resolve_device, rule_logging

with rule_logging(snakemake) as log:
    cfg = snakemake.params.cfg
    with np.load(snakemake.input.crops) as c, np.load(snakemake.input.concepts) as k:
        crops, concepts = dict(c), dict(k)
    device = resolve_device(snakemake.params.device)
    model = load_checkpoint(snakemake.input.checkpoint, device=device)
    cache = load_activations(snakemake.input.activations)
    images = ImageSource(
        load_split(snakemake.input.manifest, cfg["eval_split"]), cache["indices"]
    )  # row i = cache row i
    crop_images = ImageSource(load_split(snakemake.input.manifest, cfg["fit_split"]))
    cam_layer = cfg.get("cam_layer") or cfg["layer"]
    out = explain_mistakes(
        model,
        images,
        cache["activations"],
        cache["logits"],
        cache["labels"],
        concepts,
        crops,
        crop_images,
        cfg["layer"],
        cam_layer,
        n_images=cfg["n_mistakes"],
        sobol_design=cfg["sobol_design"],
        seed=snakemake.params.seed,
    )
    plot_attribution_maps(
        out["images"],
        out["true"],
        out["pred"],
        out["gradcam"],
        out["cams"],
        out["concepts"],
        out["crops"],
        read_manifest(snakemake.input.manifest)["classes"]["train"],
        snakemake.output.fig5,
        importances=out["importance"],
    )
    checks = gradient_check_table(
        model,
        images,
        cache["labels"],
        concepts,
        cfg["layer"],
        per_class=cfg["gradcheck_images"],
        seed=snakemake.params.seed,
    )
    checks.to_csv(snakemake.output.gradients, index=False)
    log.info(
        "mistakes %s; implicit vs finite differences: max relative error %.3g",
        out["index"].tolist(),
        checks["rel_error"].max(),
    )
