"""CRAFT: Concept Recursive Activation FacTorization (Fel et al., CVPR 2023).

The method, behind the suite's extractor interface (:mod:`.base`), plus CRAFT's extras:

- **crops** (Sec. 3.1): random square crops of each image, resized to the model's input
  (:func:`random_crops`); the paper cuts 10 random 64 px crops of 224 px images, i.e. a
  fraction :data:`CROP_FRACTION` = 64/224 of the side, kept for other image sizes;
- **concept bank** (Eq. 1): NMF of the globally average-pooled, non-negative activations of
  the crops at a layer l, ``A ~= U W`` (``U`` n x r coefficients, ``W`` = ``components_``
  r x p); :meth:`Craft.transform` projects new activations by NNLS (Sec. 3.4);
- **recursion** (Sec. 3.2): the points whose coefficient for concept i is at or above its
  90th percentile (:meth:`Craft.concept_members`) are re-factorized at an earlier layer
  l' < l into sub-concepts (:meth:`Craft.decompose`);
- **importance** (Sec. 3.3): total Sobol indices of concept masks, TCAV, gradient x input,
  occlusion, from :mod:`reference_impls.metrics` (:meth:`Craft.estimate_importance`), on
  channels-last coefficient maps and the model's head above layer l (:class:`LayerHead`);
- **concept attribution maps** (Sec. 3.4, Fig. 1 and 5): the concept value of an image is its
  NNLS coefficient on the bank (per position, spatially averaged: the quantity the importance
  masks perturb), differentiated through the NNLS layer by the implicit function theorem (:class:`~reference_impls.factorization.ImplicitNNLS`) and
  chained with Grad-CAM (Selvaraju et al. 2017) at a convolutional layer
  (:func:`concept_attribution_maps`); :func:`implicit_gradient_check` compares these
  gradients with central finite differences.

Notation: the paper writes ``A ~= U W^T`` with ``W`` p x r; here (scikit-learn style) the bank
is ``components_`` r x p and ``A ~= U @ components_``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..factorization import NMF, nnls
from ..metrics import (
    concept_sobol_importance,
    gradient_input_importance,
    occlusion_importance,
    tcav_scores,
)
from ..models import record_layers
from ..models.heads import LayerHead  # noqa: F401  (re-exported)
from ..utils import as_numpy, as_tensor, get_device
from .base import ExtractorMixin

__all__ = [
    "CROP_FRACTION",
    "Craft",
    "LayerHead",
    "concept_attribution_maps",
    "crop_size_for",
    "cut_crops",
    "grad_cam",
    "implicit_gradient_check",
    "pooled_concept_values",
    "random_crop_boxes",
    "random_crops",
]

#: The paper's crop side as a fraction of the image side (64 px crops of 224 px images).
CROP_FRACTION = 64 / 224

IMPORTANCE_METHODS = {
    "sobol": concept_sobol_importance,
    "tcav": tcav_scores,
    "gradient_input": gradient_input_importance,
    "occlusion": occlusion_importance,
}


# ------------------------------------------------------------------------------------ crops


def crop_size_for(image_size: int, fraction: float = CROP_FRACTION) -> int:
    """Side of a square crop covering ``fraction`` of an ``image_size`` side (at least 2 px).

    ``crop_size_for(224) == 64`` (the paper), ``crop_size_for(64) == 18``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    if image_size < 2:
        raise ValueError(f"image_size must be >= 2, got {image_size}")
    return max(2, int(round(fraction * image_size)))


def random_crop_boxes(
    n_images: int, image_shape: Sequence[int], crop_size: int, n_crops: int, seed: int
) -> np.ndarray:
    """``n_crops`` uniformly placed square boxes per image: ``(n_images * n_crops, 3)`` int64.

    Columns are ``(image, top, left)``; rows are image-major (the crops of image 0 first).
    Deterministic given ``seed``; every box lies inside the ``(H, W)`` image.
    """
    h, w = (int(image_shape[0]), int(image_shape[-1]))
    if not 1 <= crop_size <= min(h, w):
        raise ValueError(
            f"crop_size must be in [1, {min(h, w)}] for {h}x{w} images, got {crop_size}"
        )
    if n_crops < 1:
        raise ValueError(f"n_crops must be >= 1, got {n_crops}")
    rng = np.random.default_rng(seed)
    top = rng.integers(0, h - crop_size + 1, size=(n_images, n_crops))
    left = rng.integers(0, w - crop_size + 1, size=(n_images, n_crops))
    image = np.repeat(np.arange(n_images), n_crops).reshape(n_images, n_crops)
    return np.stack([image, top, left], axis=-1).reshape(-1, 3).astype(np.int64)


def cut_crops(images, boxes, crop_size: int, out_size: int | None = None) -> torch.Tensor:
    """Cut ``boxes`` (``image, top, left``) of side ``crop_size`` from ``images`` (N x C x H x W)
    and resize them bilinearly to ``out_size`` (default: the image side). float32 tensor."""
    x = as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"images must be N x C x H x W, got shape {tuple(x.shape)}")
    boxes = np.asarray(boxes, dtype=np.int64)
    if boxes.ndim != 2 or boxes.shape[1] != 3:
        raise ValueError(f"boxes must be (n, 3) rows of (image, top, left), got {boxes.shape}")
    h, w = x.shape[-2:]
    if len(boxes) and (
        boxes[:, 0].min() < 0
        or boxes[:, 0].max() >= len(x)
        or boxes[:, 1].min() < 0
        or boxes[:, 1].max() + crop_size > h
        or boxes[:, 2].min() < 0
        or boxes[:, 2].max() + crop_size > w
    ):
        raise ValueError(
            f"boxes reach outside the {len(x)} images of {h}x{w} px (crop_size {crop_size})"
        )
    offsets = torch.arange(crop_size, device=x.device)
    b = torch.as_tensor(boxes, device=x.device)
    rows = (b[:, 1, None] + offsets)[:, :, None]  # (n, s, 1)
    cols = (b[:, 2, None] + offsets)[:, None, :]  # (n, 1, s)
    crops = x.permute(0, 2, 3, 1)[b[:, 0, None, None], rows, cols]  # (n, s, s, C)
    crops = crops.permute(0, 3, 1, 2).contiguous()
    size = int(out_size) if out_size is not None else int(h)
    if size != crop_size:
        crops = F.interpolate(crops, size=(size, size), mode="bilinear", align_corners=False)
    return crops


def random_crops(
    images,
    n_crops: int = 10,
    crop_size: int | None = None,
    fraction: float = CROP_FRACTION,
    out_size: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, np.ndarray]:
    """CRAFT's crop function tau (Sec. 3.1): ``n_crops`` random square crops per image.

    The side is ``crop_size`` or, by default, ``crop_size_for(H, fraction)``; crops are resized
    bilinearly to ``out_size`` (default: the image side, i.e. the model's input). Returns the
    crops (``N * n_crops`` x C x out x out) and their boxes (:func:`random_crop_boxes`).
    """
    x = as_tensor(images)
    size = crop_size if crop_size is not None else crop_size_for(int(x.shape[-2]), fraction)
    boxes = random_crop_boxes(len(x), tuple(x.shape[-2:]), size, n_crops, seed)
    return cut_crops(x, boxes, size, out_size), boxes


# ------------------------------------------------------------------------------- model split

# ------------------------------------------------------------------------------- the method


def _rows(A, name="A") -> np.ndarray | torch.Tensor:
    if A.ndim != 2:
        raise ValueError(
            f"{name} must be (n_samples, n_features) pooled activations, got shape "
            f"{tuple(A.shape)}; use transform_maps for N x C x H x W maps"
        )
    return A


class Craft(ExtractorMixin, TransformerMixin, BaseEstimator):
    """CRAFT concept extractor (Fel et al. 2023): NMF concept bank, NNLS coefficients,
    recursive sub-concepts, Sobol importance and concept attribution maps.

    Parameters
    ----------
    n_components : int, default=10
        Number of concepts r (the paper uses 25 on ResNet50's 2048 channels).
    solver : {"hals", "mu", "admm"}, default="hals"
        NMF solver (:class:`reference_impls.factorization.NMF`).
    max_iter, tol : NMF stopping rule, default 200 and 1e-4.
    percentile : float, default=90
        Recursion threshold: concept i's points are those with ``U[:, i]`` at or above this
        percentile of ``U[:, i]`` (Sec. 3.2: "lambda equal to the 90th percentile").
    random_state : int or None
        Seeds the NMF initialisation; sub-concept fits derive their seed from it.
    device : str or None
        Torch device of the factorization (``None``: CUDA when present).

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        The concept bank ``W`` (rows are concepts, non-negative).
    coefficients_ : ndarray (n_samples, n_components)
        ``U`` of the fitted activations (the NMF factor, not re-projected).
    reconstruction_err_ : float
        ``||A - U W||_F`` at the end of ``fit``.
    n_features_in_, n_components_ : int

    ``fit_transform(A)`` is ``fit(A).transform(A)`` (:class:`~.base.ExtractorMixin`): the NNLS
    codes every metric reads; :attr:`coefficients_` keeps the NMF factor (the recursion's).
    """

    _positive_only = True

    def __init__(
        self,
        n_components=10,
        solver="hals",
        max_iter=200,
        tol=1e-4,
        percentile=90.0,
        random_state=None,
        device=None,
    ):
        self.n_components = n_components
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.percentile = percentile
        self.random_state = random_state
        self.device = device

    # -------------------------------------------------------------- interface
    def fit(self, A, y=None):
        """Factorize pooled non-negative activations ``A`` (n x p): Eq. 1."""
        if not 0 < float(self.percentile) < 100:
            raise ValueError(f"percentile must be in (0, 100), got {self.percentile}")
        A = as_numpy(self._validate(A, reset=True), np.float32)
        nmf = NMF(
            self.n_components,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
            device=self.device,
        )
        U = nmf.fit_transform(A)
        self.coefficients_ = as_numpy(U, np.float32)
        self.components_ = as_numpy(nmf.components_, np.float32)
        self.reconstruction_err_ = float(nmf.reconstruction_err_)
        self.n_iter_ = int(nmf.n_iter_)
        self.n_components_ = self.components_.shape[0]
        return self

    @classmethod
    def from_bank(cls, components, **params) -> Craft:
        """A fitted extractor from a saved concept bank (``transform`` only needs it)."""
        bank = np.asarray(components, dtype=np.float32)
        if bank.ndim != 2 or not np.isfinite(bank).all() or bank.min() < 0:
            raise ValueError(
                f"a CRAFT bank must be a finite non-negative (r, p) array, got shape {bank.shape}"
            )
        obj = cls(n_components=bank.shape[0], **params)
        obj.components_ = bank
        obj.n_components_, obj.n_features_in_ = bank.shape
        return obj

    def transform(self, A):
        """NNLS coefficients ``U >= 0`` (n x r) of activations ``A`` (n x p) on the bank.

        A torch ``A`` that requires grad gets implicit gradients through the NNLS layer.
        """
        if getattr(A, "ndim", 2) > 2:
            _rows(A)  # names transform_maps
        A = self._validate(A, reset=False)
        if isinstance(A, torch.Tensor):
            return nnls(A, torch.as_tensor(self.components_, device=A.device, dtype=A.dtype))
        return as_numpy(nnls(as_numpy(A, np.float32), self.components_), np.float32)

    def transform_maps(self, A):
        """Per-position coefficients of activation maps: (N, p, H, W) -> (N, H, W, r)."""
        A = as_numpy(A, np.float32)
        if A.ndim != 4:
            raise ValueError(f"maps must be N x C x H x W, got shape {A.shape}")
        n, p, h, w = A.shape
        U = self.transform(A.transpose(0, 2, 3, 1).reshape(-1, p))
        return U.reshape(n, h, w, -1)

    def inverse_transform(self, U):
        """``U @ components_`` on the last axis (numpy or torch, any leading shape)."""
        check_is_fitted(self, "components_")
        if isinstance(U, torch.Tensor):
            return U @ torch.as_tensor(self.components_, device=U.device, dtype=U.dtype)
        return np.asarray(U, dtype=np.float32) @ self.components_

    # -------------------------------------------------------------- recursion
    def concept_members(self, concept: int, U=None) -> np.ndarray:
        """Indices of the points ``C = {x_j : U_ji >= lambda}``, lambda the ``percentile``-th
        percentile of ``U[:, concept]`` (Sec. 3.2); points with a zero coefficient are never
        members (when over 90% of the column is zero, lambda is 0 and would admit them all).

        ``U`` defaults to :attr:`coefficients_` (the fitted points).
        """
        check_is_fitted(self, "components_")
        U = self.coefficients_ if U is None else as_numpy(U, np.float64)
        if not 0 <= concept < U.shape[1]:
            raise IndexError(f"concept {concept} out of range for {U.shape[1]} concepts")
        u = np.asarray(U[:, concept], dtype=np.float64)
        lam = np.percentile(u, self.percentile)
        return np.flatnonzero((u >= lam) & (u > 0))

    def decompose(self, concept: int, A_earlier, n_components: int | None = None, U=None):
        """Sub-concepts of ``concept``: a new :class:`Craft` fitted on the earlier-layer
        activations ``A_earlier`` (rows aligned with ``U``) of the concept's members.

        Returns ``(sub, members)``; ``sub.coefficients_`` are the members' sub-concept
        coefficients (row k is point ``members[k]``).
        """
        members = self.concept_members(concept, U)
        A_earlier = _rows(as_numpy(A_earlier, np.float32), "A_earlier")
        n_rows = len(self.coefficients_ if U is None else U)
        if len(A_earlier) != n_rows:
            raise ValueError(
                f"A_earlier has {len(A_earlier)} rows but the coefficients have "
                f"{n_rows}: rows must be the same points"
            )
        k = self.n_components if n_components is None else n_components
        if len(members) < max(2, k):
            raise ValueError(
                f"concept {concept} has {len(members)} members, too few for {k} sub-concepts"
            )
        seed = (
            None
            if self.random_state is None
            else int(np.random.default_rng([self.random_state, concept]).integers(2**31))
        )
        sub = Craft(
            k,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            percentile=self.percentile,
            random_state=seed,
            device=self.device,
        )
        return sub.fit(A_earlier[members]), members

    # -------------------------------------------------------------- importance
    def estimate_importance(self, U, head, target, method: str = "sobol", **kwargs):
        """Concept importance on coefficients ``U`` (N x ... x r, channels-last) through
        ``head`` (e.g. :class:`LayerHead`): ``"sobol"`` (total Sobol indices, Sec. 3.3),
        ``"tcav"``, ``"gradient_input"`` or ``"occlusion"``. Higher is more important."""
        check_is_fitted(self, "components_")
        if method not in IMPORTANCE_METHODS:
            raise ValueError(f"method must be one of {sorted(IMPORTANCE_METHODS)}, got {method!r}")
        return IMPORTANCE_METHODS[method](U, self.components_, head, target, **kwargs)

    def attribution_maps(
        self, model, images, layer: str, cam_layer: str | None = None, concepts=None, **kwargs
    ) -> np.ndarray:
        """Concept attribution maps of ``images`` (:func:`concept_attribution_maps`)."""
        check_is_fitted(self, "components_")
        return concept_attribution_maps(
            model, images, self.components_, layer, cam_layer=cam_layer, concepts=concepts, **kwargs
        )


# ------------------------------------------------------------------ concept attribution maps

POOLING = ("coefficients", "activations")


def pooled_concept_values(
    store: dict, bank: torch.Tensor, layer: str, pool: str = "coefficients"
) -> torch.Tensor:
    """Concept values ``u(x)`` (B, r) of recorded activations ``store[layer]``.

    ``pool="coefficients"`` (default): NNLS of the activation at every position, then the
    spatial mean, ``mean_pos NNLS(h_l(x)_pos, W)`` -- the coefficients whose masks the Sobol
    importance and the fidelity curves perturb, so an image's maps and its importances
    describe the same quantity. ``pool="activations"``: NNLS of the pooled activation,
    ``NNLS(GAP(h_l(x)), W)``, as for a crop. Either way the gradient goes through the NNLS
    layer by implicit differentiation when the activations carry a graph.
    """
    if pool not in POOLING:
        raise ValueError(f"pool must be one of {POOLING}, got {pool!r}")
    a = store[layer]
    if a.ndim == 2:
        return nnls(a, bank.to(a))
    if pool == "activations":
        return nnls(a.mean(dim=(2, 3)), bank.to(a))
    n, p, h, w = a.shape
    u = nnls(a.permute(0, 2, 3, 1).reshape(-1, p), bank.to(a))
    return u.reshape(n, h * w, -1).mean(1)


def grad_cam(
    model,
    images,
    cam_layer: str,
    score_fn: Callable[[torch.Tensor, dict, np.ndarray], torch.Tensor],
    record: Sequence[str] = (),
    out_size: int | None = None,
    batch_size: int = 64,
    device=None,
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of several scores per image: ``(N, k, H, W)`` float32.

    ``score_fn(logits, store, idx)`` returns the ``(B, k)`` scores of the batch ``idx`` from the
    logits and the recorded layer outputs ``store`` (``cam_layer`` plus ``record``). For each
    score: channel weights are the spatial mean of its gradient at ``cam_layer``; the map is
    ``ReLU(sum_c weight_c A_c)``, upsampled bilinearly to ``out_size`` (default: input side).
    """
    device = get_device(device) if device is not None else next(model.parameters()).device
    x_all = as_tensor(images)
    size = int(out_size) if out_size is not None else int(x_all.shape[-1])
    maps = []
    layers = list(dict.fromkeys([cam_layer, *record]))
    for start in range(0, len(x_all), batch_size):
        idx = np.arange(start, min(start + batch_size, len(x_all)))
        x = x_all[idx].to(device)
        with torch.enable_grad(), record_layers(model, layers) as store:
            logits = model(x)
            scores = score_fn(logits, store, idx)
            act = store[cam_layer]
            batch = []
            for k in range(scores.shape[1]):
                (g,) = torch.autograd.grad(scores[:, k].sum(), act, retain_graph=True)
                weights = g.mean(dim=(2, 3), keepdim=True)
                batch.append(torch.relu((weights * act).sum(1)).detach())
        cams = torch.stack(batch, 1)
        cams = F.interpolate(cams, size=(size, size), mode="bilinear", align_corners=False)
        maps.append(cams.clamp(min=0).cpu())
    return torch.cat(maps).numpy().astype(np.float32)


def concept_attribution_maps(
    model,
    images,
    bank,
    layer: str,
    cam_layer: str | None = None,
    concepts=None,
    pool: str = "coefficients",
    out_size: int | None = None,
    batch_size: int = 64,
    device=None,
) -> np.ndarray:
    """CRAFT's concept attribution maps (Sec. 3.4): ``(N, k, H, W)`` for ``k`` concepts.

    The concept value ``u_i(x)`` is an NNLS coefficient on ``bank`` (r x p) of the activations
    at ``layer`` (:func:`pooled_concept_values`, ``pool``); its gradient goes through the NNLS
    layer by implicit differentiation of the KKT conditions (:class:`~reference_impls.factorization.ImplicitNNLS`, no solver iterations
    unrolled) and on through the network to ``cam_layer`` (default: ``layer``), where
    Grad-CAM turns it into a map. ``concepts`` selects bank rows (default: all).
    """
    W = torch.as_tensor(np.asarray(bank), dtype=torch.float32)
    sel = np.arange(W.shape[0]) if concepts is None else np.asarray(concepts, dtype=np.int64)
    if sel.ndim == 1:

        def score_fn(_logits, store, _idx):
            return pooled_concept_values(store, W, layer, pool)[:, sel]
    else:  # one concept list per image

        def score_fn(_logits, store, idx):
            u = pooled_concept_values(store, W, layer, pool)
            return u.gather(1, torch.as_tensor(sel[idx], device=u.device))

    return grad_cam(
        model,
        images,
        cam_layer or layer,
        score_fn,
        record=[layer],
        out_size=out_size,
        batch_size=batch_size,
        device=device,
    )


def implicit_gradient_check(
    model, images, bank, layer: str, pool: str = "coefficients", eps: float = 1e-6, seed: int = 0
) -> dict:
    """Implicit gradients of the attribution-map path against central finite differences.

    In float64, for each image x and a random unit direction v in pixel space, compares the
    directional derivative of every concept value ``u(x)`` (:func:`pooled_concept_values`) from
    backpropagation through the implicit NNLS layer (``J v`` assembled from r gradients)
    with ``(u(x + eps v) - u(x - eps v)) / (2 eps)``. Returns per-image arrays ``analytic``
    and ``numeric`` (N x r) and ``rel_error`` (N,): ``||analytic - numeric|| / ||numeric||``.
    """
    m64 = copy.deepcopy(model).double().eval()
    x = as_tensor(images, dtype=torch.float64, device=next(m64.parameters()).device)
    W = torch.as_tensor(np.asarray(bank), dtype=torch.float64, device=x.device)
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device)
    v = v / torch.linalg.vector_norm(v.flatten(1), dim=1).view(-1, 1, 1, 1)

    def values(inp):
        with record_layers(m64, [layer]) as store:
            m64(inp)
            return pooled_concept_values(store, W, layer, pool)

    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        u = values(xg)
        analytic = torch.stack(
            [
                (torch.autograd.grad(u[:, i].sum(), xg, retain_graph=True)[0] * v).flatten(1).sum(1)
                for i in range(u.shape[1])
            ],
            dim=1,
        )
    with torch.no_grad():
        numeric = (values(x + eps * v) - values(x - eps * v)) / (2 * eps)
    a, n = analytic.detach().cpu().numpy(), numeric.cpu().numpy()
    denom = np.maximum(np.linalg.norm(n, axis=1), 1e-12)
    return {"analytic": a, "numeric": n, "rel_error": np.linalg.norm(a - n, axis=1) / denom}
