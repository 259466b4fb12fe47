"""Rule claims_ledger: all papers' claims in one CSV and one markdown page."""

from pathlib import Path

import pandas as pd

from reference_impls.claims import CLAIM_COLUMNS, claims_markdown
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    frames = [pd.read_csv(f) for f in snakemake.input]
    ledger = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLAIM_COLUMNS)
    ledger.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(claims_markdown(ledger))
