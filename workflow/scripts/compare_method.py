"""Rule compare_method: every fit of one method (seeds, rank sweep, data folds), scored."""

from reference_impls.compare import EvalData, fit_rows, run_method, save_fit, save_folds
from reference_impls.data import load_split
from reference_impls.models import load_activations, load_checkpoint
from reference_impls.utils import seed_everything
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    p, wc, inp = snakemake.params, snakemake.wildcards, snakemake.input
    plan = dict(p.plan)
    seed_everything(min(plan["seeds"]))
    train = load_activations(inp.train)["activations"]
    test = load_activations(inp.test)
    split = load_split(inp.manifest, plan["eval_split"])
    truth = split.ground_truth
    for key, metric in (
        ("attributes", "attribute_svm_accuracy"),
        ("part_masks", "part_alignment_iou"),
    ):
        if key not in truth:
            log.info(
                "split %s has no ground_truth[%r]: %s not computed", plan["eval_split"], key, metric
            )
    data = EvalData(
        acts=test["activations"],
        labels=test["labels"],
        attributes=truth.get("attributes"),
        model=load_checkpoint(inp.checkpoint),
        layer=plan["layer"],
        attribute_names=split.attribute_names,
        part_masks=truth.get("part_masks"),
        # OOD reference: real training rows (every other row of the fit sample)
        reference=fit_rows(train, plan["n_fit_rows"])[::2],
    )
    if plan["probe_split"]:
        probe = load_activations(inp.probe)
        probe_truth = load_split(inp.manifest, plan["probe_split"]).ground_truth
        data.probe_acts, data.probe_labels = probe["activations"], probe["labels"]
        data.probe_attributes = probe_truth.get("attributes")
    plan["eval"] = {k: plan.pop(k) for k in ("n_fidelity_per_class", "n_design", "fidelity_score")}
    plan["main_rank"] = plan.pop("n_components")
    result = run_method(p.method["class"], p.method.get("params", {}), train, data, plan, log=log)
    for path in snakemake.output.fits:
        rank, seed = (int(x[1:]) for x in path.rsplit("/", 1)[1][:-4].split("_"))
        save_fit(
            path,
            result["fits"][(rank, seed)],
            {"method": wc.method, "class": p.method["class"], "n_components": rank, "seed": seed},
        )
    save_folds(snakemake.output.folds, result["folds"], {"method": wc.method})
