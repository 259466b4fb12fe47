"""Rule craft_fidelity: concept rankings and deletion / insertion curves for one bank."""

import numpy as np

from reference_impls.models import load_activations, load_checkpoint
from reference_impls.papers.craft import extractor_banks, importance_and_fidelity, nmf_banks
from reference_impls.workflow_io import resolve_device, rule_logging

with rule_logging(snakemake) as log:
    cfg, bank_name = snakemake.params.cfg, snakemake.wildcards.craft_bank
    with np.load(snakemake.input.bank) as data:
        arrays = dict(data)
    if bank_name == "nmf":
        banks = nmf_banks(arrays)
    else:
        banks = extractor_banks(
            arrays[f"acts/{cfg['layer']}"],
            arrays["label"],
            cfg["baselines"][bank_name],
            cfg["n_concepts"],
            seed=snakemake.params.seed,
            tag="craft",
        )
    device = resolve_device(snakemake.params.device)
    model = load_checkpoint(snakemake.input.checkpoint, device=device)
    cache = load_activations(snakemake.input.activations)
    importance, curves = importance_and_fidelity(
        banks,
        cache["activations"],
        cache["labels"],
        model,
        cfg["layer"],
        sobol_design=cfg["sobol_design"],
        tcav_variant=cfg["tcav_variant"],
        seed=snakemake.params.seed,
        bank_name=bank_name,
    )
    importance.to_csv(snakemake.output.importance, index=False)
    curves.to_csv(snakemake.output.curves, index=False)
    log.info("%s: %d classes, %d curve points", bank_name, len(banks), len(curves))
