"""Part-level ground truth for concept extractors: how well concept maps align with the
procedural set's part masks (FunnyBirds-style part annotations, Hesse et al. ICCV 2023,
adapted to unsupervised concepts as proposed in ``notes/field_anchors.md`` §3.3 and §4.2).

:func:`part_fractions` turns pixel part masks into the share of each feature-map cell
covered by each region; :func:`concept_part_alignment` matches concepts to regions
(Hungarian, Kuhn 1955) by soft IoU and returns the mean matched IoU. Higher is better.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["part_fractions", "PartAlignment", "concept_part_alignment"]


def part_fractions(part_masks, grid: tuple[int, int], n_regions: int) -> np.ndarray:
    """``(N, H, W)`` integer region masks (0 = background, 1.. = parts) -> ``(N, h, w, R)``
    share of each ``grid`` cell's pixels in each region (``H``, ``W`` multiples of ``h, w``)."""
    masks = np.asarray(part_masks)
    if masks.ndim != 3:
        raise ValueError(f"part_masks must be (N, H, W), got shape {masks.shape}")
    n, H, W = masks.shape
    h, w = grid
    if H % h or W % w:
        raise ValueError(f"part_masks {H}x{W} is not a multiple of the feature grid {h}x{w}")
    if masks.min() < 0 or masks.max() >= n_regions:
        raise ValueError(f"part_masks values must lie in [0, {n_regions}), got {masks.max()}")
    onehot = np.eye(n_regions, dtype=np.float32)[masks]  # (N, H, W, R)
    return onehot.reshape(n, h, H // h, w, W // w, n_regions).mean((2, 4))


class PartAlignment(NamedTuple):
    """``mean_iou``: mean soft IoU over the matched (concept, region) pairs; ``iou``: the
    full ``(r, R)`` concept x region IoU matrix; ``match``: matched region per concept
    (-1 when unmatched)."""

    mean_iou: float
    iou: np.ndarray
    match: np.ndarray


def concept_part_alignment(U_maps, fractions) -> PartAlignment:
    """Soft IoU between each concept's map and each region's coverage map, Hungarian-matched.

    ``U_maps`` ``(N, h, w, r)`` coefficients; each concept's map is divided by its maximum
    over the dataset (so it lies in [0, 1]; a concept that is never active has IoU 0).
    ``fractions`` ``(N, h, w, R)`` from :func:`part_fractions`. Soft IoU of maps ``m`` and
    ``q``: ``sum min(m, q) / sum max(m, q)`` over all cells of all images. Each region gets at
    most one concept and vice versa; the score is the mean IoU over the ``min(r, R)`` matched
    pairs (Hungarian matching, Kuhn 1955; part protocol after FunnyBirds, Hesse et al.
    2023). Higher is better: a random bank's maps spread over the object and background alike
    and score low.
    """
    U = np.asarray(U_maps, dtype=np.float64)
    F = np.asarray(fractions, dtype=np.float64)
    if U.shape[:3] != F.shape[:3]:
        raise ValueError(f"U_maps {U.shape} and fractions {F.shape} differ in (N, h, w)")
    U = np.maximum(U, 0)  # signed codes: only the positive part is a presence map
    peak = U.reshape(-1, U.shape[-1]).max(0)
    M = U / np.where(peak > 0, peak, 1)
    m = M.reshape(-1, M.shape[-1])  # (cells, r)
    q = F.reshape(-1, F.shape[-1])  # (cells, R)
    inter = np.stack([np.minimum(m[:, k : k + 1], q).sum(0) for k in range(m.shape[1])])
    union = np.stack([np.maximum(m[:, k : k + 1], q).sum(0) for k in range(m.shape[1])])
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    match = np.full(iou.shape[0], -1)
    match[rows] = cols
    return PartAlignment(float(iou[rows, cols].mean()), iou, match)
