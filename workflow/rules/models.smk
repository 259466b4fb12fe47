rule train_model:
    """Train a model of the zoo on its dataset: checkpoint, per-epoch curve, test metrics."""
    input:
        manifest=lambda wc: f"{RESULTS}/data/{model_dataset(wc.model)}/manifest.json",
    output:
        checkpoint=f"{RESULTS}/models/{{model}}/checkpoint.pt",
        curve=f"{RESULTS}/models/{{model}}/training_curve.csv",
        metrics=f"{RESULTS}/models/{{model}}/metrics.json",
    params:
        spec=lambda wc: config["models"][wc.model],
        seed=lambda wc: config["seed"],
        device=config.get("device", "auto"),
    threads: workflow.cores
    log:
        f"{LOGS}/models/{{model}}.log",
    benchmark:
        f"{BENCH}/models/{{model}}.tsv"
    resources:
        mem_mb=8000,
        runtime=120,
    script:
        "../scripts/train_model.py"


rule plot_training_curve:
    input:
        curve=f"{RESULTS}/models/{{model}}/training_curve.csv",
    output:
        report(f"{RESULTS}/models/{{model}}/training_curve.png",
               caption="../report/training_curve.rst", category="Models"),
    log:
        f"{LOGS}/models/{{model}}_curve.log",
    script:
        "../scripts/plot_training_curve.py"
