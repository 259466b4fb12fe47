"""Rule craft_claims: CRAFT's long results table and claims ledger."""

import pandas as pd

from reference_impls.papers.craft import craft_claims, craft_results
from reference_impls.workflow_io import rule_logging


def optional(paths):
    return pd.read_csv(paths[0]) if len(paths) else None


with rule_logging(snakemake) as log:
    cfg, inp = snakemake.params.cfg, snakemake.input
    auc, gradients = pd.read_csv(inp.auc), pd.read_csv(inp.gradients)
    table1, localisation = optional(inp.table1), optional(inp.localisation)
    importance = pd.concat([pd.read_csv(p) for p in inp.importance], ignore_index=True)
    results = craft_results(
        auc,
        table1,
        localisation,
        gradients,
        importance,
        dataset=snakemake.params.dataset,
        model=cfg["model"],
        layer=cfg["layer"],
        sub_layer=cfg["sub_layer"],
        seed=snakemake.params.seed,
    )
    curves = pd.concat([pd.read_csv(p) for p in inp.curves], ignore_index=True)
    claims = craft_claims(
        auc, table1, localisation, gradients, curves=curves, importance=importance
    )
    results.to_csv(snakemake.output.results, index=False)
    claims.to_csv(snakemake.output.claims, index=False)
    log.info("\n%s", claims[["claim_id", "our_value", "holds"]].to_string())
