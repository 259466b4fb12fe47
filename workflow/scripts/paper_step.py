"""The script of every paper rule: rule <id>_<step> runs reference_impls.papers.<id>.steps.<step>.

Steps are plain functions ``step(inp, out, params, log)``, so tests call the same glue that
Snakemake runs."""

from reference_impls.papers import step_function
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    step_function(snakemake.rule)(snakemake.input, snakemake.output, snakemake.params, log)
