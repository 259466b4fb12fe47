"""multiaspect (Saini & Papalexakis): each equation on planted data, the steps on a tiny fixture."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from reference_impls.factorization.coupled import (
    CoupledNMF,
    group_norm,
    soft_orthogonality,
    total_variation,
)
from reference_impls.metrics.cka import linear_cka
from reference_impls.papers.multiaspect import ARTEFACTS
from reference_impls.papers.multiaspect import experiments as ex
from reference_impls.papers.multiaspect.claims import factors_per_group, mean_row_cosine


def planted(n_per=30, groups=4, seed=0, noise=0.02):
    """D, A sharing one planted F in which group g uses only factor g."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n_per)
    N = len(g)
    F = np.zeros((groups, N))
    F[g, np.arange(N)] = rng.uniform(0.5, 1.5, N)
    P = rng.uniform(size=(50, groups))
    O = rng.uniform(size=(40, groups))
    D = P @ F + noise * rng.uniform(size=(50, N))
    A = O @ F + noise * rng.uniform(size=(40, N))
    return D, A, F, g


# ----------------------------------------------------------------------------- Eq. 1-2
def test_eq1_recovers_a_planted_coupled_factorization():
    D, A, F, g = planted()
    model = CoupledNMF(4, max_iter=400, tol=0, random_state=0, dtype="float64").fit([D], [A])
    # the example codes match the planted ones up to permutation and scale: CKA of codes
    assert linear_cka(model.F_.T, F.T) > 0.95
    # each fitted factor is used by one planted group (row-wise argmax by group mass)
    mass = np.stack([model.F_[:, g == k].sum(1) for k in range(4)], 1)
    assert sorted(mass.argmax(1).tolist()) == [0, 1, 2, 3]
    rel = np.linalg.norm(D - model.P_[0] @ model.F_) / np.linalg.norm(D)
    assert rel < 0.05


def test_eq2_multiplicative_updates_never_increase_the_objective():
    D, A, _, _ = planted(noise=0.2)
    model = CoupledNMF(5, max_iter=50, tol=0, random_state=1, dtype="float64").fit([D], [A])
    h = np.asarray(model.loss_history_)
    assert np.all(np.diff(h) <= 1e-9 * h[0])
    assert h[-1] < 0.1 * h[0]
    # the recorded objective is Eq. 1 itself, recomputed by hand
    lam = 1e-4
    by_hand = (
        np.sum((D - model.P_[0] @ model.F_) ** 2)
        + np.sum((A - model.O_[0] @ model.F_) ** 2)
        + lam * np.sum(model.P_[0] ** 2)
        + lam * np.sum(model.O_[0] ** 2)
        + 1.0 * np.sum(model.F_**2)
    )
    assert by_hand == pytest.approx(h[-1], rel=1e-6)


# ----------------------------------------------------------------------------- Eq. 3
def test_group_norm_with_groups_matches_a_hand_computation():
    F = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    # groups {0, 1} and {2}: row 0 -> ||(3, 4)|| + 0 = 5, row 1 -> 0 + 2
    assert float(group_norm(F, 0.0, groups=[7, 7, 9])) == pytest.approx(7.0)
    # one group per example (groups=None): column norms 3 + 4 + 2
    assert float(group_norm(F, 0.0)) == pytest.approx(9.0)
    with pytest.raises(ValueError, match="groups has 2 labels but F has 3"):
        group_norm(F, 0.0, groups=[0, 1])


def test_group_sparsity_zeroes_whole_groups_with_the_groups_argument():
    D, A, _, g = planted(noise=0.05)
    E = ex.penalty_scale([D], [A], 6)

    def blocks(groups, rel):
        m = CoupledNMF(
            6,
            variant="group_sparse",
            lambda_F=rel * E,
            groups=groups,
            max_iter=80,
            tol=0,
            random_state=0,
            dtype="float64",
        ).fit([D], [A])
        h = np.asarray(m.loss_history_)
        assert np.all(np.diff(h) <= 1e-9 * abs(h[0]))  # projected gradient is monotone
        return np.array([[np.linalg.norm(m.F_[i, g == k]) for k in range(4)] for i in range(6)])

    grouped = blocks(g, 0.05)
    free = blocks(None, 0.0)
    # a block (factor i, group k) vanishes (to the smoothing level, 1e-3 / N ~ 1e-5)
    assert (grouped < 1e-4).sum() >= 3
    assert (free < 1e-4).sum() == 0


def test_groups_is_rejected_for_other_variants():
    D, A, _, g = planted()
    with pytest.raises(ValueError, match="groups is used by variant='group_sparse'"):
        CoupledNMF(3, groups=g, max_iter=2).fit([D], [A])


def test_factors_per_group_counts_effective_factors():
    g = np.repeat([0, 1], 5)
    one = np.zeros((2, 10))
    one[g, np.arange(10)] = 1.0  # each group uses one factor
    spread = np.ones((2, 10))  # every group uses both equally
    assert factors_per_group(one, g) == pytest.approx(1.0)
    assert factors_per_group(spread, g) == pytest.approx(2.0)
    assert mean_row_cosine(one) == pytest.approx(0.0)
    assert mean_row_cosine(spread) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- Eq. 4
def test_tv_ortho_terms_each_do_their_job_and_the_fit_is_monotone():
    D, A, _, g = planted(noise=0.1)
    E = ex.penalty_scale([D], [A], 4)
    fits = {}
    for name, tv, ortho in (("plain", 0, 0), ("ortho", 0, 0.05), ("tv", 0.05, 0)):
        m = CoupledNMF(
            4,
            variant="tv_ortho",
            lambda_tv=tv * E,
            lambda_ortho=ortho * E,
            max_iter=60,
            tol=0,
            random_state=0,
            dtype="float64",
        ).fit([D], [A])
        h = np.asarray(m.loss_history_)
        assert np.all(np.diff(h) <= 1e-9 * abs(h[0]))
        np.testing.assert_allclose(m.F_.sum(1), 1.0, atol=1e-8)  # unit-L1 rows (Eq. 4)
        fits[name] = torch.as_tensor(m.F_)
    # soft orthogonality lowers the overlap tr(F^T S F); TV lowers the total variation
    assert float(soft_orthogonality(fits["ortho"])) < float(soft_orthogonality(fits["plain"]))
    assert float(total_variation(fits["tv"], 0.0)) < float(total_variation(fits["plain"], 0.0))
    # TV is smaller for a piecewise-constant F than for the same F shuffled
    Fc = torch.tensor(np.repeat(np.eye(4), 5, axis=1), dtype=torch.float64)
    perm = torch.tensor(np.random.default_rng(0).permutation(20))
    assert float(total_variation(Fc, 0.0)) < float(total_variation(Fc[:, perm], 0.0))


# ----------------------------------------------------------------------------- helpers
def test_cosine_eigen_and_purity_helpers():
    O = np.eye(5)
    C = ex.cosine_matrix(O)
    np.testing.assert_allclose(C, np.eye(5))
    assert ex.topk_eigen_means(C, [1, 3]) == {1: pytest.approx(1.0), 3: pytest.approx(1.0)}
    # two identical columns: one eigenvalue 2 -> top-1 mean 2
    assert ex.topk_eigen_means(ex.cosine_matrix(np.c_[O[:, :1], O]), [1])[1] == pytest.approx(2)
    F = np.array([[3, 2, 1, 0, 0, 0], [0, 0, 0, 1, 2, 3.0]])
    labels = np.array([0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(ex.purities(F, labels, 3), [2 / 3, 1.0])
    np.testing.assert_allclose(ex.class_scores(F, labels, 2), [[5, 1], [0, 6]])


def test_object_enrichment_and_masks():
    parts = np.zeros((1, 4, 4), dtype=int)
    parts[0, :2] = 1  # object = top half
    top = np.zeros((1, 4, 4))
    top[0, :2] = 1
    assert ex.object_enrichment(top, parts)[0] == pytest.approx(2.0)
    assert ex.object_enrichment(np.ones((1, 4, 4)), parts)[0] == pytest.approx(1.0)
    lat = np.arange(16.0).reshape(1, 4, 4, 1)
    assert ex.median_masks(lat).sum() == 8


def test_gradcam_and_gradcam_pp_match_the_closed_forms_of_a_gap_linear_head():
    """For GAP + linear, the gradient of logit t at stage4 is w_tc / (HW) everywhere, so
    Grad-CAM weights are w_tc / HW and Grad-CAM++ (Eq. 19) weights are
    HW relu(g_c) / (2 + S_c g_c) with S_c the channel's activation sum: computed by hand."""
    from reference_impls.models.activations import record_layers
    from reference_impls.models.zoo import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(n_classes=3).eval()
    x = np.random.default_rng(0).uniform(size=(2, 3, 32, 32)).astype(np.float32)
    targets = [0, 2]
    with torch.no_grad(), record_layers(model, ["stage4"]) as store:
        model(torch.as_tensor(x))
        A = store["stage4"].double()
    hw = A.shape[2] * A.shape[3]
    w = model.fc.weight.detach().double()[targets]  # (2, C)
    g = (w / hw)[:, :, None, None]
    S = A.sum((2, 3), keepdim=True)
    by_hand = {
        False: torch.relu((g * A).sum(1, keepdim=True)),
        True: torch.relu((hw * torch.relu(g) / (2 + S * g) * A).sum(1, keepdim=True)),
    }
    for plus_plus, cam in by_hand.items():
        want = torch.nn.functional.interpolate(cam, size=(32, 32), mode="bilinear")[:, 0]
        got = ex.cam_maps(model, x, targets, "stage4", plus_plus=plus_plus)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-6 * float(want.max()))


def test_cav_points_to_the_concept_and_tcav_counts_positive_derivatives():
    rng = np.random.default_rng(0)
    concept = rng.normal(size=(40, 6)) + np.array([3, 0, 0, 0, 0, 0])
    rand = rng.normal(size=(40, 6))
    cav = ex.learn_cav(concept, rand, 0)
    assert cav[0] > 0.9
    grads = np.array([[1, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0.0]])
    assert ex.tcav_q(grads, cav) == pytest.approx(2 / 3)


def test_lime_recovers_the_one_segment_the_model_looks_at():
    seg = np.tile(np.arange(4), (4, 1)).T  # row r of the 4x4 image is segment r
    image = np.zeros((3, 4, 4), dtype=np.float32)
    image[:, 1, :2] = 1.0  # half of segment 1 is bright: switched off it becomes 0.5

    def predict(batch):  # the model looks at the bright pixels of segment 1 only
        s = batch[:, :, 1, :2].mean((1, 2))
        return np.stack([1 - s, s], 1)

    w = ex.lime_weights(predict, image, seg, 1, 300, 0)
    assert int(np.argmax(np.abs(w))) == 1 and w[1] > 0
    assert np.all(np.abs(np.delete(w, 1)) < 0.1 * w[1])
    assert ex.lime_mask(w, seg, 1).sum() == 4


def test_load_images_scales_real_uint8_datasets():
    from reference_impls.data.base import ArrayImageDataset
    from reference_impls.data.real._common import UInt8ArrayDataset

    raw = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    real = UInt8ArrayDataset("toy", raw, np.array([0, 1]), ["a", "b"])
    got = ex.load_images(real, [1])
    assert got.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(got[0], raw[1].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    arr = ArrayImageDataset(got.repeat(2, 0), np.array([0, 1]), ["a", "b"])
    np.testing.assert_array_equal(ex.load_images(arr, [0]), got)


def test_artefacts_have_distinct_outputs():
    outs = [a.output for a in ARTEFACTS if a.output]
    assert len(outs) == len(set(outs)) == 13


# ----------------------------------------------------------------------------- steps
class Files(SimpleNamespace):
    def __getitem__(self, key):
        return getattr(self, key)

    def keys(self):
        return list(vars(self))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny parts dataset, an untrained SmallCNN checkpoint and its activation caches."""
    from reference_impls.data.registry import prepare_dataset
    from reference_impls.models.activations import extract_activations, save_activations
    from reference_impls.models.training import save_checkpoint
    from reference_impls.models.zoo import build_model

    root = tmp_path_factory.mktemp("ma")
    spec = dict(kind="procedural", image_size=32, n_train=60, n_test=60, n_probe=60)
    prepare_dataset("parts", spec, root / "data", seed=0)
    manifest = root / "data" / "manifest.json"
    torch.manual_seed(0)
    model = build_model("small_cnn", 10)
    ckpt = root / "checkpoint.pt"
    save_checkpoint(ckpt, model, "small_cnn", 10, {}, {})
    from reference_impls.data import load_split

    acts = {}
    for split in ("test",):
        out = extract_activations(
            model, load_split(manifest, split), ["stage2", "stage3", "stage4"], progress=False
        )
        for layer, arr in out["layers"].items():
            p = root / f"{split}_{layer}.npz"
            save_activations(p, arr, out["logits"], out["labels"], out["indices"])
            acts[layer] = p
    return root, manifest, ckpt, acts


TINY_CFG = dict(
    model="cnn_parts",
    dataset="parts",
    eval_split="test",
    layers=["stage2", "stage3", "stage4"],
    n_examples=30,
    n_factors=4,
    lambda_P=1e-4,
    lambda_O=1e-4,
    lambda_F=1.0,
    max_iter=5,
    top_k=5,
    n_permutations=20,
    eigen_k=[1, 3],
    n_neighbours=5,
    table2_lambdas=[1.0, 0.1],
    table2_extra_lambdas=[100.0],
    table2_seeds=2,
    lime=dict(n_images=2, n_segments=8, num_samples=20, num_features=2),
    cam_split="test",
    cam_layers=["stage3", "stage4"],
    cam_factors=3,
    cam_layer="stage4",
    probe_split="probe",
    case_layers=["stage3", "stage4"],
    case_inputs=True,
    case_max_iter=3,
    rel_group=0.05,
    rel_tv=0.05,
    rel_ortho=0.05,
    tcav_layer="stage3",
    tcav_split="test",
    tcav_concept_images=5,
    tcav_random_sets=2,
    tcav_class_images=3,
    abridged=2,
)


def test_steps_end_to_end_on_a_tiny_fixture(tiny, tmp_path):
    from reference_impls.papers.multiaspect import steps

    root, manifest, ckpt, acts = tiny
    log = logging.getLogger("test_multiaspect")
    p = SimpleNamespace(cfg=TINY_CFG, seed=0)
    o = {
        name: tmp_path / name
        for name in (
            "fit.npz",
            "runtime.csv",
            "t1.csv",
            "t1c.csv",
            "t1.png",
            "f2.png",
            "f2.csv",
            "f3.png",
            "f3.csv",
            "f4.png",
            "f4.csv",
            "t2.csv",
            "f6.png",
            "f6.csv",
            "f8.png",
            "f8.csv",
            "ref.npz",
            "gs.npz",
            "t4.csv",
            "tv.npz",
            "t5.csv",
            "f12.png",
            "f13.png",
            "tcav.csv",
            "t3.csv",
            "results.csv",
            "claims.csv",
        )
    }
    layer_files = [acts[name] for name in TINY_CFG["layers"]]
    steps.runtime(
        Files(manifest=manifest, acts=layer_files),
        Files(fit=o["fit.npz"], csv=o["runtime.csv"]),
        p,
        log,
    )
    fit = np.load(o["fit.npz"])
    assert fit["F"].shape == (4, 30) and len(np.unique(fit["rows"])) == 30
    steps.table1(
        Files(fit=o["fit.npz"], manifest=manifest),
        Files(table=o["t1.csv"], control=o["t1c.csv"], png=o["t1.png"]),
        p,
        log,
    )
    t1 = pd.read_csv(o["t1.csv"])
    assert len(t1) == 4 and t1["superclass_purity"].between(0.2, 1).all()
    steps.fig2(Files(fit=o["fit.npz"]), Files(png=o["f2.png"], csv=o["f2.csv"]), p, log)
    steps.fig3(Files(fit=o["fit.npz"]), Files(png=o["f3.png"], csv=o["f3.csv"]), p, log)
    steps.fig4_5(
        Files(fit=o["fit.npz"], manifest=manifest, table=o["t1.csv"]),
        Files(png=o["f4.png"], csv=o["f4.csv"]),
        p,
        log,
    )
    steps.table2(Files(manifest=manifest, acts=layer_files), Files(csv=o["t2.csv"]), p, log)
    t2 = pd.read_csv(o["t2.csv"])
    diag = t2[t2.a == t2.b]["cka"]
    np.testing.assert_allclose(diag, 1.0, atol=1e-9)
    steps.fig6_7(
        Files(fit=o["fit.npz"], manifest=manifest, checkpoint=ckpt, table=o["t1.csv"]),
        Files(png=o["f6.png"], csv=o["f6.csv"]),
        p,
        log,
    )
    steps.fig8_11(
        Files(manifest=manifest, checkpoint=ckpt), Files(png=o["f8.png"], csv=o["f8.csv"]), p, log
    )
    case = dict(probe_manifest=manifest, checkpoint=ckpt)
    steps.caseref(Files(**case), Files(fit=o["ref.npz"]), p, log)
    steps.table4(Files(**case), Files(fit=o["gs.npz"], table=o["t4.csv"]), p, log)
    steps.table5(Files(**case), Files(fit=o["tv.npz"], table=o["t5.csv"]), p, log)
    tv = np.load(o["tv.npz"])
    assert np.all(np.diff(tv["labels"]) >= 0)  # TV fits the probe examples in class order
    np.testing.assert_allclose(tv["F"].sum(1), 1.0, atol=1e-4)
    steps.fig12_13(
        Files(**case, manifest=manifest, gs=o["gs.npz"], tv=o["tv.npz"]),
        Files(fig12=o["f12.png"], fig13=o["f13.png"], csv=o["tcav.csv"]),
        p,
        log,
    )
    tcav = pd.read_csv(o["tcav.csv"])
    assert len(tcav) == 2 * 4 * 10 and tcav["tcav"].between(0, 1).all()
    steps.table3(Files(table=o["t4.csv"], tcav=o["tcav.csv"]), Files(table=o["t3.csv"]), p, log)
    assert len(pd.read_csv(o["t3.csv"])) == 2
    inp = Files(
        runtime=o["runtime.csv"],
        table1=o["t1.csv"],
        control=o["t1c.csv"],
        fig2=o["f2.csv"],
        fig3=o["f3.csv"],
        fig4_5=o["f4.csv"],
        table2=o["t2.csv"],
        fig6_7=o["f6.csv"],
        fig8_11=o["f8.csv"],
        gs=o["gs.npz"],
        tv=o["tv.npz"],
        ref=o["ref.npz"],
        tcav=o["tcav.csv"],
    )
    steps.claims(inp, Files(results=o["results.csv"], claims=o["claims.csv"]), p, log)
    claims = pd.read_csv(o["claims.csv"])
    assert {
        "table1_superclass_coherent",
        "table2_cka_lambdaF",
        "runtime_under_15min",
        "ext_disjoint_usage",
        "gs_fewer_factors_per_group",
    } <= set(claims["claim_id"])
    sources = {a.artefact for a in ARTEFACTS}
    for src in claims["source"]:
        assert any(s in src for s in sources), src
