# Helpers shared by every rule file: config validation, result paths, target lists.
from snakemake.utils import validate

validate(config, "../config/schema.yaml")

RESULTS = f"results/{config['profile']}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


def _check_references(cfg):
    """Cross-references the schema cannot express, with messages naming the key."""
    from reference_impls.data import dataset_kinds
    from reference_impls.models import available_architectures

    for name, ds in cfg["datasets"].items():
        if ds["kind"] not in dataset_kinds():
            raise ValueError(f"config datasets.{name}.kind: unknown kind '{ds['kind']}'; "
                             f"known: {dataset_kinds()}")
    for name, m in cfg["models"].items():
        if m["dataset"] not in cfg["datasets"]:
            raise ValueError(f"config models.{name}.dataset: '{m['dataset']}' is not a key of "
                             f"datasets ({sorted(cfg['datasets'])})")
        if m["arch"] not in available_architectures():
            raise ValueError(f"config models.{name}.arch: unknown '{m['arch']}'; "
                             f"known: {available_architectures()}")
    for i, entry in enumerate(cfg["activations"]):
        if entry["model"] not in cfg["models"]:
            raise ValueError(f"config activations[{i}].model: '{entry['model']}' is not a key "
                             f"of models ({sorted(cfg['models'])})")


_check_references(config)


def model_dataset(model):
    return config["models"][model]["dataset"]


def activation_files(entry):
    model = entry["model"]
    return expand(f"{RESULTS}/activations/{model_dataset(model)}/{{split}}/{model}/{{layer}}.npz",
                  split=entry["splits"], layer=entry["layers"])


def activation_entry(model, layer):
    for entry in config["activations"]:
        if entry["model"] == model and layer in entry["layers"]:
            return entry
    raise ValueError(f"no activations entry in the config caches layer '{layer}' of '{model}'")


def foundation_targets():
    targets = expand(f"{RESULTS}/data/{{ds}}/manifest.json", ds=config["datasets"])
    targets += expand(f"{RESULTS}/data/{{ds}}/samples.png", ds=config["datasets"])
    targets += expand(f"{RESULTS}/models/{{m}}/metrics.json", m=config["models"])
    targets += expand(f"{RESULTS}/models/{{m}}/training_curve.png", m=config["models"])
    for entry in config["activations"]:
        targets += activation_files(entry)
    return targets
