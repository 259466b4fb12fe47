"""Rule train_model: train one model of the zoo; checkpoint, curve CSV, metrics JSON."""

import json

from reference_impls.data import load_split, read_manifest
from reference_impls.models import build_model, save_checkpoint, train_model
from reference_impls.utils import derive_seed, seed_everything
from reference_impls.workflow_io import resolve_device, rule_logging

with rule_logging(snakemake) as log:
    spec, model_name = snakemake.params.spec, snakemake.wildcards.model
    manifest = read_manifest(snakemake.input.manifest)
    train, test = (load_split(snakemake.input.manifest, s) for s in ("train", "test"))
    options = dict(spec.get("options", {}))
    if spec["arch"] != "mlp":
        options["in_channels"] = manifest["image_shape"][0]
    seed = derive_seed(snakemake.params.seed, "train", model_name)
    seed_everything(seed)  # before building: the initial weights come from this seed
    model = build_model(
        spec["arch"], manifest["n_classes"], weights_path=spec.get("weights"), **options
    )
    device = resolve_device(snakemake.params.device)
    log.info(
        "training %s (%s) on %s, seed %d, device %s",
        model_name,
        spec["arch"],
        manifest["name"],
        seed,
        device,
    )
    history, metrics = train_model(
        model,
        train,
        test,
        epochs=spec["epochs"],
        batch_size=spec.get("batch_size", 128),
        lr=spec.get("lr", 3e-3),
        seed=seed,
        device=device,
    )
    save_checkpoint(
        snakemake.output.checkpoint,
        model.cpu(),
        spec["arch"],
        manifest["n_classes"],
        options,
        dict(spec),
    )
    history.to_csv(snakemake.output.curve, index=False)
    metrics.update(model=model_name, arch=spec["arch"], dataset=manifest["name"], seed=seed)
    with open(snakemake.output.metrics, "w") as fh:
        json.dump(metrics, fh, indent=1)
    log.info("test accuracy %.4f", metrics["test_accuracy"])
