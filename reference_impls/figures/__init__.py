"""Figure helpers shared by every paper: saving, crop mosaics, heatmap overlays.

Papers compose these in their own ``figures.py``; the foundation's figures (dataset samples,
training curves) are in :mod:`reference_impls.figures.foundation`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 150


def save(fig, path, dpi: int = DPI) -> None:
    """Write ``fig`` to ``path`` (parents created, tight bounding box) and close it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def mosaic(thumbs: np.ndarray, n: int = 4, gap: int = 1) -> np.ndarray:
    """Up to ``n`` crops (k x s x s x 3 uint8) tiled in a square grid with white gaps."""
    k = int(np.ceil(np.sqrt(n)))
    s = thumbs.shape[1]
    out = np.full((k * s + (k - 1) * gap, k * s + (k - 1) * gap, 3), 255, dtype=np.uint8)
    for j, t in enumerate(thumbs[:n]):
        r, c = divmod(j, k)
        out[r * (s + gap) : r * (s + gap) + s, c * (s + gap) : c * (s + gap) + s] = t
    return out


def overlay(ax, image, heat, title):
    """``image`` (C, H, W) in [0, 1] with ``heat`` (H, W) normalised to its max, jet at 50%."""
    ax.imshow(np.asarray(image).transpose(1, 2, 0))
    h = np.asarray(heat, dtype=np.float64)
    h = h / h.max() if h.max() > 0 else h
    ax.imshow(h, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    ax.set_title(title, fontsize=7.5, pad=2)
