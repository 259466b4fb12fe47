"""Deletion and insertion fidelity curves, in concept space and in pixel space.

Concept space (CRAFT, Fel et al., CVPR 2023, Sec. 4.4 and Fig. 6): with coefficients ``U``,
concept bank ``W`` and the head ``h`` above the factorized layer, concepts are removed
(deletion: start from all concepts, zero them one at a time, most important first) or added
(insertion: start from none, add them most important first); at each step the activation
``(U * m) W`` goes through the head and the target class score is recorded.

Pixel space (Petsiuk, Das & Saenko, "RISE", BMVC 2018, Sec. 4.1): pixels are removed
(replaced by a baseline) or inserted (into a baseline, by default a blurred copy) in the
order of a heatmap.

Each curve is summarised by its area under the curve over the normalised x-axis [0, 1]
(trapezoid rule). **Deletion AUC: lower is better** (the score should collapse once the
important concepts/pixels are gone). **Insertion AUC: higher is better**.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from reference_impls.metrics._scoring import (
    ConceptProblem,
    batched_scores,
    check_model,
    check_score,
    check_targets,
    infer_device,
)
from reference_impls.metrics._validation import check_finite
from reference_impls.utils import as_numpy, as_tensor

__all__ = [
    "FidelityCurve",
    "concept_deletion",
    "concept_insertion",
    "pixel_deletion",
    "pixel_insertion",
    "concept_orders",
]


@dataclass(frozen=True)
class FidelityCurve:
    """A deletion or insertion curve.

    ``x``: fraction of concepts/pixels removed or inserted at each step, from 0 to 1;
    ``per_input``: ``(N, steps + 1)`` target scores; ``curve``: their mean over inputs;
    ``auc``: trapezoid area under ``curve`` over ``x`` (equal to the mean per-input AUC).
    """

    kind: str
    x: np.ndarray
    per_input: np.ndarray

    @property
    def curve(self) -> np.ndarray:
        return self.per_input.mean(axis=0)

    @property
    def per_input_auc(self) -> np.ndarray:
        return np.trapezoid(self.per_input, self.x, axis=1)

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.curve, self.x))


def concept_orders(order, target: np.ndarray, r: int) -> np.ndarray:
    """Per-input concept orders ``(N, r)`` from a global, per-class or per-input order.

    ``order`` is a length-r permutation (one global order), an ``(N, r)`` array (one order
    per input), or a mapping ``{class: length-r permutation}`` (per-class orders, looked up
    with each input's target class). Every order must be a permutation of ``range(r)``.
    """
    n = len(target)
    if isinstance(order, Mapping):
        missing = sorted(set(target.tolist()) - set(order))
        if missing:
            raise ValueError(f"order has no entry for target classes {missing}.")
        orders = np.stack([as_numpy(order[c]) for c in target]) if n else np.empty((0, r))
    else:
        orders = as_numpy(order)
        if orders.ndim == 1:
            orders = np.broadcast_to(orders, (n, orders.shape[0]))
        elif orders.ndim != 2 or orders.shape[0] != n:
            raise ValueError(
                f"order must be (r,), (N, r) = ({n}, {r}) or a mapping "
                f"class -> (r,), got shape {orders.shape}."
            )
    if orders.shape[1] != r or not np.array_equal(
        np.sort(orders, axis=1), np.broadcast_to(np.arange(r), orders.shape)
    ):
        raise ValueError(
            f"every concept order must be a permutation of range({r}) (each concept exactly once)."
        )
    return orders.astype(np.int64)


def _touched(rank: np.ndarray | torch.Tensor, counts) -> np.ndarray | torch.Tensor:
    """``touched[n, k, j]``: element j of input n is among the first ``counts[k]`` in its order."""
    return rank[:, None, :] < counts[None, :, None]


def _concept_curve(kind, U, W, head, target, order, score, batch_size, device) -> FidelityCurve:
    problem = ConceptProblem(U, W, head, target, score=score, device=device, batch_size=batch_size)
    orders = concept_orders(order, problem.target, problem.r)
    rank = np.argsort(orders, axis=1)  # rank[n, c] = position of concept c in input n's order
    steps = np.arange(problem.r + 1)
    touched = _touched(rank, steps).astype(np.float32)  # (N, r + 1, r)
    masks = 1.0 - touched if kind == "deletion" else touched
    scores = problem.masked_scores(masks)
    return FidelityCurve(kind, steps / problem.r, scores)


def concept_deletion(
    U, W, head, target, order, *, score: str = "logit", batch_size: int = 256, device=None
) -> FidelityCurve:
    """Concept deletion curve (Fel et al., CRAFT, CVPR 2023, Sec. 4.4, Fig. 6 left; after
    Petsiuk et al. 2018): **lower AUC is better**.

    Parameters
    ----------
    U : (N, ..., r) array or tensor, channels-last coefficients (``N x r`` or ``N x h x w x r``).
    W : (r, p) concept bank; the head sees ``(U * m) W`` of shape ``(N, ..., p)``.
    head : callable mapping a channels-last float32 tensor ``(B, ..., p)`` to ``(B, K)`` scores.
    target : (N,) target class per input.
    order : concept indices, most important first: ``(r,)`` global, ``(N, r)`` per input, or
        a mapping ``{class: (r,)}`` (see :func:`concept_orders`); e.g. the output of
        :func:`reference_impls.metrics.importance.importance_to_order`.
    score : ``"logit"`` (the raw class score, as in CRAFT) or ``"softmax"`` (probability).

    Step k (k = 0..r, x = k / r) zeroes the first k concepts of the order: step 0 is the
    full reconstruction ``U W``, step r the all-zero activation. Costs ``N (r + 1)`` head
    evaluations, batched by ``batch_size``.
    """
    return _concept_curve("deletion", U, W, head, target, order, score, batch_size, device)


def concept_insertion(
    U, W, head, target, order, *, score: str = "logit", batch_size: int = 256, device=None
) -> FidelityCurve:
    """Concept insertion curve (Fel et al., CRAFT, CVPR 2023, Sec. 4.4, Fig. 6 right):
    **higher AUC is better**.

    Same arguments as :func:`concept_deletion`; step k keeps only the first k concepts of the
    order, so step 0 is the all-zero activation and step r the full reconstruction.
    """
    return _concept_curve("insertion", U, W, head, target, order, score, batch_size, device)


# ------------------------------------------------------------------------------ pixel space


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (kernel size 2 * round(2 sigma) + 1), edges replicated.

    RISE uses an 11 x 11 kernel with sigma 5 for its insertion baseline.
    """
    if sigma <= 0:
        raise ValueError(f"blur_sigma must be > 0, got {sigma}.")
    half = max(1, int(round(2 * sigma)))
    t = torch.arange(-half, half + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    n, c, h, w = images.shape
    x = images.reshape(n * c, 1, h, w)
    x = torch.nn.functional.pad(x, (half, half, half, half), mode="replicate")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1))
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def _baseline(baseline, images: torch.Tensor, blur_sigma: float) -> torch.Tensor:
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError(f"baseline must be a number, an array or 'blur', got {baseline!r}.")
        return _gaussian_blur(images, blur_sigma)
    base = as_tensor(baseline, dtype=images.dtype, device=images.device)
    try:
        base = torch.broadcast_to(base, images.shape)
    except RuntimeError as err:
        raise ValueError(
            f"baseline of shape {tuple(base.shape)} does not broadcast to the "
            f"images' shape {tuple(images.shape)}."
        ) from err
    check_finite(base, "baseline")
    return base


def _pixel_curve(
    kind, model, images, heatmaps, target, n_steps, baseline, blur_sigma, score, batch_size, device
) -> FidelityCurve:
    check_model(model, "model")
    check_score(score)
    device = infer_device(model, images, device=device)
    x = as_tensor(images, device=device)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}.")
    n, _, h, w = x.shape
    heat = as_tensor(heatmaps, device=device)
    if tuple(heat.shape) != (n, h, w):
        raise ValueError(
            f"heatmaps must be (N, H, W) = {(n, h, w)} to match images, got {tuple(heat.shape)}."
        )
    check_finite(x, "images")
    check_finite(heat, "heatmaps")
    target = check_targets(target, n)
    if not 1 <= n_steps <= h * w:
        raise ValueError(f"n_steps must be in [1, H * W = {h * w}], got {n_steps}.")
    base = _baseline(baseline, x, blur_sigma)
    start, end = (x, base) if kind == "deletion" else (base, x)

    order = torch.argsort(-heat.reshape(n, -1), dim=1, stable=True)  # most important first
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=device).expand(n, -1))
    counts = torch.round(torch.arange(n_steps + 1, device=device) * (h * w / n_steps)).long()
    n_curve = n_steps + 1

    def make_inputs(items):
        inputs = torch.as_tensor(items // n_curve, device=device)
        steps = torch.as_tensor(items % n_curve, device=device)
        touched = (rank[inputs] < counts[steps][:, None]).view(len(items), 1, h, w)
        return torch.where(touched, end[inputs], start[inputs])

    scores = batched_scores(
        model, make_inputs, np.repeat(target, n_curve), score, batch_size, device, name="model"
    )
    return FidelityCurve(
        kind, (counts.double() / (h * w)).cpu().numpy(), scores.reshape(n, n_curve)
    )


def pixel_deletion(
    model,
    images,
    heatmaps,
    target,
    *,
    n_steps: int = 50,
    baseline=0.0,
    blur_sigma: float = 5.0,
    score: str = "softmax",
    batch_size: int = 128,
    device=None,
) -> FidelityCurve:
    """RISE deletion curve (Petsiuk et al., BMVC 2018): **lower AUC is better**.

    ``images`` (N, C, H, W) are fed to ``model`` (callable -> (B, K) scores); ``heatmaps``
    (N, H, W) rank the pixels (ties broken by pixel index). At step k = 0..n_steps the
    ``round(k H W / n_steps)`` highest-ranked pixels (all channels) are replaced by
    ``baseline``: a number (RISE deletion uses 0), an array broadcastable to the images, or
    ``"blur"`` (Gaussian blur with ``blur_sigma``). ``score="softmax"`` records the target
    class probability as RISE does; ``"logit"`` records the raw score.
    """
    return _pixel_curve(
        "deletion",
        model,
        images,
        heatmaps,
        target,
        n_steps,
        baseline,
        blur_sigma,
        score,
        batch_size,
        device,
    )


def pixel_insertion(
    model,
    images,
    heatmaps,
    target,
    *,
    n_steps: int = 50,
    baseline="blur",
    blur_sigma: float = 5.0,
    score: str = "softmax",
    batch_size: int = 128,
    device=None,
) -> FidelityCurve:
    """RISE insertion curve (Petsiuk et al., BMVC 2018): **higher AUC is better**.

    Starts from ``baseline`` (RISE: a blurred copy of the image, the default here) and
    inserts the original pixels in heatmap order; otherwise as :func:`pixel_deletion`.
    """
    return _pixel_curve(
        "insertion",
        model,
        images,
        heatmaps,
        target,
        n_steps,
        baseline,
        blur_sigma,
        score,
        batch_size,
        device,
    )
