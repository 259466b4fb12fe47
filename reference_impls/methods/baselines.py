"""Baseline concept extractors behind the common interface (see :mod:`.base`).

NMF (each solver) and semi-NMF come from :mod:`reference_impls.factorization`; PCA, FastICA
and the sparse dictionary wrap scikit-learn; KMeans gives ACE-style cluster concepts
(Ghorbani et al. 2019); ``RandomConcepts`` is the control every method should beat.
CRAFT's appendix F compares NMF with PCA, ICA and RCA banks in the same way.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA, MiniBatchDictionaryLearning

from ..factorization import NMF, SemiNMF, nnls
from ..utils import as_numpy


class NMFConcepts(NMF):
    """NMF concept bank (CRAFT Eq. 1; Kolouri et al. Eq. 1 with elastic net)."""


class SemiNMFConcepts(SemiNMF):
    """Semi-NMF concept bank for signed layers (Ding, Li & Jordan 2010)."""


class _SklearnConcepts(TransformerMixin, BaseEstimator):
    """Adapter: an sklearn decomposition's ``components_`` as the concept bank."""

    def _make(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, A, y=None):
        self.model_ = self._make().fit(as_numpy(A, np.float32))
        self.components_ = np.asarray(self.model_.components_, dtype=np.float32)
        self.n_features_in_ = self.components_.shape[1]
        return self

    def transform(self, A):
        return self.model_.transform(as_numpy(A, np.float32)).astype(np.float32)

    def inverse_transform(self, U):
        return self.model_.inverse_transform(as_numpy(U, np.float32)).astype(np.float32)


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
        return FastICA(self.n_components, max_iter=self.max_iter, tol=1e-3,
                       whiten="unit-variance", random_state=self.random_state)


class DictionaryConcepts(_SklearnConcepts):
    """A sparse dictionary (Mairal et al. 2009, minibatch) with lasso codes."""

    def __init__(self, n_components=10, alpha=0.1, batch_size=256, max_iter=20,
                 random_state=None):
        self.n_components = n_components
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state

    def _make(self):
        return MiniBatchDictionaryLearning(
            self.n_components, alpha=self.alpha, batch_size=self.batch_size,
            max_iter=self.max_iter, transform_algorithm="lasso_lars",
            transform_alpha=self.alpha, random_state=self.random_state)

    def inverse_transform(self, U):
        return (as_numpy(U, np.float32) @ self.components_).astype(np.float32)


class KMeansConcepts(TransformerMixin, BaseEstimator):
    """ACE-style cluster concepts: centroids are the bank, codes are one-hot assignments."""

    def __init__(self, n_components=10, n_init=3, random_state=None):
        self.n_components = n_components
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, A, y=None):
        self.model_ = KMeans(self.n_components, n_init=self.n_init,
                             random_state=self.random_state).fit(as_numpy(A, np.float32))
        self.components_ = self.model_.cluster_centers_.astype(np.float32)
        self.n_features_in_ = self.components_.shape[1]
        return self

    def transform(self, A):
        labels = self.model_.predict(as_numpy(A, np.float32))
        return np.eye(self.n_components, dtype=np.float32)[labels]

    def inverse_transform(self, U):
        return (as_numpy(U, np.float32) @ self.components_).astype(np.float32)


class RandomConcepts(TransformerMixin, BaseEstimator):
    """Control: a random non-negative bank drawn from the data's scale, NNLS codes."""

    def __init__(self, n_components=10, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, A, y=None):
        A = as_numpy(A, np.float32)
        rng = np.random.default_rng(self.random_state)
        bank = np.abs(rng.standard_normal((self.n_components, A.shape[1]))).astype(np.float32)
        bank *= np.linalg.norm(A, axis=1).mean() / np.linalg.norm(bank, axis=1, keepdims=True)
        self.components_ = bank
        self.n_features_in_ = A.shape[1]
        return self

    def transform(self, A):
        return as_numpy(nnls(as_numpy(A, np.float32), self.components_), np.float32)

    def inverse_transform(self, U):
        return (as_numpy(U, np.float32) @ self.components_).astype(np.float32)
