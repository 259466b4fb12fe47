# Helpers shared by every rules file: config validation, result paths, target lists, and the
# paper registry (register_paper) read by the all target, the claims ledger, the reproduction
# index and the regression check. Functions live here only (snakemake --lint: rules files
# hold rules, helpers are collected in common.smk).
from pathlib import Path

import yaml
from snakemake.utils import validate

from reference_impls.utils import deep_update

ROOT = Path(workflow.basedir)
SCHEMAS = ROOT / "workflow" / "schemas"


def _load_paper_sections(cfg):
    """Per-paper sections: workflow/config/<profile>/<id>.yaml is the base of config[<id>];
    keys given on the command line or by --configfile override it key by key."""
    folder = ROOT / "workflow" / "config" / cfg["profile"]
    for path in sorted(folder.glob("*.yaml")):
        if not (SCHEMAS / f"{path.stem}.schema.yaml").is_file():
            raise ValueError(f"{path}: no paper '{path.stem}' (no workflow/schemas/"
                             f"{path.stem}.schema.yaml); rename the file to a paper id")
        base = yaml.safe_load(path.read_text()) or {}
        cfg[path.stem] = deep_update(base, cfg.get(path.stem) or {})


def _split_paper_sections(cfg):
    """Validate the foundation keys with schema.yaml; paper sections are validated by their
    own rules file against workflow/schemas/<id>.schema.yaml (paper_config)."""
    papers = {k: cfg.pop(k) for k in list(cfg) if (SCHEMAS / f"{k}.schema.yaml").is_file()}
    validate(cfg, "../config/schema.yaml")
    cfg.update(papers)


config.setdefault("profile", "default")
_load_paper_sections(config)
_split_paper_sections(config)

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


def manifest_of(model):
    return f"{RESULTS}/data/{model_dataset(model)}/manifest.json"


def checkpoint_of(model):
    return f"{RESULTS}/models/{model}/checkpoint.pt"


def check_cached(paper_id, model, layer, split, spatial=True):
    """A paper reads the cache of ``layer`` of ``model`` on ``split``: clear errors naming the
    paper's config keys when the foundation config does not provide it."""
    if model not in config["models"]:
        raise ValueError(f"config {paper_id}.model: '{model}' is not a key of models "
                         f"({sorted(config['models'])})")
    if not any(e["model"] == model and layer in e["layers"] and split in e["splits"]
               and not (spatial and e["pooled"]) for e in config["activations"]):
        kind = "spatial " if spatial else ""
        raise ValueError(f"config {paper_id}.layer: no activations entry caches {kind}"
                         f"'{layer}' of '{model}' on split '{split}'; add it to activations")


def cache_of(model, split, layer):
    """The activation cache file; a clear error when the config does not cache it."""
    entry = activation_entry(model, layer)
    if split not in entry["splits"]:
        raise ValueError(f"no activations entry in the config caches split '{split}' of "
                         f"'{model}' layer '{layer}'; add it to activations[].splits")
    return f"{RESULTS}/activations/{model_dataset(model)}/{split}/{model}/{layer}.npz"


# ---------------------------------------------------------------- the paper registry
PAPERS = {}


def paper_config(paper_id):
    """config[<id>] validated (defaults filled) by workflow/schemas/<id>.schema.yaml, or
    None when this profile has no section for the paper (then the paper adds no rule)."""
    section = config.get(paper_id)
    if section is None:
        return None
    schema = SCHEMAS / f"{paper_id}.schema.yaml"
    if "$schema" not in (yaml.safe_load(schema.read_text()) or {}):
        raise ValueError(f"{schema}: add `$schema: \"https://json-schema.org/draft/2020-12/"
                         f"schema\"` (the validator needs to know the JSON-schema draft)")
    validate(section, str(schema))
    return section


def paper_dir(paper_id):
    return f"{RESULTS}/{paper_id}"


def paper_log(paper_id, step):
    return f"{LOGS}/{paper_id}/{step}.log"


def paper_bench(paper_id, step):
    return f"{BENCH}/{paper_id}/{step}.tsv"


def paper_caption(paper_id, artefact):
    return f"../report/{paper_id}/{artefact}.rst"


def paper_report(paper_id, name, slug):
    """``results/<profile>/<id>/<name>`` in the report, captioned by report/<id>/<slug>.rst."""
    return report(f"{paper_dir(paper_id)}/{name}", caption=paper_caption(paper_id, slug),
                  category=paper_id)


def section(paper_id, *keys):
    """Only the keys a step reads: params are a rerun trigger, so a rule's params hold the
    slice it uses, never the whole section."""
    cfg = config[paper_id]
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise KeyError(f"config {paper_id}: no key(s) {missing} (schema defaults fill "
                       f"optional keys; add them to workflow/schemas/{paper_id}.schema.yaml)")
    return {k: cfg[k] for k in keys}


def register_paper(paper_id, targets):
    """A paper's final targets; its claims.csv and results.csv must be among them."""
    out = paper_dir(paper_id)
    for name in ("claims.csv", "results.csv"):
        if f"{out}/{name}" not in targets:
            raise ValueError(f"register_paper('{paper_id}'): targets must include "
                             f"{out}/{name}")
    PAPERS[paper_id] = list(targets)


def paper_targets(paper_id):
    return PAPERS.get(paper_id, [])


def all_paper_targets():
    return [t for targets in PAPERS.values() for t in targets]


def registered_files(name):
    """``results/<profile>/<id>/<name>`` of every registered paper (claims.csv, results.csv)."""
    return [f"{paper_dir(p)}/{name}" for p in PAPERS]


def ledger_targets():
    return [f"{RESULTS}/claims.csv", f"{RESULTS}/claims.md", f"{RESULTS}/reproduction_index.md"]
