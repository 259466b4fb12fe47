"""CRAFT's figures at embedded scale: Fig. 4 (concepts by importance with their top crops),
Fig. 5 (concept attribution maps of failure cases next to Grad-CAM), Fig. 6 and appendix F
(concept deletion / insertion curves)."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ...data.images import ImageSource  # noqa: E402
from ...figures import mosaic, overlay  # noqa: E402
from .experiments import RANKING_LABELS, RANKINGS, crop_thumbnails  # noqa: E402
from .table1 import DESCRIPTOR_NAMES, crop_descriptors  # noqa: E402

RANKING_STYLE = {
    "sobol": ("tab:red", "-"),
    "tcav": ("tab:blue", "-"),
    "gradient_input": ("tab:green", "--"),
    "random": ("0.45", ":"),
}


def top_crops(coef: np.ndarray, rows: np.ndarray, concept: int, n: int) -> np.ndarray:
    """The ``n`` crop rows (among ``rows``) with the largest coefficient for ``concept``."""
    return rows[np.argsort(-coef[rows, concept], kind="stable")[:n]]


def _short(name: str, width: int = 18) -> str:
    return textwrap.fill(str(name).replace("/", "/ "), width)


def _content_label(crops: dict, rows: np.ndarray) -> str:
    """The ground-truth content shared by crops: their mean part / background shares' mode."""
    if "regions" not in crops:
        return ""
    desc = crop_descriptors(crops["regions"][rows], crops["background"][rows]).mean(0)
    best = int(desc.argmax())
    return f"{DESCRIPTOR_NAMES[best].replace('background:', 'bg ')} {desc[best]:.0%}"


def plot_concepts_by_importance(
    crops: dict,
    concepts: dict,
    importance: pd.DataFrame,
    crop_images: ImageSource,
    class_names,
    path,
    n_concepts: int = 6,
    n_crops: int = 4,
):
    """Fig. 4 analogue: one row per class, its concepts from most to least important by total
    Sobol index, each shown by the crops with the largest coefficient (cut from
    ``crop_images``, the split the crops came from)."""
    classes = [int(c) for c in concepts["classes"]]
    imp = importance[importance["bank"] == "nmf"]
    n_show = min(n_concepts, concepts["bank"].shape[1])
    fig, axes = plt.subplots(
        len(classes),
        n_show,
        squeeze=False,
        figsize=(1.55 * n_show + 1.6, 1.72 * len(classes) + 0.6),
    )
    for row, c in enumerate(classes):
        rows = np.flatnonzero(crops["label"] == c)
        ranked = imp[imp["class"] == c].sort_values("sobol_rank")
        for col, rec in enumerate(ranked.head(n_show).itertuples()):
            ax = axes[row, col]
            best = top_crops(concepts["coef"], rows, rec.concept, n_crops)
            ax.imshow(
                mosaic(crop_thumbnails(crop_images, crops, best), n_crops), interpolation="nearest"
            )
            label = _content_label(crops, best)
            ax.set_title(
                f"C{rec.concept}  S={rec.sobol:.2f}" + (f"\n{label}" if label else ""),
                fontsize=7.5,
                pad=2,
            )
        axes[row, 0].set_ylabel(
            _short(class_names[c]), fontsize=7.5, rotation=0, ha="right", va="center", labelpad=4
        )
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    fig.suptitle(
        "CRAFT concepts per class, most important first (total Sobol index S); "
        f"top {n_crops} crops each; ground-truth content of those crops below S",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.985), h_pad=0.4, w_pad=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_attribution_maps(
    images,
    true,
    pred,
    gradcams,
    cams,
    concept_ids,
    concept_crops,
    class_names,
    path,
    importances=None,
):
    """Fig. 5 analogue: per misclassified image, the Grad-CAM of the predicted class and the
    concept attribution maps of the predicted class's two most important concepts, each
    next to the concept's top crops."""
    n, k = cams.shape[:2]
    fig, axes = plt.subplots(
        n, 2 + 2 * k, squeeze=False, figsize=(1.9 * (2 + 2 * k), 2.35 * n + 0.8)
    )
    for row in range(n):
        ax = axes[row, 0]
        ax.imshow(np.asarray(images[row]).transpose(1, 2, 0))
        ax.set_title("misclassified image", fontsize=7.5, pad=2)
        ax.set_xlabel(
            f"true: {class_names[true[row]]}\npred: {class_names[pred[row]]}",
            fontsize=6.5,
            loc="left",
        )
        overlay(axes[row, 1], images[row], gradcams[row], "Grad-CAM\n(predicted class)")
        for j in range(k):
            extra = "" if importances is None else f", S={importances[row][j]:.2f}"
            overlay(
                axes[row, 2 + 2 * j],
                images[row],
                cams[row, j],
                f"concept C{concept_ids[row][j]}{extra}\nattribution map",
            )
            axes[row, 3 + 2 * j].imshow(mosaic(concept_crops[row][j]), interpolation="nearest")
            axes[row, 3 + 2 * j].set_title(
                f"C{concept_ids[row][j]}: top crops", fontsize=7.5, pad=2
            )
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(
        "Most confident mistakes: Grad-CAM of the predicted class vs CRAFT concept "
        "attribution maps (implicit NNLS gradients + Grad-CAM)\nof the predicted "
        "class's two most important concepts for the image (S: the image's total "
        "Sobol index)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95), h_pad=1.2)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fidelity(curves: pd.DataFrame, auc: pd.DataFrame, banks, path, title: str):
    """Fig. 6 / appendix F: deletion (lower is better) and insertion (higher is better) curves
    of each ranking, mean over classes, one row per concept bank, AUC in the legend."""
    fig, axes = plt.subplots(len(banks), 2, squeeze=False, figsize=(10, 3.5 * len(banks) + 0.6))
    for row, bank in enumerate(banks):
        for col, kind in enumerate(("deletion", "insertion")):
            ax = axes[row, col]
            sel = curves[(curves["bank"] == bank) & (curves["kind"] == kind)]
            for ranking in RANKINGS:
                g = sel[sel["ranking"] == ranking].groupby("x")["score"].mean()
                a = auc[
                    (auc["bank"] == bank) & (auc["kind"] == kind) & (auc["ranking"] == ranking)
                ]["auc"].iloc[0]
                color, style = RANKING_STYLE[ranking]
                ax.plot(
                    g.index,
                    g.values,
                    style,
                    color=color,
                    marker="o",
                    ms=3,
                    label=f"{RANKING_LABELS[ranking]} (AUC {a:.2f})",
                )
            better = "lower" if kind == "deletion" else "higher"
            verb = "removed" if kind == "deletion" else "inserted"
            ax.set(
                xlabel=f"fraction of concepts {verb} (most important first)",
                ylabel="class logit (mean over classes)",
                title=f"{bank.upper()} concepts: {kind} ({better} AUC is better)",
            )
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7.5, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
