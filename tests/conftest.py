"""Fixtures shared by every test module (and every paper's tests): a tiny CNN of the zoo, a
tiny procedural parts dataset with ground truth, planted ReLU-like activations, and one torch
thread (floats reproducible whatever the machine's core count)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reference_impls.data.base import ArrayImageDataset
from reference_impls.data.procedural import build_taxonomy, generate_split
from reference_impls.models import SmallCNN


def make_tiny_model(n_classes: int = 3, seed: int = 0) -> SmallCNN:
    """A ``SmallCNN`` with widths (4, 6, 8, 12): runs a 24 px batch in milliseconds."""
    torch.manual_seed(seed)
    return SmallCNN(n_classes, widths=(4, 6, 8, 12)).eval()


def make_tiny_parts(n: int, seed: int, n_classes: int = 2, image_size: int = 24):
    """A procedural split (images NCHW float in [0, 1], labels, part masks, backgrounds)."""
    train_cls, _, _ = build_taxonomy(n_classes, 1, 1)
    arr = generate_split(train_cls, n, image_size=image_size, seed=seed)
    images = arr.pop("images").astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    labels = arr.pop("labels")
    return ArrayImageDataset(images, labels, [c.name for c in train_cls], ground_truth=arr)


def make_relu_acts(n: int = 400, p: int = 24, r: int = 6, seed: int = 0) -> np.ndarray:
    """``n x p`` non-negative activations: sparse non-negative codes (40% active) times a
    planted non-negative bank of ``r`` atoms, plus 1% noise."""
    rng = np.random.default_rng(seed)
    base = rng.random((r, p)) ** 3
    codes = rng.random((n, r)) * (rng.random((n, r)) < 0.4)
    return (codes @ base + 0.01 * rng.random((n, p))).astype(np.float32)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Every test runs torch on one thread (as every embedded Snakemake job does)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def model_factory():
    """:func:`make_tiny_model` (``n_classes``, ``seed``) for tests that need several models."""
    return make_tiny_model


@pytest.fixture
def tiny_model():
    return make_tiny_model()


@pytest.fixture(scope="session")
def tiny_parts():
    """``SimpleNamespace(train, test, model)``: 40 training and 24 test images of two
    procedural classes, and a tiny untrained CNN for them."""
    train = make_tiny_parts(40, seed=0)
    return SimpleNamespace(
        train=train,
        test=make_tiny_parts(24, seed=1),
        model=make_tiny_model(n_classes=len(train.classes), seed=2),
    )


@pytest.fixture(scope="session")
def relu_acts():
    return make_relu_acts()
