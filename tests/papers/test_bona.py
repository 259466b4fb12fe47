"""BONA (Kolouri, Martin & Hoffmann 2017): batched per-image elastic NMF, LoG patches, DEC
(Algorithm 1), Fisher-score selection, histograms and cluster members on planted data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from reference_impls.factorization import NMF
from reference_impls.factorization.batched import batched_nmf, select_rank
from reference_impls.methods.bona import (
    DEC,
    bona_histograms,
    fisher_score,
    salient_patches,
    select_embedding_dim,
    target_distribution,
    top_members,
)


@pytest.mark.parametrize("solver", ["hals", "mu"])
def test_batched_nmf_equals_per_image_fits(solver):
    rng = np.random.default_rng(0)
    X = rng.random((3, 16, 12)).astype(np.float32)
    H0 = rng.random((3, 16, 4)).astype(np.float32)
    W0 = rng.random((3, 4, 12)).astype(np.float32)
    gamma, lam = 0.5, 0.3
    H, W, explained = batched_nmf(
        X, 4, gamma=gamma, l1_ratio=lam, solver=solver, max_iter=40, init=(H0, W0)
    )
    for i in range(3):
        # Eq. 1 in NMF's parametrisation: alpha_W = gamma / m, alpha_H = gamma / d
        ref = NMF(
            4,
            solver=solver,
            alpha_W=gamma / 12,
            alpha_H=gamma / 16,
            l1_ratio=lam,
            max_iter=40,
            tol=0,
            init="custom",
        )
        Hi = ref.fit_transform(X[i], W=H0[i], H=W0[i])
        np.testing.assert_allclose(H[i].numpy(), Hi, atol=2e-5)
        np.testing.assert_allclose(W[i].numpy(), ref.components_, atol=2e-5)
        resid = np.linalg.norm(X[i] - Hi @ ref.components_) ** 2 / np.linalg.norm(X[i]) ** 2
        assert explained[i].item() == pytest.approx(1 - resid, abs=1e-4)


def test_select_rank_finds_planted_rank():
    rng = np.random.default_rng(1)
    H = rng.random((20, 30, 3))
    W = rng.random((20, 3, 25))
    X = H @ W + 0.01 * rng.random((20, 30, 25))
    rank, curve = select_rank(X, range(1, 7), threshold=0.995, max_iter=300)
    assert rank == 3
    assert curve[2] < 0.995 <= curve[3]
    assert 4 not in curve  # the scan stops at the first rank that passes


def test_batched_nmf_rejects_negative_input():
    with pytest.raises(ValueError, match="non-negative"):
        batched_nmf(-np.ones((2, 4, 4)), 2)


def _gauss(size, cy, cx, sigma):
    y, x = np.mgrid[:size, :size]
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))


def test_log_finds_planted_blobs():
    m1 = _gauss(32, 8, 20, 2.0) + _gauss(32, 24, 6, 2.0)  # two blobs in one component
    m2 = _gauss(32, 16, 16, 3.0)
    maps = np.stack([m1, m2])[None].astype(np.float32)  # (1 image, 2 components, 32, 32)
    p = salient_patches(
        maps, 64, map_size=32, min_sigma=1, max_sigma=6, num_sigma=11, threshold=0.1, min_side=8
    )
    found = sorted(
        zip(p["component"].tolist(), np.round(p["y"]).tolist(), np.round(p["x"]).tolist())
    )
    # image coordinates are twice the map's (64 / 32), centre of the map pixel
    assert found == [(0, 17.0, 41.0), (0, 49.0, 13.0), (1, 33.0, 33.0)]
    # blob scale sigma * sqrt(2) is the radius: sigma 2 -> side ~ 2*sqrt(2)*2*2 = 11 px
    assert np.all(p["top"] >= 0) and np.all(p["top"] + p["side"] <= 64)
    big = p["side"][p["component"] == 1][0]
    small = p["side"][p["component"] == 0]
    assert np.all(big > small)


def _planted_clusters(n_per=60, k=4, p=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(k, p))
    Z = np.concatenate([c + rng.normal(0, 0.5, size=(n_per, p)) for c in centres])
    return Z.astype(np.float32), np.repeat(np.arange(k), n_per)


def test_dec_recovers_planted_clusters():
    Z, y = _planted_clusters()
    dec = DEC(n_components=4, embedding_dim=8, max_iter=15, random_state=0).fit(Z)
    assert adjusted_rand_score(y, dec.labels_) == pytest.approx(1.0)
    Q = dec.transform(Z)
    np.testing.assert_allclose(Q.sum(1), 1, atol=1e-5)
    assert adjusted_rand_score(y, Q.argmax(1)) == pytest.approx(1.0)
    # the concept interface: components_ are the cluster means of the inputs
    for k in range(4):
        np.testing.assert_allclose(dec.components_[k], Z[dec.labels_ == k].mean(0), atol=1e-5)
    assert dec.inverse_transform(Q).shape == Z.shape


def test_dec_kl_decreases_and_target_sharpens():
    Q = torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    P = target_distribution(Q)
    f = Q.sum(0)
    expected = Q**2 / f
    np.testing.assert_allclose(P.numpy(), (expected / expected.sum(1, keepdim=True)).numpy())
    assert P[0, 0] > Q[0, 0] and P[1, 1] > Q[1, 1]  # Eq. 4 pushes toward 0/1


def test_fisher_score_hand_computed_and_selection_on_planted_case():
    V = np.array([[0.0, 0], [0, 2], [10, 0], [10, 2]])
    lab = np.array([0, 0, 1, 1])
    # within: 4 points each 1 from its centre (sq 1) -> 4; between: 2 * 25 * 2 = 100
    assert fisher_score(V, lab) == pytest.approx(4 / 100)
    assert fisher_score(V, np.array([0, 1, 0, 1])) > 1  # wrong clustering scores worse

    Z, y = _planted_clusters(n_per=50, k=3, p=10, seed=3)
    held = np.arange(len(Z)) % 5 == 0

    def make(d):
        return DEC(n_components=3, embedding_dim=d, max_iter=10, random_state=0)

    best, curve, models = select_embedding_dim(Z[~held], Z[held], [1, 2, 4, 8], make)
    assert best == min(curve, key=lambda d: (curve[d], d))
    assert set(curve) == {1, 2, 4, 8}
    m = models[best]
    assert curve[best] == pytest.approx(fisher_score(m.embed(Z[held]), m.predict(Z[held])))
    # planted, well-separated clusters: the selected embedding separates them on held-out data
    assert adjusted_rand_score(y[held], m.predict(Z[held])) == pytest.approx(1.0)
    assert curve[best] < 0.05


def test_bona_histograms_and_top_members():
    hist = bona_histograms([0, 1, 1, 2], [0, 0, 0, 2], n_images=3, n_clusters=3)
    np.testing.assert_allclose(hist, [[1 / 3, 2 / 3, 0], [0, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="clusters"):
        bona_histograms([3], [0], 1, 3)
    Q = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    np.testing.assert_array_equal(top_members(Q, 2), [[0, 2], [1, 3]])


def test_batched_log_equals_skimage_blob_log_per_map():
    from skimage.feature import blob_log

    from reference_impls.methods.bona import log_blobs

    rng = np.random.default_rng(5)
    maps = []
    for _ in range(80):  # 1-4 random Gaussian blobs, some touching (pruning paths)
        m = np.zeros((24, 24))
        for _ in range(rng.integers(1, 5)):
            m += rng.uniform(0.3, 1) * _gauss(24, *rng.uniform(0, 24, 2), rng.uniform(1, 4))
        maps.append(m / m.max())
    maps = np.asarray(maps, dtype=np.float32)
    kw = dict(min_sigma=1.0, max_sigma=5.0, num_sigma=5, threshold=0.1)
    j, y, x, s = log_blobs(maps, **kw)
    for k, m in enumerate(maps):
        ref = blob_log(m, **kw)
        mine = np.column_stack([y[j == k], x[j == k], s[j == k]])
        assert mine.shape == ref.shape, k
        np.testing.assert_allclose(np.sort(mine, 0), np.sort(ref, 0), atol=1e-6)


def test_k_rule_and_setting_halves():
    from reference_impls.papers.bona.experiments import auto_clusters, setting_images

    # smallest power of two >= max(21, 2 x classes), fixed before any run
    assert [auto_clusters(c) for c in (6, 10, 16, 17, 200)] == [32, 32, 32, 64, 512]
    labels = np.repeat(np.arange(4), 30)
    cfg = {
        "settings": {
            "probe": dict(fit_split="probe", eval_split="probe", fit_images=40, eval_images=40),
            "in": dict(fit_split="train", eval_split="test", fit_images=20, eval_images=40),
        }
    }
    fit, ev = setting_images("probe", cfg, labels, labels, seed=0)
    assert len(np.intersect1d(fit, ev)) == 0
    assert np.bincount(labels[fit]).tolist() == [10] * 4 == np.bincount(labels[ev]).tolist()
    fit, ev = setting_images("in", cfg, labels, labels, seed=0)
    assert np.bincount(labels[fit]).tolist() == [5] * 4
    assert np.bincount(labels[ev]).tolist() == [10] * 4


def test_table1_rows_on_planted_histograms(tmp_path):
    import logging

    from reference_impls.models import save_activations
    from reference_impls.papers.bona.experiments import table1_rows

    rng = np.random.default_rng(0)
    n, k = 120, 8
    y = np.tile(np.arange(4), n // 4)  # every class in both halves
    image = np.repeat(np.arange(n), 3)  # three patches per image
    clusters = 2 * y[image] + rng.integers(0, 2, len(image))  # class c -> clusters 2c, 2c+1
    hist = bona_histograms(clusters, image, n, k)
    rows = np.arange(60)
    data = dict(
        fit_rows=rows, eval_rows=rows, labels=np.concatenate([y[:60], y[60:]]), patch_image=image
    )
    clus = dict(
        histograms=hist,
        clusters=clusters,
        n_clusters=np.int64(k),
        histograms_paper_d=np.zeros((n, 0)),
        paper_embedding_dim=np.int64(32),
    )
    for name, part in (("fit", slice(0, 60)), ("eval", slice(60, n))):
        feats = rng.normal(size=(60, 5)).astype(np.float32)  # uninformative CNN features
        save_activations(tmp_path / f"{name}.npz", feats, rng.normal(size=(60, 4)), y[part], rows)
    cfg = {
        "model": "m",
        "softmax_C": 1.0,
        "settings": {"probe": dict(fit_split="probe", eval_split="probe")},
    }
    caches = {"m": (tmp_path / "fit.npz", tmp_path / "eval.npz")}
    out = {
        r["method"]: r
        for r in table1_rows("probe", data, clus, caches, cfg, 0, logging.getLogger("t"))
    }
    assert out["BONA"]["top1"] == 1.0 and out["CNN + BONA"]["top1"] == 1.0
    assert out["random clusters (control)"]["top1"] < 0.6
    assert out["CNN"]["top1"] < 0.6
    assert out["CNN + BONA"]["gain_low"] > 0
    assert "CNN (own head)" not in out  # probe classes: the network's head does not apply
