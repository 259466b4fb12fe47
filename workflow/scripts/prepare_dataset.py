"""Rule prepare_dataset: generate or verify one dataset and write its manifest."""

from pathlib import Path

from reference_impls.data import prepare_dataset
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    manifest = prepare_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.spec,
        Path(snakemake.output.manifest).parent,
        seed=snakemake.params.seed,
    )
    log.info("prepared %s: splits %s", manifest["name"], manifest["splits"])
