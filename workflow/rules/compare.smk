# Cross-method comparison on the shared metrics (results/<profile>/compare/).
# One job per method fits every seed and rank (and the data folds) after loading the
# training activations once; compare_collect scores separation from the random control.
CMP = config.get("compare")


def _compare_runs(method):
    """The fit files of one method: the main rank at every seed, the rank sweep at seed 0."""
    seed0 = min(CMP["seeds"])
    combos = [(CMP["n_components"], s) for s in CMP["seeds"]]
    combos += [(r, seed0) for r in CMP["rank_sweep"] if r != CMP["n_components"]]
    return [f"{RESULTS}/compare/runs/{method}/r{r}_s{s}.npz" for r, s in combos]


def compare_fit_files():
    if not CMP:
        return []
    files = []
    for method in CMP["methods"]:
        files += _compare_runs(method) + [f"{RESULTS}/compare/runs/{method}/folds.npz"]
    return files


def compare_targets():
    if not CMP:
        return []
    names = ("metrics.csv", "summary.md", "separation.csv", "metric_agreement.csv",
             "stability_pairs.csv", "metrics_heatmap.png", "metrics_by_seed.png", "pareto.png")
    return [f"{RESULTS}/compare/{name}" for name in names]


def _compare_activation(split):
    model, layer = CMP["model"], CMP["layer"]
    activation_entry(model, layer)  # the layer must be cached: clear error otherwise
    return f"{RESULTS}/activations/{model_dataset(model)}/{split}/{model}/{layer}.npz"


def _compare_inputs(wildcards):
    out = {
        "train": _compare_activation(CMP["fit_split"]),
        "test": _compare_activation(CMP["eval_split"]),
        "manifest": f"{RESULTS}/data/{model_dataset(CMP['model'])}/manifest.json",
        "checkpoint": f"{RESULTS}/models/{CMP['model']}/checkpoint.pt",
    }
    if CMP.get("probe_split"):
        out["probe"] = _compare_activation(CMP["probe_split"])
    return out


if CMP:

    rule compare_method:
        """Fit one method at every seed and rank of the plan and on the data folds; score the
        main-rank fits on every metric (training rows loaded once per method)."""
        input:
            unpack(_compare_inputs),
        output:
            fits=_compare_runs("{method}"),
            folds=f"{RESULTS}/compare/runs/{{method}}/folds.npz",
        params:
            method=lambda wc: CMP["methods"][wc.method],
            plan={k: CMP[k] for k in (
                "layer", "n_components", "seeds", "rank_sweep", "n_folds", "n_fit_rows",
                "n_stability_rows", "n_fidelity_per_class", "n_design", "fidelity_score",
                "eval_split", "probe_split")},
        threads: 1
        log:
            f"{LOGS}/compare/method_{{method}}.log",
        benchmark:
            f"{BENCH}/compare/method_{{method}}.tsv"
        resources:
            mem_mb=6000,
            runtime=30,
        script:
            "../scripts/compare_method.py"

    rule compare_collect:
        """Long metrics table, summary with separation from the control, metric agreement,
        heatmap, per-seed figure and the reconstruction-sparsity Pareto plot."""
        input:
            compare_fit_files(),
        output:
            metrics=f"{RESULTS}/compare/metrics.csv",
            summary=report(f"{RESULTS}/compare/summary.md",
                           caption="../report/compare_summary.rst", category="Comparison"),
            separation=f"{RESULTS}/compare/separation.csv",
            agreement=f"{RESULTS}/compare/metric_agreement.csv",
            pairs=f"{RESULTS}/compare/stability_pairs.csv",
            heatmap=report(f"{RESULTS}/compare/metrics_heatmap.png",
                           caption="../report/compare_heatmap.rst", category="Comparison"),
            seeds=report(f"{RESULTS}/compare/metrics_by_seed.png",
                         caption="../report/compare_seeds.rst", category="Comparison"),
            pareto=report(f"{RESULTS}/compare/pareto.png",
                          caption="../report/compare_pareto.rst", category="Comparison"),
        params:
            cfg={k: CMP[k] for k in ("model", "layer", "n_components", "seeds")},
            control=CMP["control"],
            dataset=model_dataset(CMP["model"]),
        log:
            f"{LOGS}/compare/collect.log",
        benchmark:
            f"{BENCH}/compare/collect.tsv"
        script:
            "../scripts/compare_collect.py"
