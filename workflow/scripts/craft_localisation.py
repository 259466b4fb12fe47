"""Rule craft_localisation: concept attribution maps scored against ground-truth part masks."""

import numpy as np

from reference_impls.data import load_split
from reference_impls.models import load_checkpoint
from reference_impls.papers.craft import ImageSource, class_localisation
from reference_impls.workflow_io import resolve_device, rule_logging

with rule_logging(snakemake) as log:
    cfg = snakemake.params.cfg
    with np.load(snakemake.input.concepts) as k:
        concepts = dict(k)
    device = resolve_device(snakemake.params.device)
    model = load_checkpoint(snakemake.input.checkpoint, device=device)
    dataset = load_split(snakemake.input.manifest, cfg["eval_split"])
    table = class_localisation(
        model,
        ImageSource(dataset),
        dataset.ground_truth["part_masks"],
        dataset.targets,
        concepts,
        cfg["layer"],
        cfg.get("cam_layer") or cfg["layer"],
        per_class=cfg["localisation_images"],
    )
    table.to_csv(snakemake.output[0], index=False)
    log.info(
        "mean mass share in best region %.3f vs its area share %.3f",
        table["mass_share"].mean(),
        table["area_share"].mean(),
    )
