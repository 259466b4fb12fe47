"""Bag-of-neural-activations (BONA) classification accuracy.

Kolouri, Martin & Hoffmann, "Explaining Distributed Neural Activations via Unsupervised
Learning", CVPR-W 2017, Sec. 3.4 and Table 1: every salient patch of an image is assigned to
one of K activation clusters; the image is summarised by the normalised histogram of its
patches' clusters ("bag of neural activations"), and a classifier on these histograms alone
measures how much class information the clusters carry. **Higher accuracy is better.**
Any concept extractor plugs in: a patch's concept is the argmax of its coefficients.

How this relates to the paper: this is a *BONA-style* shared metric, not the paper's
pipeline. The comparison (:func:`reference_impls.compare.evaluate_fit`) feeds it the argmax
concept of every *spatial position* of a cached layer, and scores the histograms by
stratified cross-validation. The paper's own pipeline -- per-image elastic NMF, LoG blobs,
variable-size salient patches, multi-layer GAP features, DEC clusters (Algorithm 1), and a
softmax trained on one half of the data and tested on the other -- is
:mod:`reference_impls.methods.bona` with :mod:`reference_impls.papers.bona` (Table 1 in
``results/<profile>/bona/table1_accuracy.csv``); the numbers of the two are not comparable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from reference_impls.metrics._validation import to_float_array, to_index_array, to_label_array
from reference_impls.utils import as_numpy

__all__ = ["BonaResult", "bag_of_activations", "bona_accuracy"]


def _hard_assignments(assignments, n_concepts: int) -> np.ndarray:
    arr = as_numpy(assignments)
    if arr.ndim == 2:
        coef = to_float_array(arr, "assignments", ndim=2)
        if coef.shape[1] != n_concepts:
            raise ValueError(
                f"assignments has {coef.shape[1]} coefficient columns but n_concepts={n_concepts}."
            )
        empty = np.flatnonzero(np.all(coef == coef[:, :1], axis=1))
        if empty.size:
            raise ValueError(
                f"{empty.size} patches (first: {empty[:5].tolist()}) have all-equal "
                "coefficients (e.g. all zero), so no concept wins the argmax; drop "
                "them or pass hard labels."
            )
        return coef.argmax(axis=1)
    labels = to_index_array(arr, "assignments")
    if labels.size and (labels.min() < 0 or labels.max() >= n_concepts):
        raise ValueError(
            f"assignments must be concept indices in [0, {n_concepts}), got values "
            f"in [{labels.min()}, {labels.max()}]."
        )
    return labels


def bag_of_activations(assignments, image_ids, n_concepts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image normalised concept histograms.

    ``assignments``: ``(n_patches,)`` concept indices, or ``(n_patches, n_concepts)``
    coefficients (argmax per patch); ``image_ids``: ``(n_patches,)`` the image of each patch.
    Returns ``(histograms, images)``: ``histograms[i]`` (length ``n_concepts``, sums to 1)
    describes image ``images[i]``, with ``images`` the sorted unique image ids.
    """
    if n_concepts < 1:
        raise ValueError(f"n_concepts must be >= 1, got {n_concepts}.")
    labels = _hard_assignments(assignments, n_concepts)
    ids = to_label_array(image_ids, "image_ids", length=len(labels))
    if len(labels) == 0:
        raise ValueError("no patches given.")
    images, row = np.unique(ids, return_inverse=True)
    counts = np.zeros((len(images), n_concepts))
    np.add.at(counts, (row, labels), 1.0)
    return counts / counts.sum(axis=1, keepdims=True), images


@dataclass(frozen=True)
class BonaResult:
    """Cross-validated accuracy of a classifier on BONA histograms (higher is better)."""

    mean_accuracy: float
    std_accuracy: float
    fold_accuracies: np.ndarray
    histograms: np.ndarray
    images: np.ndarray
    image_labels: np.ndarray


def _image_labels(labels, image_ids, images: np.ndarray) -> np.ndarray:
    if isinstance(labels, Mapping):
        missing = [i for i in images.tolist() if i not in labels]
        if missing:
            raise ValueError(f"labels has no entry for images {missing[:5]}.")
        return np.asarray([labels[i] for i in images.tolist()])
    lab = to_label_array(labels, "labels (one per patch)", length=len(image_ids))
    ids = as_numpy(image_ids)
    _, row = np.unique(ids, return_inverse=True)
    out = lab[np.unique(row, return_index=True)[1]]
    conflict = np.flatnonzero(out[row] != lab)
    if conflict.size:
        raise ValueError(
            f"image {ids[conflict[0]]!r} has patches with different labels; "
            "labels must be constant within an image."
        )
    return out


def bona_accuracy(
    assignments,
    image_ids,
    labels,
    n_concepts: int,
    *,
    classifier: str = "logistic",
    cv: int = 5,
    C: float = 1.0,
    random_state: int | None = 0,
) -> BonaResult:
    """Stratified ``cv``-fold accuracy of a linear classifier on BONA histograms
    (Kolouri, Martin & Hoffmann, CVPR-W 2017, Sec. 3.4, Table 1 "BONA" row).

    ``labels``: the class of each patch's image (``(n_patches,)``, constant within an image)
    or a mapping ``{image_id: label}``. ``classifier``: ``"logistic"`` (multinomial logistic
    regression) or ``"linear_svm"`` (``LinearSVC``), both on standardised histograms.
    Raises ``ValueError`` if a class has fewer than ``cv`` images. Higher is better.
    """
    hist, images = bag_of_activations(assignments, image_ids, n_concepts)
    y = _image_labels(labels, image_ids, images)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("labels hold a single class; classification accuracy is undefined.")
    if counts.min() < cv:
        raise ValueError(
            f"class {classes[counts.argmin()]!r} has {counts.min()} images; "
            f"{cv}-fold stratified cross-validation needs at least {cv}."
        )
    if classifier == "logistic":
        clf = LogisticRegression(C=C, max_iter=2000)
    elif classifier == "linear_svm":
        clf = LinearSVC(C=C, dual="auto", max_iter=5000, random_state=random_state)
    else:
        raise ValueError(f"classifier must be 'logistic' or 'linear_svm', got {classifier!r}.")
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    scores = cross_val_score(make_pipeline(StandardScaler(), clf), hist, y, cv=folds)
    return BonaResult(float(scores.mean()), float(scores.std()), scores, hist, images, y)
