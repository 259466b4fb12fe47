"""Holistic extraction metrics (Fel et al., NeurIPS 2023, "A holistic approach to unifying
automatic concept extraction and concept importance estimation", Sec. 3 and App.), as
re-implemented by Interpreto and Overcomplete, whose definitions diverge; each function says
which variant it is. Direction in each docstring and in ``HIGHER_IS_BETTER``.

- :func:`code_sparsity` (higher better): fraction of zero coefficients of ``U``.
- :func:`frechet_distance` (lower better): Fréchet (Gaussian) distance between the rows of
  ``A`` and of its reconstruction ``A_hat`` (the clean-fid variant), relative to ``tr(cov A)``.
- :func:`wasserstein_1d` (lower better): mean per-feature 1-D Wasserstein distance (Interpreto's
  "FID"), relative to each feature's standard deviation.
- :func:`ood_distance` (lower better): Deep-kNN distance of normalised reconstructions to the
  real activations (Sun et al. 2022 as used by Fel et al.).
- :func:`output_agreement` (top-1 agreement higher better, KL lower better): the model's output
  on ``A`` against its output on the reconstruction (ConceptSHAP completeness, FACE, SURF).
- :func:`concept_mufidelity` (higher better): C-muFidelity, the correlation between the total
  importance of a random concept subset and the score drop when that subset is removed
  (Bhatt et al. 2020's muFidelity in concept space, Fel et al. 2023 Sec. 4).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import linalg
from sklearn.neighbors import NearestNeighbors

from ..utils import as_numpy

__all__ = [
    "code_sparsity",
    "frechet_distance",
    "wasserstein_1d",
    "ood_distance",
    "OutputAgreement",
    "output_agreement",
    "concept_mufidelity",
]


def _matrix(X, name: str) -> np.ndarray:
    X = np.asarray(as_numpy(X), dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or not np.isfinite(X).all():
        raise ValueError(f"{name} must be a finite 2-D array with >= 2 rows, got {X.shape}")
    return X


def code_sparsity(U, rel_tol: float = 1e-6) -> float:
    """Fraction of coefficients of ``U`` (n x r) that are zero: ``|U_ij| <= rel_tol *
    max|U|`` (Fel et al. 2023 "Sparsity", ``1 - nnz(U) / size``). Higher is sparser (better
    in the holistic paper's reading: fewer concepts per explanation)."""
    U = _matrix(U, "U")
    scale = np.abs(U).max()
    if scale == 0:
        return 1.0
    return float((np.abs(U) <= rel_tol * scale).mean())


def frechet_distance(A, A_hat) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``A`` and ``A_hat``
    (``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})``, Heusel et al. 2017; the holistic
    paper's "FID" in its clean-fid variant), divided by ``tr(S1)`` so that layers of any
    scale compare. 0 for identical distributions; lower is better."""
    A, B = _matrix(A, "A"), _matrix(A_hat, "A_hat")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A has {A.shape[1]} features, A_hat {B.shape[1]}")
    m1, m2 = A.mean(0), B.mean(0)
    s1, s2 = np.cov(A, rowvar=False), np.cov(B, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    d = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return max(d, 0.0) / float(np.trace(s1))


def wasserstein_1d(A, A_hat) -> float:
    """Mean over features of the 1-D Wasserstein-1 distance between the feature's values in
    ``A`` and in ``A_hat`` (Interpreto's and Overcomplete's "FID" after Fel et al. 2023),
    each divided by the
    feature's standard deviation in ``A`` (features constant in ``A`` are compared raw).
    Computed exactly from sorted samples (equal row counts). Lower is better."""
    A, B = _matrix(A, "A"), _matrix(A_hat, "A_hat")
    if A.shape != B.shape:
        raise ValueError(f"A {A.shape} and A_hat {B.shape} must have the same shape")
    w = np.abs(np.sort(A, 0) - np.sort(B, 0)).mean(0)
    sd = A.std(0)
    return float(np.mean(np.where(sd > 0, w / np.where(sd > 0, sd, 1), w)))


def ood_distance(A_hat, A_ref, k: int = 5) -> float:
    """Deep-kNN OOD score (Sun et al. 2022; Fel et al. 2023 "OOD"): rows L2-normalised (zero
    rows stay zero), the mean distance of each ``A_hat`` row to its ``k`` nearest rows of
    ``A_ref``. Lower means the reconstructions look like real activations."""
    B, R = _matrix(A_hat, "A_hat"), _matrix(A_ref, "A_ref")

    def unit(X):
        n = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.where(n > 0, n, 1)

    nn = NearestNeighbors(n_neighbors=min(k, len(R))).fit(unit(R))
    dist, _ = nn.kneighbors(unit(B))
    return float(dist.mean())


class OutputAgreement(NamedTuple):
    """``top1``: share of inputs whose predicted class is the same on ``A`` and ``A_hat``
    (higher better); ``kl``: mean KL(p(A) || p(A_hat)) of the softmax outputs (lower better)."""

    top1: float
    kl: float


@torch.no_grad()
def output_agreement(head, A_maps, A_hat_maps, batch_size: int = 512) -> OutputAgreement:
    """The model above the layer (``head``: channels-last activations -> logits) on the
    activations and on their reconstruction: top-1 agreement (higher is better) and KL
    divergence (lower is better); output-level completeness as in ConceptSHAP (Yeh et al.
    2020), FACE and SURF."""
    if np.shape(A_maps) != np.shape(A_hat_maps):
        raise ValueError(f"A {np.shape(A_maps)} and A_hat {np.shape(A_hat_maps)} differ in shape")
    agree, kls = [], []
    for i in range(0, len(A_maps), batch_size):
        a = torch.as_tensor(np.asarray(A_maps[i : i + batch_size]), dtype=torch.float32)
        b = torch.as_tensor(np.asarray(A_hat_maps[i : i + batch_size]), dtype=torch.float32)
        la, lb = torch.log_softmax(head(a), 1), torch.log_softmax(head(b), 1)
        agree.append((la.argmax(1) == lb.argmax(1)).double())
        kls.append((la.exp() * (la - lb)).sum(1).double())
    return OutputAgreement(float(torch.cat(agree).mean()), float(torch.cat(kls).mean()))


@torch.no_grad()
def concept_mufidelity(
    U_maps,
    W,
    head,
    target,
    importance,
    *,
    n_subsets: int = 32,
    subset_fraction: float = 0.3,
    seed: int = 0,
    score: str = "softmax",
) -> float:
    """C-muFidelity (Fel et al. 2023, after Bhatt et al. 2020): for each input, ``n_subsets``
    random concept subsets S (each concept kept out with probability ``subset_fraction``, at
    least one removed); Pearson correlation over subsets between ``sum_{k in S} phi_k`` and
    ``f(U W) - f(U_{-S} W)``; mean over inputs (inputs where either side is constant are
    scored 0: no evidence of fidelity). ``importance`` is ``(N, r)`` per input or
    ``{class: (r,)}``; ``f`` the target's softmax probability (or ``"logit"``). Higher is
    better; a random importance scores ~0."""
    U = np.asarray(U_maps, dtype=np.float32)
    W = torch.as_tensor(np.asarray(W, dtype=np.float32))
    target = np.asarray(target)
    r = U.shape[-1]
    if isinstance(importance, dict):
        phi = np.stack([np.asarray(importance[int(t)], dtype=np.float64) for t in target])
    else:
        phi = np.asarray(importance, dtype=np.float64)
    if phi.shape != (len(U), r):
        raise ValueError(f"importance must be (N, r) = ({len(U)}, {r}), got {phi.shape}")
    rng = np.random.default_rng(seed)
    removed = rng.random((n_subsets, r)) < subset_fraction
    removed[~removed.any(1), 0] = True  # at least one concept removed per subset
    keep = torch.as_tensor(1.0 - removed, dtype=torch.float32)  # (S, r)

    def f(codes, t):
        out = head(codes @ W)
        out = torch.softmax(out, 1) if score == "softmax" else out
        return out[:, t]

    corrs = []
    for i in range(len(U)):
        u = torch.as_tensor(U[i])  # (..., r)
        full = f(u[None], int(target[i]))[0]
        masked = u[None] * keep.view(n_subsets, *([1] * (u.ndim - 1)), r)
        drop = (full - f(masked, int(target[i]))).double().numpy()
        attr = removed.astype(np.float64) @ phi[i]
        if drop.std() == 0 or attr.std() == 0:
            corrs.append(0.0)
        else:
            corrs.append(float(np.corrcoef(attr, drop)[0, 1]))
    return float(np.mean(corrs))
