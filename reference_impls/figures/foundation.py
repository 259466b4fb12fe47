"""Figures shared by the workflow (matplotlib, Agg backend, readable at report size)."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _image_for_display(image):
    image = np.asarray(image)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def plot_dataset_samples(dataset, path, n: int = 12, title: str = "", seed: int = 0):
    """Sample images with class names; a second row of part masks when ``ground_truth`` has them."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    masks = dataset.ground_truth.get("part_masks")
    rows = 2 if masks is not None else 1
    fig, axes = plt.subplots(
        rows, len(idx), figsize=(1.6 * len(idx), 1.9 * rows + 0.7), squeeze=False
    )
    for j, i in enumerate(idx):
        image, label = dataset[int(i)]
        ax = axes[0, j]
        ax.imshow(_image_for_display(image.numpy()), cmap="gray", vmin=0, vmax=1)
        ax.set_title(
            textwrap.fill(str(dataset.classes[label]).replace("/", "/ "), 16), fontsize=6.5
        )
        if masks is not None:
            axes[1, j].imshow(masks[i], cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
            kp = dataset.ground_truth.get("keypoints")
            if kp is not None:
                vis = kp[i, :, 2] > 0
                axes[1, j].scatter(kp[i, vis, 0], kp[i, vis, 1], c="k", s=8, marker="x")
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    if masks is not None:
        axes[1, 0].set_ylabel("parts +\nkeypoints", fontsize=8)
    fig.suptitle(
        f"{title}: {len(dataset)} training images, {len(dataset.classes)} classes", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training_curve(history, path, title: str = ""):
    """Two panels: train/test loss and train/test accuracy per epoch."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(history["epoch"], history["train_loss"], "o-", label="train")
    ax1.plot(history["epoch"], history["test_loss"], "s-", label="test")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax2.plot(history["epoch"], history["train_accuracy"], "o-", label="train")
    ax2.plot(history["epoch"], history["test_accuracy"], "s-", label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3), ax.legend()
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if len(history):
        ax2.annotate(
            f"{history['test_accuracy'].iloc[-1]:.3f}",
            (history["epoch"].iloc[-1], history["test_accuracy"].iloc[-1]),
            textcoords="offset points",
            xytext=(-10, -15),
            fontsize=9,
        )
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
