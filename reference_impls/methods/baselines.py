"""Baseline concept extractors behind the common interface (see :mod:`.base`).

NMF (each solver) and semi-NMF come from :mod:`reference_impls.factorization`; PCA, FastICA
and the sparse dictionary wrap scikit-learn; KMeans gives ACE-style cluster concepts
(Ghorbani et al. 2019); ``RandomConcepts`` is the control every method should beat.
CRAFT's appendix F compares NMF with PCA, ICA and RCA banks in the same way.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA

from ..factorization import NMF, SemiNMF, fista_codes, learn_dictionary, nnls
from ..utils import as_numpy, as_tensor
from .base import ExtractorMixin, with_default_rank


class NMFConcepts(ExtractorMixin, NMF):
    """NMF concept bank (CRAFT Eq. 1; Kolouri et al. Eq. 1 with elastic net).

    Parameters as :class:`reference_impls.factorization.NMF`, every one defaulted
    (``n_components=10``); activations must be non-negative (``positive_only`` tag).
    """

    _positive_only = True
    __init__ = with_default_rank(NMF.__init__)

    def fit(self, A, y=None, W=None, H=None):
        return super().fit(self._validate(A, reset=True), y, W, H)

    def transform(self, A):
        return super().transform(self._validate(A, reset=False))

    def inverse_transform(self, U):
        return super().inverse_transform(self._validate_codes(U))


class SemiNMFConcepts(ExtractorMixin, SemiNMF):
    """Semi-NMF concept bank for signed layers (Ding, Li & Jordan 2010); parameters as
    :class:`reference_impls.factorization.SemiNMF`, every one defaulted."""

    __init__ = with_default_rank(SemiNMF.__init__)

    def fit(self, A, y=None):
        return super().fit(self._validate(A, reset=True), y)

    def transform(self, A):
        return super().transform(self._validate(A, reset=False))

    def inverse_transform(self, U):
        return super().inverse_transform(self._validate_codes(U))


class _LinearDecoder(ExtractorMixin, TransformerMixin, BaseEstimator):
    """Extractors whose reconstruction is ``U @ components_`` (no offset)."""

    def inverse_transform(self, U):
        return (as_numpy(self._validate_codes(U), np.float32) @ self.components_).astype(np.float32)


class _SklearnConcepts(ExtractorMixin, TransformerMixin, BaseEstimator):
    """Adapter: an sklearn decomposition's ``components_`` as the concept bank."""

    def _make(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, A, y=None):
        A = as_numpy(self._validate(A, reset=True), np.float32)
        self.model_ = self._make().fit(A)
        self.components_ = np.asarray(self.model_.components_, dtype=np.float32)
        if hasattr(self.model_, "n_iter_"):
            self.n_iter_ = self.model_.n_iter_
        return self

    def transform(self, A):
        A = as_numpy(self._validate(A, reset=False), np.float32)
        return self.model_.transform(A).astype(np.float32)

    def inverse_transform(self, U):
        U = as_numpy(self._validate_codes(U), np.float32)
        return self.model_.inverse_transform(U).astype(np.float32)


class PCAConcepts(_SklearnConcepts):
    """Principal directions as concepts (CRAFT appendix F)."""

    def __init__(self, n_components=10, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def _make(self):
        return PCA(self.n_components, random_state=self.random_state)


class ICAConcepts(_SklearnConcepts):
    """FastICA directions as concepts (CRAFT appendix F)."""

    def __init__(self, n_components=10, max_iter=400, random_state=None):
        self.n_components = n_components
        self.max_iter = max_iter
        self.random_state = random_state

    def _make(self):
        return FastICA(
            self.n_components,
            max_iter=self.max_iter,
            tol=1e-3,
            whiten="unit-variance",
            random_state=self.random_state,
        )


class DictionaryConcepts(_LinearDecoder):
    """A sparse dictionary with l1 codes (unit-norm atoms; batched FISTA, see
    :mod:`reference_impls.factorization.sparse_coding`). ``alpha`` is relative to the mean
    row norm of the training data, so one value fits layers of any scale."""

    def __init__(self, n_components=10, alpha=0.05, n_iter=30, random_state=None):
        self.n_components = n_components
        self.alpha = alpha
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, A, y=None):
        A = as_tensor(as_numpy(self._validate(A, reset=True), np.float32))
        self.alpha_ = float(self.alpha * A.norm(dim=1).mean())
        D, _ = learn_dictionary(
            A, self.n_components, self.alpha_, self.n_iter, random_state=self.random_state
        )
        self.components_ = D.numpy()
        return self

    def transform(self, A):
        U = fista_codes(
            as_tensor(as_numpy(self._validate(A, reset=False), np.float32)),
            torch.from_numpy(self.components_),
            self.alpha_,
            n_iter=100,
        )
        return U.numpy()


class KMeansConcepts(_LinearDecoder):
    """ACE-style cluster concepts: centroids are the bank, codes are one-hot assignments."""

    def __init__(self, n_components=10, n_init=3, random_state=None):
        self.n_components = n_components
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, A, y=None):
        self.model_ = KMeans(
            self.n_components, n_init=self.n_init, random_state=self.random_state
        ).fit(as_numpy(self._validate(A, reset=True), np.float32))
        self.components_ = self.model_.cluster_centers_.astype(np.float32)
        return self

    def transform(self, A):
        labels = self.model_.predict(as_numpy(self._validate(A, reset=False), np.float32))
        return np.eye(self.n_components, dtype=np.float32)[labels]


class RandomConcepts(_LinearDecoder):
    """Control: a random non-negative bank drawn from the data's scale, NNLS codes."""

    def __init__(self, n_components=10, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, A, y=None):
        A = as_numpy(self._validate(A, reset=True), np.float32)
        rng = np.random.default_rng(self.random_state)
        bank = np.abs(rng.standard_normal((self.n_components, A.shape[1]))).astype(np.float32)
        bank *= np.linalg.norm(A, axis=1).mean() / np.linalg.norm(bank, axis=1, keepdims=True)
        self.components_ = bank
        return self

    def transform(self, A):
        A = as_numpy(self._validate(A, reset=False), np.float32)
        return as_numpy(nnls(A, self.components_), np.float32)
