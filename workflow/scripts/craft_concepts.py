"""Rule craft_concepts: one NMF concept bank per class and recursive sub-concepts."""

import numpy as np

from reference_impls.papers.craft import fit_class_concepts
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    cfg = snakemake.params.cfg
    with np.load(snakemake.input.crops) as data:
        crops = dict(data)
    concepts = fit_class_concepts(
        crops,
        cfg["layer"],
        cfg["sub_layer"],
        n_concepts=cfg["n_concepts"],
        n_subconcepts=cfg["n_subconcepts"],
        percentile=cfg["percentile"],
        solver=cfg["solver"],
        max_iter=cfg["max_iter"],
        seed=snakemake.params.seed,
    )
    np.savez(snakemake.output[0], **concepts)
    log.info(
        "banks %s, relative reconstruction error per class %s; %d sub-concept rows",
        concepts["bank"].shape,
        np.round(concepts["relative_error"], 4),
        len(concepts["sub_crop"]),
    )
