"""Rule plot_training_curve: loss and accuracy per epoch."""

import pandas as pd

from reference_impls.figures.foundation import plot_training_curve
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    plot_training_curve(
        pd.read_csv(snakemake.input.curve), snakemake.output[0], title=snakemake.wildcards.model
    )
