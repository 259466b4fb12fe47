"""Linear concept banks: any extractor seen as ``A ~= U W + offset`` (what concept-space
metrics need), fitted per class, and the affine decoder of an extractor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils import as_numpy, derive_seed
from .base import make_extractor


def affine_decoder(extractor, r: int, n_features: int):
    """``(D, b)`` with ``inverse_transform(U) == U @ D + b``, checked on random codes."""
    zeros = np.zeros((1, r), dtype=np.float32)
    b = as_numpy(extractor.inverse_transform(zeros), np.float64)[0]
    D = as_numpy(extractor.inverse_transform(np.eye(r, dtype=np.float32)), np.float64) - b
    if D.shape != (r, n_features):
        raise ValueError(
            f"{type(extractor).__name__}.inverse_transform returned shape "
            f"{D.shape}, expected ({r}, {n_features})"
        )
    probe = np.random.default_rng(0).random((4, r)).astype(np.float32)
    direct = as_numpy(extractor.inverse_transform(probe), np.float64)
    scale = np.abs(direct).max() + 1e-12
    if np.abs(direct - (probe @ D + b)).max() > 1e-3 * scale:
        raise ValueError(
            f"{type(extractor).__name__}.inverse_transform is not affine in U; "
            f"concept deletion/insertion need A_hat = U D + b"
        )
    return D.astype(np.float32), b.astype(np.float32)


@dataclass
class LinearBank:
    """A concept bank seen as ``A ~= U W + offset``: what the concept-space metrics need.

    ``encode`` maps activation rows (n x p) to coefficients (n x r); ``W`` is r x p and
    ``offset`` (p,) is the reconstruction of ``U = 0`` (the mean, for PCA / ICA; 0 for NMF).
    """

    W: np.ndarray
    offset: np.ndarray | None
    encode: object

    def coefficient_maps(self, maps) -> np.ndarray:
        """(N, p, H, W) activation maps -> (N, H, W, r) channels-last coefficients."""
        maps = np.asarray(maps, dtype=np.float32)
        n, p, h, w = maps.shape
        U = as_numpy(self.encode(maps.transpose(0, 2, 3, 1).reshape(-1, p)), np.float32)
        return U.reshape(n, h, w, -1)


def extractor_banks(
    A, labels, method: str, n_concepts: int, params=None, seed: int = 0, tag: str = "banks"
) -> dict[int, LinearBank]:
    """A bank per class from any registered extractor (``"pca"``, ``"ica"``,
    ``"module:Class"``) fitted on the rows ``A`` of that class (``labels``); ``tag`` (the
    paper id) seeds each class's fit."""
    out = {}
    for c in np.unique(labels):
        ext = make_extractor(
            method,
            params,
            n_components=n_concepts,
            random_state=derive_seed(seed, tag, method, int(c)),
        )
        ext.fit(A[labels == c])
        W, offset = affine_decoder(ext, n_concepts, A.shape[1])
        out[int(c)] = LinearBank(W, offset, ext.transform)
    return out
