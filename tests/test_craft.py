"""CRAFT (Fel et al. 2023): crops, recursion, Sobol importance, implicit gradients of the
concept attribution maps, and a tiny end-to-end run of the experiment functions."""

import numpy as np
import pandas as pd
import pytest
import torch

from reference_impls.claims import CLAIM_COLUMNS, RESULT_COLUMNS
from reference_impls.data.base import ArrayImageDataset
from reference_impls.data.procedural import build_taxonomy, generate_split
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
from reference_impls.models import SmallCNN, record_layers
from reference_impls.papers import craft as P
from reference_impls.papers.craft import figures as PF

torch.set_num_threads(1)


def tiny_model(n_classes=3, seed=0):
    torch.manual_seed(seed)
    return SmallCNN(n_classes, widths=(4, 6, 8, 12)).eval()


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


def test_layer_head_and_pooling_shortcut_are_exact():
    model = tiny_model()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad(), record_layers(model, ["stage3", "stage4"]) as store:
        logits = model(x)
        a4, a3 = store["stage4"], store["stage3"]
        torch.testing.assert_close(LayerHead(model, "stage4")(a4.permute(0, 2, 3, 1)), logits)
        torch.testing.assert_close(LayerHead(model, "stage3")(a3.permute(0, 2, 3, 1)), logits)
    rng = np.random.default_rng(0)
    U, W = rng.random((4, 2, 2, 3)).astype(np.float32), rng.random((3, 12)).astype(np.float32)
    assert P.pool_exact(LayerHead(model, "stage4"), U, W)
    assert not P.pool_exact(LayerHead(model, "stage3"), U, W[:, :8])


# --------------------------------------------------------------- implicit differentiation


@pytest.mark.parametrize("pool", ["coefficients", "activations"])
def test_attribution_map_gradients_match_finite_differences(pool):
    model = tiny_model(seed=1)
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


# ------------------------------------------------------------------- tiny end-to-end run


@pytest.fixture(scope="module")
def tiny_parts():
    train_cls, _, _ = build_taxonomy(2, 1, 1)

    def split(n, seed):
        arr = generate_split(train_cls, n, image_size=24, seed=seed)
        images = arr.pop("images").astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        labels = arr.pop("labels")
        return ArrayImageDataset(images, labels, [c.name for c in train_cls], ground_truth=arr)

    return split(40, 0), split(24, 1), tiny_model(n_classes=len(train_cls), seed=2)


def test_pipeline_end_to_end(tiny_parts, tmp_path):
    train, test, model = tiny_parts
    crops = P.extract_class_crops(
        model,
        train,
        ["stage3", "stage4"],
        images_per_class=12,
        crops_per_image=10,
        seed=0,
        batch_size=64,
    )
    n = 12 * 10 * len(train.classes)
    assert crops["acts/stage4"].shape == (n, 12) and crops["acts/stage3"].shape == (n, 8)
    assert int(crops["crop_size"]) == crop_size_for(24)
    np.testing.assert_allclose(crops["regions"].sum(1), 1.0, rtol=1e-5)
    again = P.extract_class_crops(
        model,
        train,
        ["stage3", "stage4"],
        images_per_class=12,
        crops_per_image=10,
        seed=0,
        batch_size=16,
    )
    np.testing.assert_array_equal(again["image"], crops["image"])
    np.testing.assert_allclose(again["acts/stage4"], crops["acts/stage4"], rtol=1e-5, atol=1e-6)

    concepts = P.fit_class_concepts(
        crops, "stage4", "stage3", n_concepts=4, n_subconcepts=2, seed=0
    )
    assert concepts["bank"].shape == (len(train.classes), 4, 12)
    assert concepts["sub_bank"].shape == (len(train.classes), 4, 2, 8)

    with torch.no_grad(), record_layers(model, ["stage4"]) as store:
        logits = model(torch.as_tensor(test.images)).numpy()
        maps = store["stage4"].numpy()
    banks = {
        "nmf": P.nmf_banks(concepts),
        "pca": P.extractor_banks(
            crops["acts/stage4"], crops["label"], "pca", 4, seed=0, tag="craft"
        ),
    }
    imps, curves = zip(
        *(
            P.importance_and_fidelity(
                b, maps, test.targets, model, "stage4", sobol_design=16, bank_name=name
            )
            for name, b in banks.items()
        )
    )
    curves = pd.concat(curves)
    auc = P.fidelity_auc(curves)
    assert len(auc) == 2 * 2 * len(P.RANKINGS) and auc["auc"].notna().all()
    # every curve starts (deletion) or ends (insertion) at the full reconstruction's score
    nmf = curves[(curves["bank"] == "nmf") & (curves["class"] == 0)]
    starts = nmf[(nmf["kind"] == "deletion") & (nmf["step"] == 0)]["score"]
    ends = nmf[(nmf["kind"] == "insertion") & (nmf["step"] == 4)]["score"]
    np.testing.assert_allclose(starts.to_numpy(), ends.to_numpy(), rtol=1e-5)

    table1 = P.table1_proxy(concepts, crops, n_trials=5, seed=0)
    assert set(table1["experiment"]) == {"intruder", "binary_choice", "purity"}
    assert table1["value"].between(0, 1).all()

    source = P.ImageSource(test)
    loc = P.class_localisation(
        model,
        source,
        test.ground_truth["part_masks"],
        test.targets,
        concepts,
        "stage4",
        "stage2",
        per_class=3,
    )
    assert len(loc) == 4 * len(train.classes)
    grads = P.gradient_check_table(model, source, test.targets, concepts, "stage4")
    assert grads["rel_error"].max() < 1e-5

    out = P.explain_mistakes(
        model,
        source,
        maps,
        logits,
        test.targets,
        concepts,
        crops,
        P.ImageSource(train),
        "stage4",
        "stage4",
        n_images=2,
        sobol_design=16,
    )
    k = len(out["index"])
    assert out["cams"].shape == (k, 2, 24, 24) and out["gradcam"].shape == (k, 24, 24)

    claims = P.craft_claims(auc, table1, loc, grads)
    assert list(claims.columns) == CLAIM_COLUMNS
    assert {
        "nmf_deletion_sobol_vs_tcav",
        "pca_insertion_sobol_vs_tcav",
        "intruder_subconcept_above_concept",
        "implicit_gradients_match_fd",
        "subconcepts_purer_than_parent",
    } <= set(claims["claim_id"])
    assert claims["holds"].map(type).eq(bool).all()
    results = P.craft_results(
        auc,
        table1,
        loc,
        grads,
        pd.concat(imps),
        dataset="tiny",
        model="tiny",
        layer="stage4",
        sub_layer="stage3",
        seed=0,
    )
    assert list(results.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS

    PF.plot_concepts_by_importance(
        crops, concepts, imps[0], P.ImageSource(train), train.classes, tmp_path / "fig4.png"
    )
    PF.plot_fidelity(curves, auc, ["nmf", "pca"], tmp_path / "fig6.png", "tiny")
    if k:
        PF.plot_attribution_maps(
            out["images"],
            out["true"],
            out["pred"],
            out["gradcam"],
            out["cams"],
            out["concepts"],
            out["crops"],
            train.classes,
            tmp_path / "fig5.png",
            importances=out["importance"],
        )
    assert all((tmp_path / f).stat().st_size > 0 for f in ("fig4.png", "fig6.png"))
