"""Bag of neural activations (Kolouri, Martin & Hoffmann, CVPR-W 2017), phase by phase.

1. Salient patches (Sec. 3.1): per-image elastic NMF of the last conv layer
   (:func:`reference_impls.factorization.batched.batched_nmf`), each component upsampled and
   passed to scikit-image's Laplacian-of-Gaussian blob detector (:func:`salient_patches`).
2. Multi-layer GAP features (Sec. 3.2): every patch is fed to the CNN at its native size and
   average-pooled at the layers right before each max-pool (:func:`patch_gap_features`).
3. DEC (Sec. 3.3, Eq. 2-4, Algorithm 1): a linear map ``f_theta(z) = W z`` learned by
   gradient steps on ``KL(P || Q)`` with K-means re-run on the embedding at every outer
   iteration (:class:`DEC`); the embedding dimension is the one with the lowest Fisher score
   (:func:`fisher_score`, :func:`select_embedding_dim`).
4. Bag of neural activations (Sec. 3.4): per image, the histogram of its patches' clusters
   (:func:`bona_histograms`).

Algorithm 1 differs from Xie et al.'s reference DEC (``XifengGuo/DEC-keras``): no
autoencoder pretraining, K-means re-run on the current embedding at every outer iteration
instead of centres learned by SGD, and only theta is updated by the gradient step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted

from ..models.activations import record_layers
from ..utils import as_numpy
from .craft import cut_crops

__all__ = [
    "DEC",
    "fisher_score",
    "select_embedding_dim",
    "salient_patches",
    "patch_gap_features",
    "bona_histograms",
    "top_members",
]


# ----------------------------------------------------------------------- phase 1: patches
def salient_patches(
    component_maps,
    image_size: int,
    *,
    map_size: int = 32,
    min_sigma: float = 1.0,
    max_sigma: float = 6.0,
    num_sigma: int = 5,
    threshold: float = 0.1,
    min_side: int = 8,
) -> dict:
    """LoG blobs of NMF components and the square patches around them (Sec. 3.1, Fig. 2).

    ``component_maps``: ``(n_images, r, h, w)`` non-negative spatial components. Each is
    resized bilinearly to ``map_size`` (the paper resizes to the image; a coarser grid keeps
    the embedded run within budget), divided by its maximum and given to
    ``skimage.feature.blob_log`` (``min_sigma`` .. ``max_sigma`` in map pixels, absolute
    ``threshold`` on the normalised map). A blob of scale sigma has radius ``sqrt(2) sigma``;
    its patch is the square of side ``max(min_side, 2 * radius)`` in image pixels centred on
    it, shifted to lie inside the image. Returns arrays ``image``, ``component``, ``y``,
    ``x`` (blob centre, image pixels), ``sigma`` (image pixels), ``top``, ``left``, ``side``.
    """
    maps = torch.as_tensor(as_numpy(component_maps, np.float32))
    if maps.ndim != 4:
        raise ValueError(f"component_maps must be (n_images, r, h, w), got {tuple(maps.shape)}")
    if (maps < 0).any():
        raise ValueError("component_maps must be non-negative (NMF components)")
    if not 1 <= min_side <= image_size:
        raise ValueError(f"min_side must be in [1, image_size={image_size}], got {min_side}")
    n, r = maps.shape[:2]
    up = F.interpolate(
        maps.reshape(n * r, 1, *maps.shape[2:]),
        size=(map_size, map_size),
        mode="bilinear",
        align_corners=False,
    )[:, 0].numpy()
    scale = image_size / map_size
    peak = up.max((1, 2), keepdims=True)
    live = peak[:, 0, 0] > 0  # an all-zero component has no blob
    up = np.divide(up, peak, out=np.zeros_like(up), where=peak > 0)
    j, y, x, s = log_blobs(up, min_sigma, max_sigma, num_sigma, threshold)
    keep = live[j]
    j, y, x, s = j[keep], y[keep], x[keep], s[keep]
    out = {
        "image": (j // r).astype(np.int64),
        "component": (j % r).astype(np.int64),
        "y": ((y + 0.5) * scale).astype(np.float32),
        "x": ((x + 0.5) * scale).astype(np.float32),
        "sigma": (s * scale).astype(np.float32),
    }
    side = np.clip(np.round(2 * math.sqrt(2) * out["sigma"]), min_side, image_size).astype(np.int64)
    out["side"] = side
    out["top"] = np.clip(np.round(out["y"] - side / 2), 0, image_size - side).astype(np.int64)
    out["left"] = np.clip(np.round(out["x"] - side / 2), 0, image_size - side).astype(np.int64)
    return out


def log_blobs(maps, min_sigma, max_sigma, num_sigma, threshold):
    """``skimage.feature.blob_log`` (linear sigma scale, overlap 0.5) of every 2-D map of
    ``maps`` (n, h, w), batched: the scale-space cube and its local maxima are computed for
    all maps at once exactly as ``blob_log`` does per map; the maps where two candidate
    blobs are close enough for ``blob_log``'s overlap pruning are passed to ``blob_log``
    itself, the others keep their candidates (``blob_log`` would return them unchanged).
    Returns arrays ``map, y, x, sigma`` (blobs of a map sorted by decreasing response).
    Per-map calls cost ~4 ms each, dominated by per-call overhead; this is ~10x faster."""
    from scipy import ndimage as ndi
    from skimage.feature import blob_log

    maps = np.ascontiguousarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (n, h, w), got {maps.shape}")
    lo = np.full(2, min_sigma, dtype=np.float32)
    hi = np.full(2, max_sigma, dtype=np.float32)
    sigma_list = np.linspace(lo, hi, num_sigma)
    cube = np.empty(maps.shape + (num_sigma,), dtype=np.float32)
    for i, s in enumerate(sigma_list):
        lap = ndi.gaussian_filter(maps, (0, s[0], s[1]), order=(0, 2, 0))
        lap += ndi.gaussian_filter(maps, (0, s[0], s[1]), order=(0, 0, 2))
        cube[..., i] = -lap * np.mean(s) ** 2
    cube_max = ndi.maximum_filter(cube, footprint=np.ones((1, 3, 3, 3), bool), mode="nearest")
    mask = cube == cube_max
    trivial = mask.reshape(len(maps), -1).all(1)
    mask[trivial] = False
    mask &= cube > threshold
    j, y, x, si = np.nonzero(mask)
    strength = cube[j, y, x, si]
    order = np.lexsort((-strength, j))  # by map, then decreasing response (stable)
    j, y, x, si = j[order], y[order], x[order], si[order]
    sig = sigma_list[si, 0]
    out = []
    bounds = np.searchsorted(j, np.arange(len(maps) + 1))
    drop = []
    for m in np.flatnonzero(np.diff(bounds) > 1):  # candidates blob_log might prune
        a, b = bounds[m], bounds[m + 1]
        pts = np.column_stack([y[a:b], x[a:b]]).astype(np.float64)
        dist = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
        np.fill_diagonal(dist, np.inf)
        if dist.min() > 2 * float(sig[a:b].max()) * np.sqrt(2):
            continue  # no pair close enough to be pruned: blob_log keeps them all
        if b - a == 2 and not _adjacent(y[a:b], x[a:b], si[a:b]):
            # one pair: blob_log's pruning does not depend on the order of pairs
            drop.extend(a + _prune_pair(y[a:b], x[a:b], sig[a:b]))
            continue
        out.append(
            (
                m,
                blob_log(
                    maps[m],
                    min_sigma=min_sigma,
                    max_sigma=max_sigma,
                    num_sigma=num_sigma,
                    threshold=threshold,
                ),
            )
        )
    if drop:
        keep = np.ones(len(j), bool)
        keep[drop] = False
        j, y, x, si, sig = j[keep], y[keep], x[keep], si[keep], sig[keep]
    if out:
        redo = np.isin(j, [m for m, _ in out])
        j, y, x, sig = j[~redo], y[~redo], x[~redo], sig[~redo]
        extra = [np.column_stack([np.full(len(b), m), b]) for m, b in out if len(b)]
        if extra:
            extra = np.concatenate(extra)
            j = np.concatenate([j, extra[:, 0].astype(np.int64)])
            y, x, sig = (np.concatenate([v, extra[:, k]]) for k, v in ((1, y), (2, x), (3, sig)))
        order = np.argsort(j, kind="stable")
        j, y, x, sig = j[order], y[order], x[order], sig[order]
    return (j.astype(np.int64), y.astype(np.float32), x.astype(np.float32), sig.astype(np.float32))


def _adjacent(y, x, si) -> bool:
    """Two peaks within one step in (row, col, scale): peak_local_max's spacing rule decides
    (left to ``blob_log`` itself)."""
    return (
        max(abs(int(y[0]) - int(y[1])), abs(int(x[0]) - int(x[1])), abs(int(si[0]) - int(si[1])))
        <= 1
    )


def _prune_pair(y, x, sig) -> list[int]:
    """Which of two candidate blobs ``blob_log`` drops: the one with the smaller sigma (the
    first on ties) if their disks (radius sqrt(2) sigma) overlap by more than half of the
    smaller disk, as skimage's ``_prune_blobs`` with ``overlap=0.5``."""
    s1, s2 = float(sig[0]), float(sig[1])
    big = max(s1, s2)
    r1, r2 = s1 / big, s2 / big
    d = math.hypot(float(y[0]) - float(y[1]), float(x[0]) - float(x[1])) / (big * math.sqrt(2))
    if d > r1 + r2:
        return []
    if d <= abs(r1 - r2):
        frac = 1.0
    else:
        a1 = math.acos(min(max((d * d + r1 * r1 - r2 * r2) / (2 * d * r1), -1), 1))
        a2 = math.acos(min(max((d * d + r2 * r2 - r1 * r1) / (2 * d * r2), -1), 1))
        area = (
            r1 * r1 * a1
            + r2 * r2 * a2
            - 0.5 * math.sqrt(abs((-d + r2 + r1) * (d - r2 + r1) * (d + r2 - r1) * (d + r2 + r1)))
        )
        frac = area / (math.pi * min(r1, r2) ** 2)
    if frac <= 0.5:
        return []
    return [1] if s1 > s2 else [0]


# ------------------------------------------------------------------- phase 2: GAP features
@torch.no_grad()
def patch_gap_features(model, source, patches: dict, layers, batch_size: int = 512) -> np.ndarray:
    """Multi-layer GAP feature of every patch, fed to ``model`` at its native size (Sec. 3.2,
    Fig. 3): the spatial mean of each of ``layers`` concatenated, ``(n_patches, sum C_l)``.

    ``source[rows]`` returns images ``(k, C, H, W)``; ``patches`` holds ``image`` (rows of
    ``source``), ``top``, ``left``, ``side``. Patches are bucketed by side so every batch has
    one shape."""
    model.eval()
    n = len(patches["image"])
    feats = None
    with record_layers(model, layers) as store:
        for side in np.unique(patches["side"]):
            rows = np.flatnonzero(patches["side"] == side)
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                images, inverse = np.unique(patches["image"][chunk], return_inverse=True)
                boxes = np.column_stack([inverse, patches["top"][chunk], patches["left"][chunk]])
                crops = cut_crops(source[images], boxes, int(side), out_size=int(side))
                model(crops)
                pooled = torch.cat([store[name].float().mean((2, 3)) for name in layers], 1)
                if feats is None:
                    feats = np.zeros((n, pooled.shape[1]), dtype=np.float32)
                feats[chunk] = pooled.numpy()
    if feats is None:
        raise ValueError("patches is empty: no salient patch to describe")
    return feats


# ----------------------------------------------------------------------------- phase 3: DEC
def student_t(V: torch.Tensor, centres: torch.Tensor, rho: float) -> torch.Tensor:
    """Soft assignments Q (Eq. 2): Student-t kernel with ``rho`` degrees of freedom."""
    d2 = torch.cdist(V, centres).square()
    logits = -(rho + 1) / 2 * torch.log1p(d2 / rho)
    return torch.softmax(logits, dim=1)


def target_distribution(Q: torch.Tensor) -> torch.Tensor:
    """P from Q (Eq. 4): ``q_ij^2 / f_j`` renormalised per row, ``f_j = sum_i q_ij``."""
    weight = Q.square() / Q.sum(0)
    return weight / weight.sum(1, keepdim=True)


class DEC(TransformerMixin, BaseEstimator):
    """Deep embedding for clustering as Kolouri et al.'s Algorithm 1, with a linear map.

    ``fit(Z)``: initialise ``W`` (``embedding_dim`` x p) at random; repeat ``max_iter``
    times: ``V = Z W^T``; K-means on ``V`` (warm-started from the previous centres after the
    first iteration); Q (Eq. 2) and P (Eq. 4); ``inner_steps`` gradient steps (SGD with
    momentum) on the mean ``KL(P || Q)`` (Eq. 3) with respect to ``W``, P and centres fixed;
    stop early when fewer than ``tol`` of the K-means labels changed.

    The concept-extractor interface reads the clusters as concepts: ``transform(Z)`` is Q
    (rows sum to 1), ``components_`` the mean input of each cluster's members (K x p), and
    ``inverse_transform(Q) = Q @ components_``. ``n_components`` is the number of clusters K.

    Attributes: ``W_`` (embedding_dim x p), ``cluster_centers_`` (K x embedding_dim),
    ``labels_``, ``components_``, ``n_iter_``, ``kl_history_``.
    """

    def __init__(
        self,
        n_components=20,
        embedding_dim=32,
        rho=1.0,
        max_iter=30,
        inner_steps=5,
        learning_rate=0.01,
        momentum=0.9,
        tol=1e-3,
        n_init=4,
        random_state=None,
    ):
        self.n_components = n_components
        self.embedding_dim = embedding_dim
        self.rho = rho
        self.max_iter = max_iter
        self.inner_steps = inner_steps
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state

    def _check_Z(self, Z, fitted=False):
        Z = as_numpy(Z, np.float32)
        if Z.ndim != 2 or not len(Z):
            raise ValueError(f"Z must be a non-empty (n_samples, n_features) matrix, got {Z.shape}")
        if not np.isfinite(Z).all():
            raise ValueError("Z has NaN or infinite entries")
        if fitted and Z.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Z has {Z.shape[1]} features, DEC was fitted with {self.n_features_in_}"
            )
        return torch.from_numpy(np.ascontiguousarray(Z))

    def _kmeans(self, V, init, seed):
        km = KMeans(
            self.n_components,
            init="k-means++" if init is None else init,
            n_init=self.n_init if init is None else 1,
            random_state=seed,
        )
        return km.fit(V.numpy())

    def fit(self, Z, y=None):
        Zt = self._check_Z(Z)
        n, p = Zt.shape
        K = int(self.n_components)
        if not 2 <= K <= n:
            raise ValueError(f"n_components (clusters) must be in [2, n_samples={n}], got {K}")
        if int(self.embedding_dim) < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        seed = 0 if self.random_state is None else int(self.random_state)
        gen = torch.Generator().manual_seed(seed)
        W = (torch.randn(int(self.embedding_dim), p, generator=gen) / math.sqrt(p)).requires_grad_()
        opt = torch.optim.SGD([W], lr=self.learning_rate, momentum=self.momentum)
        centres, labels, history = None, None, []
        self.n_iter_ = 0
        for it in range(1, int(self.max_iter) + 1):
            with torch.no_grad():
                V = Zt @ W.T
            km = self._kmeans(V, centres, seed)
            changed = 1.0 if labels is None else float(np.mean(km.labels_ != labels))
            centres, labels = km.cluster_centers_, km.labels_
            mu = torch.from_numpy(centres.astype(np.float32))
            with torch.no_grad():
                P = target_distribution(student_t(V, mu, self.rho))
            for _ in range(int(self.inner_steps)):
                opt.zero_grad()
                Q = student_t(Zt @ W.T, mu, self.rho)
                kl = (
                    (P * (torch.log(P.clamp_min(1e-12)) - torch.log(Q.clamp_min(1e-12))))
                    .sum(1)
                    .mean()
                )
                kl.backward()
                opt.step()
            history.append(float(kl.detach()))
            self.n_iter_ = it
            if it > 1 and changed < self.tol:
                break
        W = W.detach()
        V = Zt @ W.T
        km = self._kmeans(V, centres, seed)
        self.W_ = W.numpy()
        self.cluster_centers_ = km.cluster_centers_.astype(np.float32)
        self.labels_ = km.labels_.astype(np.int64)
        self.kl_history_ = history
        self.n_features_in_ = p
        Zn = Zt.numpy()
        self.components_ = np.stack(
            [
                Zn[self.labels_ == k].mean(0)
                if (self.labels_ == k).any()
                else np.zeros(p, np.float32)
                for k in range(K)
            ]
        ).astype(np.float32)
        return self

    def embed(self, Z) -> np.ndarray:
        """``f_theta(Z) = Z W^T`` (n x embedding_dim)."""
        check_is_fitted(self, "W_")
        return (self._check_Z(Z, True) @ torch.from_numpy(self.W_).T).numpy()

    def transform(self, Z) -> np.ndarray:
        """Soft assignments Q (Eq. 2) of new samples to the fitted centres."""
        V = torch.from_numpy(self.embed(Z))
        return student_t(V, torch.from_numpy(self.cluster_centers_), self.rho).numpy()

    def predict(self, Z) -> np.ndarray:
        """Cluster of each sample (nearest centre in the embedding = argmax of Q)."""
        return self.transform(Z).argmax(1)

    def inverse_transform(self, U) -> np.ndarray:
        check_is_fitted(self, "components_")
        return (as_numpy(U, np.float32) @ self.components_).astype(np.float32)


def fisher_score(V, labels) -> float:
    """Fisher criterion ``trace(S_W) / trace(S_B)`` of a clustering (lower = tighter,
    better-separated clusters; the paper picks the embedding with the "lowest Fisher score").
    Needs at least two non-empty clusters."""
    V = np.asarray(V, dtype=np.float64)
    labels = np.asarray(labels)
    if V.ndim != 2 or len(V) != len(labels):
        raise ValueError(f"V (n, d) and labels (n,) must match, got {V.shape} and {labels.shape}")
    ks = np.unique(labels)
    if len(ks) < 2:
        raise ValueError("fisher_score needs at least two clusters")
    mean = V.mean(0)
    within = between = 0.0
    for k in ks:
        members = V[labels == k]
        centre = members.mean(0)
        within += float(((members - centre) ** 2).sum())
        between += len(members) * float(((centre - mean) ** 2).sum())
    return within / between if between > 0 else math.inf


def select_embedding_dim(Z_fit, Z_held, dims, make_dec, log=None):
    """Fit ``make_dec(d)`` on ``Z_fit`` for every d in ``dims`` and score the held-out
    ``Z_held`` embedded and assigned by it with :func:`fisher_score`; the lowest score wins
    (ties: the smaller d). Returns ``(best_d, {d: score}, {d: fitted DEC})``."""
    if not len(dims):
        raise ValueError("dims is empty")
    curve, models = {}, {}
    for d in sorted(int(x) for x in dims):
        dec = make_dec(d).fit(Z_fit)
        curve[d] = fisher_score(dec.embed(Z_held), dec.predict(Z_held))
        models[d] = dec
        if log is not None:
            log.info(
                "DEC d=%d: %d outer iterations, held-out Fisher score %.4f",
                d,
                dec.n_iter_,
                curve[d],
            )
    best = min(curve, key=lambda d: (curve[d], d))
    return best, curve, models


# ------------------------------------------------------------------------ phase 4: BONA
def bona_histograms(clusters, image_rows, n_images: int, n_clusters: int) -> np.ndarray:
    """Per image, the normalised histogram of its patches' clusters (Sec. 3.4):
    ``(n_images, n_clusters)``; an image without any patch gets a zero row."""
    clusters = np.asarray(clusters, dtype=np.int64)
    image_rows = np.asarray(image_rows, dtype=np.int64)
    if len(clusters) != len(image_rows):
        raise ValueError(f"clusters ({len(clusters)}) and image_rows ({len(image_rows)}) differ")
    if len(clusters) and (clusters.min() < 0 or clusters.max() >= n_clusters):
        raise ValueError(f"clusters must lie in [0, {n_clusters})")
    if len(image_rows) and (image_rows.min() < 0 or image_rows.max() >= n_images):
        raise ValueError(f"image_rows must lie in [0, {n_images})")
    counts = np.zeros((n_images, n_clusters))
    np.add.at(counts, (image_rows, clusters), 1.0)
    total = counts.sum(1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def top_members(Q, k: int = 5) -> np.ndarray:
    """Per cluster, the ``k`` samples with the highest ``q_ij`` (the paper's "top 5 cluster
    members, closest to the cluster center as measured by Q"): ``(K, k)`` row indices."""
    Q = np.asarray(Q)
    if Q.shape[0] < k:
        raise ValueError(f"Q has {Q.shape[0]} samples, fewer than k={k}")
    return np.argsort(-Q, axis=0, kind="stable")[:k].T
