"""Rule compare_fit: fit one (method, rank, seed) on cached activations and score it."""

from reference_impls.compare import fit_and_evaluate, save_fit
from reference_impls.data import load_split
from reference_impls.models import load_activations, load_checkpoint
from reference_impls.utils import seed_everything
from reference_impls.workflow_io import rule_logging

with rule_logging(snakemake) as log:
    p, wc = snakemake.params, snakemake.wildcards
    rank, seed = int(wc.rank), int(wc.seed)
    seed_everything(seed)
    train = load_activations(snakemake.input.train)["activations"]
    test = load_activations(snakemake.input.test)
    dataset = load_split(snakemake.input.manifest, p.eval_split)
    model = load_checkpoint(snakemake.input.checkpoint)
    result = fit_and_evaluate(
        p.method["class"],
        p.method.get("params", {}),
        train,
        test["activations"],
        test["labels"],
        dataset.ground_truth["attributes"],
        model,
        n_components=rank,
        seed=seed,
        n_fit_rows=p.n_fit_rows,
        n_stability_rows=p.n_stability_rows,
        evaluate=rank == p.main_rank,
        n_fidelity_per_class=p.n_fidelity_per_class,
        n_design=p.n_design,
        fidelity_score=p.fidelity_score,
        attribute_names=dataset.attribute_names,
    )
    save_fit(
        snakemake.output[0],
        result,
        {"method": wc.method, "class": p.method["class"], "n_components": rank, "seed": seed},
    )
    log.info("%s r=%d seed=%d: %s", wc.method, rank, seed, result["scores"])
