"""Table 1 of CRAFT (Fel et al., CVPR 2023) replayed by a ground-truth oracle: the intruder
and binary-choice experiments of the human study, on the procedural set's part / background
content of every crop (a proxy, labelled so in the ledger), plus set purity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.procedural import BACKGROUNDS, PART_NAMES
from ...utils import derive_seed
from .experiments import PAPER

# ----------------------------------------------------------- Table 1 proxy (intruder oracle)


def crop_descriptors(regions, background, n_backgrounds: int = len(BACKGROUNDS)) -> np.ndarray:
    """What the oracle sees of a crop: the share of each part, and the background share placed
    in the slot of the image's background type: ``(n, 5 + n_backgrounds)``, rows sum to 1."""
    regions = np.asarray(regions, dtype=np.float64)
    bg = np.zeros((len(regions), n_backgrounds))
    bg[np.arange(len(regions)), np.asarray(background)] = regions[:, 0]
    return np.hstack([regions[:, 1:], bg])


DESCRIPTOR_NAMES = tuple(PART_NAMES) + tuple(f"background:{b}" for b in BACKGROUNDS)


def oracle_odd_one_out(desc: np.ndarray) -> np.ndarray:
    """The oracle's intruder candidates among ``k`` crops: the crop(s) with the largest mean
    L1 (total-variation) distance to the others (ties all returned)."""
    d = np.abs(desc[:, None, :] - desc[None, :, :]).sum(-1).mean(1)
    return np.flatnonzero(np.isclose(d, d.max(), rtol=0, atol=1e-12))


def concept_sets(concepts: dict) -> tuple[dict, dict]:
    """``parents {(class, concept): crop rows}`` (the members above the percentile) and
    ``children {(class, concept, sub): crop rows}`` (members assigned to the sub-concept with
    their largest coefficient; members with all-zero sub-coefficients are left out)."""
    parents, children = {}, {}
    keys = np.column_stack([concepts["sub_class"], concepts["sub_concept"]])
    assign = concepts["sub_coef"].argmax(1)
    active = concepts["sub_coef"].max(1) > 0
    for c, i in np.unique(keys, axis=0):
        sel = (keys[:, 0] == c) & (keys[:, 1] == i)
        parents[(int(c), int(i))] = concepts["sub_crop"][sel]
        for j in range(concepts["sub_coef"].shape[1]):
            children[(int(c), int(i), j)] = concepts["sub_crop"][sel & active & (assign == j)]
    return parents, children


def intruder_accuracy(
    desc, sets: dict, pools: dict, n_trials: int, rng, set_size: int = 4
) -> np.ndarray:
    """Oracle scores of ``n_trials`` trials per set (mean = accuracy): ``set_size`` crops of the set plus one
    intruder from ``pools[key]``; a tie among k candidates that includes the intruder
    scores 1/k. Sets smaller than ``set_size`` or with an empty pool are skipped."""
    scores = []
    for key, members in sets.items():
        pool = pools[key]
        if len(members) < set_size or not len(pool):
            continue
        for _ in range(n_trials):
            trial = np.append(rng.choice(members, set_size, replace=False), rng.choice(pool))
            cand = oracle_odd_one_out(desc[trial])
            scores.append(1.0 / len(cand) if set_size in cand else 0.0)
    if not scores:
        raise ValueError("no (sub-)concept has enough members for an intruder trial")
    return np.asarray(scores)


def binary_choice(desc, parents: dict, children: dict) -> np.ndarray:
    """Oracle's binary choice (Table 1): for each crop of a sub-concept, is it closer (mean L1
    distance, itself excluded) to its sub-concept than to the parent concept? 1/2 for a tie.
    Returns one vote per crop (mean = share choosing the sub-concept)."""
    votes = []
    for (c, i, j), members in children.items():
        parent = parents[(c, i)]
        if len(members) < 2:
            continue
        for m in members:
            d_sub = np.abs(desc[members[members != m]] - desc[m]).sum(1).mean()
            d_par = np.abs(desc[parent[parent != m]] - desc[m]).sum(1).mean()
            votes.append(1.0 if d_sub < d_par else 0.5 if d_sub == d_par else 0.0)
    return np.asarray(votes)


def _purity(labels) -> float:
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else np.nan


def purity_table(desc, parents: dict, children: dict, n_random: int = 20, seed: int = 0) -> dict:
    """Purity = share of a set's crops whose dominant ground-truth label (part or background
    type) is the set's most common one. Splitting a set can only raise size-weighted purity,
    so sub-concepts are compared with random splits of the parent into the same sizes."""
    dominant = desc.argmax(1)
    rng = np.random.default_rng(seed)
    par, sub, rnd = [], [], []
    n_sub = len({key[2] for key in children})
    for c, i in parents:
        kids = [children[(c, i, j)] for j in range(n_sub) if len(children[(c, i, j)])]
        covered = np.concatenate(kids)
        n = len(covered)
        par.append(_purity(dominant[covered]))
        sub.append(sum(len(k) * _purity(dominant[k]) for k in kids) / n)
        cuts = np.cumsum([len(k) for k in kids])[:-1]
        draws = []
        for _ in range(n_random):
            parts = np.split(rng.permutation(dominant[covered]), cuts)
            draws.append(sum(len(p) * _purity(p) for p in parts) / n)
        rnd.append(float(np.mean(draws)))
    return {"parent": np.asarray(par), "sub": np.asarray(sub), "random_split": np.asarray(rnd)}


def table1_proxy(
    concepts: dict, crops: dict, intruder_trials: int = 50, seed: int = 0
) -> pd.DataFrame:
    """Table 1 replayed by a ground-truth oracle (a proxy for the human study).

    Intruder task: 4 crops of a concept (or of one of its sub-concepts) and 1 crop of another
    concept of the same class (a member of another concept's set, not of this concept's); the
    oracle names the crop whose part / background content differs most. Binary choice: does a
    sub-concept's crop sit closer to its sub-concept or to the parent? Plus set purity.
    """
    if "regions" not in crops:
        raise ValueError(
            "crops have no ground-truth regions: the intruder proxy needs a "
            "dataset with part masks (the procedural set)"
        )
    desc = crop_descriptors(crops["regions"], crops["background"])
    parents, children = concept_sets(concepts)
    pools = {}
    for (c, i), members in parents.items():
        others = np.concatenate([m for (c2, i2), m in parents.items() if c2 == c and i2 != i])
        pools[(c, i)] = np.setdiff1d(others, members)
    rng = np.random.default_rng(derive_seed(seed, PAPER, "intruder"))
    intr_c = intruder_accuracy(desc, parents, pools, intruder_trials, rng)
    sub_pools = {k: pools[k[:2]] for k in children}
    intr_s = intruder_accuracy(desc, children, sub_pools, intruder_trials, rng)
    choice = binary_choice(desc, parents, children)
    pur = purity_table(desc, parents, children, seed=derive_seed(seed, PAPER, "purity"))
    # Control: the parent's covered members split at random into sets of the sub-concepts'
    # sizes (what any split gives); its own random stream, so the rows above are unchanged.
    rng_ctl = np.random.default_rng(derive_seed(seed, PAPER, "intruder", "random split"))
    random_kids = random_split(children, rng_ctl)
    intr_r = intruder_accuracy(desc, random_kids, sub_pools, intruder_trials, rng_ctl)
    choice_r = binary_choice(desc, parents, random_kids)
    rows = [
        ("intruder", "concept", "accuracy", intr_c),
        ("intruder", "sub-concept", "accuracy", intr_s),
        ("intruder", "random split", "accuracy", intr_r),
        ("binary_choice", "sub-concept", "share_choosing_sub", choice),
        ("binary_choice", "random split", "share_choosing_sub", choice_r),
        ("purity", "concept", "purity", pur["parent"]),
        ("purity", "sub-concept", "purity", pur["sub"]),
        ("purity", "random split", "purity", pur["random_split"]),
    ]
    out = []
    for experiment, condition, metric, values in rows:
        lo, hi = normal_ci(values)
        out.append((experiment, condition, metric, float(np.mean(values)), len(values), lo, hi))
    columns = ["experiment", "condition", "metric", "value", "n", "ci_low", "ci_high"]
    return pd.DataFrame(out, columns=columns)


def random_split(children: dict, rng) -> dict:
    """Each parent's sub-concept members pooled and dealt at random into sets of the same
    sizes (same keys as ``children``)."""
    out, by_parent = {}, {}
    for key in children:
        by_parent.setdefault(key[:2], []).append(key)
    for keys in by_parent.values():
        sizes = [len(children[k]) for k in keys]
        pooled = rng.permutation(np.concatenate([children[k] for k in keys]))
        for k, part in zip(keys, np.split(pooled, np.cumsum(sizes)[:-1])):
            out[k] = part
    return out


def normal_ci(values, level_z: float = 1.96) -> tuple[float, float]:
    """Mean +- 1.96 standard errors (trials, votes or parents are the units)."""
    values = np.asarray(values, dtype=np.float64)
    half = level_z * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return float(values.mean() - half), float(values.mean() + half)
