"""Rule cache_activations: one layer's activations on one split, written once, checksummed."""

from reference_impls.data import load_split
from reference_impls.models import extract_activations, load_checkpoint, save_activations
from reference_impls.workflow_io import resolve_device, rule_logging

with rule_logging(snakemake) as log:
    wc = snakemake.wildcards
    device = resolve_device(snakemake.params.device)
    model = load_checkpoint(snakemake.input.checkpoint, device=device)
    dataset = load_split(snakemake.input.manifest, wc.split)
    out = extract_activations(
        model, dataset, [wc.layer], pooled=snakemake.params.pooled, device=device
    )
    acts = out["layers"][wc.layer]
    save_activations(
        snakemake.output[0],
        acts,
        out["logits"],
        out["labels"],
        out["indices"],
        meta={
            "dataset": wc.dataset,
            "split": wc.split,
            "model": wc.model,
            "layer": wc.layer,
            "pooled": bool(snakemake.params.pooled),
        },
    )
    log.info("cached %s %s: %s", wc.model, wc.layer, acts.shape)
