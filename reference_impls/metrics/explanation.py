"""Metrics of an explanation network (Khorram, MS thesis 2020, ch. 3 / Qi, Khorram & Li,
"Embedding deep networks into visual explanations", AIJ 2021): faithfulness of the
x-feature prediction (F_reg, F_cls, Sec. 3.3.2), orthogonality of the x-feature heatmaps
(O1, O2, Sec. 3.3.2) and locality (entropy of the part histogram, Sec. 3.3.2 and App. A
Alg. 3). Where the extracted thesis text is garbled the reading chosen is stated in the
function's docstring.
"""

from __future__ import annotations

import numpy as np


def _vector(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: expected a finite 1-d array, got shape {x.shape}")
    return x


def f_reg(y_hat, y_bar) -> float:
    """F_reg (thesis Sec. 3.3.2): ``1/M sum_m |ybar_m - yhat_m|``, the mean absolute error of
    the XNN prediction ``y_bar`` against the CNN's pre-softmax logit ``y_hat`` (in logit
    units; the minus sign is lost in the extracted formula). Lower is better."""
    y_hat, y_bar = _vector(y_hat, "y_hat"), _vector(y_bar, "y_bar")
    if y_hat.shape != y_bar.shape:
        raise ValueError(f"y_hat {y_hat.shape} and y_bar {y_bar.shape} differ in length")
    return float(np.abs(y_bar - y_hat).mean())


def f_cls(logits, y_bar, k: int) -> float:
    """F_cls (thesis Sec. 3.3.2): share of examples whose argmax over the full logit vector
    is unchanged when logit ``k`` is replaced by the XNN prediction ``y_bar``. Higher is
    better (1 = the explanation never changes the CNN's decision)."""
    logits = np.asarray(logits, dtype=np.float64)
    y_bar = _vector(y_bar, "y_bar")
    if logits.ndim != 2 or logits.shape[0] != len(y_bar) or not 0 <= k < logits.shape[1]:
        raise ValueError(
            f"logits must be (M, K) with M = len(y_bar) = {len(y_bar)} and 0 <= k < K; "
            f"got logits {logits.shape}, k = {k}"
        )
    swapped = logits.copy()
    swapped[:, k] = y_bar
    return float((swapped.argmax(1) == logits.argmax(1)).mean())


def heatmap_correlation(maps) -> np.ndarray:
    """``P = diag(C)^-1/2 C diag(C)^-1/2`` of the x-features' heatmaps ``(M, n, H, W)``: each
    x-feature's maps over the M images concatenated into one vector (the thesis' covariance
    "aggregated over the dataset"), C = their n x n covariance."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim < 3:
        raise ValueError(f"maps: expected (M, n, H, W) or (M, n, P), got shape {maps.shape}")
    flat = np.moveaxis(maps, 1, 0).reshape(maps.shape[1], -1)
    std = flat.std(1)
    if np.any(std == 0):
        raise ValueError(
            f"maps: x-feature(s) {np.flatnonzero(std == 0).tolist()} have constant heatmaps; "
            f"their correlation is undefined"
        )
    return np.corrcoef(flat)


def orthogonality(maps) -> dict:
    """O1, O2 (thesis Sec. 3.3.2) of the heatmap correlation matrix P (n x n).

    Reading: ``O1 = ||P||_F - sqrt(n)`` (printed "||P||_F sqrt(n)"; the minus is the only
    reading with optimum 0 at P = I that matches Table 3.2's O1 ~ O2 / sqrt(n));
    ``O2 = -log det P``. Both are 0 for uncorrelated maps: lower is better. ``O1_alt`` =
    ``||P - I||_F / sqrt(n)`` is reported for reference."""
    P = heatmap_correlation(maps)
    n = P.shape[0]
    sign, logdet = np.linalg.slogdet(P)
    o2 = float(-logdet) if sign > 0 else float("inf")
    return dict(
        O1=float(np.linalg.norm(P) - np.sqrt(n)),
        O2=o2,
        O1_alt=float(np.linalg.norm(P - np.eye(n)) / np.sqrt(n)),
    )


def entropy_locality(hist) -> float:
    """Locality (thesis Sec. 3.3.2): entropy ``-sum_p s_p log s_p`` (nats) of a part histogram
    normalised to sum 1. Lower is better (mass concentrated on fewer parts); the maximum is
    log(number of bins)."""
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 1 or np.any(hist < 0) or hist.sum() <= 0:
        raise ValueError(f"hist: expected a non-negative 1-d histogram with mass, got {hist}")
    s = hist / hist.sum()
    s = s[s > 0]
    return float(-(s * np.log(s)).sum())


def mask_part_mass(maps, part_masks, n_regions: int) -> np.ndarray:
    """Exact-mask part probability (thesis Places protocol): ``S_p^{n,m} = sum_{ij in part p}
    S_ij^{n,m}`` for maps ``(M, n, H, W)`` and integer masks ``(M, H, W)``; ``(M, n, R)``."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(part_masks, dtype=np.int64)
    if maps.ndim != 4 or masks.shape != (maps.shape[0],) + maps.shape[2:]:
        raise ValueError(f"maps {maps.shape} must be (M, n, H, W) and part_masks (M, H, W)")
    onehot = np.eye(n_regions)[masks]
    return np.einsum("mkhw,mhwr->mkr", maps, onehot)


def voronoi_part_probability(keypoints, object_mask) -> np.ndarray:
    """App. A Alg. 3: per pixel, the probability of each part from its keypoint, ``(P+1, H, W)``.

    Voronoi cells G_p of the visible keypoints inside the object's bounding box; ``d_ijp`` =
    distance to keypoint p normalised to [0, 1] by its maximum within G_p (reading: the thesis
    does not say how d is normalised); ``P(part_p | pixel) = 1 - d_ijp`` inside G_p, 0 outside;
    the last channel "context" is 1 outside the box. ``keypoints`` (P, 3): x, y, visible."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    obj = np.asarray(object_mask, dtype=bool)
    if keypoints.ndim != 2 or keypoints.shape[1] != 3 or obj.ndim != 2:
        raise ValueError(f"keypoints {keypoints.shape} must be (P, 3), object_mask 2-d")
    H, W = obj.shape
    n_parts = len(keypoints)
    out = np.zeros((n_parts + 1, H, W))
    if not obj.any():
        out[-1] = 1.0
        return out
    rows, cols = np.flatnonzero(obj.any(1)), np.flatnonzero(obj.any(0))
    box = np.zeros_like(obj)
    box[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
    out[-1] = ~box
    vis = np.flatnonzero(keypoints[:, 2] > 0)
    if len(vis) == 0:
        return out
    yy, xx = np.mgrid[0:H, 0:W]
    dist = np.sqrt(
        (xx[None] - keypoints[vis, 0, None, None]) ** 2
        + (yy[None] - keypoints[vis, 1, None, None]) ** 2
    )
    cell = dist.argmin(0)
    for i, p in enumerate(vis):
        inside = box & (cell == i)
        if inside.any():
            dmax = dist[i][inside].max()
            out[p][inside] = 1.0 - dist[i][inside] / dmax if dmax > 0 else 1.0
    return out


def part_histogram_locality(part_mass) -> tuple[np.ndarray, np.ndarray]:
    """Per x-feature: the histogram ``Sbar_p^n = 1/M sum_m S_p^{n,m}`` of part masses
    ``(M, n, R)`` and its entropy (:func:`entropy_locality`); returns ``(hist (n, R),
    entropy (n,))``."""
    part_mass = np.asarray(part_mass, dtype=np.float64)
    if part_mass.ndim != 3:
        raise ValueError(f"part_mass: expected (M, n, R), got {part_mass.shape}")
    hist = part_mass.mean(0)
    return hist, np.array([entropy_locality(h) for h in hist])
