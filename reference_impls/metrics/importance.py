"""Concept importance estimators in concept space.

All concept estimators take the CRAFT signature ``(U, W, head, target)``: coefficients ``U``
(``N x ... x r``, channels-last), concept bank ``W`` (``r x p``), a ``head`` mapping
channels-last activations ``(B, ..., p)`` to class scores ``(B, K)``, and a target class per
input. They return one importance per concept (**higher means more important**), averaged
over the inputs, or per input with ``reduce="none"``; :func:`importance_to_order` turns any of
them into the order that :func:`~reference_impls.metrics.fidelity.concept_deletion` and
:func:`~reference_impls.metrics.fidelity.concept_insertion` take.

- :func:`concept_sobol_importance`: total Sobol indices of multiplicative concept masks
  (Fel et al., "CRAFT", CVPR 2023, Sec. 3.3 and Appendix D), Jansen estimator on a
  quasi-Monte-Carlo (Sobol sequence) design; :func:`total_sobol_indices` is the general
  estimator underneath.
- :func:`tcav_scores`: TCAV with the concept directions as CAVs (Kim et al., ICML 2018).
- :func:`gradient_input_importance`: gradient x input in concept space.
- :func:`occlusion_importance`: drop of the class score when one concept is zeroed.

Importances are attributions, not scores of a method, so they carry no better/worse
direction and are not listed in ``HIGHER_IS_BETTER``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import torch
from scipy.stats import qmc

from reference_impls.metrics._scoring import ConceptProblem, check_targets
from reference_impls.utils import as_numpy

__all__ = [
    "sobol_design",
    "jansen_total_indices",
    "total_sobol_indices",
    "per_input_designs",
    "concept_sobol_importance",
    "tcav_scores",
    "gradient_input_importance",
    "occlusion_importance",
    "importance_to_order",
    "per_class_importance",
]


# ------------------------------------------------------------------ general Sobol estimator


def sobol_design(d: int, n: int, *, scramble: bool = True, seed: int | None = 0) -> np.ndarray:
    """Saltelli-style design for total Sobol indices: ``n (d + 2)`` points in ``[0, 1]^d``.

    A ``2d``-dimensional Sobol sequence (``scipy.stats.qmc.Sobol``) gives two independent
    ``n x d`` matrices A and B; ``C_i`` is A with column i taken from B. Rows are stacked
    ``[A; B; C_1; ...; C_d]``. ``n`` should be a power of two (scipy warns otherwise: the
    sequence loses its balance properties). ``scramble`` (Owen scrambling, seeded by
    ``seed``) avoids the all-zero first point of the plain sequence.
    """
    if d < 1 or n < 2:
        raise ValueError(f"need d >= 1 and n >= 2, got d={d}, n={n}.")
    sampler = qmc.Sobol(2 * d, scramble=scramble, rng=seed)
    ab = sampler.random_base2(int(np.log2(n))) if n & (n - 1) == 0 else sampler.random(n)
    a, b = ab[:, :d], ab[:, d:]
    c = np.repeat(a[None], d, axis=0)  # (d, n, d)
    c[np.arange(d), :, np.arange(d)] = b.T
    return np.concatenate([a, b, c.reshape(d * n, d)])


def jansen_total_indices(outputs, d: int, n: int) -> np.ndarray:
    """Jansen (1999) estimator of total Sobol indices from outputs on :func:`sobol_design`.

    ``S_Ti = mean_j (f(A)_j - f(C_i)_j)^2 / 2 / Var[f(A), f(B)]`` (the variance over the
    ``2n`` A and B evaluations), as in Xplique's CRAFT. ``outputs`` has shape
    ``(n (d + 2),)`` or ``(n (d + 2), k)`` for k outputs; returns ``(d,)`` or ``(d, k)``.
    An output with zero variance has undefined indices: NaN, with a ``RuntimeWarning``.
    """
    y = as_numpy(outputs).astype(np.float64)
    if y.shape[0] != n * (d + 2):
        raise ValueError(f"outputs must have n (d + 2) = {n * (d + 2)} rows, got {y.shape[0]}.")
    if not np.isfinite(y).all():
        raise ValueError("outputs contain NaN or infinite values.")
    f_a, f_b, f_c = y[:n], y[n : 2 * n], y[2 * n :].reshape(d, n, *y.shape[1:])
    var = np.var(np.concatenate([f_a, f_b]), axis=0)
    flat = np.isclose(var, 0.0, rtol=0.0, atol=1e-12 * max(1.0, float(np.abs(y).max())))
    if np.any(flat):
        warnings.warn(
            f"{int(np.sum(flat))} output(s) do not vary over the design; their "
            "total Sobol indices are undefined and returned as NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        sti = np.mean((f_a[None] - f_c) ** 2, axis=1) / 2.0 / np.where(flat, np.nan, var)
    return sti


def total_sobol_indices(
    f: Callable[[np.ndarray], np.ndarray],
    d: int,
    n: int = 1024,
    *,
    scramble: bool = True,
    seed: int | None = 0,
) -> np.ndarray:
    """Total Sobol indices of ``f`` with d independent uniform inputs on ``[0, 1]``.

    ``f`` maps an ``(m, d)`` float64 array to ``(m,)`` outputs (or ``(m, k)`` for k outputs
    at once); it is called once on all ``n (d + 2)`` design points (:func:`sobol_design`),
    so vectorise or batch inside it. Returns ``(d,)`` (or ``(d, k)``) Jansen estimates
    (:func:`jansen_total_indices`). For other input ranges, rescale inside ``f``.
    """
    masks = sobol_design(d, n, scramble=scramble, seed=seed)
    return jansen_total_indices(f(masks), d, n)


# ------------------------------------------------------------------ concept importances


def _reduce(per_input: np.ndarray, reduce: str, what: str) -> np.ndarray:
    if reduce == "none":
        return per_input
    if reduce != "mean":
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}.")
    bad = np.isnan(per_input).any(axis=1)
    if bad.all():
        raise ValueError(f"{what} is undefined for every input.")
    if bad.any():
        warnings.warn(
            f"{what}: {int(bad.sum())} of {len(bad)} inputs have undefined values "
            "and are left out of the mean.",
            RuntimeWarning,
            stacklevel=3,
        )
    return per_input[~bad].mean(axis=0)


def concept_sobol_importance(
    U,
    W,
    head,
    target,
    *,
    n_design: int = 32,
    scramble: bool = True,
    seed: int | None = 0,
    design: str = "per_input",
    score: str = "logit",
    batch_size: int = 1024,
    device=None,
    reduce: str = "mean",
) -> np.ndarray:
    """Total Sobol index of each concept (CRAFT, Fel et al. 2023, Sec. 3.3, Eq. 2).

    For every input, the head sees ``(U * M) W`` for the ``n_design (r + 2)`` masks
    ``M in [0, 1]^r`` of :func:`sobol_design` (broadcast over spatial axes) and the target
    score's total indices are estimated with the Jansen estimator; the result is averaged
    over inputs (``reduce="mean"``, shape ``(r,)``) or returned per input (``"none"``,
    ``(N, r)``). Higher means more important. Inputs whose score does not vary under the
    masks (e.g. all-zero ``U``) get NaN, with a warning, and are left out of the mean with a
    second warning.

    ``design="per_input"`` (default) draws an independently scrambled design for every input
    (:func:`per_input_designs`), so the design's error averages out over inputs and the mean
    index is unbiased for every concept. ``"shared"`` uses one design for all inputs (the
    official code's choice): at small ``n_design`` a badly balanced pair of sequence
    dimensions then biases one concept's index for every input alike (with ``n_design=32``
    and r = 10, concept 4's index is multiplied by ~0.2 or ~1.7 depending on the seed;
    ``benchmarks/sobol_design_size.py``).
    """
    problem = ConceptProblem(U, W, head, target, score=score, device=device, batch_size=batch_size)
    r = problem.r
    if design == "shared":
        masks = sobol_design(r, n_design, scramble=scramble, seed=seed)
    elif design == "per_input":
        if not scramble:
            raise ValueError(
                "design='per_input' needs scramble=True (unscrambled designs are equal)"
            )
        masks = per_input_designs(problem.n, r, n_design, seed=seed)
    else:
        raise ValueError(f"design must be 'per_input' or 'shared', got {design!r}.")
    outputs = problem.masked_scores(masks.astype(np.float32))  # (N, n (r + 2))
    sti = jansen_total_indices(outputs.T, r, n_design)  # (r, N): one column per input
    return _reduce(sti.T, reduce, "concept Sobol importance")


def per_input_designs(n_inputs: int, d: int, n: int, *, seed: int | None = 0) -> np.ndarray:
    """``(n_inputs, n (d + 2), d)``: an independently Owen-scrambled :func:`sobol_design` per
    input (scramble k seeded by ``(seed, k)``), for estimates unbiased over inputs."""
    base = np.random.SeedSequence(seed if seed is not None else None)
    return np.stack(
        [
            sobol_design(d, n, scramble=True, seed=np.random.default_rng(child))
            for child in base.spawn(n_inputs)
        ]
    )


def _concept_derivatives(problem: ConceptProblem) -> torch.Tensor:
    """``d score / d U`` at ``A = U W``: ``(N, ..., r)``, i.e. ``grad_A . w_i`` per position."""
    return problem.activation_gradients() @ problem.W.T


def _spatial_sum(x: torch.Tensor) -> np.ndarray:
    """``(N, ..., r)`` summed over the spatial axes -> ``(N, r)`` float64."""
    return x.reshape(x.shape[0], -1, x.shape[-1]).sum(1).double().cpu().numpy()


def tcav_scores(
    U,
    W,
    head,
    target,
    *,
    variant: str = "sign",
    score: str = "logit",
    batch_size: int = 256,
    device=None,
) -> np.ndarray:
    """TCAV score of each concept direction (Kim et al., ICML 2018), shape ``(r,)``.

    The CAV of concept i is its unit direction ``w_i / ||w_i||`` in activation space. The
    directional derivative ``S_i(x) = sum over positions of grad_A score . w_i / ||w_i||``
    is taken at the reconstruction ``A = U W`` (for spatial activations, the derivative of
    adding the concept uniformly at every position).

    - ``variant="sign"``: fraction of inputs with ``S_i(x) > 0`` (Kim et al.'s TCAV_Q);
    - ``variant="magnitude"``: ``sum_x S_i(x) 1[S_i(x) > 0] / sum_x |S_i(x)|`` (the TCAV
      magnitude variant); NaN with a warning for a concept whose derivatives are all 0.

    Higher means more important (0.5 is "no consistent influence" for the sign count).
    """
    problem = ConceptProblem(U, W, head, target, score=score, device=device, batch_size=batch_size)
    norms = torch.linalg.vector_norm(problem.W, dim=1)
    if bool((norms == 0).any()):
        zero = torch.nonzero(norms == 0).flatten().tolist()
        raise ValueError(f"W rows {zero} are zero: a TCAV direction needs a non-zero concept.")
    s = _spatial_sum(_concept_derivatives(problem)) / norms.double().cpu().numpy()
    if variant == "sign":
        return np.mean(s > 0, axis=0)
    if variant == "magnitude":
        total = np.abs(s).sum(axis=0)
        if np.any(total == 0):
            warnings.warn(
                f"concepts {np.flatnonzero(total == 0).tolist()} have zero directional "
                "derivative on every input: TCAV magnitude is NaN.",
                RuntimeWarning,
                stacklevel=2,
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, np.clip(s, 0, None).sum(axis=0) / total, np.nan)
    raise ValueError(f"variant must be 'sign' or 'magnitude', got {variant!r}.")


def gradient_input_importance(
    U,
    W,
    head,
    target,
    *,
    score: str = "logit",
    batch_size: int = 256,
    device=None,
    reduce: str = "mean",
) -> np.ndarray:
    """Gradient x input in concept space: ``sum over positions of U * d score / d U``.

    The first-order Taylor estimate of the score drop when a concept is removed (exact for a
    head that is linear in the activations, where it equals :func:`occlusion_importance`).
    Returns ``(r,)`` averaged over inputs, or ``(N, r)`` with ``reduce="none"``.
    """
    problem = ConceptProblem(U, W, head, target, score=score, device=device, batch_size=batch_size)
    return _reduce(
        _spatial_sum(_concept_derivatives(problem) * problem.U), reduce, "gradient x input"
    )


def occlusion_importance(
    U,
    W,
    head,
    target,
    *,
    score: str = "logit",
    batch_size: int = 256,
    device=None,
    reduce: str = "mean",
) -> np.ndarray:
    """Occlusion in concept space: ``score(U W) - score(U W with concept i zeroed)``.

    ``N (r + 1)`` head evaluations. Returns ``(r,)`` averaged over inputs, or ``(N, r)`` with
    ``reduce="none"``; higher means removing the concept hurts the target score more.
    """
    problem = ConceptProblem(U, W, head, target, score=score, device=device, batch_size=batch_size)
    masks = np.concatenate([np.ones((1, problem.r)), 1.0 - np.eye(problem.r)]).astype(np.float32)
    scores = problem.masked_scores(masks)
    return _reduce(scores[:, :1] - scores[:, 1:], reduce, "occlusion")


# ------------------------------------------------------------------ from importances to orders


def importance_to_order(importance):
    """Concept indices from most to least important (ties keep index order).

    ``(r,)`` -> ``(r,)``; ``(N, r)`` -> ``(N, r)``; a mapping ``{class: (r,)}`` (from
    :func:`per_class_importance`) -> ``{class: (r,)}``. The result plugs into
    ``concept_deletion`` / ``concept_insertion`` as ``order``.
    """
    if isinstance(importance, Mapping):
        return {c: importance_to_order(v) for c, v in importance.items()}
    imp = as_numpy(importance).astype(np.float64)
    if imp.ndim not in (1, 2):
        raise ValueError(f"importance must be (r,) or (N, r), got shape {imp.shape}.")
    if not np.isfinite(imp).all():
        raise ValueError("importance contains NaN or infinite values; cannot rank concepts.")
    return np.argsort(-imp, axis=-1, kind="stable")


def per_class_importance(method: Callable, U, W, head, target, **kwargs) -> dict:
    """``{class: method(U[target == class], W, head, target[target == class], **kwargs)}``.

    CRAFT ranks concepts per class; pass e.g. ``concept_sobol_importance`` or ``tcav_scores``.
    """
    t = check_targets(target, len(U))
    out = {}
    for c in np.unique(t):
        idx = np.flatnonzero(t == c)
        sub = (
            U[torch.as_tensor(idx, device=U.device)]
            if isinstance(U, torch.Tensor)
            else as_numpy(U)[idx]
        )
        out[int(c)] = method(sub, W, head, t[idx], **kwargs)
    return out
