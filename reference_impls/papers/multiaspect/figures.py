"""The multiaspect figures (Table I thumbnails, Fig. 2-13)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...figures import save
from .experiments import load_images


def _rgb(image) -> np.ndarray:
    return np.clip(np.asarray(image).transpose(1, 2, 0), 0, 1)


def top_images_figure(table, dataset, path, title: str, n_show: int = 10) -> None:
    """One row per factor: its top images (descending affinity) and its labels."""
    rows = table.head(n_show)
    k = len(str(rows["top_images"].iloc[0]).split())
    fig, axes = plt.subplots(len(rows), k, figsize=(0.55 * k + 0.5, 0.62 * len(rows) + 0.4))
    axes = np.atleast_2d(axes)
    for r, (_, rec) in enumerate(rows.iterrows()):
        ids = [int(v) for v in str(rec["top_images"]).split()]
        imgs = load_images(dataset, ids)
        for c in range(k):
            ax = axes[r, c]
            ax.imshow(_rgb(imgs[c]))
            ax.set_xticks([]), ax.set_yticks([])
        label = f"factor {rec['factor']}: {rec.get('top_superclass', '')}"
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=6)
    fig.suptitle(title, fontsize=9)
    save(fig, path)


def similarity_figure(mats, layers, path) -> None:
    fig, axes = plt.subplots(1, len(mats), figsize=(3.4 * len(mats), 3.0))
    for i, (ax, C, name) in enumerate(zip(np.atleast_1d(axes), mats, layers)):
        im = ax.imshow(C, vmin=0, vmax=1, cmap="viridis")
        off = (C.sum() - np.trace(C)) / (C.size - len(C))
        ax.set_title(f"{name}: mean off-diagonal {off:.2f}", fontsize=8)
        ax.set_xlabel("latent factor")
        if i == 0:  # one shared y label: the panels share the factor axis
            ax.set_ylabel("latent factor")
    fig.colorbar(im, ax=axes, shrink=0.8, label="cosine similarity of O_j columns")
    fig.suptitle("Fig. 2: cosine similarity of the latent factors per layer", fontsize=9)
    save(fig, path)


def eigen_figure(eigs, layers, path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for e, name in zip(eigs, layers):
        ax.plot(np.arange(1, len(e) + 1), e, marker="o", ms=3, label=name)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="identity (all 1)")
    ax.set_xlabel("eigenvalue rank"), ax.set_ylabel("eigenvalue")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("Fig. 3: eigenvalues of the similarity matrices", fontsize=9)
    save(fig, path)


def latent_pixels_figure(shown, n_neighbours: int, path) -> None:
    """Per factor (one row): latent image, top image, median mask on it, neighbours' concepts."""
    fig, axes = plt.subplots(len(shown), 4, figsize=(10, 2.5 * len(shown)))
    axes = np.atleast_2d(axes)
    for r, (i, latent, image, mask, dist) in enumerate(shown):
        lat = latent - latent.min()
        axes[r, 0].imshow(lat / max(lat.max(), 1e-12))
        axes[r, 0].set_title(f"(a) latent pixels, factor {i}", fontsize=8)
        axes[r, 1].imshow(_rgb(image))
        axes[r, 1].set_title("(b) top image", fontsize=8)
        axes[r, 2].imshow(_rgb(image) * mask[..., None])
        axes[r, 2].set_title("(c) pixels above the median", fontsize=8)
        for ax in axes[r, :3]:
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 3].bar(np.arange(len(dist)), dist, color="tab:blue")
        axes[r, 3].set_xlabel("latent factor", fontsize=7)
        axes[r, 3].set_ylabel("mean share", fontsize=7)
        axes[r, 3].set_title(f"(d) concepts of {n_neighbours} nearest neighbours", fontsize=8)
    fig.subplots_adjust(wspace=0.35, hspace=0.35)
    fig.suptitle("Fig. 4-5: latent pixel analysis of the two purest factors", fontsize=9)
    save(fig, path)


def mask_rows_figure(images, rows: dict, col_titles, path) -> None:
    """Top row: the images; one row per method: its mask or map over the image."""
    n = len(images)
    fig, axes = plt.subplots(1 + len(rows), n, figsize=(1.3 * n + 1.2, 1.4 * (1 + len(rows))))
    axes = np.atleast_2d(axes)
    for c in range(n):
        axes[0, c].imshow(_rgb(images[c]))
        axes[0, c].set_title(col_titles[c], fontsize=6)
        for r, (name, maps) in enumerate(rows.items(), start=1):
            m = np.asarray(maps[c], dtype=np.float64)
            axes[r, c].imshow(_rgb(images[c]))
            axes[r, c].imshow(m / max(m.max(), 1e-12), cmap="jet", alpha=0.5, vmin=0, vmax=1)
        for r in range(1 + len(rows)):
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    for r, name in enumerate(["image", *rows], start=0):
        axes[r, 0].set_ylabel(name, fontsize=7)
    save(fig, path)


def tcav_figure(frame, path, title: str) -> None:
    """Heatmap per variant: TCAV score of each latent concept (rows) for each class."""
    variants = list(dict.fromkeys(frame["variant"]))
    fig, axes = plt.subplots(1, len(variants), figsize=(5.0 * len(variants), 4.6), squeeze=False)
    for ax, v in zip(axes[0], variants):
        sub = frame[frame.variant == v]
        M = sub.pivot(index="factor", columns="train_class", values="tcav").to_numpy()
        sig = sub.pivot(index="factor", columns="train_class", values="significant").to_numpy()
        im = ax.imshow(M, vmin=0, vmax=1, cmap="magma", aspect="auto")
        rr, cc = np.nonzero(sig.astype(bool))
        ax.scatter(cc, rr, marker=".", s=6, c="cyan", label="p < 0.05 vs random CAVs")
        ax.set_xlabel("training class"), ax.set_ylabel("latent concept (probe data)")
        ax.set_title(v, fontsize=8)
        ax.legend(fontsize=6, loc="upper right")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="TCAV_Q")
    fig.suptitle(title, fontsize=9)
    save(fig, path)
