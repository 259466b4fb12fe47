"""Attribute-SVM accuracy: how linearly decodable are binary attributes from a representation.

Khorram, MS thesis (Oregon State, 2020), Sec. 4 (DeepFacto, Tables 4.1-4.2): a linear SVM
per LFWA attribute trained on the NMF score matrix, average accuracy over the 40
attributes. Here the protocol is stratified k-fold cross-validation of a linear SVM on
standardised features, one per attribute column. **Higher is better.**
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from reference_impls.metrics._validation import check_same_rows, to_float_array
from reference_impls.utils import as_numpy

__all__ = ["AttributeSVMResult", "attribute_svm_accuracy"]


@dataclass(frozen=True)
class AttributeSVMResult:
    """``mean_accuracy`` over the evaluated attributes; ``per_attribute`` has one row per
    attribute column (``attribute``, ``accuracy`` = mean fold accuracy, ``std``,
    ``n_positive``, ``n_negative``); ``skipped`` lists attributes reported as NaN."""

    mean_accuracy: float
    per_attribute: pd.DataFrame
    skipped: tuple[str, ...]


def _binary_column(y: np.ndarray, name: str) -> np.ndarray:
    values = np.unique(y)
    if len(values) > 2:
        raise ValueError(
            f"attribute {name!r} is not binary: it has {len(values)} distinct values "
            f"({values[:5].tolist()}...)."
        )
    return (y == values[-1]).astype(np.int64) if len(values) == 2 else np.zeros(len(y), np.int64)


def attribute_svm_accuracy(
    X,
    Y,
    *,
    cv: int = 5,
    C: float = 1.0,
    random_state: int | None = 0,
    attribute_names=None,
    degenerate: str = "raise",
    max_iter: int = 5000,
    n_jobs: int | None = None,
) -> AttributeSVMResult:
    """Cross-validated linear-SVM accuracy from ``X`` (N x d) to each binary column of ``Y``.

    Khorram, MS thesis, Oregon State 2020, Tables 4.1-4.2 (DeepFacto: linear SVM per LFWA
    attribute on the NMF score matrix). **Higher is better.**

    Parameters
    ----------
    X : (N, d) representation (e.g. NMF scores U); standardised inside each training fold.
    Y : (N, A) binary attributes (two distinct values per column, e.g. 0/1 or -1/+1), or (N,).
        A pandas DataFrame's column names are used as attribute names.
    cv : number of stratified folds (shuffled with ``random_state``).
    C : SVM regularisation (``LinearSVC``, squared hinge, ``dual="auto"``).
    degenerate : what to do with an attribute column that is constant or whose minority
        class has fewer than ``cv`` examples (stratified folds impossible): ``"raise"``
        (default) raises ``ValueError`` naming it; ``"nan"`` reports it as NaN accuracy,
        warns, lists it in ``skipped`` and leaves it out of the mean.

    Returns
    -------
    AttributeSVMResult with ``mean_accuracy`` (higher is better) and ``per_attribute``.
    """
    if degenerate not in ("raise", "nan"):
        raise ValueError(f"degenerate must be 'raise' or 'nan', got {degenerate!r}.")
    if cv < 2:
        raise ValueError(f"cv must be >= 2, got {cv}.")
    if attribute_names is None and isinstance(Y, pd.DataFrame):
        attribute_names = [str(c) for c in Y.columns]
    X = to_float_array(X, "X", ndim=2)
    Y = as_numpy(Y)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.ndim != 2:
        raise ValueError(f"Y must be (N, n_attributes), got shape {Y.shape}.")
    if Y.dtype.kind in "fc" and not np.isfinite(Y).all():
        raise ValueError("Y contains NaN or infinite values.")
    check_same_rows(X, Y)
    names = (
        [f"attribute_{j}" for j in range(Y.shape[1])]
        if attribute_names is None
        else [str(a) for a in attribute_names]
    )
    if len(names) != Y.shape[1]:
        raise ValueError(f"attribute_names has {len(names)} names for {Y.shape[1]} columns of Y.")

    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    model = make_pipeline(
        StandardScaler(), LinearSVC(C=C, dual="auto", max_iter=max_iter, random_state=random_state)
    )
    rows, skipped = [], []
    for j, name in enumerate(names):
        y = _binary_column(Y[:, j], name)
        n_pos = int(y.sum())
        n_neg = len(y) - n_pos
        row = {
            "attribute": name,
            "accuracy": np.nan,
            "std": np.nan,
            "n_positive": n_pos,
            "n_negative": n_neg,
        }
        if min(n_pos, n_neg) < cv:
            why = (
                f"attribute {name!r} is constant"
                if min(n_pos, n_neg) == 0
                else f"attribute {name!r} has {n_pos} positive and {n_neg} negative examples; "
                f"{cv}-fold stratified cross-validation needs at least {cv} of each"
            )
            if degenerate == "raise":
                raise ValueError(why + " (pass degenerate='nan' to report it as NaN).")
            warnings.warn(
                why + "; reported as NaN and left out of the mean.", RuntimeWarning, stacklevel=2
            )
            skipped.append(name)
        else:
            scores = cross_val_score(model, X, y, cv=folds, n_jobs=n_jobs)
            row.update(accuracy=float(scores.mean()), std=float(scores.std()))
        rows.append(row)
    table = pd.DataFrame(rows)
    evaluated = table["accuracy"].dropna()
    if evaluated.empty:
        raise ValueError("no attribute could be evaluated (all are degenerate).")
    return AttributeSVMResult(float(evaluated.mean()), table, tuple(skipped))
