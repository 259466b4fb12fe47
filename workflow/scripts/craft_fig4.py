"""Rule craft_fig4: concepts per class ordered by total Sobol index, with their top crops."""

import numpy as np
import pandas as pd

from reference_impls.data import load_split, read_manifest
from reference_impls.papers.craft import ImageSource
from reference_impls.papers.craft.figures import plot_concepts_by_importance
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    with np.load(snakemake.input.crops) as c, np.load(snakemake.input.concepts) as k:
        crops, concepts = dict(c), dict(k)
    names = read_manifest(snakemake.input.manifest)["classes"]["train"]
    source = ImageSource(load_split(snakemake.input.manifest, snakemake.params.cfg["fit_split"]))
    plot_concepts_by_importance(
        crops, concepts, pd.read_csv(snakemake.input.importance), source, names, snakemake.output[0]
    )
