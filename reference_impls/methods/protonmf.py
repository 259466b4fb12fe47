"""ProtoNMF (ICLR 2024 submission; Tan, Zhou & Chen): a trained classifier turned into a
prototype model by per-class NMF of its last feature maps and a reconstruction of its linear
head on those prototypes, with a residual prototype that keeps the predictions exact.

Step 1 (Sec. 3.1, Eq. 1-3): for class c, the rows of ``A^c`` (all spatial positions of the
class's images, negatives set to zero) are factorized ``A^c ~ E^c B^c`` with Lee & Seung's
multiplicative updates; the p rows of ``B^c`` are the prototypes. Step 2 (Sec. 3.2): every
convex problem of the paper has a closed form, so no cvxpy is needed:

- Eq. 4 ``min_C ||V^c - C B^c||^2``: ``C = lstsq(B^T, V^T)`` (:func:`head_coefficients`);
- Eq. 5 residual prototype ``R^c = V^c - C B^c`` (:func:`residual_prototype`);
- Eq. 6 ``min_H ||A - E B - H R||^2``: row-wise ``H = (A - E B) R^T / ||R||^2``
  (:func:`residual_presence`);
- Eq. 8 augmented prototypes ``b_i + R / sum_j a_j`` (:func:`augmented_prototypes`); the
  denominator can be near zero because the coefficients are signed (the paper's own ResNet
  example sums to 0.003): :func:`coefficient_balance` reports ``|sum a| / ||a||_1``;
- Eq. 9 presence of augmented prototypes: NNLS on the augmented bank.

Inference (App. A.3): the class-c logit averages the similarity of every position to each of
class c's prototypes, weighted by ``a_i``; for a GAP + linear head this is
``<GAP(f(x)), sum_i a_i b_i + R> + bias_c``, which equals the black box's logit exactly.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..factorization import NMF, nnls
from ..utils import as_numpy, derive_seed
from .base import ExtractorMixin

VARIANTS = ("nmf_only", "residual_only", "exact", "augmented")


def head_coefficients(B, V) -> np.ndarray:
    """Eq. 4: the unconstrained least-squares coefficients ``C`` (p,) of head row ``V`` (D,)
    on the prototypes ``B`` (p, D)."""
    B, V = np.asarray(B, dtype=np.float64), np.asarray(V, dtype=np.float64)
    if B.ndim != 2 or V.shape != (B.shape[1],):
        raise ValueError(f"B must be (p, D) and V (D,); got B {B.shape}, V {V.shape}")
    return np.linalg.lstsq(B.T, V, rcond=None)[0]


def residual_prototype(V, C, B) -> np.ndarray:
    """Eq. 5: ``R = V - C B`` (what the prototypes cannot represent of the head row)."""
    return np.asarray(V, dtype=np.float64) - np.asarray(C, np.float64) @ np.asarray(B, np.float64)


def residual_presence(A, E, B, R) -> np.ndarray:
    """Eq. 6: ``H`` (n,) minimising ``||A - E B - H R^T||^2`` row by row (``R`` (D,)); zero
    when ``R`` is zero (then every ``H`` is optimal)."""
    R = np.asarray(R, dtype=np.float64)
    rr = float(R @ R)
    diff = np.asarray(A, np.float64) - np.asarray(E, np.float64) @ np.asarray(B, np.float64)
    return diff @ R / rr if rr > 0 else np.zeros(len(diff))


def augmented_prototypes(B, C, R) -> np.ndarray:
    """Eq. 8: rows ``b_i + R / sum_j a_j`` (p, D), so ``sum_i a_i b'_i = C B + R = V``."""
    C = np.asarray(C, dtype=np.float64)
    total = float(C.sum())
    if total == 0.0:
        raise ZeroDivisionError("Eq. 8: the prototype coefficients sum to exactly zero")
    return np.asarray(B, np.float64) + np.asarray(R, np.float64)[None] / total


def coefficient_balance(C) -> float:
    """``|sum a| / ||a||_1`` in [0, 1]: small values mean Eq. 8 divides by a near-zero sum
    and the augmented prototypes are dominated by the residual."""
    C = np.asarray(C, dtype=np.float64)
    return float(abs(C.sum()) / max(np.abs(C).sum(), np.finfo(float).tiny))


def relative_error(A, E, B) -> float:
    """``||A - E B||_F / ||A||_F`` (the square root of Eq. 3, relative to the data)."""
    A = np.asarray(A, np.float64)
    diff = A - np.asarray(E, np.float64) @ np.asarray(B, np.float64)
    return float(np.linalg.norm(diff) / max(np.linalg.norm(A), np.finfo(float).tiny))


class ProtoNMF(ExtractorMixin, TransformerMixin, BaseEstimator):
    """Per-class NMF prototypes (Step 1) and, after :meth:`fit_head`, the head reconstruction
    (Step 2) with residual and augmented prototypes.

    As a concept extractor (:mod:`reference_impls.methods.base`): ``fit(A)`` without labels
    factorizes all rows as one class, so ``components_`` is (n_components, D); with per-row
    class labels ``y`` it holds every class's p prototypes stacked ((K p, D), owner classes in
    ``prototype_class_``). ``transform`` is the NNLS presence of rows on the bank.

    Parameters
    ----------
    n_components : int, default=3
        Prototypes per class (the paper's p).
    solver : {"mu", "hals"}, default="mu"
        NMF solver; the paper uses Lee & Seung's multiplicative updates (Eq. 2).
    max_iter : int, default=200
    tol : float, default=1e-4
        Stopping tolerance of :class:`~reference_impls.factorization.NMF` (its scale-free
        update-size rule, not the paper's relative-error rule; see the paper's __init__).
    init : str, default="random"
        ``"random"`` is DFF's ``sqrt(mean(A)/p) |N(0, 1)|`` (the code base the paper cites).
    clip_negative : bool, default=True
        Sec. 3.1: negative features (GELU networks) are set to zero before NMF. With
        ``False`` negative input raises.
    random_state : int or None, default=None
        Seeds each class's NMF (derived per class).

    ``n_iter_`` is the largest iteration count of the per-class NMFs.
    :meth:`decision_function` exists only after :meth:`fit_head` (``fit`` alone learns no
    head), so scikit-learn's checks do not call it on a fitted-but-headless estimator.
    """

    def __init__(
        self,
        n_components=3,
        solver="mu",
        max_iter=200,
        tol=1e-4,
        init="random",
        clip_negative=True,
        random_state=None,
    ):
        self.n_components = n_components
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.clip_negative = clip_negative
        self.random_state = random_state

    def __sklearn_tags__(self):
        # honest tag: the factorization runs in float32 but presences are solved and returned
        # in float64 (Eq. 1 with B fixed), so float64 is the dtype transform preserves
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        # with clip_negative (the default) negative input is accepted and clipped (Sec. 3.1);
        # otherwise _rows refuses it
        tags.input_tags.positive_only = not self.clip_negative
        return tags

    def _rows(self, A, name="A"):
        A = as_numpy(A, np.float32)
        if A.ndim != 2:
            raise ValueError(f"{name} must be (n_rows, n_features), got shape {A.shape}")
        if self.clip_negative:
            return np.maximum(A, 0)
        if (A < 0).any():
            raise ValueError(
                f"Negative values in data passed to {name} in ProtoNMF: {name} has negative "
                f"entries and clip_negative=False"
            )
        return A

    def fit(self, A, y=None):
        """Step 1: NMF of the rows of each class (all rows as one class when ``y`` is None)."""
        A = self._rows(self._validate(A, reset=True))
        y = np.zeros(len(A), dtype=np.int64) if y is None else np.asarray(y)
        if y.shape != (len(A),):
            raise ValueError(f"y must hold one class per row of A ({len(A)}), got {y.shape}")
        self.classes_ = np.unique(y)
        seed = 0 if self.random_state is None else int(self.random_state)
        banks, errors, n_iter, self.codes_ = [], [], [], {}
        for c in self.classes_:
            rows = A[y == c]
            nmf = NMF(
                self.n_components,
                solver=self.solver,
                init=self.init,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=derive_seed(seed, "protonmf", int(c)),
            )
            E = nmf.fit_transform(rows)
            n_iter.append(int(nmf.n_iter_))
            B = np.asarray(nmf.components_, dtype=np.float64)
            banks.append(B)
            errors.append(relative_error(rows, E, B))
            self.codes_[int(c)] = E
        self.prototypes_ = np.stack(banks)  # (K, p, D)
        self.feature_error_ = np.asarray(errors)
        self.components_ = self.prototypes_.reshape(-1, A.shape[1])
        self.prototype_class_ = np.repeat(self.classes_, self.n_components)
        self.n_iter_ = max(n_iter)
        return self

    def transform(self, A):
        """NNLS presence (n, K p) of rows on every prototype (Eq. 1 with B fixed)."""
        return nnls(self._rows(self._validate(A, reset=False)).astype(np.float64), self.components_)

    def inverse_transform(self, U):
        check_is_fitted(self, "components_")
        return np.asarray(U, np.float64) @ self.components_

    def presence(self, A, class_id, augmented=False) -> np.ndarray:
        """Presence maps of class ``class_id``'s prototypes (Eq. 1 with B fixed, NNLS), or of
        its augmented prototypes (Eq. 9, after :meth:`fit_head`): (n, p)."""
        k = self._class_index(class_id)
        bank = self.augmented_[k] if augmented else self.prototypes_[k]
        return nnls(self._rows(A).astype(np.float64), bank)

    def _class_index(self, class_id) -> int:
        check_is_fitted(self, "prototypes_")
        hits = np.flatnonzero(self.classes_ == class_id)
        if not len(hits):
            raise KeyError(f"class {class_id} was not fitted (classes: {self.classes_.tolist()})")
        return int(hits[0])

    def fit_head(self, weight, bias=None):
        """Step 2 for every fitted class: ``weight`` (n_model_classes, D) is the linear head
        (row c = ``V^c``; class ids index its rows), ``bias`` its bias (kept as a
        prototype-independent term in every variant)."""
        check_is_fitted(self, "prototypes_")
        W = np.asarray(weight, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != self.n_features_in_:
            raise ValueError(f"weight must be (n_classes, {self.n_features_in_}), got {W.shape}")
        if self.classes_.max() >= len(W):
            raise ValueError(f"classes {self.classes_.tolist()} do not index weight's rows")
        b = np.zeros(len(W)) if bias is None else np.asarray(bias, np.float64)
        self.head_weight_, self.head_bias_ = W, b
        coefs, residuals, augmented = [], [], []
        for k, c in enumerate(self.classes_):
            V, B = W[c], self.prototypes_[k]
            C = head_coefficients(B, V)
            R = residual_prototype(V, C, B)
            coefs.append(C)
            residuals.append(R)
            augmented.append(augmented_prototypes(B, C, R))
        self.coef_ = np.stack(coefs)  # (K, p)
        self.residual_ = np.stack(residuals)  # (K, D)
        self.augmented_ = np.stack(augmented)  # (K, p, D)
        norms = np.linalg.norm(W[self.classes_], axis=1)
        self.head_error_ = np.linalg.norm(self.residual_, axis=1) / np.maximum(norms, 1e-300)
        self.balance_ = np.array([coefficient_balance(C) for C in self.coef_])
        return self

    def prototype_scores(self, G) -> np.ndarray:
        """Per class and prototype ``a_i <g, b'_i>`` (n, K, p): the augmented prototypes'
        contributions to the logits (App. A.3 reasoning), from pooled features ``G``."""
        check_is_fitted(self, "coef_")
        G = np.asarray(G, dtype=np.float64)
        return np.einsum("nd,kpd->nkp", G, self.augmented_) * self.coef_[None]

    @available_if(lambda self: hasattr(self, "coef_"))
    def decision_function(self, G, variant="exact") -> np.ndarray:
        """Logits (n, K) of the fitted classes from pooled features ``G`` (n, D) (spatial
        means of the feature maps): ``nmf_only`` = ``sum a_i <g, b_i>``, ``residual_only`` =
        ``<g, R>``, ``exact`` = both, ``augmented`` = ``sum a_i <g, b'_i>`` (Eq. 8); each plus
        the head's bias (Table 3)."""
        check_is_fitted(self, "coef_")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got '{variant}'")
        G = np.asarray(G, dtype=np.float64)
        if G.ndim != 2 or G.shape[1] != self.n_features_in_:
            raise ValueError(f"G must be (n, {self.n_features_in_}) pooled features, got {G.shape}")
        nmf = np.einsum("nd,kpd,kp->nk", G, self.prototypes_, self.coef_)
        res = G @ self.residual_.T
        if variant == "nmf_only":
            out = nmf
        elif variant == "residual_only":
            out = res
        elif variant == "exact":
            out = nmf + res
        else:
            out = self.prototype_scores(G).sum(-1)
        return out + self.head_bias_[self.classes_][None]

    def intervene(self, G, classes, prototypes) -> np.ndarray:
        """Table 4: the augmented logits with prototype ``prototypes[j]`` of class
        ``classes[j]`` removed for image j (its contribution set to zero)."""
        logits = self.decision_function(G, "augmented")
        scores = self.prototype_scores(G)
        rows = np.arange(len(logits))
        k = np.array([self._class_index(c) for c in np.asarray(classes)])
        logits[rows, k] -= scores[rows, k, np.asarray(prototypes)]
        return logits
