rule cache_activations:
    """Forward hooks on one named layer: activations, logits, labels, checksummed (float32)."""
    input:
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
        checkpoint=f"{RESULTS}/models/{{model}}/checkpoint.pt",
    output:
        f"{RESULTS}/activations/{{dataset}}/{{split}}/{{model}}/{{layer}}.npz",
    params:
        pooled=lambda wc: activation_entry(wc.model, wc.layer).get("pooled", False),
        device=config.get("device", "auto"),
    threads: workflow.cores
    log:
        f"{LOGS}/activations/{{dataset}}_{{split}}_{{model}}_{{layer}}.log",
    benchmark:
        f"{BENCH}/activations/{{dataset}}_{{split}}_{{model}}_{{layer}}.tsv"
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/cache_activations.py"
