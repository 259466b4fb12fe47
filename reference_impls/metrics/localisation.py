"""Part-mask localisation of attribution maps: how much of a map's mass falls in each
ground-truth region (background, then the procedural parts), and per concept the
best-matching part against what a uniform map would score (its area share)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.procedural import PART_NAMES

REGION_NAMES = ("background",) + tuple(PART_NAMES)


def region_shares(maps, part_masks, n_regions: int = len(REGION_NAMES)) -> np.ndarray:
    """Share of each map's mass in each ground-truth region: ``(N, k, n_regions)``; NaN for a
    map with no mass."""
    maps = np.asarray(maps, dtype=np.float64)
    onehot = np.eye(n_regions)[np.asarray(part_masks, dtype=np.int64)]  # (N, H, W, R)
    mass = np.einsum("nkhw,nhwr->nkr", maps, onehot)
    total = mass.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, mass / total, np.nan)


def localisation_table(maps, part_masks, class_id: int) -> pd.DataFrame:
    """Per concept: the mean share of its attribution maps' mass in each region over the
    images where the map has mass, its best-matching *part* (largest mean share among the
    five part masks), that part's mean area share (what a uniform map would score) and the
    ratio of the two; ``share_background`` says how much mass falls outside the bird."""
    shares = region_shares(maps, part_masks)  # (N, k, R)
    area = np.stack(
        [(np.asarray(part_masks) == r).mean((1, 2)) for r in range(len(REGION_NAMES))], 1
    )  # (N, R)
    rows = []
    for i in range(shares.shape[1]):
        valid = ~np.isnan(shares[:, i, 0])
        row = {"class": class_id, "concept": i, "n_images": int(valid.sum())}
        if valid.any():
            mean = shares[valid, i].mean(0)
            best = 1 + int(mean[1:].argmax())
            row.update(
                part=REGION_NAMES[best],
                mass_share=float(mean[best]),
                area_share=float(area[valid, best].mean()),
                **{f"share_{name}": float(m) for name, m in zip(REGION_NAMES, mean)},
            )
            row["enrichment"] = row["mass_share"] / max(row["area_share"], 1e-12)
        rows.append(row)
    return pd.DataFrame(rows)
