"""Rule dataset_samples: a grid of sample images, with part masks when the dataset has them."""

from reference_impls.data import load_split
from reference_impls.figures.foundation import plot_dataset_samples
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    plot_dataset_samples(
        load_split(snakemake.input.manifest, "train"),
        snakemake.output[0],
        title=snakemake.wildcards.dataset,
    )
