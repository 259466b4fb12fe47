"""ProtoNMF: exact head reconstruction, each closed form against scipy, ProtoPNet's push."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.optimize import nnls as scipy_nnls

from reference_impls.factorization import nnls
from reference_impls.methods.protonmf import (
    ProtoNMF,
    augmented_prototypes,
    coefficient_balance,
    head_coefficients,
    residual_presence,
    residual_prototype,
)
from reference_impls.models.zoo import SmallCNN
from reference_impls.papers.protonmf import experiments as ex
from reference_impls.papers.protonmf import protopnet as ppn


@pytest.fixture(scope="module")
def tiny():
    """A random tiny CNN in float64, its stage4 maps on 24 images of 3 classes, ProtoNMF."""
    torch.manual_seed(0)
    model = SmallCNN(3, widths=(4, 4, 6, 8)).double().eval()
    x = torch.rand(24, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        maps = model.features(x)
        logits = model(x).numpy()
    acts = maps.numpy()
    y = np.repeat([0, 1, 2], 8)
    A = acts.transpose(0, 2, 3, 1).reshape(-1, 8)
    est = ProtoNMF(2, max_iter=50, random_state=0).fit(A, np.repeat(y, 4))
    est.fit_head(model.fc.weight.detach().numpy(), model.fc.bias.detach().numpy())
    return model, acts, logits, est


def test_nmf_plus_residual_equals_the_model_logits(tiny):
    _, acts, logits, est = tiny
    G = acts.mean((2, 3))
    for variant in ("exact", "augmented"):
        np.testing.assert_allclose(est.decision_function(G, variant), logits, atol=1e-10)
    # NMF only is not exact: the residual matters
    assert np.abs(est.decision_function(G, "nmf_only") - logits).max() > 1e-3
    parts = est.decision_function(G, "nmf_only") + est.decision_function(G, "residual_only")
    np.testing.assert_allclose(parts - est.head_bias_, logits, atol=1e-10)


def test_head_coefficients_match_a_numerical_solver():
    rng = np.random.default_rng(1)
    B, V = np.abs(rng.standard_normal((3, 7))), rng.standard_normal(7)
    C = head_coefficients(B, V)
    res = minimize(lambda c: ((V - c @ B) ** 2).sum(), np.zeros(3), method="BFGS", tol=1e-12)
    np.testing.assert_allclose(C, res.x, atol=1e-6)
    R = residual_prototype(V, C, B)
    np.testing.assert_allclose(B @ R, 0, atol=1e-10)  # Eq. 5: the residual is orthogonal to B


def test_residual_presence_matches_a_numerical_solver():
    rng = np.random.default_rng(2)
    A, E, B = (
        np.abs(rng.standard_normal((5, 6))),
        np.abs(rng.standard_normal((5, 2))),
        np.abs(rng.standard_normal((2, 6))),
    )
    R = rng.standard_normal(6)
    H = residual_presence(A, E, B, R)
    obj = lambda h: ((A - E @ B - np.outer(h, R)) ** 2).sum()  # noqa: E731
    res = minimize(obj, np.zeros(5), method="BFGS", tol=1e-12)
    np.testing.assert_allclose(H, res.x, atol=1e-6)
    np.testing.assert_array_equal(residual_presence(A, E, B, np.zeros(6)), 0)


def test_augmented_prototypes_rebuild_the_head_and_eq9_matches_scipy_nnls():
    rng = np.random.default_rng(3)
    B, C, R = (
        np.abs(rng.standard_normal((3, 5))),
        np.array([0.5, -0.2, 0.4]),
        rng.standard_normal(5),
    )
    Bp = augmented_prototypes(B, C, R)
    np.testing.assert_allclose(C @ Bp, C @ B + R, atol=1e-12)  # Eq. 8 is exact
    assert coefficient_balance(C) == pytest.approx(0.7 / 1.1)
    with pytest.raises(ZeroDivisionError):
        augmented_prototypes(B, np.array([1.0, -1.0, 0.0]), R)
    A = np.abs(rng.standard_normal((4, 5)))
    E = nnls(A, Bp)  # Eq. 9
    for i in range(4):
        np.testing.assert_allclose(E[i], scipy_nnls(Bp.T, A[i])[0], atol=1e-6)


def test_intervention_removes_exactly_one_prototype_contribution(tiny):
    _, acts, _, est = tiny
    G = acts.mean((2, 3))[:3]
    before = est.decision_function(G, "augmented")
    after = est.intervene(G, [0, 1, 2], [1, 0, 1])
    for j, (c, k) in enumerate(zip([0, 1, 2], [1, 0, 1])):
        expected = est.coef_[c, k] * G[j] @ est.augmented_[c, k]
        assert before[j, c] - after[j, c] == pytest.approx(expected)
        others = [i for i in range(3) if i != c]
        np.testing.assert_array_equal(before[j, others], after[j, others])


def test_extractor_interface_without_labels():
    rng = np.random.default_rng(4)
    A = np.abs(rng.standard_normal((60, 6)))
    est = ProtoNMF(n_components=3, random_state=0).fit(A)
    assert est.components_.shape == (3, 6)
    U = est.transform(A)
    assert U.shape == (60, 3) and (U >= 0).all()
    err = np.linalg.norm(A - est.inverse_transform(U)) / np.linalg.norm(A)
    assert err == pytest.approx(est.feature_error_[0], abs=1e-3)
    with pytest.raises(ValueError, match="negative"):
        ProtoNMF(clip_negative=False).fit(-A)


def test_table3_on_the_tiny_model_is_exact_and_random_control_is_not(tiny):
    model, acts, logits, est = tiny
    test = dict(activations=acts, labels=logits.argmax(1), logits=logits)
    W, b = model.fc.weight.detach().numpy(), model.fc.bias.detach().numpy()
    t3 = ex.table3({2: est}, test, W, b, "tiny", 0, 20)
    exact = t3[t3.variant == "exact"].iloc[0]
    assert exact.max_dlogit_head < 1e-10 and exact.agreement == 1 and exact.accuracy == 1


def test_push_takes_the_nearest_patch_of_the_prototypes_own_class():
    torch.manual_seed(0)
    net = ppn.ProtoPNet(torch.nn.Identity(), 4, 2, per_class=2, dim=4, seed=0)
    net.add_on = torch.nn.Identity()  # features = input maps (planted)
    with torch.no_grad():
        net.prototypes.copy_(
            torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        )
    X = np.full((3, 4, 2, 2), 5.0, dtype=np.float32)
    y = np.array([0, 0, 1])
    X[1, :, 1, 0] = [0.9, 0, 0, 0]  # nearest to prototype 0 (class 0)
    X[0, :, 0, 1] = [0, 1.2, 0, 0]  # nearest to prototype 1 (class 0)
    X[0, :, 1, 1] = [0, 0, 1.0, 0]  # exactly prototype 2, but in a class-0 image: ignored
    X[2, :, 0, 0] = [0, 0, 0.7, 0]  # nearest class-1 patch to prototype 2
    X[2, :, 1, 1] = [0, 0, 0, 1.1]  # nearest class-1 patch to prototype 3
    where = ppn.push(net, X, y)
    np.testing.assert_array_equal(where, [[1, 1, 0], [0, 0, 1], [2, 0, 0], [2, 1, 1]])
    expected = [[0.9, 0, 0, 0], [0, 1.2, 0, 0], [0, 0, 0.7, 0], [0, 0, 0, 1.1]]
    np.testing.assert_allclose(net.prototypes.detach().numpy(), expected, atol=1e-6)


def test_protopnet_costs_by_hand():
    net = ppn.ProtoPNet(torch.nn.Identity(), 3, 2, per_class=1, dim=3, seed=0)
    min_d = torch.tensor([[0.5, 2.0], [1.0, 0.2]])
    y = torch.tensor([0, 0])
    logits = torch.zeros(2, 2)
    loss = ppn.protopnet_loss(net, logits, min_d, y, clst=1.0, sep=0.0)
    # cluster = mean distance to the own-class prototype = (0.5 + 1.0) / 2; CE = log 2
    assert float(loss) == pytest.approx(np.log(2) + 0.75)
    loss = ppn.protopnet_loss(net, logits, min_d, y, clst=0.0, sep=1.0)
    assert float(loss) == pytest.approx(np.log(2) + (2.0 + 0.2) / 2)
    np.testing.assert_array_equal(net.last.weight.detach().numpy(), [[1, -0.5], [-0.5, 1]])


def test_protopnet_run_above_a_resnet_block_keeps_pushed_patches():
    """End to end on a tiny ResNet: after every cycle each prototype is an add-on patch of
    a training image of its own class (push, then only the last layer moves)."""
    from reference_impls.models.zoo import SmallResNet

    torch.manual_seed(0)
    model = SmallResNet(2, widths=(4, 4, 4, 8)).eval()
    X = np.random.default_rng(0).random((8, 4, 4, 4)).astype(np.float32)
    y = np.repeat([0, 1], 4)
    cfg = dict(
        prototypes_per_class=2,
        prototype_dim=3,
        warm_epochs=1,
        cycles=2,
        joint_epochs_per_cycle=1,
        last_layer_epochs=1,
        batch_size=4,
    )
    nmf_cfg = dict(solver="mu", max_iter=20, tol=1e-4)
    rows, states = ex.protopnet_run(model, X, y, X, y, cfg, ["stage4"], 0, nmf_cfg)
    assert len(rows) == 2 * 2 and set(rows.cycle) == {1, 2}
    assert (rows[["protopnet", "nmf", "random_patches"]] >= 0).all().all()
    net = ex.rebuild_protopnet(model, states[2]["state"], X, cfg, ["stage4"])
    maps = ppn.add_on_maps(net, X)
    for j, (img, h, w) in enumerate(states[2]["where"].numpy()):
        assert y[img] == j // 2
        np.testing.assert_allclose(net.prototypes[j].detach().numpy(), maps[img, h, w], atol=1e-5)
