"""Rule compare_collect: the long metrics table, the markdown summary and two figures."""

from pathlib import Path

from reference_impls.compare import (
    collect_metrics,
    config_hash,
    load_fit,
    package_versions,
    plot_metric_heatmap,
    plot_metric_seeds,
    summary_markdown,
)
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    context = {
        "dataset": p.dataset,
        "model": p.cfg["model"],
        "layer": p.cfg["layer"],
        "config_hash": config_hash(p.cfg),
        **package_versions(),
    }
    long = collect_metrics([load_fit(f) for f in snakemake.input], p.cfg["n_components"], context)
    long.to_csv(snakemake.output.metrics, index=False, float_format="%.6g")
    Path(snakemake.output.summary).write_text(
        f"# Concept extractors on the shared metrics ({p.cfg['model']} / {p.cfg['layer']}, "
        f"r = {p.cfg['n_components']}, seeds {p.cfg['seeds']})\n\n"
        "Mean over seeds; best value per metric in bold; arrows give the better direction.\n\n"
        + summary_markdown(long)
    )
    plot_metric_heatmap(long, snakemake.output.heatmap)
    plot_metric_seeds(long, snakemake.output.seeds)
