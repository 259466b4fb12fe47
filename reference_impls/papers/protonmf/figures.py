"""ProtoNMF figures: Fig. 5 curves and the presence heatmaps of Figs. 2-4, 7, 9."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.patches import Patch, Rectangle

from ...figures import overlay, save
from ...utils import derive_seed
from . import experiments as ex
from . import protopnet as ppn

COLOURS = plt.get_cmap("tab10").colors


def presence_rgb(image, maps) -> np.ndarray:
    """``image`` (3, H, W) in [0, 1] coloured by the strongest prototype at each pixel
    (``maps`` (p, H, W), upsampled), opacity proportional to its presence."""
    img = np.asarray(image, dtype=np.float64).transpose(1, 2, 0)
    maps = np.asarray(maps, dtype=np.float64)
    best = maps.argmax(0)
    strength = maps.max(0) / max(maps.max(), 1e-12)
    colour = np.asarray(COLOURS)[best % len(COLOURS)]
    alpha = 0.75 * strength[..., None]
    return np.clip(img * (1 - alpha) + colour * alpha, 0, 1)


def _legend(fig, p):
    fig.legend(
        handles=[Patch(color=COLOURS[i % 10], label=f"prototype {i + 1}") for i in range(p)],
        loc="lower center",
        ncol=min(p, 5),
        fontsize=7,
        frameon=False,
    )


def presence_grid(blocks, class_id, n_images, path, title) -> None:
    """Rows: (model, banks); columns: test images of ``class_id``. ``blocks`` is a list of
    ``(model name, PartImages, [(label, fitted ProtoNMF), ...])``."""
    rows = [(m, data, label, est) for m, data, banks in blocks for label, est in banks]
    fig, axes = plt.subplots(
        len(rows), n_images, figsize=(1.6 * n_images, 1.7 * len(rows)), squeeze=False
    )
    max_p = 1
    for r, (m, data, label, est) in enumerate(rows):
        idx = data.of_class(class_id, n_images)
        maps = ex.upsample(ex.presence_maps(est, data.acts[idx], class_id), data.images.shape[-1])
        max_p = max(max_p, maps.shape[1])
        for j, ax in enumerate(axes[r]):
            ax.axis("off")
            if j < len(idx):
                ax.imshow(presence_rgb(data.images[idx[j]], maps[j]))
                ax.set_title(f"{m} {label}" if j == 0 else f"test image {idx[j]}", fontsize=7)
    _legend(fig, max_p)
    fig.suptitle(title, fontsize=9)
    save(fig, path)


def fig5(table: pd.DataFrame, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for (m, g), colour in zip(table.groupby("model", sort=False), COLOURS):
        axes[0].errorbar(
            g.p, g.feature_error, g.feature_error_sd, marker="o", color=colour, label=m, capsize=3
        )
        axes[1].errorbar(
            g.p, g.head_error, g.head_error_sd, marker="o", color=colour, label=m, capsize=3
        )
        axes[1].plot(g.p, g.head_error_random, "--", color=colour, label=f"{m}: random prototypes")
    axes[0].set(
        xlabel="prototypes per class p",
        ylabel="||A - EB||_F / ||A||_F",
        title="feature reconstruction error",
    )
    axes[1].set(
        xlabel="prototypes per class p",
        ylabel="||V - CB|| / ||V||",
        title="classification head reconstruction error",
    )
    for ax in axes:
        ax.legend(fontsize=7)
        ax.set_xticks(sorted(table.p.unique()))
    fig.suptitle("Fig. 5 analogue: mean over classes (bars: sd over classes)", fontsize=9)
    save(fig, path)


def fig7(est, data, class_id, n_images, path, model) -> None:
    """Rows: NMF prototypes (E), augmented prototypes (E', Eq. 9), residual presence (Eq. 6)."""
    idx = data.of_class(class_id, n_images)
    size = data.images.shape[-1]
    E = ex.upsample(ex.presence_maps(est, data.acts[idx], class_id), size)
    E2 = ex.upsample(ex.presence_maps(est, data.acts[idx], class_id, augmented=True), size)
    H = ex.upsample(np.maximum(ex.residual_maps(est, data.acts[idx], class_id), 0)[:, None], size)
    fig, axes = plt.subplots(3, n_images, figsize=(1.6 * n_images, 5.4), squeeze=False)
    k = est._class_index(class_id)
    coef = ", ".join(f"{a:.3g}" for a in est.coef_[k])
    for j in range(len(idx)):
        axes[0, j].imshow(presence_rgb(data.images[idx[j]], E[j]))
        axes[1, j].imshow(presence_rgb(data.images[idx[j]], E2[j]))
        overlay(axes[2, j], data.images[idx[j]], H[j, 0], "residual (Eq. 6)" if j == 0 else "")
        axes[0, j].set_title("NMF prototypes" if j == 0 else "", fontsize=7)
        axes[1, j].set_title("augmented (Eq. 9)" if j == 0 else "", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    _legend(fig, E.shape[1])
    fig.suptitle(
        f"Fig. 7 analogue ({model}, class {class_id}); a = [{coef}]; "
        f"|sum a|/||a||_1 = {est.balance_[k]:.2f}",
        fontsize=8,
    )
    save(fig, path)


def fig9(est, data, path, model) -> None:
    """The first wrong test prediction that removing the predicted class's top prototype
    corrects: image, that class's prototypes, logits before and after."""
    G = ex.pooled(data.acts)
    logits = est.decision_function(G, "augmented")
    pred = logits.argmax(1)
    wrong = np.flatnonzero(pred != data.labels)
    chosen = None
    for i in wrong:
        k = est._class_index(pred[i])
        top = int(est.coef_[k].argmax())
        after = est.intervene(G[[i]], [pred[i]], [top])[0]
        if after.argmax() == data.labels[i]:
            chosen = (i, k, top, after)
            break
    fig, axes = plt.subplots(1, 3 + est.prototypes_.shape[1], figsize=(11, 2.6))
    for ax in axes:
        ax.axis("off")
    if chosen is None:
        axes[0].text(0, 0.5, "no wrong prediction is corrected by one intervention", fontsize=8)
        save(fig, path)
        return
    i, k, top, after = chosen
    size = data.images.shape[-1]
    maps = ex.upsample(ex.presence_maps(est, data.acts[[i]], pred[i]), size)[0]
    axes[0].imshow(data.images[i].transpose(1, 2, 0))
    axes[0].set_title(f"test image {i}\ntrue {data.labels[i]}, predicted {pred[i]}", fontsize=7)
    for j in range(maps.shape[0]):
        overlay(
            axes[1 + j],
            data.images[i],
            maps[j],
            f"class {pred[i]} prototype {j + 1}\na = {est.coef_[k, j]:.3g}"
            + (" (removed)" if j == top else ""),
        )
        axes[1 + j].axis("off")
    ax = axes[-2]
    ax.axis("on")
    classes = np.arange(len(logits[i]))
    ax.bar(classes - 0.2, logits[i], 0.4, label="before")
    ax.bar(classes + 0.2, after, 0.4, label="after")
    ax.set(xticks=classes, xlabel="class", title="logits")
    ax.legend(fontsize=6)
    axes[-1].text(0, 0.5, f"prediction after\nintervention: {after.argmax()}", fontsize=8)
    fig.suptitle(f"Fig. 9 analogue ({model}): test-time intervention", fontsize=9)
    save(fig, path)


def fig2(model, saved, train, data, cfg, stages, seed, path) -> pd.DataFrame:
    """Rows per cycle: ProtoPNet's class prototypes as the 8x8-cell boxes where each is most
    similar on the shown images, then NMF (p = heatmap_p) areas of the add-on features of
    the same checkpoint. Returns the cross-cycle stability of both on the class's images."""
    c, n = cfg["figure_class"], cfg["heatmap_images"]
    pcfg = cfg["protopnet"]
    idx = data.of_class(c, cfg["localisation_images"])
    rows_tr = saved["train_rows"].numpy()
    Xtr, ytr = train["activations"][rows_tr], train["labels"][rows_tr]
    cycles = sorted(saved["states"])
    fig, axes = plt.subplots(
        2 * len(cycles), n, figsize=(1.6 * n, 1.75 * 2 * len(cycles)), squeeze=False
    )
    sims, nmfs = {}, {}
    size = data.images.shape[-1]
    for r, cycle in enumerate(cycles):
        net = ex.rebuild_protopnet(model, saved["states"][cycle]["state"], Xtr, pcfg, stages)
        with torch.no_grad():
            z = net.features(torch.as_tensor(data.acts[idx]))
            d = net.distances(z).numpy()  # (N, M, h, w)
        owner = net.identity.argmax(1).numpy()
        d = d[:, owner == c]
        sims[cycle] = -d.reshape(len(idx), d.shape[1], -1)
        feats = ppn.add_on_maps(net, Xtr[ytr == c])
        est = ex.ProtoNMF(
            cfg["heatmap_p"],
            solver=cfg["solver"],
            max_iter=cfg["max_iter"],
            tol=cfg["tol"],
            random_state=derive_seed(seed, ex.PAPER, "fig2", cycle),
        )
        est.fit(feats.reshape(-1, feats.shape[-1]), np.full(np.prod(feats.shape[:3]), c))
        E = ex.presence_maps(est, z.numpy(), c)
        nmfs[cycle] = E.reshape(len(idx), E.shape[1], -1)
        cell = size / d.shape[-1]
        Eup = ex.upsample(E[:n], size)
        for j in range(min(n, len(idx))):
            ax = axes[2 * r, j]
            ax.imshow(data.images[idx[j]].transpose(1, 2, 0))
            for q in range(d.shape[1]):
                h, w = np.unravel_index(d[j, q].argmin(), d.shape[-2:])
                ax.add_patch(
                    Rectangle(
                        (w * cell, h * cell), cell, cell, fill=False, lw=1.2, edgecolor="yellow"
                    )
                )
            ax.set_title(f"ProtoPNet cycle {cycle}" if j == 0 else "", fontsize=7)
            axes[2 * r + 1, j].imshow(presence_rgb(data.images[idx[j]], Eup[j]))
            axes[2 * r + 1, j].set_title(f"NMF cycle {cycle}" if j == 0 else "", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(
        f"Fig. 2 analogue (class {c}): ProtoPNet prototype patches (boxes) vs NMF "
        f"prototype areas over training cycles",
        fontsize=8,
    )
    _legend(fig, cfg["heatmap_p"])
    save(fig, path)
    rows = []
    for a, b in zip(cycles[:-1], cycles[1:]):
        # ProtoPNet: prototype j keeps its identity across cycles (same slot)
        pp = np.mean(
            [
                np.corrcoef(sims[a][:, q].ravel(), sims[b][:, q].ravel())[0, 1]
                for q in range(sims[a].shape[1])
            ]
        )
        nm = ex.matched_correlation(
            nmfs[a].transpose(0, 2, 1).reshape(-1, nmfs[a].shape[1]),
            nmfs[b].transpose(0, 2, 1).reshape(-1, nmfs[b].shape[1]),
        )
        rows.append(dict(cycles=f"{a}-{b}", protopnet_map_correlation=pp, nmf_map_correlation=nm))
    return pd.DataFrame(rows)
