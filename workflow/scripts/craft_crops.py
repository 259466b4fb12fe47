"""Rule craft_crops: random crops per class and their pooled activations, computed once."""

import numpy as np

from reference_impls.data import load_split
from reference_impls.models import load_checkpoint
from reference_impls.papers.craft import extract_class_crops
from reference_impls.workflow_io import resolve_device, rule_logging

with rule_logging(snakemake) as log:
    cfg = snakemake.params.cfg
    device = resolve_device(snakemake.params.device)
    model = load_checkpoint(snakemake.input.checkpoint, device=device)
    dataset = load_split(snakemake.input.manifest, cfg["fit_split"])
    crops = extract_class_crops(
        model,
        dataset,
        [cfg["sub_layer"], cfg["layer"]],
        images_per_class=cfg["images_per_class"],
        crops_per_image=cfg["crops_per_image"],
        crop_fraction=cfg["crop_fraction"],
        seed=snakemake.params.seed,
        device=device,
    )
    np.savez(snakemake.output[0], **crops)
    log.info(
        "%d crops of %d px from %s/%s; activations %s",
        len(crops["label"]),
        int(crops["crop_size"]),
        dataset.name,
        cfg["fit_split"],
        {k: v.shape for k, v in crops.items() if k.startswith("acts/")},
    )
