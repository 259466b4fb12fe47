"""One interface for every concept extractor, and a registry by importable name.

A concept extractor follows scikit-learn conventions: parameters stored unchanged in
``__init__``; ``fit(A)`` learns a concept bank ``components_`` (r x p) from activations ``A``
(n x p, rows are examples or patches); ``transform(A) -> U`` (n x r concept coefficients);
``inverse_transform(U) -> A_hat`` (n x p). Any class with those four members joins the
comparison, including one defined outside this repository: the config names it as
``"package.module:ClassName"`` with its parameters (benchopt-style: one config entry).
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import numpy as np

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
    import inspect

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
