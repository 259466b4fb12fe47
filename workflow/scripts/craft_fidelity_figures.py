"""Rule craft_fidelity_figures: Fig. 6 and appendix F curves, and their AUC table."""

import pandas as pd

from reference_impls.papers.craft import fidelity_auc
from reference_impls.papers.craft.figures import plot_fidelity
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    curves = pd.concat([pd.read_csv(p) for p in snakemake.input.curves], ignore_index=True)
    auc = fidelity_auc(curves)
    auc.to_csv(snakemake.output.auc, index=False)
    plot_fidelity(
        curves,
        auc,
        ["nmf"],
        snakemake.output.fig6,
        "CRAFT Fig. 6 analogue: concept deletion and insertion, NMF concepts",
    )
    baselines = [b for b in curves["bank"].unique() if b != "nmf"]
    plot_fidelity(
        curves,
        auc,
        baselines,
        snakemake.output.figF,
        "CRAFT appendix F analogue: the same rankings on "
        + ", ".join(b.upper() for b in baselines)
        + " concept banks",
    )
