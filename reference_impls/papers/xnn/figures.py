"""XNN figures: x-feature heatmaps ordered by contribution (thesis Fig. 3.1 / 3.8 / A.3)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...figures import overlay, save  # noqa: E402


def plot_xfeatures(per_class, categories, path, n_images: int = 2) -> None:
    """Rows: (category, image); columns: the image, 1-Heatmap, the SRAE x-feature c-MWP maps
    sorted by the image's contribution ``v_l E_l`` (title; red positive, blue negative)."""
    n_x = per_class[0]["maps_srae"].shape[1]
    rows = [
        (c, i)
        for c, d in zip(categories, per_class)
        for i in range(min(n_images, len(d["images"])))
    ]
    fig, axes = plt.subplots(len(rows), n_x + 2, figsize=(1.5 * (n_x + 2), 1.6 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, (c, i) in enumerate(rows):
        d = per_class[categories.index(c)]
        img = d["images"][i]
        axes[r, 0].imshow(img.transpose(1, 2, 0))
        axes[r, 0].set_title(f"class {c}", fontsize=7.5, pad=2)
        overlay(axes[r, 1], img, d["one_heatmap"][i, 0], "1-Heatmap")
        contrib = d["contrib_srae"][i]
        for j, l in enumerate(np.argsort(-contrib)):
            overlay(axes[r, j + 2], img, d["maps_srae"][i, l], f"x{l}: {contrib[l]:+.2f}")
            axes[r, j + 2].title.set_color("tab:red" if contrib[l] > 0 else "tab:blue")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("SRAE x-features (c-MWP) ordered by contribution v_l E_l", fontsize=9)
    fig.tight_layout()
    save(fig, path)
