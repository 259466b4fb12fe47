"""The procedural parts-and-attributes set: determinism and ground-truth consistency."""

import numpy as np
import pytest

from reference_impls.data import procedural as P


@pytest.fixture(scope="module")
def small():
    return P.generate_parts_dataset(n_train=200, n_test=60, n_probe=60, image_size=64, seed=3)


def test_same_seed_same_arrays_and_other_seed_differs(small):
    again = P.generate_parts_dataset(n_train=200, n_test=60, n_probe=60, image_size=64, seed=3)
    for key, value in small.items():
        np.testing.assert_array_equal(value, again[key], err_msg=key)
    other = P.generate_parts_dataset(n_train=200, n_test=60, n_probe=60, image_size=64, seed=4)
    assert not np.array_equal(small["train/images"], other["train/images"])


def test_shapes_and_ranges(small):
    assert small["train/images"].shape == (200, 64, 64, 3)
    assert small["train/images"].dtype == np.uint8
    assert small["train/attributes"].shape == (200, len(P.ATTRIBUTE_NAMES))
    assert len(P.ATTRIBUTE_NAMES) >= 20
    assert small["train/keypoints"].shape == (200, 5, 3)
    assert set(np.unique(small["train/part_masks"])) <= set(range(6))
    # balanced over the 10 training classes
    assert np.bincount(small["train/labels"]).tolist() == [20] * 10


def test_train_and_probe_classes_are_disjoint_combinations_of_the_same_parts():
    train, probe, supers = P.build_taxonomy()
    assert len(train) == len(probe) == 10 and len(supers) == 5
    key = lambda c: tuple(sorted(c.variants.items()))  # noqa: E731
    assert not {key(c) for c in train} & {key(c) for c in probe}
    assert {c.superclass for c in train} == {c.superclass for c in probe}


def test_keypoints_are_centroids_of_visible_part_masks(small):
    masks, kps = small["test/part_masks"], small["test/keypoints"]
    for i in range(len(masks)):
        for p in range(5):
            rows, cols = np.nonzero(masks[i] == p + 1)
            assert kps[i, p, 2] == (len(rows) > 0)
            if len(rows):
                assert kps[i, p, 0] == pytest.approx(cols.mean(), abs=1e-3)
                assert kps[i, p, 1] == pytest.approx(rows.mean(), abs=1e-3)
                assert masks[i, int(round(kps[i, p, 1])), int(round(kps[i, p, 0]))] in range(6)


def test_attributes_agree_with_rendered_pixels(small):
    """The wing's mean colour is nearest the palette colour its attribute names."""
    images, masks, attrs = (
        small["train/images"],
        small["train/part_masks"],
        small["train/attributes"],
    )
    names = list(P.ATTRIBUTE_NAMES)
    palette = np.array(list(P.COLORS.values()))
    wing = P.PART_NAMES.index("wing") + 1
    checked = 0
    for i in range(len(images)):
        m = masks[i] == wing
        if m.sum() < 10:
            continue
        mean = images[i][m].mean(0) / 255
        nearest = P.COLOR_NAMES[int(np.argmin(((palette - mean) ** 2).sum(1)))]
        assert attrs[i, names.index(f"wing_color::{nearest}")] == 1, i
        checked += 1
    assert checked > 150
    # one variant per attribute group (legs: none when hidden)
    legs_hidden = small["train/keypoints"][:, P.PART_NAMES.index("legs"), 2] == 0
    leg_cols = [names.index(n) for n in names if n.startswith("leg_length")]
    assert (attrs[legs_hidden][:, leg_cols].sum(1) == 0).all()
    assert (attrs[~legs_hidden][:, leg_cols].sum(1) == 1).all()
    assert 0.1 < legs_hidden.mean() < 0.3


def test_background_bias_and_attribute_noise_rates():
    data = P.generate_parts_dataset(n_train=2000, n_test=10, n_probe=10, seed=0)
    train, _, _ = P.build_taxonomy()
    labels, bg = data["train/labels"], data["train/background"]
    for k, spec in enumerate(train):
        share = (
            np.mean(bg[labels == k] == spec.preferred_background)
            if spec.preferred_background is not None
            else None
        )
        if share is not None:  # 80% preferred + 20% uniform over five backgrounds
            assert 0.75 < share < 0.92
    proto = np.array([[c.variants["wing_color"] for c in train]])[0][labels]
    wing = data["train/attributes"][
        :, [P.ATTRIBUTE_NAMES.index(f"wing_color::{c}") for c in P.COLOR_NAMES]
    ].argmax(1)
    assert 0.02 < np.mean(wing != proto) < 0.09  # ~15% change one of three colour groups


def test_invalid_arguments_are_rejected():
    train, _, _ = P.build_taxonomy()
    with pytest.raises(ValueError, match="n_images"):
        P.generate_split(train, 5)
    with pytest.raises(ValueError, match="image_size"):
        P.generate_split(train, 20, image_size=8)
    with pytest.raises(ValueError, match="n_superclasses"):
        P.build_taxonomy(n_superclasses=9)


def test_saved_split_loads_with_ground_truth(small, tmp_path):
    path = tmp_path / "parts.npz"
    P.save_parts_dataset(path, small)
    probe = P.load_parts_split(path, "probe")
    image, label = probe[0]
    assert image.shape == (3, 64, 64) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert label == small["probe/labels"][0]
    assert probe.classes == small["probe_class_names"].tolist()
    np.testing.assert_array_equal(probe.ground_truth["part_masks"], small["probe/part_masks"])
    with pytest.raises(KeyError, match="no split 'val'"):
        P.load_parts_split(path, "val")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz"):
        P.load_parts_split(tmp_path / "broken.npz", "train")
