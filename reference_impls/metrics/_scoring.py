"""Batched model evaluation shared by the fidelity and importance metrics.

A *concept problem* is the CRAFT setting (Fel et al. 2023, Sec. 3.3 and 4.4): coefficients
``U`` (``N x ... x r``, channels-last), a concept bank ``W`` (``r x p``), a ``head`` mapping
channels-last activations ``N x ... x p`` to class scores ``N x K``, and one target class
per input. Perturbations are per-concept multiplicative masks ``m`` in ``[0, 1]^r``:
the head sees ``(U * m) W``, the mask broadcast over the spatial axes.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import numpy as np
import torch

from reference_impls.metrics._validation import check_finite, to_index_array
from reference_impls.utils import as_tensor

SCORES = ("logit", "softmax")


def infer_device(model, *arrays, device=None) -> torch.device:
    """``device`` if given, else the model's parameter device, else the first tensor's, else CPU."""
    if device is not None:
        return torch.device(device)
    if isinstance(model, torch.nn.Module):
        for param in itertools.chain(model.parameters(), model.buffers()):
            return param.device
    for arr in arrays:
        if isinstance(arr, torch.Tensor):
            return arr.device
    return torch.device("cpu")


def check_model(model, name: str) -> None:
    if not callable(model):
        raise ValueError(
            f"{name} must be callable (a torch module or function), got {type(model)}."
        )
    if isinstance(model, torch.nn.Module) and model.training:
        warnings.warn(
            f"{name} is in training mode (dropout/batch-norm active); call .eval() "
            "for deterministic scores.",
            RuntimeWarning,
            stacklevel=3,
        )


def check_score(score: str) -> None:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}.")


def target_scores(outputs, target: torch.Tensor, score: str, name: str = "head") -> torch.Tensor:
    """The ``score`` (raw logit or softmax probability) of each row's target class."""
    if (
        not isinstance(outputs, torch.Tensor)
        or outputs.ndim != 2
        or outputs.shape[0] != len(target)
    ):
        shape = tuple(outputs.shape) if hasattr(outputs, "shape") else type(outputs)
        raise ValueError(
            f"{name} must return a (batch, n_classes) tensor with one row per "
            f"input ({len(target)}), got {shape}."
        )
    n_classes = outputs.shape[1]
    if int(target.max()) >= n_classes:
        raise ValueError(
            f"target class {int(target.max())} is out of range for {name} "
            f"output with {n_classes} classes."
        )
    if score == "softmax":
        outputs = outputs.softmax(dim=1)
    return outputs.gather(1, target[:, None])[:, 0]


def check_targets(target, n: int) -> np.ndarray:
    t = to_index_array(target, "target", length=n)
    if t.size and t.min() < 0:
        raise ValueError(f"target holds a negative class index ({t.min()}).")
    return t


def batched_scores(
    model,
    make_inputs: Callable[[np.ndarray], torch.Tensor],
    item_targets: np.ndarray,
    score: str,
    batch_size: int,
    device,
    name: str = "head",
) -> np.ndarray:
    """Target-class scores (float64) of ``model(make_inputs(items))`` over all items, in batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    n_items = len(item_targets)
    out = np.empty(n_items)
    targets = torch.as_tensor(item_targets, device=device)
    with torch.no_grad():
        for start in range(0, n_items, batch_size):
            idx = np.arange(start, min(start + batch_size, n_items))
            scores = target_scores(model(make_inputs(idx)), targets[idx], score, name)
            out[idx] = scores.detach().double().cpu().numpy()
    if not np.isfinite(out).all():
        raise ValueError(f"{name} returned NaN or infinite scores.")
    return out


class ConceptProblem:
    """Validated ``(U, W, head, target)``; evaluates the head on concept-masked activations."""

    def __init__(
        self, U, W, head, target, *, score: str = "logit", device=None, batch_size: int = 256
    ):
        check_model(head, "head")
        check_score(score)
        self.device = infer_device(head, U, W, device=device)
        self.U = as_tensor(U, device=self.device)
        self.W = as_tensor(W, device=self.device)
        if self.U.ndim < 2:
            raise ValueError(
                f"U must be (N, ..., r) with concepts last, got shape {tuple(self.U.shape)}."
            )
        if self.W.ndim != 2:
            raise ValueError(f"W must be an (r, p) concept bank, got shape {tuple(self.W.shape)}.")
        if self.W.shape[0] != self.U.shape[-1]:
            raise ValueError(
                f"W has {self.W.shape[0]} rows (concepts) but U has "
                f"{self.U.shape[-1]} concepts on its last axis; W must be (r, p)."
            )
        check_finite(self.U, "U")
        check_finite(self.W, "W")
        self.target = check_targets(target, self.U.shape[0])
        self.head, self.score, self.batch_size = head, score, batch_size

    @property
    def n(self) -> int:
        return self.U.shape[0]

    @property
    def r(self) -> int:
        return self.U.shape[-1]

    def activations(self, inputs: np.ndarray, masks: torch.Tensor) -> torch.Tensor:
        """``(U[inputs] * masks) W`` with ``masks`` of shape ``(len(inputs), r)``."""
        u = self.U[torch.as_tensor(inputs, device=self.device)]
        u = u * masks.view(masks.shape[0], *([1] * (u.ndim - 2)), self.r)
        return u @ self.W

    def masked_scores(self, masks) -> np.ndarray:
        """Target scores for every (input, mask): ``(N, M)``.

        ``masks`` is ``(M, r)`` (the same masks for every input) or ``(N, M, r)`` (per input).
        """
        masks = as_tensor(masks, device=self.device)
        shared = masks.ndim == 2
        if masks.shape[-1] != self.r or (
            not shared and (masks.ndim != 3 or masks.shape[0] != self.n)
        ):
            raise ValueError(
                f"masks must be (M, {self.r}) or ({self.n}, M, {self.r}), got {tuple(masks.shape)}."
            )
        n_masks = masks.shape[-2]

        def make_inputs(items):
            inputs, which = items // n_masks, items % n_masks
            m = (
                masks[torch.as_tensor(which, device=self.device)]
                if shared
                else masks[
                    torch.as_tensor(inputs, device=self.device),
                    torch.as_tensor(which, device=self.device),
                ]
            )
            return self.activations(inputs, m)

        item_targets = np.repeat(self.target, n_masks)
        return batched_scores(
            self.head, make_inputs, item_targets, self.score, self.batch_size, self.device
        ).reshape(self.n, n_masks)

    def activation_gradients(self) -> torch.Tensor:
        """``d score / d A`` at ``A = U W`` for every input: ``(N, ..., p)`` float32."""
        grads = []
        targets = torch.as_tensor(self.target, device=self.device)
        ones = torch.ones(1, self.r, device=self.device)
        for start in range(0, self.n, self.batch_size):
            idx = np.arange(start, min(start + self.batch_size, self.n))
            with torch.enable_grad():
                acts = (
                    self.activations(idx, ones.expand(len(idx), -1)).detach().requires_grad_(True)
                )
                scores = target_scores(self.head(acts), targets[idx], self.score)
                (grad,) = torch.autograd.grad(scores.sum(), acts)
            grads.append(grad.detach())
        grad = torch.cat(grads)
        check_finite(grad, "the head's gradient")
        return grad
