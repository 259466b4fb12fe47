"""Rule craft_intruder: Table 1 (intruder, binary choice) replayed by a ground-truth oracle."""

import numpy as np

from reference_impls.papers.craft import table1_proxy
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    with np.load(snakemake.input.crops) as c, np.load(snakemake.input.concepts) as k:
        crops, concepts = dict(c), dict(k)
    table = table1_proxy(
        concepts,
        crops,
        n_trials=snakemake.params.cfg["intruder_trials"],
        seed=snakemake.params.seed,
    )
    table.to_csv(snakemake.output[0], index=False)
    log.info("\n%s", table.to_string())
