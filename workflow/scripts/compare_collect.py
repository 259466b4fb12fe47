"""Rule compare_collect: the long metrics table, the summary with each metric's separation
from the control, the metric agreement (Kendall tau) and three figures."""

from pathlib import Path

from reference_impls.compare import (
    collect_metrics,
    config_hash,
    load_fit,
    load_folds,
    metric_agreement,
    package_versions,
    plot_metric_heatmap,
    plot_metric_seeds,
    plot_pareto,
    separation_table,
    stability_pairs,
    summary_markdown,
)
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    p, out = snakemake.params, snakemake.output
    context = {
        "dataset": p.dataset,
        "model": p.cfg["model"],
        "layer": p.cfg["layer"],
        "config_hash": config_hash(p.cfg),
        **package_versions(),
    }
    fits = [load_fit(f) for f in snakemake.input if not f.endswith("folds.npz")]
    folds = {}
    for f in snakemake.input:
        if f.endswith("folds.npz"):
            item = load_folds(f)
            folds[item["meta"]["method"]] = item["banks"]
    rank = p.cfg["n_components"]
    long = collect_metrics(fits, rank, context, folds)
    long.to_csv(out.metrics, index=False, float_format="%.6g")
    pairs = stability_pairs(fits, rank, folds)
    pairs.to_csv(out.pairs, index=False, float_format="%.6g")
    separation = separation_table(long, pairs, control=p.control)
    separation.to_csv(out.separation, index=False, float_format="%.6g")
    metric_agreement(long).to_csv(out.agreement, float_format="%.3f")
    flagged = separation[separation["verdict"] != "separates"]["metric"].tolist()
    log.info("metrics that do not separate from %s: %s", p.control, flagged)
    Path(out.summary).write_text(
        f"# Concept extractors on the shared metrics ({p.cfg['model']} / {p.cfg['layer']}, "
        f"r = {rank}, seeds {p.cfg['seeds']})\n\n"
        "Mean over seeds; best value per metric in bold; arrows give the better direction. "
        f"The last two columns: best real method minus the control `{p.control}` in the "
        "better direction, mean [min, max] over paired seeds (per-fit metrics) or paired fit "
        "pairs (across-fit metrics); a metric separates when the whole interval is above 0, "
        "and is flagged otherwise.\n\n" + summary_markdown(long, separation)
    )
    plot_metric_heatmap(long, out.heatmap)
    plot_metric_seeds(long, out.seeds)
    plot_pareto(long, out.pareto)
