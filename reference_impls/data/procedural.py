"""A procedural parts-and-attributes image set with full ground truth.

In the spirit of FunnyBirds and CUB-200: every image shows one bird-like object made of five
named parts (body, head, wing, tail, legs). Each part has colour / pattern / shape variants,
encoded as 23 binary attributes named like CUB's (``wing_color::blue``). A class is a fixed
combination of variants; classes sharing tail and head shape form a superclass. Backgrounds
vary, and some training classes prefer one background (so background concepts exist, as in
the papers' failure cases). Two disjoint class sets are built from the same parts: the
training classes and unseen probe classes (the embedded analogue of "train on CIFAR-10,
probe with CIFAR-100").

Ground truth per image: class, superclass, attribute vector, per-pixel part segmentation,
one keypoint per part (the centroid of its visible pixels, visible flag) and background.
Rendering is vectorised over chunks of images: 10k images at 64x64 take a few seconds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .base import ArrayImageDataset

PART_NAMES = ("body", "head", "wing", "tail", "legs")
COLORS = {
    "red": (0.85, 0.18, 0.15),
    "blue": (0.15, 0.32, 0.85),
    "green": (0.15, 0.65, 0.25),
    "yellow": (0.95, 0.80, 0.15),
}
COLOR_NAMES = tuple(COLORS)
BODY_PATTERNS = ("plain", "striped")
HEAD_SHAPES = ("round", "square")
WING_SHAPES = ("pointed", "rounded")
TAIL_SHAPES = ("fan", "straight", "forked")
LEG_LENGTHS = ("short", "long")
BACKGROUNDS = ("plain", "sky", "grass", "water", "brick")
LEG_RGB = (0.35, 0.25, 0.15)

# (attribute group, its variants); one binary attribute per variant, CUB style.
ATTRIBUTE_GROUPS = (
    ("body_color", COLOR_NAMES),
    ("body_pattern", BODY_PATTERNS),
    ("head_color", COLOR_NAMES),
    ("head_shape", HEAD_SHAPES),
    ("wing_color", COLOR_NAMES),
    ("wing_shape", WING_SHAPES),
    ("tail_shape", TAIL_SHAPES),
    ("leg_length", LEG_LENGTHS),
)
ATTRIBUTE_NAMES = tuple(f"{g}::{v}" for g, vs in ATTRIBUTE_GROUPS for v in vs)
_GROUP_OFFSET = dict(
    zip(
        [g for g, _ in ATTRIBUTE_GROUPS],
        np.cumsum([0] + [len(vs) for _, vs in ATTRIBUTE_GROUPS])[:-1].tolist(),
    )
)
_GROUPS = [g for g, _ in ATTRIBUTE_GROUPS]


@dataclass(frozen=True)
class ClassSpec:
    """One class: a variant index for each attribute group, plus its superclass."""

    name: str
    superclass: int
    variants: dict  # group -> variant index
    preferred_background: int | None


def build_taxonomy(
    n_superclasses: int = 5,
    train_per_super: int = 2,
    probe_per_super: int = 2,
    n_background_biased: int = 3,
    seed: int = 1234,
):
    """Class definitions for the training and the probe class sets.

    A superclass fixes (tail_shape, head_shape); its classes differ in colours, pattern, wing
    shape and leg length. Train and probe classes are disjoint combinations in the same
    superclasses. The first ``n_background_biased`` training classes prefer one background.
    Returns ``(train_classes, probe_classes, superclass_names)``.
    """
    shape_combos = list(itertools.product(range(len(TAIL_SHAPES)), range(len(HEAD_SHAPES))))
    if n_superclasses > len(shape_combos):
        raise ValueError(f"n_superclasses must be <= {len(shape_combos)}, got {n_superclasses}")
    rng = np.random.default_rng(seed)
    free_groups = [
        "body_color",
        "body_pattern",
        "head_color",
        "wing_color",
        "wing_shape",
        "leg_length",
    ]
    free_sizes = [len(dict(ATTRIBUTE_GROUPS)[g]) for g in free_groups]
    train, probe, super_names = [], [], []
    used = []
    for s in range(n_superclasses):
        tail, head = shape_combos[s]
        super_names.append(f"{TAIL_SHAPES[tail]}-tail/{HEAD_SHAPES[head]}-head")
        specs = []
        while len(specs) < train_per_super + probe_per_super:
            free = tuple(int(rng.integers(k)) for k in free_sizes)
            # Distinct from every class so far in at least two free attributes.
            if any(sum(a != b for a, b in zip(free, u)) < 2 for u in used):
                continue
            used.append(free)
            specs.append(free)
        for i, free in enumerate(specs):
            variants = dict(zip(free_groups, free), tail_shape=tail, head_shape=head)
            is_train = i < train_per_super
            name = (
                f"{COLOR_NAMES[variants['body_color']]}-{COLOR_NAMES[variants['wing_color']]}"
                f" {super_names[-1]} #{len(train) if is_train else len(probe)}"
            )
            spec = ClassSpec(name, s, variants, None)
            (train if is_train else probe).append(spec)
    biased = []
    for i, spec in enumerate(train):
        pref = (i % len(BACKGROUNDS)) if i < n_background_biased else None
        biased.append(ClassSpec(spec.name, spec.superclass, spec.variants, pref))
    return biased, probe, super_names


def _polygon_mask(x, y, vertices):
    """Inside test for a convex polygon given counter-clockwise vertices (broadcast arrays)."""
    inside = np.ones(np.broadcast(x, y).shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]):
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0
    return inside


def _part_masks(x, y, v):
    """Boolean masks (chunk x H x W) of each part in object coordinates, by variant arrays."""
    b = lambda a: a[:, None, None]  # noqa: E731 - broadcast per-image parameters
    body = (x / 0.45) ** 2 + (y / 0.27) ** 2 <= 1
    hx, hy = x - 0.52, y + 0.28
    head = np.where(
        b(v["head_shape"] == 0),
        hx**2 + hy**2 <= 0.2**2,
        (np.abs(hx) <= 0.17) & (np.abs(hy) <= 0.17),
    )
    pointed = _polygon_mask(x, y, [(0.25, -0.08), (-0.45, -0.62), (-0.25, -0.08)][::-1])
    rounded = ((x + 0.05) / 0.3) ** 2 + ((y + 0.22) / 0.2) ** 2 <= 1
    wing = np.where(b(v["wing_shape"] == 0), pointed, rounded)
    fan = _polygon_mask(x, y, [(-0.35, 0.0), (-0.85, -0.3), (-0.85, 0.3)])
    straight = (x <= -0.35) & (x >= -0.85) & (np.abs(y) <= 0.07)
    forked = _polygon_mask(
        x, y, [(-0.35, 0.02), (-0.85, -0.38), (-0.8, -0.42)][::-1]
    ) | _polygon_mask(x, y, [(-0.35, -0.02), (-0.8, 0.42), (-0.85, 0.38)][::-1])
    tail = np.select([b(v["tail_shape"] == 0), b(v["tail_shape"] == 1)], [fan, straight], forked)
    leg_len = np.where(v["leg_length"] == 0, 0.22, 0.45)
    in_leg_x = (np.abs(x - 0.12) <= 0.035) | (np.abs(x + 0.12) <= 0.035)
    legs = in_leg_x & (y >= 0.2) & (y <= 0.22 + b(leg_len)) & b(v["legs_visible"])
    return {"body": body, "head": head, "wing": wing, "tail": tail, "legs": legs}


def background_templates(image_size):
    """The five background textures (5 x H x W x 3 float32), one per ``BACKGROUNDS`` entry."""
    grid = ((np.arange(image_size) + 0.5) / image_size * 2 - 1).astype(np.float32)
    v, u = np.meshgrid(grid, grid, indexing="ij")
    sky = np.stack([0.55 + 0.3 * (v + 1) / 2, 0.75 + 0.2 * (v + 1) / 2, np.full_like(v, 0.97)], -1)
    grass_t = 0.5 + 0.5 * np.sin(u * 40 + 3 * np.sin(v * 9))
    grass = np.stack([0.25 + 0.1 * grass_t, 0.55 + 0.15 * grass_t, 0.2 + 0 * u], -1)
    water_t = 0.5 + 0.5 * np.sin(v * 30 + 2 * np.sin(u * 6))
    water = np.stack([0.1 + 0.1 * water_t, 0.45 + 0.15 * water_t, 0.6 + 0.2 * water_t], -1)
    row = np.floor((v + 1) * 8)
    mortar = (np.mod((v + 1) * 8, 1) < 0.15) | (
        np.mod((u + 1) * 5 + 0.5 * np.mod(row, 2), 1) < 0.08
    )
    brick = np.where(mortar[..., None], 0.85, np.array([0.62, 0.3, 0.22]))
    plain = np.full_like(sky, 0.82)
    return np.stack([plain, sky, grass, water, brick], 0).astype(np.float32)


def _render_chunk(params, image_size, rng):
    """Render images, part segmentation and keypoints for a chunk of parameter rows."""
    n = len(params["tail_shape"])
    grid = ((np.arange(image_size) + 0.5) / image_size * 2 - 1).astype(np.float32)
    v, u = np.meshgrid(grid, grid, indexing="ij")  # v: rows (down), u: columns (right)
    u, v = np.broadcast_to(u, (n,) + u.shape), np.broadcast_to(v, (n,) + v.shape)
    b = lambda a: a[:, None, None].astype(np.float32)  # noqa: E731
    du, dv = u - b(params["cx"]), v - b(params["cy"])
    c, s = np.cos(b(params["angle"])), np.sin(b(params["angle"]))
    x = b(params["flip"]) * (du * c + dv * s) / b(params["scale"])
    y = (-du * s + dv * c) / b(params["scale"])

    image = background_templates(image_size)[params["background"]]
    image += 0.03 * rng.standard_normal(image.shape[:3] + (1,), dtype=np.float32)
    seg = np.zeros((n, image_size, image_size), dtype=np.uint8)
    masks = _part_masks(x, y, params)
    palette = np.array(list(COLORS.values()), dtype=np.float32)
    shade = b(params["brightness"])[..., None]
    stripes = (np.sin(x * 28) > 0.3) & (params["body_pattern"] == 1)[:, None, None]
    body_rgb = palette[params["body_color"]][:, None, None, :] * shade
    colours = {
        "tail": palette[params["body_color"]][:, None, None, :] * shade * 0.8,
        "legs": np.broadcast_to(np.array(LEG_RGB, dtype=np.float32), (n, 1, 1, 3)),
        "body": np.where(stripes[..., None], body_rgb * 0.45, body_rgb),
        "head": palette[params["head_color"]][:, None, None, :] * shade,
        "wing": palette[params["wing_color"]][:, None, None, :] * shade,
    }
    for name in ("tail", "legs", "body", "head", "wing"):  # painter's order
        m = masks[name]
        np.copyto(image, colours[name], where=m[..., None])
        seg[m] = PART_NAMES.index(name) + 1
    # The eye: a dark dot on the head, part of the head segment.
    eye = ((x - 0.58) ** 2 + (y + 0.33) ** 2 <= 0.045**2) & (seg == PART_NAMES.index("head") + 1)
    image[eye] = 0.05
    image += 0.02 * rng.standard_normal(image.shape, dtype=np.float32)
    np.clip(image, 0, 1, out=image)

    keypoints = np.zeros((n, len(PART_NAMES), 3), dtype=np.float32)
    coords = np.arange(image_size, dtype=np.float32)
    for p in range(len(PART_NAMES)):
        m = (seg == p + 1).astype(np.float32)
        count = m.sum((1, 2))
        vis = count > 0
        denom = np.maximum(count, 1)
        keypoints[:, p, 0] = np.where(vis, (m.sum(1) @ coords) / denom, 0)  # column centroid
        keypoints[:, p, 1] = np.where(vis, (m.sum(2) @ coords) / denom, 0)  # row centroid
        keypoints[:, p, 2] = vis
    return (image * 255).round().astype(np.uint8), seg, keypoints


def _sample_params(classes, labels, rng, attribute_noise, background_correlation):
    """Per-image variants (class prototype, with occasional colour changes) and pose."""
    n = len(labels)
    params = {g: np.array([classes[k].variants[g] for k in labels]) for g in _GROUPS}
    # Per-image attribute variation: with probability ``attribute_noise`` one colour group
    # takes another colour (CUB's attributes likewise vary within a class).
    change = rng.random(n) < attribute_noise
    group = rng.choice(["body_color", "head_color", "wing_color"], size=n)
    for g in ("body_color", "head_color", "wing_color"):
        sel = change & (group == g)
        shift = rng.integers(1, len(COLOR_NAMES), size=sel.sum())
        params[g][sel] = (params[g][sel] + shift) % len(COLOR_NAMES)
    pref = np.array(
        [
            -1 if classes[k].preferred_background is None else classes[k].preferred_background
            for k in labels
        ]
    )
    use_pref = (pref >= 0) & (rng.random(n) < background_correlation)
    params["background"] = np.where(use_pref, pref, rng.integers(len(BACKGROUNDS), size=n))
    params["legs_visible"] = rng.random(n) >= 0.2  # "flying" pose hides the legs
    params["flip"] = rng.choice([-1.0, 1.0], size=n)
    params["scale"] = rng.uniform(0.72, 0.92, size=n)
    params["angle"] = rng.uniform(-0.25, 0.25, size=n)
    params["cx"] = rng.uniform(-0.12, 0.12, size=n)
    params["cy"] = rng.uniform(-0.12, 0.08, size=n)
    params["brightness"] = rng.uniform(0.85, 1.1, size=n)
    return params


def _attribute_matrix(params):
    """Binary attribute matrix (n x 23); leg attributes are 0 where the legs are hidden."""
    n = len(params["tail_shape"])
    attrs = np.zeros((n, len(ATTRIBUTE_NAMES)), dtype=np.uint8)
    for g in _GROUPS:
        attrs[np.arange(n), _GROUP_OFFSET[g] + params[g]] = 1
    off = _GROUP_OFFSET["leg_length"]
    attrs[~params["legs_visible"], off : off + len(LEG_LENGTHS)] = 0
    return attrs


def generate_split(
    classes,
    n_images,
    image_size=64,
    seed=0,
    attribute_noise=0.15,
    background_correlation=0.8,
    chunk=500,
):
    """Render ``n_images`` balanced over ``classes``; returns a dict of arrays.

    Keys: images (N x H x W x 3 uint8), labels, superclass, attributes (N x 23), part_masks
    (N x H x W uint8, 0 = background, k = PART_NAMES[k-1]), keypoints (N x 5 x 3: x, y in
    pixels, visible), background.
    """
    if n_images < len(classes):
        raise ValueError(f"n_images ({n_images}) must be >= number of classes ({len(classes)})")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16 pixels, got {image_size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_images) % len(classes))
    params = _sample_params(classes, labels, rng, attribute_noise, background_correlation)
    images, segs, kps = [], [], []
    for start in range(0, n_images, chunk):
        sl = {k: a[start : start + chunk] for k, a in params.items()}
        im, sg, kp = _render_chunk(sl, image_size, rng)
        images.append(im), segs.append(sg), kps.append(kp)
    return {
        "images": np.concatenate(images),
        "labels": labels.astype(np.int64),
        "superclass": np.array([classes[k].superclass for k in labels], dtype=np.int64),
        "attributes": _attribute_matrix(params),
        "part_masks": np.concatenate(segs),
        "keypoints": np.concatenate(kps),
        "background": params["background"].astype(np.int64),
    }


def generate_parts_dataset(
    n_train=8000,
    n_test=2000,
    n_probe=2000,
    image_size=64,
    seed=0,
    attribute_noise=0.15,
    background_correlation=0.8,
    n_superclasses=5,
    train_per_super=2,
    probe_per_super=2,
):
    """The three splits (train / test on the training classes, probe on unseen classes).

    Returns a flat dict of arrays ``{split}/{key}`` plus class metadata, ready for
    :func:`save_parts_dataset`. Deterministic given ``seed``.
    """
    train_cls, probe_cls, super_names = build_taxonomy(
        n_superclasses, train_per_super, probe_per_super
    )
    out = {}
    for split, classes, n, offset in (
        ("train", train_cls, n_train, 0),
        ("test", train_cls, n_test, 1),
        ("probe", probe_cls, n_probe, 2),
    ):
        arrays = generate_split(
            classes, n, image_size, seed * 3 + offset, attribute_noise, background_correlation
        )
        out.update({f"{split}/{k}": v for k, v in arrays.items()})
    out["train_class_names"] = np.array([c.name for c in train_cls])
    out["probe_class_names"] = np.array([c.name for c in probe_cls])
    out["superclass_names"] = np.array(super_names)
    out["attribute_names"] = np.array(ATTRIBUTE_NAMES)
    out["part_names"] = np.array(PART_NAMES)
    out["background_names"] = np.array(BACKGROUNDS)
    return out


def save_parts_dataset(path, arrays) -> None:
    """Write the generated arrays to one ``.npz`` file."""
    np.savez(path, **arrays)


def load_parts_split(path, split: str) -> ArrayImageDataset:
    """One split (``train``, ``test`` or ``probe``) of a saved parts dataset, with ground truth."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable parts dataset ({err}); regenerate it") from err
    with data:
        keys = [k for k in data.files if k.startswith(f"{split}/")]
        if not keys:
            raise KeyError(f"{path}: no split '{split}'; available: train, test, probe")
        arr = {k.split("/", 1)[1]: data[k] for k in keys}
        classes = data["probe_class_names" if split == "probe" else "train_class_names"].tolist()
        attribute_names = data["attribute_names"].tolist()
    images = arr.pop("images").astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    labels = arr.pop("labels")
    return ArrayImageDataset(
        images,
        labels,
        classes,
        ground_truth=arr,
        attribute_names=attribute_names,
        name=f"parts/{split}",
    )
