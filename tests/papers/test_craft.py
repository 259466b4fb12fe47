"""CRAFT (Fel et al. 2023): crops, recursion, Sobol importance, implicit gradients of the
concept attribution maps, and a tiny end-to-end run through the step functions Snakemake runs
(``reference_impls.papers.craft.steps``)."""

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from reference_impls.claims import CLAIM_COLUMNS, RESULT_COLUMNS
from reference_impls.data import load_split, prepare_dataset
from reference_impls.methods import make_extractor
from reference_impls.methods.craft import (
    Craft,
    LayerHead,
    concept_attribution_maps,
    crop_size_for,
    cut_crops,
    implicit_gradient_check,
    random_crop_boxes,
    random_crops,
)
from reference_impls.models import (
    extract_activations,
    record_layers,
    save_activations,
    save_checkpoint,
)
from reference_impls.papers.craft import experiments, steps

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ crops


def test_crop_fraction_matches_the_paper():
    assert crop_size_for(224) == 64  # the paper: 64 px crops of 224 px images
    assert crop_size_for(64) == 18  # the same fraction of the embedded 64 px images
    with pytest.raises(ValueError, match="fraction"):
        crop_size_for(64, 0.0)


def test_random_crops_shapes_bounds_and_determinism():
    images = torch.rand(5, 3, 32, 32)
    crops, boxes = random_crops(images, n_crops=4, seed=3)
    size = crop_size_for(32)
    assert crops.shape == (20, 3, 32, 32) and boxes.shape == (20, 3)
    assert np.array_equal(boxes[:, 0], np.repeat(np.arange(5), 4))  # image-major
    assert boxes[:, 1:].min() >= 0 and boxes[:, 1:].max() + size <= 32
    again, boxes2 = random_crops(images, n_crops=4, seed=3)
    assert np.array_equal(boxes, boxes2) and torch.equal(crops, again)
    _, other = random_crops(images, n_crops=4, seed=4)
    assert not np.array_equal(boxes, other)


def test_cut_crops_is_the_slice_then_a_bilinear_resize():
    images = torch.rand(2, 3, 20, 20)
    boxes = np.array([[1, 3, 5], [0, 0, 12]])
    native = cut_crops(images, boxes, 8, out_size=8)
    assert torch.equal(native[0], images[1, :, 3:11, 5:13])
    assert torch.equal(native[1], images[0, :, 0:8, 12:20])
    resized = cut_crops(images, boxes, 8)  # default: back to the image side
    expected = torch.nn.functional.interpolate(
        native, size=(20, 20), mode="bilinear", align_corners=False
    )
    assert resized.shape == (2, 3, 20, 20) and torch.allclose(resized, expected)
    with pytest.raises(ValueError, match="outside"):
        cut_crops(images, np.array([[0, 15, 0]]), 8)
    with pytest.raises(ValueError, match="crop_size"):
        random_crop_boxes(2, (20, 20), 21, 3, 0)


# ---------------------------------------------------------------------------- recursion


def test_recursion_selects_exactly_the_points_above_the_90th_percentile():
    rng = np.random.default_rng(0)
    A = rng.random((200, 12)).astype(np.float32)
    craft = Craft(4, random_state=0).fit(A)
    U = craft.coefficients_
    for i in range(4):
        expected = np.flatnonzero((U[:, i] >= np.percentile(U[:, i], 90)) & (U[:, i] > 0))
        assert np.array_equal(craft.concept_members(i), expected)
    # a column that is 95% zeros: the 90th percentile is 0, zeros are never members
    U0 = np.zeros((100, 2))
    U0[:5, 0] = [1.0, 2.0, 3.0, 4.0, 5.0]
    U0[:, 1] = np.arange(100)
    assert np.array_equal(craft.concept_members(0, U0), np.arange(5))
    assert np.array_equal(craft.concept_members(1, U0), np.arange(90, 100))  # 89.1 -> 90..99


def test_decompose_refits_the_members_at_the_earlier_layer():
    rng = np.random.default_rng(1)
    A, A_early = rng.random((300, 10)), rng.random((300, 6))
    craft = Craft(3, random_state=2).fit(A)
    sub, members = craft.decompose(1, A_early, n_components=2)
    assert np.array_equal(members, craft.concept_members(1))
    assert sub.components_.shape == (2, 6) and sub.coefficients_.shape == (len(members), 2)
    direct = Craft(2, random_state=sub.random_state).fit(A_early[members])
    np.testing.assert_allclose(sub.components_, direct.components_)
    with pytest.raises(ValueError, match="same points"):
        craft.decompose(1, A_early[:10])


def test_craft_interface_transform_and_inverse():
    rng = np.random.default_rng(3)
    W_true = rng.random((3, 16))
    A = (rng.random((150, 3)) @ W_true).astype(np.float32)
    craft = make_extractor(
        "reference_impls.methods.craft:Craft", n_components=3, random_state=0
    ).fit(A)
    U = craft.transform(A)
    assert U.shape == (150, 3) and U.min() >= 0
    rel = np.linalg.norm(craft.inverse_transform(U) - A) / np.linalg.norm(A)
    assert rel < 0.05
    maps = np.transpose(A[:8].reshape(2, 2, 2, 16), (0, 3, 1, 2))  # N x p x H x W
    np.testing.assert_allclose(
        craft.transform_maps(maps).reshape(-1, 3), U[:8], rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="transform_maps"):
        craft.transform(maps)


# -------------------------------------------------------------------------- importance


def test_sobol_importance_of_an_additive_head_matches_the_analytic_indices():
    """Y = sum_i a_i M_i with independent uniform masks: S_Ti = a_i^2 / sum_j a_j^2."""
    W = np.eye(3, 4, dtype=np.float32)
    v = np.array([3.0, -1.0, 0.0, 5.0], dtype=np.float32)
    U = np.array([[1.0, 2.0, 4.0]], dtype=np.float32)  # a = U * (W v) = (3, -2, 0)

    def head(a):
        y = a @ torch.as_tensor(v)
        return torch.stack([y, -y], 1)

    craft = Craft.from_bank(W)
    s = craft.estimate_importance(U, head, [0], "sobol", n_design=1024)
    a = U[0] * (W @ v)
    np.testing.assert_allclose(s, a**2 / np.sum(a**2), atol=0.03)
    assert s[2] == pytest.approx(0.0, abs=1e-12)  # a concept the head ignores
    tcav = craft.estimate_importance(U, head, [0], "tcav")
    np.testing.assert_array_equal(tcav, [1.0, 0.0, 0.0])  # sign of w_i . v


def test_layer_head_and_pooling_shortcut_are_exact(tiny_model):
    model = tiny_model
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad(), record_layers(model, ["stage3", "stage4"]) as store:
        logits = model(x)
        a4, a3 = store["stage4"], store["stage3"]
        torch.testing.assert_close(LayerHead(model, "stage4")(a4.permute(0, 2, 3, 1)), logits)
        torch.testing.assert_close(LayerHead(model, "stage3")(a3.permute(0, 2, 3, 1)), logits)
    rng = np.random.default_rng(0)
    U, W = rng.random((4, 2, 2, 3)).astype(np.float32), rng.random((3, 12)).astype(np.float32)
    assert experiments.pool_exact(LayerHead(model, "stage4"), U, W)
    assert not experiments.pool_exact(LayerHead(model, "stage3"), U, W[:, :8])


# --------------------------------------------------------------- implicit differentiation


@pytest.mark.parametrize("pool", ["coefficients", "activations"])
def test_attribution_map_gradients_match_finite_differences(pool, model_factory):
    model = model_factory(seed=1)
    images = torch.rand(6, 3, 16, 16)
    crops, _ = random_crops(images, n_crops=8, seed=0)
    with torch.no_grad(), record_layers(model, ["stage4"]) as store:
        model(crops)
        A = store["stage4"].mean((2, 3)).numpy()
    bank = Craft(3, random_state=0).fit(A).components_
    check = implicit_gradient_check(model, images[:3], bank, "stage4", pool=pool, seed=0)
    assert np.abs(check["numeric"]).max() > 0  # some concept is active
    assert check["rel_error"].max() < 1e-5
    maps = concept_attribution_maps(
        model, images[:3], bank, "stage4", cam_layer="stage2", pool=pool
    )
    assert maps.shape == (3, 3, 16, 16) and maps.min() >= 0 and np.isfinite(maps).all()


def test_transform_gradient_matches_finite_differences_at_the_nnls_layer():
    rng = np.random.default_rng(4)
    bank = rng.random((3, 8))
    craft = Craft.from_bank(bank)
    a = torch.tensor(rng.random((1, 8)) + 0.5, dtype=torch.float64, requires_grad=True)
    u = craft.transform(a)
    assert (u > 0).any()
    direction = torch.as_tensor(rng.standard_normal((1, 8)))
    for i in range(3):
        (g,) = torch.autograd.grad(u[0, i], a, retain_graph=True)
        with torch.no_grad():
            fd = craft.transform(a + 1e-6 * direction) - craft.transform(a - 1e-6 * direction)
        assert float((g * direction).sum()) == pytest.approx(float(fd[0, i]) / 2e-6, abs=1e-7)


# ------------------------------------------------------- tiny end-to-end run through steps.*


class Files(list):
    """What Snakemake hands a script as ``input`` / ``output``: a list with named entries."""

    def __init__(self, *paths, **named):
        super().__init__(
            [str(p) for p in paths] + [str(v) for v in named.values() if not isinstance(v, list)]
        )
        self.__dict__.update(named)


@pytest.fixture(scope="module")
def tiny_foundation(tmp_path_factory, model_factory):
    """What the foundation rules would make, at toy size: a procedural dataset (2 classes,
    24 px), a checkpoint of a tiny untrained CNN, the stage4 cache of the test split."""
    root = tmp_path_factory.mktemp("craft")
    spec = dict(
        kind="procedural",
        image_size=24,
        n_train=60,
        n_test=40,
        n_probe=4,
        n_superclasses=2,
        train_per_super=1,
        probe_per_super=1,
    )
    prepare_dataset("tiny", spec, root / "data", seed=0)
    manifest = root / "data" / "manifest.json"
    model = model_factory(n_classes=2, seed=2)
    checkpoint = root / "checkpoint.pt"
    save_checkpoint(checkpoint, model, "small_cnn", 2, {"widths": [4, 6, 8, 12]}, spec={})
    test = load_split(manifest, "test")
    out = extract_activations(model, test, ["stage3", "stage4"], progress=False)
    for layer in ("stage3", "stage4"):
        save_activations(
            root / f"{layer}.npz",
            out["layers"][layer],
            out["logits"],
            out["labels"],
            out["indices"],
        )
    return SimpleNamespace(
        manifest=manifest, checkpoint=checkpoint, cache=root / "stage4.npz", out=root
    )


def craft_config(**overrides):
    """The craft section as the workflow sees it: the schema fills every default."""
    from snakemake.utils import validate

    cfg = dict(
        model="tiny",
        layer="stage4",
        sub_layer="stage3",
        cam_layer="stage2",
        images_per_class=12,
        n_concepts=4,
        n_subconcepts=2,
        sobol_design=16,
        n_mistakes=2,
        localisation_images=3,
        intruder_trials=5,
        **overrides,
    )
    validate(cfg, str(ROOT / "workflow" / "schemas" / "craft.schema.yaml"))
    return cfg


def test_pipeline_end_to_end_through_the_steps(tiny_foundation):
    f, log = tiny_foundation, logging.getLogger("test")
    cfg = craft_config()
    d = f.out
    params = SimpleNamespace(cfg=cfg, seed=0, device="cpu", dataset="tiny")
    run = lambda step, inp, out, **extra: step(
        inp, out, SimpleNamespace(**{**vars(params), **extra}), log
    )

    run(steps.crops, Files(manifest=f.manifest, checkpoint=f.checkpoint), Files(d / "crops.npz"))
    with np.load(d / "crops.npz") as data:
        crops = dict(data)
    n = 12 * 10 * 2
    assert crops["acts/stage4"].shape == (n, 12) and crops["acts/stage3"].shape == (n, 8)
    assert int(crops["crop_size"]) == crop_size_for(24)
    np.testing.assert_allclose(crops["regions"].sum(1), 1.0, rtol=1e-5)
    run(steps.concepts, Files(crops=d / "crops.npz"), Files(d / "concepts.npz"))
    with np.load(d / "concepts.npz") as data:
        concepts = dict(data)
    assert concepts["bank"].shape == (2, 4, 12) and concepts["sub_bank"].shape == (2, 4, 2, 8)

    for bank, extractor, source in (("nmf", None, "concepts.npz"), ("pca", "pca", "crops.npz")):
        run(
            steps.fidelity,
            Files(bank=d / source, activations=f.cache, checkpoint=f.checkpoint),
            Files(importance=d / f"importance_{bank}.csv", curves=d / f"curves_{bank}.csv"),
            bank=bank,
            extractor=extractor,
        )
    run(
        steps.nonlinear,
        Files(crops=d / "crops.npz", activations=d / "stage3.npz", checkpoint=f.checkpoint),
        Files(importance=d / "importance_nmf_stage3.csv", curves=d / "curves_nmf_stage3.csv"),
        cfg={**cfg, "nonlinear_layer": "stage3", "nonlinear_images": 2},
    )
    nl = pd.read_csv(d / "importance_nmf_stage3.csv")
    assert len(nl) == 2 * 4 and nl["sobol"].notna().all()  # 2 classes x 4 concepts at stage3
    curves = [d / f"curves_{b}.csv" for b in ("nmf", "pca", "nmf_stage3")]
    run(
        steps.fig6,
        Files(curves=curves),
        Files(fig6=d / "fig6.png", figF=d / "figF.png", auc=d / "auc.csv"),
    )
    auc = pd.read_csv(d / "auc.csv")
    assert len(auc) == 3 * 2 * len(experiments.RANKINGS) and auc["auc"].notna().all()
    nmf = pd.read_csv(curves[0])
    nmf = nmf[nmf["class"] == 0]
    starts = nmf[(nmf["kind"] == "deletion") & (nmf["step"] == 0)]["score"]
    ends = nmf[(nmf["kind"] == "insertion") & (nmf["step"] == 4)]["score"]
    np.testing.assert_allclose(starts.to_numpy(), ends.to_numpy(), rtol=1e-5)

    common = dict(crops=d / "crops.npz", concepts=d / "concepts.npz", manifest=f.manifest)
    run(steps.fig4, Files(**common, importance=d / "importance_nmf.csv"), Files(d / "fig4.png"))
    run(
        steps.fig5,
        Files(**common, activations=f.cache, checkpoint=f.checkpoint),
        Files(fig5=d / "fig5.png", gradients=d / "gradients.csv"),
    )
    assert pd.read_csv(d / "gradients.csv")["rel_error"].max() < 1e-5
    run(steps.localisation, Files(**common, checkpoint=f.checkpoint), Files(d / "loc.csv"))
    loc = pd.read_csv(d / "loc.csv")
    assert (loc["method"] == "concept").sum() == 4 * 2  # 4 concepts x 2 classes
    assert (loc["method"] == "class_gradcam").sum() == 2  # the control: one per class
    run(steps.table1, Files(**common), Files(d / "table1.csv"))
    table1 = pd.read_csv(d / "table1.csv")
    assert set(table1["experiment"]) == {"intruder", "binary_choice", "purity"}
    assert (table1["condition"] == "random split").sum() == 3  # controls of every experiment
    assert (table1["ci_low"] <= table1["value"]).all() and (
        table1["value"] <= table1["ci_high"]
    ).all()
    assert table1["value"].between(0, 1).all()

    run(
        steps.claims,
        Files(
            auc=d / "auc.csv",
            curves=curves,
            importance=[d / f"importance_{b}.csv" for b in ("nmf", "pca", "nmf_stage3")],
            gradients=d / "gradients.csv",
            table1=[d / "table1.csv"],
            localisation=[d / "loc.csv"],
        ),
        Files(results=d / "results.csv", claims=d / "claims.csv"),
    )
    claims = pd.read_csv(d / "claims.csv")
    assert list(claims.columns) == CLAIM_COLUMNS
    assert {
        "nmf_deletion_sobol_vs_tcav",
        "nmf_deletion_sobol_vs_gradient_input",
        "pca_insertion_sobol_vs_tcav",
        "intruder_subconcept_above_concept",
        "implicit_gradients_match_fd",
        "subconcepts_purer_than_parent",
        "attribution_maps_beat_class_gradcam",
    } <= set(claims["claim_id"])
    assert claims["holds"].isin([True, False]).all()
    results = pd.read_csv(d / "results.csv")
    assert list(results.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert all((d / p).stat().st_size > 0 for p in ("fig4.png", "fig5.png", "fig6.png"))


def test_crops_do_not_depend_on_the_batch_size(tiny_foundation):
    from reference_impls.models import load_checkpoint

    model = load_checkpoint(tiny_foundation.checkpoint)
    train = load_split(tiny_foundation.manifest, "train")
    kw = dict(images_per_class=6, crops_per_image=5, seed=0)
    a = experiments.extract_class_crops(model, train, ["stage4"], batch_size=64, **kw)
    b = experiments.extract_class_crops(model, train, ["stage4"], batch_size=8, **kw)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_allclose(a["acts/stage4"], b["acts/stage4"], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the ledger's controls


def planted_curves(better: str) -> pd.DataFrame:
    """Deletion / insertion curves of two classes where ``better`` gives the steepest curves,
    then Sobol, then TCAV and random."""
    rank = {"sobol": 1, "tcav": 2, "random": 3, "gradient_input": 1, better: 0}
    rows = []
    for c in (0, 1):
        for ranking in experiments.RANKINGS:
            for kind in ("deletion", "insertion"):
                drop = 1.0 - 0.2 * rank[ranking]  # how fast the score moves
                end = 0.0 if kind == "deletion" else 1.0
                mid = (1 - drop) if kind == "deletion" else drop
                for step, (x, y) in enumerate(zip((0.0, 0.5, 1.0), (1 - end, mid, end))):
                    rows.append(
                        dict(
                            bank="nmf",
                            **{"class": c},
                            ranking=ranking,
                            kind=kind,
                            step=step,
                            x=x,
                            score=y,
                        )
                    )
    return pd.DataFrame(rows)


def test_ledger_rows_say_which_ranking_wins_with_intervals():
    from reference_impls.papers.craft.claims import fidelity_claims

    curves = planted_curves("gradient_input")
    auc = experiments.fidelity_auc(curves)
    rows = {r["claim_id"]: r for r in fidelity_claims(auc, experiments.class_auc(curves))}
    assert rows["nmf_deletion_sobol_vs_tcav"]["holds"] is True
    assert rows["nmf_deletion_sobol_vs_gradient_input"]["holds"] is False
    assert rows["nmf_insertion_sobol_vs_gradient_input"]["holds"] is False
    assert "0 of 2 classes" in rows["nmf_insertion_sobol_vs_gradient_input"]["interval"]
    assert "2 of 2 classes" in rows["nmf_insertion_sobol_vs_tcav"]["interval"]
    assert all(r["control_value"] != "" for r in rows.values())


@pytest.mark.parametrize("active,holds", [(0, False), (3, True)])
def test_gradient_claim_fails_when_no_concept_is_active(active, holds):
    from reference_impls.papers.craft.claims import craft_claims

    curves = planted_curves("sobol")
    grads = pd.DataFrame(
        dict(
            rel_error=[1e-9], norm_numeric=[0.0 if not active else 1.0], n_active_concepts=[active]
        )
    )
    ledger = craft_claims(experiments.fidelity_auc(curves), None, None, grads, curves)
    row = ledger.set_index("claim_id").loc["implicit_gradients_match_fd"]
    assert bool(row["holds"]) is holds


def test_random_split_keeps_sizes_and_members():
    from reference_impls.papers.craft.table1 import random_split

    children = {(0, 0, 0): np.arange(5), (0, 0, 1): np.arange(5, 8), (1, 2, 0): np.arange(9, 12)}
    out = random_split(children, np.random.default_rng(0))
    assert {k: len(v) for k, v in out.items()} == {k: len(v) for k, v in children.items()}
    np.testing.assert_array_equal(
        np.sort(np.concatenate([out[(0, 0, 0)], out[(0, 0, 1)]])), np.arange(8)
    )
    np.testing.assert_array_equal(np.sort(out[(1, 2, 0)]), np.arange(9, 12))
