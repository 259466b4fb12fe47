"""ImageSource gives model-ready float32 N x C x H x W images whatever the dataset stores."""

import numpy as np
import torch

from reference_impls.data.base import ArrayImageDataset
from reference_impls.data.images import ImageSource, select_class_images
from reference_impls.data.real._common import UInt8ArrayDataset


def test_uint8_hwc_images_come_out_scaled_and_channels_first():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(5, 4, 6, 3), dtype=np.uint8)  # N x H x W x C, as CIFAR
    ds = UInt8ArrayDataset("toy", raw, np.arange(5) % 2, ["a", "b"])
    got = ImageSource(ds, indices=[3, 1])[[0, 1]]
    want = raw[[3, 1]].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    assert got.shape == (2, 3, 4, 6) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_array_dataset_rows_follow_indices():
    images = np.linspace(0, 1, 4 * 2 * 3 * 3, dtype=np.float32).reshape(4, 2, 3, 3)
    ds = ArrayImageDataset(images, np.array([0, 1, 0, 1]), ["a", "b"], name="toy")
    np.testing.assert_array_equal(ImageSource(ds, indices=[2, 0])[1], images[[0]])
    np.testing.assert_array_equal(ImageSource(ds)[[3]], torch.stack([ds.load_image(3)]).numpy())


def test_class_draws_are_seeded_per_tag_and_reject_small_classes():
    targets = np.repeat([0, 1], 10)
    a = select_class_images(targets, 4, seed=0, tag="craft")
    assert a.keys() == {0, 1} and all(len(v) == 4 for v in a.values())
    assert all(np.all(targets[v] == c) for c, v in a.items())
    np.testing.assert_array_equal(a[0], select_class_images(targets, 4, 0, "craft")[0])
    assert any(not np.array_equal(a[c], select_class_images(targets, 4, 0, "bona")[c]) for c in a)
    try:
        select_class_images(targets, 11, 0, "craft")
    except ValueError as err:
        assert "fewer than images_per_class" in str(err)
    else:
        raise AssertionError("a class with too few images must raise")
