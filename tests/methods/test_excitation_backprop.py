"""Excitation backprop / c-MWP (Zhang et al. 2016) on hand-computed and conserved cases."""

import numpy as np
import pytest
import torch
from torch import nn

from reference_impls.methods.excitation_backprop import (
    excitation_backprop,
    flatten_modules,
    fold_batchnorm,
)


def _two_layer():
    lin = nn.Linear(2, 2, bias=False)
    lin.weight.data = torch.tensor([[2.0, -1.0], [1.0, 1.0]])
    return [lin, nn.ReLU()]


def test_hand_computed_mwp_and_contrastive():
    # x = (2, 1): h = relu(W x) = (3, 3); classifier w = (1, -2).
    # MWP from w+ = (1, 0): P(h) = (1, 0); W+ = [[2, 0], [1, 1]], W+ x = (4, 3)
    #   -> P(x) = x * W+^T (P(h) / W+ x) = (2, 1) * (2/4, 0) = (1, 0).
    # Dual w- = (0, 2): P(h) = (0, 1) -> P(x) = (2, 1) * (1/3, 1/3) = (2/3, 1/3).
    # c-MWP = clamp((1, 0) - (2/3, 1/3), 0) = (1/3, 0).
    x = np.array([[2.0, 1.0]], np.float32)
    w = np.array([[1.0, -2.0]], np.float32)
    mwp = excitation_backprop(_two_layer(), x, weights=w, contrastive=False)
    np.testing.assert_allclose(mwp[0, 0], [1.0, 0.0], atol=1e-6)
    cmwp = excitation_backprop(_two_layer(), x, weights=w, contrastive=True)
    np.testing.assert_allclose(cmwp[0, 0], [1 / 3, 0.0], atol=1e-6)
    # a hidden unit as the top (Lasso / Z columns): P(h) = e_1 -> (2, 1) * (1/3, 1/3)
    unit = excitation_backprop(_two_layer(), x, units=[1])
    np.testing.assert_allclose(unit[0, 0], [2 / 3, 1 / 3], atol=1e-6)


def _cnn(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    for m in net:
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return net.eval()


def test_batchnorm_folding_keeps_the_function():
    net = _cnn()
    x = torch.rand(4, 3, 8, 8)
    folded = nn.Sequential(*fold_batchnorm(flatten_modules(net)))
    torch.testing.assert_close(folded(x), net(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded)


def test_mwp_conserves_probability_and_cmwp_is_nonnegative():
    chain = fold_batchnorm(flatten_modules(_cnn()))
    x = np.random.default_rng(0).uniform(0.05, 1, (3, 3, 8, 8)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(2, 8)).astype(np.float32)
    mwp = excitation_backprop(chain, x, weights=w, contrastive=False)
    assert mwp.shape == (3, 2, 8, 8)
    np.testing.assert_allclose(mwp.sum((2, 3)), 1.0, atol=1e-4)  # Eq. 7 conserves mass
    at_pool = excitation_backprop(chain, x, weights=w, contrastive=False, saliency_index=4)
    np.testing.assert_allclose(at_pool.sum((2, 3)), 1.0, atol=1e-4)
    cmwp = excitation_backprop(chain, x, weights=w, contrastive=True)
    assert (cmwp >= 0).all() and cmwp.sum() > 0
    # linear recursion: c-MWP before the clamp = MWP(w+) - MWP(dual)
    neg = excitation_backprop(chain, x, weights=-w, contrastive=False)
    pos_only = excitation_backprop(chain, x, weights=np.clip(w, 0, None), contrastive=False)
    neg_only = excitation_backprop(chain, x, weights=np.clip(-w, 0, None), contrastive=False)
    np.testing.assert_allclose(cmwp, np.clip(pos_only - neg_only, 0, None), atol=1e-5)
    np.testing.assert_allclose(neg, neg_only, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        excitation_backprop(_two_layer(), np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="BatchNorm2d not preceded"):
        fold_batchnorm([nn.BatchNorm2d(3)])
    with pytest.raises(TypeError, match="unsupported module"):
        excitation_backprop([nn.Tanh()], np.ones((1, 2), np.float32), units=[0])
