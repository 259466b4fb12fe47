"""Computations behind the multiaspect artefacts (Saini & Papalexakis, Sec. III-IV, App. A).

Shapes follow the paper: examples are the columns of D_i (pixels of channel i), A_j (layer j)
and F (d x N). Section / equation numbers refer to
/work/shared/papers/multiaspect_coupled_nmf.md; ambiguity numbers (#k) to the spec
/work/shared/notes/multiaspect_protonmf_bona.md, Sec. 1.A.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ...data.base import ArrayImageDataset
from ...factorization.coupled import CoupledNMF
from ...metrics.cka import linear_cka
from ...metrics.intervals import bootstrap_mean_interval
from ...models.activations import record_layers
from ...utils import derive_seed

PAPER = "multiaspect"


# ----------------------------------------------------------------------------- data
def stratified_sample(labels, n: int, seed: int, tag: str) -> np.ndarray:
    """``n`` example rows drawn class-stratified (seeded), sorted (#1: which N examples)."""
    labels = np.asarray(labels)
    if n > len(labels):
        raise ValueError(f"n_examples={n} is larger than the split ({len(labels)} images)")
    rng = np.random.default_rng(derive_seed(seed, PAPER, tag))
    classes = np.unique(labels)
    per = np.full(len(classes), n // len(classes))
    per[: n - per.sum()] += 1
    rows = []
    for c, k in zip(classes, per):
        idx = np.flatnonzero(labels == c)
        if len(idx) < k:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than {k} needed")
        rows.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(rows))


def load_images(dataset, rows) -> np.ndarray:
    """Images ``rows`` of ``dataset`` as float32 (k, C, H, W) in [0, 1].

    In-memory procedural / bundled sets hold (N, C, H, W) float ``images``; real sets (CIFAR's
    ``images`` are raw uint8 N x H x W x C) go through ``load_image``, which scales them."""
    rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
    if isinstance(dataset, ArrayImageDataset):
        return np.asarray(dataset.images[rows], dtype=np.float32)
    return np.stack([np.asarray(dataset.load_image(int(i)), dtype=np.float32) for i in rows])


def pixel_blocks(images) -> list[np.ndarray]:
    """D_i (Sec. III-B.1): channel i of every image vectorised per column, (H*W, N) each.

    Pixels must be non-negative (raw [0, 1] values, no mean/std normalisation)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.min() < 0:
        raise ValueError(f"images must be a non-negative (N, C, H, W) array, got {images.shape}")
    n, c = images.shape[:2]
    return [np.ascontiguousarray(images[:, i].reshape(n, -1).T) for i in range(c)]


def layer_block(acts, name: str = "activations") -> np.ndarray:
    """A_j: a layer's activations (N, C, H, W) or (N, p) as a (C*H*W, N) non-negative matrix."""
    acts = np.asarray(acts, dtype=np.float32)
    if acts.min() < 0:
        raise ValueError(
            f"{name}: activations must be non-negative (a post-ReLU layer), min {acts.min():.3g}"
        )
    return np.ascontiguousarray(acts.reshape(len(acts), -1).T)


def forward_layers(model, images, layers, batch_size: int = 128) -> dict:
    """Activations of ``layers`` and the logits on ``images`` (N, C, H, W), float32 numpy."""
    out = {name: [] for name in [*layers, "logits"]}
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), record_layers(model, layers) as store:
        for s in range(0, len(images), batch_size):
            x = torch.as_tensor(np.asarray(images[s : s + batch_size]), dtype=torch.float32)
            out["logits"].append(model(x.to(device)).float().cpu().numpy())
            for name in layers:
                out[name].append(store[name].float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- fits
def fit_coupled(D, A, *, d, seed, max_iter, variant="l2", tol=0.0, **weights) -> dict:
    """One fit of Eq. 1-2 (``variant="l2"``, multiplicative updates, fixed iterations, #10),
    Eq. 3 or Eq. 4; returns F, P, O, the objective history and the wall time."""
    start = time.perf_counter()
    model = CoupledNMF(
        d,
        variant=variant,
        solver="mu",
        max_iter=max_iter,
        tol=tol,
        random_state=seed,
        dtype="float32",
        **weights,
    ).fit(D, A)
    return dict(
        F=np.asarray(model.F_),
        P=[np.asarray(p) for p in model.P_],
        O=[np.asarray(o) for o in model.O_],
        loss=np.asarray(model.loss_history_),
        seconds=time.perf_counter() - start,
    )


def penalty_scale(D, A, d: int) -> float:
    """``sum ||D_i||^2 + sum ||A_j||^2`` over d: the Eq. 3 / Eq. 4 weights are given relative to
    this (#9; their penalties are O(d) on unit-L1 rows while the data terms scale with the
    data)."""
    return float(sum(float(np.sum(np.square(M, dtype=np.float64))) for M in [*D, *A])) / d


# ----------------------------------------------------------------------------- Table I
def class_scores(F, labels, n_classes: int) -> np.ndarray:
    """``(d, n_classes)`` total class-wise activation score ``sum_{k: y_k = c} F[i, k]`` (#13)."""
    labels = np.asarray(labels)
    onehot = np.eye(n_classes)[labels]
    return np.asarray(F, dtype=np.float64) @ onehot


def top_examples(F, k: int) -> np.ndarray:
    """``(d, k)`` column indices of the k examples with the highest ``F[i, :]``, descending."""
    return np.argsort(-np.asarray(F), axis=1, kind="stable")[:, :k]


def modal_share(values) -> tuple[int, float]:
    """The most frequent value and its share."""
    vals, counts = np.unique(np.asarray(values), return_counts=True)
    j = int(np.argmax(counts))
    return int(vals[j]), float(counts[j] / counts.sum())


def purities(F, labels, k: int) -> np.ndarray:
    """Per factor: share of its top-k examples in the most frequent label."""
    top = top_examples(F, k)
    labels = np.asarray(labels)
    return np.array([modal_share(labels[t])[1] for t in top])


def permutation_purity(F, labels, k: int, n_perm: int, seed: int) -> np.ndarray:
    """Mean top-k purity with the labels permuted (control: what any F gives by chance)."""
    rng = np.random.default_rng(derive_seed(seed, PAPER, "permutation"))
    labels = np.asarray(labels)
    return np.array([purities(F, rng.permutation(labels), k).mean() for _ in range(n_perm)])


def bootstrap_mean(values, seed: int, tag: str, n_boot: int = 1000) -> tuple[float, float]:
    """95% bootstrap interval of the mean of the finite ``values`` (resampling factors /
    images), seeded per claim ``tag``."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return bootstrap_mean_interval(
        finite, derive_seed(seed, PAPER, "bootstrap", tag), n_boot=n_boot
    )


# ----------------------------------------------------------------------------- Fig. 2-3
def cosine_matrix(O) -> np.ndarray:
    """``(d, d)`` cosine similarity between the columns of O_j (Fig. 2)."""
    O = np.asarray(O, dtype=np.float64)
    norms = np.linalg.norm(O, axis=0)
    U = O / np.where(norms > 0, norms, 1.0)
    return U.T @ U


def topk_eigen_means(C, ks) -> dict:
    """Mean of the K largest eigenvalues of a similarity matrix, per K (Fig. 3, #3)."""
    ev = np.sort(np.linalg.eigvalsh(np.asarray(C, dtype=np.float64)))[::-1]
    return {int(k): float(ev[:k].mean()) for k in ks}


def mean_off_diagonal(C) -> float:
    C = np.asarray(C, dtype=np.float64)
    return float((C.sum() - np.trace(C)) / (C.size - len(C)))


# ----------------------------------------------------------------------------- Fig. 4-5
def latent_images(P, height: int, width: int) -> np.ndarray:
    """``(d, H, W, C)`` latent pixel images: column i of P_0..P_{C-1} reshaped (#12)."""
    return np.stack([np.asarray(p).T.reshape(-1, height, width) for p in P], axis=-1)


def median_masks(latent) -> np.ndarray:
    """``(d, H, W)`` bool: channel-summed latent image above its median (top 50%, Sec. IV)."""
    s = np.asarray(latent).sum(-1)
    return s > np.median(s.reshape(len(s), -1), axis=1)[:, None, None]


def object_enrichment(maps, part_masks) -> np.ndarray:
    """Per map: (share of its mass on object pixels) / (object's area share); 1 = uniform.

    ``maps`` (n, H, W) non-negative (a bool mask counts its pixels), ``part_masks`` (n, H, W)
    with 0 = background. NaN for a map without mass or an image without object."""
    maps = np.asarray(maps, dtype=np.float64)
    obj = np.asarray(part_masks) > 0
    if maps.shape != obj.shape:
        raise ValueError(f"maps {maps.shape} and part_masks {obj.shape} differ in shape")
    mass = maps.sum((1, 2))
    area = obj.mean((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (maps * obj).sum((1, 2)) / mass
        return np.where((mass > 0) & (area > 0), share / area, np.nan)


def nearest_neighbours(F, k: int, n: int) -> np.ndarray:
    """The ``n`` nearest examples to example ``k`` by cosine on the columns of F (#11)."""
    F = np.asarray(F, dtype=np.float64)
    U = F / np.maximum(np.linalg.norm(F, axis=0, keepdims=True), 1e-30)
    sim = U.T @ U[:, k]
    sim[k] = -np.inf
    return np.argsort(-sim, kind="stable")[:n]


def concept_distribution(F, cols) -> np.ndarray:
    """Mean of the L1-normalised columns of F over ``cols`` (Fig. 4d, #11)."""
    F = np.asarray(F, dtype=np.float64)[:, cols]
    return (F / np.maximum(F.sum(0, keepdims=True), 1e-30)).mean(1)


# ----------------------------------------------------------------------------- Table II
def kernel_cka(F1, F2) -> float:
    """CKA between the dot-product kernels F1^T F1 and F2^T F2 (Table II): linear CKA of the
    example codes, the same number without forming the N x N kernels."""
    return float(linear_cka(np.asarray(F1, np.float64).T, np.asarray(F2, np.float64).T))


# ----------------------------------------------------------------------------- Fig. 6-11
def superpixels(image, n_segments: int) -> np.ndarray:
    """SLIC superpixels of a (C, H, W) image in [0, 1] (LIME's interpretable features)."""
    from skimage.segmentation import slic

    return slic(
        np.asarray(image).transpose(1, 2, 0).astype(np.float64),
        n_segments=n_segments,
        compactness=10.0,
        start_label=0,
        channel_axis=-1,
    )


def lime_weights(
    predict, image, segments, target: int, num_samples: int, seed: int, kernel_width: float = 0.25
) -> np.ndarray:
    """LIME (Ribeiro et al. 2016) as ``lime_image`` does it: random on/off superpixel vectors
    (switched-off segments take their mean colour), the target's probability, an exponential
    kernel on the cosine distance to the all-on vector, weighted ridge (alpha = 1); returns
    one weight per segment."""
    from sklearn.linear_model import Ridge

    image = np.asarray(image, dtype=np.float32)
    n_seg = int(segments.max()) + 1
    rng = np.random.default_rng(seed)
    Z = rng.integers(0, 2, size=(num_samples, n_seg)).astype(np.float32)
    Z[0] = 1.0
    fudged = image.copy()
    for s in range(n_seg):
        sel = segments == s
        fudged[:, sel] = image[:, sel].mean(1, keepdims=True)
    onehot = np.eye(n_seg, dtype=np.float32)[segments]  # (H, W, n_seg)
    keep = np.einsum("ns,hws->nhw", Z, onehot)[:, None]  # (n, 1, H, W)
    batch = keep * image[None] + (1 - keep) * fudged[None]
    probs = predict(batch)[:, target]
    dist = 1.0 - Z.sum(1) / np.sqrt(n_seg * np.maximum(Z.sum(1), 1e-12))
    weights = np.sqrt(np.exp(-(dist**2) / kernel_width**2))
    return Ridge(alpha=1.0).fit(Z, probs, sample_weight=weights).coef_


def lime_mask(weights, segments, num_features: int) -> np.ndarray:
    """Union of the ``num_features`` segments with the largest positive weights."""
    order = [s for s in np.argsort(-weights) if weights[s] > 0][:num_features]
    return np.isin(segments, order)


def cam_maps(model, images, targets, cam_layer: str, plus_plus: bool) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) or Grad-CAM++ (Chattopadhyay et al. 2018, Eq. 19 closed
    form with exponential scores: ``alpha = g^2 / (2 g^2 + sum(A) g^3)``, weights
    ``sum relu(g) alpha``) of the logit ``targets[n]`` at ``cam_layer``: ``(N, H, W)``."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    device = next(model.parameters()).device
    model.eval()
    with torch.enable_grad(), record_layers(model, [cam_layer]) as store:
        logits = model(x.to(device))
        act = store[cam_layer]
        score = logits[torch.arange(len(x)), torch.as_tensor(np.asarray(targets))].sum()
        (g,) = torch.autograd.grad(score, act)
    act, g = act.detach().double(), g.double()
    if plus_plus:
        g2 = g * g
        denom = 2 * g2 + act.sum((2, 3), keepdim=True) * g2 * g
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        w = (alpha * torch.relu(g)).sum((2, 3), keepdim=True)
    else:
        w = g.mean((2, 3), keepdim=True)
    cam = torch.relu((w * act).sum(1, keepdim=True))
    size = x.shape[-2:]
    cam = torch.nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    return cam[:, 0].clamp(min=0).cpu().numpy()


def iou(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else float("nan")


# ----------------------------------------------------------------------------- TCAV
def learn_cav(concept, counterpart, seed: int) -> np.ndarray:
    """Kim et al. (2018) CAV: the unit normal of a logistic regression separating the
    flattened layer activations of concept examples from counterpart (random) examples,
    pointing towards the concept (#15)."""
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate([concept, counterpart]).reshape(len(concept) + len(counterpart), -1)
    y = np.r_[np.ones(len(concept)), np.zeros(len(counterpart))]
    clf = LogisticRegression(C=1.0, max_iter=500, random_state=seed).fit(X, y)
    w = clf.coef_[0]
    return w / max(np.linalg.norm(w), 1e-30)


def class_gradients(model, images, layer: str, target: int) -> np.ndarray:
    """Gradient of logit ``target`` w.r.t. ``layer``'s output, flattened: ``(N, p)``."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    device = next(model.parameters()).device
    model.eval()
    with torch.enable_grad(), record_layers(model, [layer]) as store:
        logits = model(x.to(device))
        (g,) = torch.autograd.grad(logits[:, target].sum(), store[layer])
    return g.reshape(len(x), -1).cpu().numpy().astype(np.float64)


def tcav_q(gradients, cav) -> float:
    """TCAV_Q: share of the class's examples with a positive directional derivative."""
    return float(np.mean(np.asarray(gradients) @ np.asarray(cav) > 0))
