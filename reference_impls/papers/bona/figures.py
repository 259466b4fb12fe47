"""BONA figures: Fig. 2 (NMF components, LoG blobs, salient patches) and Figs. 5-6 (top-5
members of activation clusters)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Circle, Rectangle

from ...figures import save
from ...methods.craft import cut_crops

THUMB = 32


def patch_strip(source, data, rows, width=None) -> np.ndarray:
    """Patches ``rows`` of ``data`` side by side (2 px white gaps): (THUMB, w, 3) uint8."""
    thumbs = thumbnails(
        source, *(data[f"patch_{k}"][rows] for k in ("image", "top", "left", "side"))
    )
    n = max(len(thumbs), 1) if width is None else width
    strip = np.full((THUMB, n * (THUMB + 2) - 2, 3), 255, np.uint8)
    for j, t in enumerate(thumbs):
        strip[:, j * (THUMB + 2) : j * (THUMB + 2) + THUMB] = t
    return strip


def thumbnails(source, image_rows, tops, lefts, sides, size: int = THUMB) -> np.ndarray:
    """Patches cut at their native size from ``source[rows]`` images and resized to ``size``
    for display: (k, s, s, 3) uint8."""
    out = []
    for i, t, left, s in zip(image_rows, tops, lefts, sides):
        img = torch.from_numpy(source[[int(i)]])
        crop = cut_crops(img, np.array([[0, t, left]]), int(s), out_size=int(s))
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)
        out.append(np.round(crop[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def plot_fig2(data: dict, source, path, cfg) -> None:
    """Rows: evaluation images. Columns: the input, each NMF component resized to the image
    with its LoG blobs (circles of radius sqrt(2) sigma), and the salient patches."""
    images = data["fig_images"]
    maps = data["fig_maps"]
    n, r = maps.shape[:2]
    size = images.shape[-1]
    n_fit = len(data["fit_rows"])
    fig, axes = plt.subplots(
        n,
        r + 2,
        figsize=(1.3 * (r + 2) + 1.2, 1.45 * n),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * (r + 1) + [2]},
    )
    for i in range(n):
        rows = np.flatnonzero(data["patch_image"] == n_fit + i)
        ax = axes[i, 0]
        ax.imshow(images[i].transpose(1, 2, 0))
        ax.set_title("input" if i == 0 else "", fontsize=8)
        for k in range(r):
            ax = axes[i, k + 1]
            up = F.interpolate(
                torch.from_numpy(maps[i, k][None, None]),
                size=(size, size),
                mode="bilinear",
                align_corners=False,
            )[0, 0].numpy()
            ax.imshow(up, cmap="magma")
            for j in rows[data["patch_component"][rows] == k]:
                ax.add_patch(
                    Circle(
                        (data["patch_x"][j], data["patch_y"][j]),
                        np.sqrt(2) * data["patch_sigma"][j],
                        fill=False,
                        color="cyan",
                        lw=1,
                    )
                )
            if i == 0:
                ax.set_title(f"NMF comp. {k + 1}", fontsize=8)
        strip = patch_strip(source, data, rows)
        axes[i, -1].imshow(strip)
        axes[i, -1].set_title(
            f"{len(rows)} salient patches" if i == 0 else f"{len(rows)} patches", fontsize=8
        )
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    for j in np.flatnonzero(data["patch_image"] == n_fit):  # boxes on the first input
        axes[0, 0].add_patch(
            Rectangle(
                (data["patch_left"][j] - 0.5, data["patch_top"][j] - 0.5),
                data["patch_side"][j],
                data["patch_side"][j],
                fill=False,
                color="yellow",
                lw=0.8,
            )
        )
    fig.suptitle(
        f"Fig. 2 analogue: per-image elastic NMF (r = {r}, 95% rule) of "
        f"{cfg['model']} {cfg['nmf_layer']}, LoG blobs, salient patches",
        fontsize=9,
    )
    save(fig, path)


def plot_cluster_members(data, source, clus, top, table, path, title) -> None:
    """One panel per cluster: its top-k patches by q_ij (resized for display), its size, the
    dominant ground-truth content of those patches and their purity."""
    K, k = top.shape
    cols = 4
    rows = int(np.ceil(K / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.9, rows * 0.95), squeeze=False)
    for j in range(rows * cols):
        ax = axes.flat[j]
        ax.set_xticks([])
        ax.set_yticks([])
        if j >= K:
            ax.axis("off")
            continue
        strip = patch_strip(source, data, top[j], width=k)
        ax.imshow(strip)
        r = table.iloc[j]
        ax.set_title(
            f"#{j} n={r['size']}: {r['dominant']} ({r['purity']:.0%})", fontsize=6.5, pad=2
        )
    fig.suptitle(
        f"Top-{k} members of {K} DEC activation clusters, {title}; mean top-{k} "
        f"purity {table['purity'].mean():.2f} vs {table['control_mean'].iloc[0]:.2f} "
        f"for random {k}-sets",
        fontsize=9,
    )
    save(fig, path)
