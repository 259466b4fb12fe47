"""Rule reproduction_index: paper x artefact x status x claims holding (csv and markdown)."""

from pathlib import Path

import pandas as pd

from reference_impls.papers import reproduction_index, reproduction_index_markdown
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    index = reproduction_index(snakemake.params.papers, pd.read_csv(snakemake.input.claims))
    index.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(reproduction_index_markdown(index))
