"""One function per rule of ``workflow/rules/craft.smk``: rule ``craft_<step>`` runs
``steps.<step>(inp, out, params, log)`` (``workflow/scripts/paper_step.py``).

Each step reads its input files, calls the experiment, figure or claims functions of this
package with the config keys of ``params.cfg`` (keys equal the keyword arguments they feed)
and writes its outputs. Tests call these functions directly, so the glue Snakemake runs is
the glue the tests check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data import load_split, read_manifest
from ...data.images import ImageSource
from ...methods.banks import extractor_banks
from ...models import load_activations, load_checkpoint
from ...workflow_io import resolve_device
from . import attribution, experiments, figures
from . import claims as claims_module  # the step functions claims() and table1()
from . import table1 as table1_module  # would shadow these module names


def _arrays(path) -> dict:
    """An ``.npz`` written by a previous step (crops, concepts) as a dict of arrays."""
    with np.load(path) as data:
        return dict(data)


def _model(inp, params):
    device = resolve_device(params.device)
    return load_checkpoint(inp.checkpoint, device=device), device


def _csvs(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def crops(inp, out, params, log) -> None:
    """Random crops per class and their pooled activations at layer and sub_layer, computed
    once (the only new forward passes; Sec. 3.1)."""
    cfg = params.cfg
    model, device = _model(inp, params)
    dataset = load_split(inp.manifest, cfg["fit_split"])
    result = experiments.extract_class_crops(
        model,
        dataset,
        [cfg["sub_layer"], cfg["layer"]],
        images_per_class=cfg["images_per_class"],
        crops_per_image=cfg["crops_per_image"],
        crop_fraction=cfg["crop_fraction"],
        seed=params.seed,
        device=device,
    )
    np.savez(out[0], **result)
    log.info(
        "%d crops of %d px from %s/%s; activations %s",
        len(result["label"]),
        int(result["crop_size"]),
        dataset.name,
        cfg["fit_split"],
        {k: v.shape for k, v in result.items() if k.startswith("acts/")},
    )


def concepts(inp, out, params, log) -> None:
    """One NMF concept bank per class (Eq. 1) and sub-concepts at sub_layer (Sec. 3.2)."""
    cfg = params.cfg
    result = experiments.fit_class_concepts(
        _arrays(inp.crops),
        cfg["layer"],
        cfg["sub_layer"],
        n_concepts=cfg["n_concepts"],
        n_subconcepts=cfg["n_subconcepts"],
        percentile=cfg["percentile"],
        solver=cfg["solver"],
        max_iter=cfg["max_iter"],
        seed=params.seed,
    )
    np.savez(out[0], **result)
    log.info(
        "banks %s, relative reconstruction error per class %s; %d sub-concept rows",
        result["bank"].shape,
        np.round(result["relative_error"], 4),
        len(result["sub_crop"]),
    )


def fidelity(inp, out, params, log) -> None:
    """Rankings and deletion / insertion curves for one bank: ``params.bank`` is ``nmf``
    (CRAFT's banks, ``inp.bank`` = concepts) or a baseline fitted on the crops
    (``params.extractor``, App. F)."""
    cfg, bank_name = params.cfg, params.bank
    arrays = _arrays(inp.bank)
    if params.extractor is None:
        banks = experiments.nmf_banks(arrays)
    else:
        banks = extractor_banks(
            arrays[f"acts/{cfg['layer']}"],
            arrays["label"],
            params.extractor,
            cfg["n_concepts"],
            seed=params.seed,
            tag="craft",
        )
    model, _ = _model(inp, params)
    cache = load_activations(inp.activations)
    importance, curves = experiments.importance_and_fidelity(
        banks,
        cache["activations"],
        cache["labels"],
        model,
        cfg["layer"],
        sobol_design=cfg["sobol_design"],
        tcav_variant=cfg["tcav_variant"],
        seed=params.seed,
        bank_name=bank_name,
    )
    importance.to_csv(out.importance, index=False)
    curves.to_csv(out.curves, index=False)
    log.info("%s: %d classes, %d curve points", bank_name, len(banks), len(curves))


def fig6(inp, out, params, log) -> None:
    """Fig. 6 (NMF banks, at layer and, if configured, at the non-linear layer) and App. F
    (baseline banks) curves, and their AUC table."""
    curves = _csvs(inp.curves)
    auc = experiments.fidelity_auc(curves)
    auc.to_csv(out.auc, index=False)
    banks = list(curves["bank"].unique())
    nmf = [b for b in banks if b.startswith("nmf")]
    figures.plot_fidelity(
        curves,
        auc,
        nmf,
        out.fig6,
        "CRAFT Fig. 6 analogue: concept deletion and insertion, NMF concepts",
    )
    baselines = [b for b in banks if not b.startswith("nmf")]
    figures.plot_fidelity(
        curves,
        auc,
        baselines,
        out.figF,
        "CRAFT appendix F analogue: the same rankings on "
        + ", ".join(b.upper() for b in baselines)
        + " concept banks",
    )
    log.info("\n%s", auc.to_string())


def nonlinear(inp, out, params, log) -> None:
    """Fig. 6 where the estimator matters: per-class NMF banks at ``nonlinear_layer`` (the
    head above it is non-linear, so TCAV is no longer two-valued and gradient x input no
    longer the optimal order), rankings and curves on the first ``nonlinear_images``
    evaluation images of every class."""
    cfg = params.cfg
    layer = cfg["nonlinear_layer"]
    banks = experiments.layer_banks(
        _arrays(inp.crops),
        layer,
        n_concepts=cfg["n_concepts"],
        solver=cfg["solver"],
        max_iter=cfg["max_iter"],
        seed=params.seed,
    )
    model, _ = _model(inp, params)
    cache = load_activations(inp.activations)
    rows = experiments.first_per_class(cache["labels"], cfg["nonlinear_images"])
    importance, curves = experiments.importance_and_fidelity(
        banks,
        cache["activations"][rows],
        cache["labels"][rows],
        model,
        layer,
        sobol_design=cfg["sobol_design"],
        tcav_variant=cfg["tcav_variant"],
        seed=params.seed,
        bank_name=f"nmf_{layer}",
    )
    importance.to_csv(out.importance, index=False)
    curves.to_csv(out.curves, index=False)
    log.info("nmf_%s: %d classes x %d images", layer, len(banks), cfg["nonlinear_images"])


def fig4(inp, out, params, log) -> None:
    """Fig. 4: concepts per class ordered by total Sobol index, with their top crops."""
    names = read_manifest(inp.manifest)["classes"]["train"]
    source = ImageSource(load_split(inp.manifest, params.cfg["fit_split"]))
    figures.plot_concepts_by_importance(
        _arrays(inp.crops),
        _arrays(inp.concepts),
        pd.read_csv(inp.importance),
        source,
        names,
        out[0],
    )


def fig5(inp, out, params, log) -> None:
    """Fig. 5 (concept attribution maps of the most confident mistakes) and the Sec. 3.4
    check of their implicit gradients against finite differences."""
    cfg = params.cfg
    model, _ = _model(inp, params)
    cache = load_activations(inp.activations)
    images = ImageSource(load_split(inp.manifest, cfg["eval_split"]), cache["indices"])
    shown = attribution.explain_mistakes(
        model,
        images,
        cache["activations"],
        cache["logits"],
        cache["labels"],
        _arrays(inp.concepts),
        _arrays(inp.crops),
        ImageSource(load_split(inp.manifest, cfg["fit_split"])),
        cfg["layer"],
        cfg["cam_layer"],
        n_mistakes=cfg["n_mistakes"],
        sobol_design=cfg["sobol_design"],
        seed=params.seed,
    )
    figures.plot_attribution_maps(
        shown["images"],
        shown["true"],
        shown["pred"],
        shown["gradcam"],
        shown["cams"],
        shown["concepts"],
        shown["crops"],
        read_manifest(inp.manifest)["classes"]["train"],
        out.fig5,
        importances=shown["importance"],
    )
    checks = attribution.gradient_check_table(
        model,
        images,
        cache["labels"],
        _arrays(inp.concepts),
        cfg["layer"],
        gradcheck_images=cfg["gradcheck_images"],
        seed=params.seed,
    )
    checks.to_csv(out.gradients, index=False)
    log.info(
        "mistakes %s; implicit vs finite differences: max relative error %.3g",
        shown["index"].tolist(),
        checks["rel_error"].max(),
    )


def localisation(inp, out, params, log) -> None:
    """Concept attribution maps scored against the ground-truth part masks."""
    cfg = params.cfg
    model, _ = _model(inp, params)
    dataset = load_split(inp.manifest, cfg["eval_split"])
    table = attribution.class_localisation(
        model,
        ImageSource(dataset),
        dataset.ground_truth["part_masks"],
        dataset.targets,
        _arrays(inp.concepts),
        cfg["layer"],
        cfg["cam_layer"],
        localisation_images=cfg["localisation_images"],
    )
    table.to_csv(out[0], index=False)
    log.info(
        "mean mass share in best region %.3f vs its area share %.3f",
        table["mass_share"].mean(),
        table["area_share"].mean(),
    )


def table1(inp, out, params, log) -> None:
    """Table 1 (proxy): intruder and binary-choice tasks replayed by a ground-truth oracle."""
    table = table1_module.table1_proxy(
        _arrays(inp.concepts),
        _arrays(inp.crops),
        intruder_trials=params.cfg["intruder_trials"],
        seed=params.seed,
    )
    table.to_csv(out[0], index=False)
    log.info("\n%s", table.to_string())


def claims(inp, out, params, log) -> None:
    """CRAFT's long results table and claims ledger."""
    cfg = params.cfg
    auc, gradients = pd.read_csv(inp.auc), pd.read_csv(inp.gradients)
    t1 = pd.read_csv(inp.table1[0]) if len(inp.table1) else None
    loc = pd.read_csv(inp.localisation[0]) if len(inp.localisation) else None
    importance = _csvs(inp.importance)
    results = claims_module.craft_results(
        auc,
        t1,
        loc,
        gradients,
        importance,
        dataset=params.dataset,
        model=cfg["model"],
        layer=cfg["layer"],
        sub_layer=cfg["sub_layer"],
        seed=params.seed,
    )
    ledger = claims_module.craft_claims(
        auc, t1, loc, gradients, _csvs(inp.curves), importance, seed=params.seed
    )
    results.to_csv(out.results, index=False)
    ledger.to_csv(out.claims, index=False)
    log.info("\n%s", ledger[["claim_id", "our_value", "holds"]].to_string())
