"""Rule regression_check: fail with a readable diff when a value drifts or a claim flips."""

from pathlib import Path

from reference_impls.regression import check
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    results_dir = Path(snakemake.input.claims).parent
    failures = check(results_dir, snakemake.params.expected, snakemake.params.tolerances)
    if failures:
        raise SystemExit("regression check failed:\n" + "\n".join(failures))
    Path(snakemake.output[0]).write_text("regression check passed\n")
