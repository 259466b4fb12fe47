"""ProtoNMF experiments: per-class prototypes and head reconstruction of a trained model
(Sec. 3), Tables 1-4, Fig. 5, presence heatmaps scored against part masks, ProtoPNet runs.

Every function reads cached activations (``models.activations``) and a model checkpoint; the
arrays they pass around are plain numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ...data.images import select_class_images
from ...data.registry import load_split
from ...factorization import NMF, nnls
from ...methods.protonmf import (
    ProtoNMF,
    head_coefficients,
    relative_error,
    residual_presence,
    residual_prototype,
)
from ...metrics.localisation import localisation_table, region_shares
from ...models.activations import load_activations
from ...models.training import load_checkpoint
from ...utils import derive_seed
from . import protopnet as ppn

PAPER = "protonmf"
FITTED = (
    "classes_", "prototypes_", "feature_error_", "head_weight_", "head_bias_", "coef_",
    "residual_", "augmented_", "head_error_", "balance_",
)  # fmt: skip


# ------------------------------------------------------------------ inputs
def load_cache(path) -> dict:
    """Cached maps (N, C, H, W), labels, logits and dataset indices of one split."""
    d = load_activations(path)
    if d["activations"].ndim != 4:
        raise ValueError(
            f"{path}: ProtoNMF needs spatial maps (N, C, H, W), got "
            f"{d['activations'].shape}; cache the layer with pooled: false"
        )
    return d


def load_activations_pair(train, test):
    return load_cache(train), load_cache(test)


def linear_head(checkpoint):
    """``(weight (K, D), bias (K,))`` of the model's final linear layer ``fc``, which must
    follow global average pooling of the factorized layer (the paper's setting)."""
    model = load_checkpoint(checkpoint)
    fc = getattr(model, "fc", None)
    if not isinstance(fc, torch.nn.Linear):
        raise TypeError(
            f"{checkpoint}: {type(model).__name__} has no linear 'fc' head above "
            f"global average pooling; ProtoNMF reconstructs such a head"
        )
    return fc.weight.detach().double().numpy(), fc.bias.detach().double().numpy(), model


def class_rows(acts, labels, selection):
    """Rows ``A`` (all positions of the selected images, channels last) and their classes."""
    rows, y = [], []
    for c, idx in selection.items():
        a = acts[idx].transpose(0, 2, 3, 1).reshape(-1, acts.shape[1])
        rows.append(a)
        y.append(np.full(len(a), c))
    return np.concatenate(rows), np.concatenate(y)


def pooled(acts) -> np.ndarray:
    return acts.astype(np.float64).mean((2, 3))


# ------------------------------------------------------------------ Step 1 + 2
def fit_prototypes(acts, labels, weight, bias, cfg, seed, tag, log=None) -> dict:
    """ProtoNMF for every p in ``cfg["prototypes"]``: ``{p: fitted ProtoNMF}``."""
    sel = select_class_images(labels, cfg["images_per_class"], seed, PAPER)
    A, y = class_rows(acts, labels, sel)
    fits = {}
    for p in cfg["prototypes"]:
        est = ProtoNMF(
            p,
            solver=cfg["solver"],
            max_iter=cfg["max_iter"],
            tol=cfg["tol"],
            random_state=derive_seed(seed, PAPER, tag, p),
        )
        fits[p] = est.fit(A, y).fit_head(weight, bias)
        if log:
            log.info(
                "%s p=%d: feature error %.3f, head error %.3f",
                tag,
                p,
                est.feature_error_.mean(),
                est.head_error_.mean(),
            )
    return fits


def save_fits(path, fits) -> None:
    arrays = {f"p{p}/{k}": getattr(est, k) for p, est in fits.items() for k in FITTED}
    np.savez(path, **arrays)


def load_fits(path) -> dict:
    """The fitted ProtoNMF objects saved by :func:`save_fits`, keyed by p."""
    fits = {}
    with np.load(path) as data:
        for p in sorted({int(k.split("/")[0][1:]) for k in data.files}):
            est = ProtoNMF(p)
            for k in FITTED:
                setattr(est, k, data[f"p{p}/{k}"])
            est.components_ = est.prototypes_.reshape(-1, est.prototypes_.shape[-1])
            est.prototype_class_ = np.repeat(est.classes_, p)
            est.n_features_in_ = est.components_.shape[1]
            fits[p] = est
    return fits


def random_bank(p, D, scale, seed) -> np.ndarray:
    """Control prototypes: ``scale |N(0, 1)|`` rows (p, D)."""
    return scale * np.abs(np.random.default_rng(seed).standard_normal((p, D)))


def random_residuals(p, weight, classes, seed) -> np.ndarray:
    """Eq. 5's residual of each class's head row on p random prototypes (the control):
    (len(classes), D)."""
    rows = []
    for c in classes:
        bank = random_bank(p, weight.shape[1], 1.0, derive_seed(seed, PAPER, "rand", p, c))
        rows.append(residual_prototype(weight[c], head_coefficients(bank, weight[c]), bank))
    return np.stack(rows)


# ------------------------------------------------------------------ Table 3 / Fig. 5 / Table 4
def bootstrap(values_fn, n, n_boot, seed):
    """95% percentile interval of ``values_fn(idx)`` over resampled test images."""
    rng = np.random.default_rng(seed)
    stats = [values_fn(rng.integers(0, n, n)) for _ in range(n_boot)]
    return tuple(np.percentile(stats, [2.5, 97.5]))


def hard_subset(logits) -> np.ndarray:
    """Pre-registered harder split: the test images in the lowest quartile of the black
    box's top-2 logit margin."""
    top = np.sort(logits, 1)
    margin = top[:, -1] - top[:, -2]
    return margin <= np.percentile(margin, 25)


def table3(fits, test, weight, bias, model_name, seed, n_boot) -> pd.DataFrame:
    """Accuracy of NMF only / residual only / NMF + residual / augmented for every p, with
    the logit gap to the head on the same features and to the cached model logits; a random
    bank (closed-form coefficients on random prototypes) as the control of NMF only."""
    G, y = pooled(test["activations"]), test["labels"]
    head = G @ weight.T + bias
    hard = hard_subset(test["logits"])
    acc_orig = (test["logits"].argmax(1) == y).mean()
    rows = []
    for p, est in fits.items():
        ctrl = random_residuals(p, weight, est.classes_, seed)
        variants = {
            v: est.decision_function(G, v)
            for v in ("nmf_only", "residual_only", "exact", "augmented")
        }
        cls = est.classes_
        variants["random_only"] = G @ (weight[cls] - ctrl).T + bias[cls]
        for v, logits in variants.items():
            pred = logits.argmax(1)
            correct = pred == y
            lo, hi = bootstrap(
                lambda i: (test["logits"][i].argmax(1) == y[i]).mean() - correct[i].mean(),
                len(y),
                n_boot,
                derive_seed(seed, PAPER, "boot", model_name, p, v),
            )
            rows.append(
                dict(
                    model=model_name,
                    p=p,
                    variant=v,
                    accuracy=correct.mean(),
                    accuracy_hard=correct[hard].mean(),
                    original=acc_orig,
                    original_hard=(test["logits"][hard].argmax(1) == y[hard]).mean(),
                    gap_points=100 * (acc_orig - correct.mean()),
                    gap_lo=100 * lo,
                    gap_hi=100 * hi,
                    agreement=(pred == test["logits"].argmax(1)).mean(),
                    max_dlogit_head=np.abs(logits - head).max(),
                    max_dlogit_model=np.abs(logits - test["logits"]).max(),
                    max_abs_logit=np.abs(head).max(),
                )
            )
    return pd.DataFrame(rows)


def fig5_table(fits, weight, seed, model_name) -> pd.DataFrame:
    """Per p: mean feature error, mean head error ||R||/||V||, the head error of random
    prototypes (control), and how many classes have an Eq. 8 balance below 0.1."""
    rows = []
    for p, est in fits.items():
        R = random_residuals(p, weight, est.classes_, seed)
        ctrl = np.linalg.norm(R, axis=1) / np.linalg.norm(weight[est.classes_], axis=1)
        rows.append(
            dict(
                model=model_name,
                p=p,
                feature_error=est.feature_error_.mean(),
                feature_error_sd=est.feature_error_.std(),
                head_error=est.head_error_.mean(),
                head_error_sd=est.head_error_.std(),
                head_error_random=float(np.mean(ctrl)),
                balance_min=est.balance_.min(),
                balance_below_0_1=int((est.balance_ < 0.1).sum()),
                n_classes=len(est.classes_),
            )
        )
    return pd.DataFrame(rows)


def table4(fits, test, model_name, seed) -> pd.DataFrame:
    """Test-time intervention (App. A.4): on every wrong prediction, remove the predicted
    class's most important prototype (largest raw coefficient a_i) once and re-predict;
    control: a random prototype of the predicted class."""
    G, y = pooled(test["activations"]), test["labels"]
    rows = []
    for p, est in fits.items():
        logits = est.decision_function(G, "augmented")
        pred = logits.argmax(1)
        wrong = np.flatnonzero(pred != y)
        k_pred = np.searchsorted(est.classes_, pred[wrong])
        top = est.coef_[k_pred].argmax(1)
        rng = np.random.default_rng(derive_seed(seed, PAPER, "intervene", model_name, p))
        rand = rng.integers(0, p, len(wrong))
        out = dict(
            model=model_name,
            p=p,
            n_test=len(y),
            n_wrong=len(wrong),
            accuracy_before=(pred == y).mean(),
        )
        for name, k in (("top", top), ("random", rand)):
            new = est.intervene(G[wrong], pred[wrong], k).argmax(1)
            fixed = int((new == y[wrong]).sum())
            out[f"fixed_{name}"] = fixed
            out[f"accuracy_after_{name}"] = ((pred == y).sum() + fixed) / len(y)
        rows.append(out)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ presence maps
def upsample(maps, size) -> np.ndarray:
    """(N, k, h, w) -> (N, k, size, size), bilinear (the paper's visualisation)."""
    t = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False).numpy()


def presence_maps(est, acts, class_id, augmented=False) -> np.ndarray:
    """Presence of class ``class_id``'s p prototypes on each image: (N, p, H, W)."""
    N, D, H, W = acts.shape
    E = est.presence(acts.transpose(0, 2, 3, 1).reshape(-1, D), class_id, augmented)
    return E.reshape(N, H, W, -1).transpose(0, 3, 1, 2)


def residual_maps(est, acts, class_id) -> np.ndarray:
    """Eq. 6 on each image: where the residual prototype explains what the class's NMF
    prototypes leave unexplained (N, H, W)."""
    N, D, H, W = acts.shape
    k = est._class_index(class_id)
    A = np.maximum(acts.transpose(0, 2, 3, 1).reshape(-1, D), 0).astype(np.float64)
    E = est.presence(A, class_id)
    return residual_presence(A, E, est.prototypes_[k], est.residual_[k]).reshape(N, H, W)


class LazyImages:
    """``images[i]`` (3, H, W) in [0, 1] read on demand (image-folder datasets)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices)
        first = self[0]
        self.shape = (len(self.indices), *first.shape)

    def __getitem__(self, i):
        return np.asarray(self.dataset.load_image(int(self.indices[i])), dtype=np.float32)


class PartImages:
    """Test images, part masks and cached maps of the evaluation split, in cache order."""

    def __init__(self, manifest, split, cache):
        ds = load_split(manifest, split)
        idx = np.asarray(cache["indices"])
        self.images = ds.images[idx] if hasattr(ds, "images") else LazyImages(ds, idx)
        gt = getattr(ds, "ground_truth", {})
        self.masks = np.asarray(gt["part_masks"])[idx] if "part_masks" in gt else None
        self.acts, self.labels, self.logits = cache["activations"], cache["labels"], cache["logits"]

    def of_class(self, c, n):
        return np.flatnonzero(self.labels == c)[:n]


def localisation(est, data: PartImages, n_per_class, seed, tag) -> pd.DataFrame:
    """Per class and prototype: best part, its mass share vs area share (enrichment), for
    NMF prototypes, augmented prototypes and a random non-negative bank (control)."""
    if data.masks is None:
        return pd.DataFrame()
    size = data.masks.shape[-1]
    frames = []
    for c in est.classes_:
        idx = data.of_class(c, n_per_class)
        acts = data.acts[idx]
        k = est._class_index(c)
        p = est.prototypes_.shape[1]
        scale = float(np.linalg.norm(est.prototypes_[k], axis=1).mean() / np.sqrt(acts.shape[1]))
        rand = ProtoNMF(p)
        rand.classes_ = np.array([c])
        rand.prototypes_ = random_bank(
            p, acts.shape[1], scale, derive_seed(seed, PAPER, "loc", tag, int(c))
        )[None]
        for name, maps in (
            ("nmf", presence_maps(est, acts, c)),
            ("augmented", presence_maps(est, acts, c, augmented=True)),
            ("random", presence_maps(rand, acts, c)),
        ):
            table = localisation_table(upsample(maps, size), data.masks[idx], int(c))
            table.insert(0, "bank", name)
            frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "model", tag)
    return out


def augmented_agreement(est, data: PartImages, n_per_class) -> pd.DataFrame:
    """Fig. 7 / App. A.2: per class and prototype, Pearson correlation of its presence (E)
    and augmented presence (E', Eq. 9) over the class's test positions; object enrichment
    of the positive part of the residual presence (Eq. 6)."""
    rows = []
    for c in est.classes_:
        idx = data.of_class(c, n_per_class)
        E = presence_maps(est, data.acts[idx], c)
        E2 = presence_maps(est, data.acts[idx], c, augmented=True)
        for i in range(E.shape[1]):
            a, b = E[:, i].ravel(), E2[:, i].ravel()
            r = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else np.nan
            row = dict(**{"class": int(c)}, prototype=i, pearson=r)
            if data.masks is not None:
                H = np.maximum(residual_maps(est, data.acts[idx], c), 0)
                sh = region_shares(upsample(H[:, None], data.masks.shape[-1]), data.masks[idx])
                obj = 1 - np.nanmean(sh[:, 0, 0])
                area = 1 - (data.masks[idx] == 0).mean()
                row.update(
                    residual_object_share=obj, object_area=area, residual_enrichment=obj / area
                )
            rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ ProtoPNet runs
def protopnet_run(model, X, y, Xtest, ytest, cfg, stages, seed, nmf_cfg, log=None):
    """Train ProtoPNet above the cached layer; after each cycle: test accuracy and Table 1's
    class-feature reconstruction errors of its add-on features (NNLS onto the class's 10
    pushed prototypes vs NMF with 10 prototypes vs 10 random patches of the class)."""
    top = ppn.make_top(model, stages)
    with torch.no_grad():
        in_ch = top(torch.as_tensor(X[:1])).shape[1]
    n_classes = int(model.fc.out_features)
    net = ppn.ProtoPNet(
        top, in_ch, n_classes, cfg["prototypes_per_class"], cfg["prototype_dim"], seed=seed
    )
    rows, states = [], {}

    def on_cycle(cycle, net, where):
        maps = ppn.add_on_maps(net, X)
        P = net.prototypes.detach().double().numpy()
        owner = net.identity.argmax(1).numpy()
        acc = ppn.accuracy(net, Xtest, ytest)
        for c in range(n_classes):
            A = maps[y == c].reshape(-1, maps.shape[-1]).astype(np.float64)
            Pc = P[owner == c]
            e_ppn = relative_error(A, nnls(A, Pc), Pc)
            nmf = NMF(
                len(Pc),
                solver=nmf_cfg["solver"],
                init="random",
                max_iter=nmf_cfg["max_iter"],
                tol=nmf_cfg["tol"],
                random_state=derive_seed(seed, PAPER, "t1", cycle, c),
            )
            E = nmf.fit_transform(A.astype(np.float32))
            e_nmf = relative_error(A, E, np.asarray(nmf.components_, np.float64))
            rng = np.random.default_rng(derive_seed(seed, PAPER, "t1rand", cycle, c))
            R = A[rng.choice(len(A), len(Pc), replace=False)]
            e_rand = relative_error(A, nnls(A, R), R)
            rows.append(
                dict(
                    seed=seed,
                    cycle=cycle,
                    **{"class": c},
                    protopnet=e_ppn,
                    nmf=e_nmf,
                    random_patches=e_rand,
                    test_accuracy=acc,
                    distinct_pushed_patches=len({tuple(w) for w in where[owner == c]}),
                )
            )
        states[cycle] = dict(
            state={k: v.clone() for k, v in net.state_dict().items()}, where=torch.as_tensor(where)
        )
        if log:
            last = pd.DataFrame(rows[-n_classes:])
            log.info(
                "cycle %d: test acc %.4f, error ProtoPNet %.3f NMF %.3f random %.3f",
                cycle,
                acc,
                last.protopnet.mean(),
                last.nmf.mean(),
                last.random_patches.mean(),
            )

    ppn.train_protopnet(net, X, y, cfg, seed, on_cycle=on_cycle, log=log)
    return pd.DataFrame(rows), states


def rebuild_protopnet(model, state, X, cfg, stages):
    top = ppn.make_top(model, stages)
    with torch.no_grad():
        in_ch = top(torch.as_tensor(X[:1])).shape[1]
    net = ppn.ProtoPNet(
        top, in_ch, int(model.fc.out_features), cfg["prototypes_per_class"], cfg["prototype_dim"]
    )
    net.load_state_dict(state)
    return net.eval()


def matched_correlation(a, b) -> float:
    """Mean Pearson correlation of the columns of ``a`` and ``b`` (n, k) after Hungarian
    matching (prototype order is arbitrary across refits)."""
    from scipy.optimize import linear_sum_assignment

    k = a.shape[1]
    C = np.corrcoef(a.T, b.T)[:k, k:]
    C = np.nan_to_num(C)
    r, c = linear_sum_assignment(-C)
    return float(C[r, c].mean())
