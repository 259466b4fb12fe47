rule prepare_dataset:
    """Generate (procedural) or verify (bundled, real) a dataset and write its manifest."""
    output:
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
    params:
        spec=lambda wc: config["datasets"][wc.dataset],
        seed=config["seed"],
    log:
        f"{LOGS}/data/{{dataset}}.log",
    benchmark:
        f"{BENCH}/data/{{dataset}}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/prepare_dataset.py"


rule dataset_samples:
    """A grid of sample images (with part masks where the dataset has them)."""
    input:
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
    output:
        report(f"{RESULTS}/data/{{dataset}}/samples.png",
               caption="../report/dataset_samples.rst", category="Data"),
    log:
        f"{LOGS}/data/{{dataset}}_samples.log",
    script:
        "../scripts/plot_dataset_samples.py"
