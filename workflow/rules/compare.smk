# Cross-method comparison on the shared metrics, the claims ledger and the regression check.
CMP = config.get("compare")


def compare_fit_files():
    if not CMP:
        return []
    files = expand(f"{RESULTS}/compare/fits/{{method}}/r{CMP['n_components']}_s{{seed}}.npz",
                   method=CMP["methods"], seed=CMP["seeds"])
    files += expand(f"{RESULTS}/compare/fits/{{method}}/r{{rank}}_s{min(CMP['seeds'])}.npz",
                    method=CMP["methods"], rank=CMP.get("rank_sweep", []))
    return files


def compare_targets():
    if not CMP:
        return []
    return [f"{RESULTS}/compare/{name}" for name in
            ("metrics.csv", "summary.md", "metrics_heatmap.png", "metrics_by_seed.png")]



def _compare_activation(split):
    model, layer = CMP["model"], CMP["layer"]
    activation_entry(model, layer)  # the layer must be cached: clear error otherwise
    return f"{RESULTS}/activations/{model_dataset(model)}/{split}/{model}/{layer}.npz"


if CMP:

    rule compare_fit:
        """Fit one method at one rank and seed on cached activations; score it."""
        input:
            train=_compare_activation(CMP.get("fit_split", "train")),
            test=_compare_activation(CMP.get("eval_split", "test")),
            manifest=f"{RESULTS}/data/{model_dataset(CMP['model'])}/manifest.json",
            checkpoint=f"{RESULTS}/models/{CMP['model']}/checkpoint.pt",
        output:
            f"{RESULTS}/compare/fits/{{method}}/r{{rank}}_s{{seed}}.npz",
        wildcard_constraints:
            rank=r"\d+",
            seed=r"\d+",
        params:
            method=lambda wc: CMP["methods"][wc.method],
            main_rank=CMP["n_components"],
            eval_split=CMP.get("eval_split", "test"),
            n_fit_rows=CMP.get("n_fit_rows", 20000),
            n_stability_rows=CMP.get("n_stability_rows", 10000),
            n_fidelity_per_class=CMP.get("n_fidelity_per_class", 20),
            n_design=CMP.get("n_design", 32),
            fidelity_score=CMP.get("fidelity_score", "softmax"),
        threads: 1
        log:
            f"{LOGS}/compare/{{method}}_r{{rank}}_s{{seed}}.log",
        benchmark:
            f"{BENCH}/compare/{{method}}_r{{rank}}_s{{seed}}.tsv"
        resources:
            mem_mb=6000,
            runtime=30,
        script:
            "../scripts/compare_fit.py"

    rule compare_collect:
        """Long metrics table, markdown summary, heatmap and per-seed figure."""
        input:
            compare_fit_files(),
        output:
            metrics=f"{RESULTS}/compare/metrics.csv",
            summary=report(f"{RESULTS}/compare/summary.md",
                           caption="../report/compare_summary.rst", category="Comparison"),
            heatmap=report(f"{RESULTS}/compare/metrics_heatmap.png",
                           caption="../report/compare_heatmap.rst", category="Comparison"),
            seeds=report(f"{RESULTS}/compare/metrics_by_seed.png",
                         caption="../report/compare_seeds.rst", category="Comparison"),
        params:
            cfg=CMP,
            dataset=model_dataset(CMP["model"]),
        log:
            f"{LOGS}/compare/collect.log",
        script:
            "../scripts/compare_collect.py"

