"""One interface for every concept extractor, and a registry by importable name.

A concept extractor follows scikit-learn conventions: parameters stored unchanged in
``__init__``; ``fit(A)`` learns a concept bank ``components_`` (r x p) from activations ``A``
(n x p, rows are examples or patches); ``transform(A) -> U`` (n x r concept coefficients);
``inverse_transform(U) -> A_hat`` (n x p). Any class with those four members joins the
comparison, including one defined outside this repository: the config names it as
``"package.module:ClassName"`` with its parameters (benchopt-style: one config entry).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

# Short names of the suite's own extractors (``module:Class`` always works too).
BUILTIN = {
    "nmf": "reference_impls.methods.baselines:NMFConcepts",
    "semi_nmf": "reference_impls.methods.baselines:SemiNMFConcepts",
    "pca": "reference_impls.methods.baselines:PCAConcepts",
    "ica": "reference_impls.methods.baselines:ICAConcepts",
    "kmeans": "reference_impls.methods.baselines:KMeansConcepts",
    "dictionary": "reference_impls.methods.baselines:DictionaryConcepts",
    "random": "reference_impls.methods.baselines:RandomConcepts",
}
REQUIRED = ("fit", "transform", "inverse_transform")


@runtime_checkable
class ConceptExtractor(Protocol):
    """What the comparison needs of a method (``components_`` exists after ``fit``)."""

    def fit(self, A, y=None): ...

    def transform(self, A): ...

    def inverse_transform(self, U): ...


class ExtractorMixin:
    """Input validation and honest tags shared by the suite's extractors (sklearn conventions).

    ``_validate(A, reset=...)`` runs :func:`sklearn.utils.validation.validate_data`: a finite,
    dense, 2-D float32 array with at least one row and one feature, non-negative when the
    class sets ``_positive_only = True`` (the NMF family), and ``n_features_in_`` set at fit
    (``reset=True``) and checked at transform. Torch tensors pass through with only the shape
    checks, so that autograd through ``transform`` (CRAFT's implicit gradients) keeps working;
    the torch solvers check them themselves. Every extractor computes in float32 by design
    (activation caches and GPU solvers are float32), and says so in its
    ``preserves_dtype`` tag.
    """

    _positive_only = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self._positive_only
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def fit_transform(self, A, y=None, **fit_params):
        """``fit(A).transform(A)``: the codes ``transform`` gives (what every metric reads).

        An iterative solver's own last factor can differ from them when it stopped before
        convergence or the codes are not unique (semi-NMF's signed bank, NMF's ``mu``)."""
        return self.fit(A, y, **fit_params).transform(A)

    def _validate(self, A, *, reset: bool):
        if not reset:
            check_is_fitted(self)
        if isinstance(A, torch.Tensor):
            if A.ndim != 2:
                raise ValueError(
                    f"{type(self).__name__}: A must be 2-D (n_samples, n_features), "
                    f"got shape {tuple(A.shape)}"
                )
            if reset:
                self.n_features_in_ = A.shape[1]
            elif A.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {A.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input"
                )
            return A
        return validate_data(
            self,
            A,
            reset=reset,
            dtype=(np.float32, np.float64),
            ensure_non_negative=self._positive_only,
        )

    def _validate_codes(self, U):
        """Codes ``U`` (n x r) for ``inverse_transform``: 2-D, finite, r columns."""
        check_is_fitted(self)
        r = np.shape(self.components_)[0]
        if not isinstance(U, torch.Tensor):
            U = check_array(U, dtype=(np.float32, np.float64), input_name="U")
        if U.ndim != 2 or U.shape[1] != r:
            raise ValueError(
                f"{type(self).__name__}.inverse_transform: U must have shape (n, {r}), "
                f"got {tuple(U.shape)}"
            )
        return U


def with_default_rank(init, n_components: int = 10):
    """``init`` (an estimator's ``__init__``) with ``n_components`` defaulted: sklearn's
    ``clone`` and ``get_params`` read the signature, so a subclass that only changes a default
    reuses the parent's parameters instead of repeating them."""
    sig = inspect.signature(init)
    sig = sig.replace(
        parameters=[
            p.replace(default=n_components) if p.name == "n_components" else p
            for p in sig.parameters.values()
        ]
    )

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(*bound.args, **bound.kwargs)

    __init__.__signature__ = sig
    return __init__


def resolve_class(name: str):
    """The class named ``name``: a built-in short name or ``"module:Class"``."""
    target = BUILTIN.get(name, name)
    if ":" not in target:
        raise ValueError(
            f"method class '{name}': expected a built-in name ({sorted(BUILTIN)}) "
            f"or 'package.module:ClassName'"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"method class '{name}': cannot import module '{module_name}' ({err}); "
            f"is it installed or on PYTHONPATH?"
        ) from err
    if not hasattr(module, attr):
        raise ValueError(f"method class '{name}': module '{module_name}' has no '{attr}'")
    cls = getattr(module, attr)
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        raise TypeError(
            f"method class '{name}' lacks {missing}: a concept extractor needs "
            f"fit / transform / inverse_transform and a fitted components_"
        )
    return cls


def make_extractor(
    class_name: str,
    params: dict | None = None,
    n_components: int | None = None,
    random_state: int | None = None,
):
    """Instantiate ``class_name`` with ``params``; ``n_components`` / ``random_state`` are
    passed when the class accepts them and ``params`` does not already set them."""
    cls = resolve_class(class_name)
    params = dict(params or {})

    accepted = inspect.signature(cls.__init__).parameters
    for key, value in (("n_components", n_components), ("random_state", random_state)):
        if value is not None and key in accepted and key not in params:
            params[key] = value
    try:
        return cls(**params)
    except TypeError as err:
        raise TypeError(f"method class '{class_name}': bad parameters {params} ({err})") from err


def concept_bank(extractor) -> np.ndarray:
    """The fitted ``components_`` as a float numpy array (r x p), checked."""
    bank = getattr(extractor, "components_", None)
    if bank is None:
        raise AttributeError(f"{type(extractor).__name__} has no components_: call fit first")
    if hasattr(bank, "detach"):
        bank = bank.detach().cpu().numpy()
    bank = np.asarray(bank, dtype=np.float64)
    if bank.ndim != 2 or not np.isfinite(bank).all():
        raise ValueError(
            f"{type(extractor).__name__}.components_ must be a finite 2-D array, "
            f"got shape {bank.shape}"
        )
    return bank
