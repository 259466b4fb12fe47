"""The full profile's real-dataset loaders, run on tiny datasets written in each real format."""

import gzip
import shutil

import numpy as np
import pytest
import torch
from fixtures_datasets import (
    idx_bytes,
    write_cifar10,
    write_cifar100,
    write_cub,
    write_image_folder,
    write_lfw,
    write_mnist,
)

from reference_impls.data.base import DatasetNotFoundError, DatasetSplits, LabeledImageDataset
from reference_impls.data.real import (
    DATASET_LOADERS,
    FASHION_MNIST_CLASSES,
    load_cifar10,
    load_cifar100,
    load_cub200,
    load_dataset,
    load_fashion_mnist,
    load_image_folder,
    load_lfwa,
    load_mnist,
    load_splits,
    read_idx,
)


def written_dataset(writer):
    """A fixture giving ``(root, what writer wrote)`` for a dataset written into tmp_path."""

    @pytest.fixture
    def fixture(tmp_path):
        return tmp_path, writer(tmp_path)

    return fixture


cifar10 = written_dataset(write_cifar10)
cifar100 = written_dataset(write_cifar100)
image_folder = written_dataset(write_image_folder)
cub = written_dataset(write_cub)
lfw = written_dataset(write_lfw)


def as_chw(images_nhwc):
    return torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).astype(np.float32) / 255)


def check_images(ds: LabeledImageDataset, shape):
    """Every item is a float32 tensor of ``shape`` in [0, 1] with the dataset's label."""
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.dtype == torch.float32 and tuple(image.shape) == shape
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label == ds.targets[i]


def replace_line(path, lineno, text):
    lines = path.read_text().splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")


def assert_not_found(exc_info, dataset, path_fragment, source_fragment):
    message = str(exc_info.value)
    assert dataset in message and str(path_fragment) in message and source_fragment in message


# ---------------------------------------------------------------------------------- CIFAR


def test_cifar10_reads_batches_exactly(cifar10):
    root, written = cifar10
    for split in ("train", "test"):
        ds = load_cifar10(root, split)
        images, labels = written[split]
        assert len(ds) == len(labels) and ds.name == "cifar10"
        assert ds.classes == written["classes"]
        np.testing.assert_array_equal(ds.targets, labels)
        check_images(ds, (3, 32, 32))
        stacked = torch.stack([ds[i][0] for i in range(len(ds))])
        torch.testing.assert_close(stacked, as_chw(images), rtol=0, atol=0)
    assert len(load_cifar10(root, "train")) == 10  # all five batches, in order
    # root may also be the batches folder itself
    assert len(load_cifar10(written["folder"], "test")) == 3


def test_cifar10_resize(cifar10):
    ds = load_cifar10(cifar10[0], "test", image_size=16)
    check_images(ds, (3, 16, 16))


def test_cifar100_superclass(cifar100):
    root, written = cifar100
    ds = load_cifar100(root, "test")
    images, fine, coarse = written["test"]
    np.testing.assert_array_equal(ds.targets, fine)
    np.testing.assert_array_equal(ds.ground_truth["superclass"], coarse)
    assert ds.classes == written["classes"]
    assert ds.meta["superclass_names"] == written["superclasses"]
    torch.testing.assert_close(ds[1][0], as_chw(images)[1], rtol=0, atol=0)
    sub = ds.subset([2, 0])
    np.testing.assert_array_equal(sub.ground_truth["superclass"], coarse[[2, 0]])
    torch.testing.assert_close(sub[1][0], ds[0][0])


def test_cifar_missing_files(tmp_path, cifar10):
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(tmp_path / "nowhere")
    assert_not_found(
        info,
        "CIFAR-10",
        tmp_path / "nowhere" / "cifar-10-batches-py",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    )
    root, written = cifar10
    (written["folder"] / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        load_cifar10(root, "train")
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar100(root)
    assert_not_found(info, "CIFAR-100", "cifar-100-python", "kriz/cifar.html")


def test_cifar_malformed(cifar10, cifar100):
    import pickle

    folder = cifar10[1]["folder"]
    batch = {b"labels": [0, 10], b"data": np.zeros((2, 3072), np.uint8)}
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match=r"data_batch_2.*labels.*out of range"):
        load_cifar10(cifar10[0], "train")
    batch = {b"labels": [0], b"data": np.zeros((1, 3000), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match=r"test_batch.*3072"):
        load_cifar10(cifar10[0], "test")
    (folder / "batches.meta").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="batches.meta"):
        load_cifar10(cifar10[0], "test")
    # a fine class under two superclasses
    folder = cifar100[1]["folder"]
    batch = {
        b"fine_labels": [3, 3],
        b"coarse_labels": [3, 4],
        b"data": np.zeros((2, 3072), np.uint8),
    }
    (folder / "train").write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match="fine class 3"):
        load_cifar100(cifar100[0], "train")


# ---------------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
@pytest.mark.parametrize(
    "loader,folder", [(load_mnist, "MNIST"), (load_fashion_mnist, "FashionMNIST")]
)
def test_mnist_idx(tmp_path, gz, loader, folder):
    written = write_mnist(tmp_path, folder=folder, gz=gz)
    for split, n in (("train", 5), ("test", 3)):
        ds = loader(tmp_path, split)
        images, labels = written[split]
        assert len(ds) == n
        np.testing.assert_array_equal(ds.targets, labels)
        check_images(ds, (1, 28, 28))
        torch.testing.assert_close(
            ds[n - 1][0], torch.from_numpy(images[n - 1] / 255.0).float()[None], rtol=0, atol=0
        )
    expected = FASHION_MNIST_CLASSES if folder == "FashionMNIST" else [str(d) for d in range(10)]
    assert ds.classes == expected
    assert loader(written["raw"], "test", image_size=32)[0][0].shape == (1, 32, 32)


def test_mnist_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(tmp_path)
    assert_not_found(
        info, "MNIST", tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte", "yann.lecun.com"
    )
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path, "test")
    with pytest.raises(DatasetNotFoundError, match="Fashion-MNIST.*zalandoresearch"):
        load_fashion_mnist(tmp_path)


def test_mnist_malformed(tmp_path):
    written = write_mnist(tmp_path)
    raw = written["raw"]
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-1])  # truncated payload
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*header declares"):
        load_mnist(tmp_path, "train")
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.array([1, 2], np.uint8)))  # 2 labels for 3 images
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path, "test")
    labels.write_bytes(idx_bytes(np.array([1, 2, 10], np.uint8)))
    with pytest.raises(ValueError, match="label 10 of image 2"):
        load_mnist(tmp_path, "test")
    labels.write_bytes(b"\x00\x00\x0d\x01" + labels.read_bytes()[4:])  # float type code
    with pytest.raises(ValueError, match="unsigned-byte idx"):
        read_idx(labels)
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), np.arange(6).reshape(2, 3))


# ---------------------------------------------------------------------------- ImageFolder


def test_image_folder_labels_and_pixels(image_folder):
    root, written = image_folder
    train = load_image_folder(root, "train", image_size=8)
    assert train.classes == ["cat", "dog"]
    assert [p.split("/")[-3:] for p in train.paths] == [w[0].split("/") for w in written["train"]]
    np.testing.assert_array_equal(train.targets, [w[1] for w in written["train"]])
    check_images(train, (3, 8, 8))
    for i, (_, _, color) in enumerate(written["train"]):
        expected = torch.tensor(color, dtype=torch.float32)[:, None, None] / 255
        torch.testing.assert_close(train[i][0], expected.expand(3, 8, 8), rtol=0, atol=3 / 255)


def test_image_folder_center_crop_and_val_as_test(image_folder):
    root, written = image_folder
    test = load_image_folder(root, "test", image_size=6)  # no test/: val/ is the held-out set
    assert test.meta["folder"].endswith("val") and len(test) == 2
    for i, (_, label, color) in enumerate(written["val"]):
        assert test.targets[i] == label
        expected = torch.tensor(color, dtype=torch.float32)[:, None, None] / 255
        # the wide image's green side bands are cropped away: only the class colour remains
        torch.testing.assert_close(test[i][0], expected.expand(3, 6, 6), rtol=0, atol=3 / 255)
    squeezed = load_image_folder(root, "val", image_size=6, crop="resize")[0][0]
    assert squeezed[1, :, 0].min() > 0.9  # green band kept at the left edge


def test_image_folder_class_subset_and_registry(image_folder):
    root, _ = image_folder
    dogs = load_image_folder(root, "train", image_size=4, classes=["dog"])
    assert dogs.classes == ["dog"] and dogs.targets.tolist() == [0, 0]
    ds = load_dataset("imagenette", root, "train", image_size=4)
    assert ds.name == "imagenette" and len(ds) == 4
    splits = load_splits("image-folder", root, image_size=4)
    assert isinstance(splits, DatasetSplits) and (len(splits.train), len(splits.test)) == (4, 2)


def test_image_folder_missing_and_malformed(tmp_path, image_folder):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("imagenette", tmp_path / "none", "train")
    assert_not_found(
        info, "imagenette", tmp_path / "none" / "train", "github.com/fastai/imagenette"
    )
    root, _ = image_folder
    with pytest.raises(DatasetNotFoundError, match="bird"):
        load_image_folder(root, "train", classes=["cat", "bird"])
    (root / "train" / "cat" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt is not an image"):
        load_image_folder(root, "train")
    (root / "train" / "cat" / "notes.txt").unlink()
    (root / "val" / "bird").mkdir()
    with pytest.raises(ValueError, match=r"\['bird'\].*absent"):
        load_image_folder(root, "val")
    (root / "val" / "bird").rmdir()
    (root / "val" / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    ds = load_image_folder(root, "val")
    with pytest.raises(ValueError, match="cannot decode image.*broken.jpg"):
        ds[0]


# ------------------------------------------------------------------------------------ CUB


def test_cub_annotations_exactly_as_written(cub):
    root, w = cub
    for split, ids in (("train", [1, 3]), ("test", [2])):
        ds = load_cub200(root, split, image_size=10)
        assert ds.ground_truth["image_id"].tolist() == ids
        assert ds.targets.tolist() == [w["labels"][i] - 1 for i in ids]
        assert ds.classes == ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
        np.testing.assert_array_equal(ds.ground_truth["attributes"], w["present"][ids])
        np.testing.assert_array_equal(ds.ground_truth["attribute_certainty"], w["certainty"][ids])
        assert ds.ground_truth["attributes"].shape == (len(ids), 312)
        assert ds.ground_truth["keypoints"].shape == (len(ids), 15, 3)
        assert ds.attribute_names == w["attribute_names"] and len(ds.meta["part_names"]) == 15
        check_images(ds, (3, 10, 10))
    # the image colour encodes the image id: red = 40 * id
    assert ds[0][0][0].mean().item() == pytest.approx(80 / 255, abs=2 / 255)


def test_cub_keypoints_and_boxes_rescaled(cub):
    root, w = cub
    ds = load_cub200(root, "train", image_size=10)  # crop="resize": image 1 is 40 x 20
    kp = ds.ground_truth["keypoints"][0]
    parts = w["parts"][1]
    visible = parts[:, 2] == 1
    np.testing.assert_allclose(kp[visible, 0], parts[visible, 0] * 10 / 40)
    np.testing.assert_allclose(kp[visible, 1], parts[visible, 1] * 10 / 20)
    np.testing.assert_array_equal(kp[:, 2], parts[:, 2])
    np.testing.assert_array_equal(kp[~visible], 0)
    np.testing.assert_allclose(ds.ground_truth["bbox"][0], [1.0, 1.0, 5.0, 5.0])  # 4,2,20,10
    assert ds.ground_truth["original_size"].tolist() == [[40, 20], [20, 40]]

    centre = load_cub200(root, "train", image_size=10, crop="center")
    kp = centre.ground_truth["keypoints"][0]  # box (10, 0, 30, 20): scale 1/2, shift 10
    x = (parts[:, 0] - 10) / 2
    inside = visible & (x >= 0)
    np.testing.assert_allclose(kp[visible, 0], x[visible])
    np.testing.assert_array_equal(kp[:, 2], inside)  # parts left of the crop become invisible
    assert visible.sum() > inside.sum() > 0

    boxed = load_cub200(root, "train", image_size=10, crop="bbox")
    np.testing.assert_allclose(boxed.ground_truth["bbox"], [[0, 0, 10, 10]] * 2, atol=1e-5)
    kp = boxed.ground_truth["keypoints"][1]  # image 3: bbox (5, 10, 10, 20)
    parts3 = w["parts"][3]
    vis3 = parts3[:, 2] == 1
    np.testing.assert_allclose(kp[vis3, 0], (parts3[vis3, 0] - 5) * 10 / 10)
    np.testing.assert_allclose(kp[vis3, 1], (parts3[vis3, 1] - 10) * 10 / 20)


def test_cub_attributes_file_inside_root(tmp_path):
    write_cub(tmp_path, attributes_beside=False)
    ds = load_dataset("cub200", tmp_path / "CUB_200_2011", "test", image_size=8)
    assert ds.meta["attributes_file"].endswith("CUB_200_2011/attributes.txt") and len(ds) == 1


def test_cub_missing(tmp_path, cub):
    with pytest.raises(DatasetNotFoundError) as info:
        load_cub200(tmp_path / "none")
    assert_not_found(
        info,
        "CUB-200-2011",
        tmp_path / "none" / "CUB_200_2011" / "images.txt",
        "vision.caltech.edu",
    )
    root, w = cub
    (w["cub"] / "parts" / "part_locs.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="part_locs.txt"):
        load_cub200(root)


def test_cub_missing_attribute_names_and_image(cub):
    root, w = cub
    w["attributes_txt"].unlink()
    with pytest.raises(DatasetNotFoundError, match="attributes.txt"):
        load_cub200(root)
    write_cub(root / "again")
    folder, name, _ = w["images"][2]
    (root / "again" / "CUB_200_2011" / "images" / folder / name).unlink()
    with pytest.raises(DatasetNotFoundError, match=name):
        load_cub200(root / "again", "test")


@pytest.mark.parametrize(
    "file,lineno,text,message",
    [
        (
            "image_class_labels.txt",
            2,
            "2 3",
            r"image_class_labels.txt, line 2: class id 3 out of range",
        ),
        (
            "image_class_labels.txt",
            2,
            "4 1",
            r"image_class_labels.txt, line 2: image id 4 is not in",
        ),
        (
            "image_class_labels.txt",
            2,
            "",
            r"image_class_labels.txt has no row for image id\(s\) \[2\]",
        ),
        ("train_test_split.txt", 3, "3 1 0", r"train_test_split.txt, line 3: expected 2"),
        ("bounding_boxes.txt", 1, "1 4 2 0 10", r"bounding_boxes.txt, line 1: width and height"),
        ("parts/part_locs.txt", 4, "1 4 6.0 2.0", r"part_locs.txt, line 4: expected 5"),
        (
            "parts/part_locs.txt",
            4,
            "1 3 6.0 2.0 1",
            r"part_locs.txt, line 4: \(image, part\) pair given twice",
        ),
        (
            "parts/part_locs.txt",
            4,
            "1 16 6.0 2.0 1",
            r"part_locs.txt, line 4: part id out of range",
        ),
        (
            "parts/part_locs.txt",
            4,
            "1 4 6.0 2.0 2",
            r"part_locs.txt, line 4: visible must be one of",
        ),
        (
            "attributes/image_attribute_labels.txt",
            7,
            "1 7 0 1",
            r"image_attribute_labels.txt, line 7: expected 5\.\.",
        ),
        (
            "attributes/image_attribute_labels.txt",
            7,
            "1 7 0 5 3.0",
            r"line 7: certainty_id must be",
        ),
        (
            "attributes/image_attribute_labels.txt",
            7,
            "1 7 yes 1 3.0",
            r"line 7: expected float values",
        ),
        ("attributes/image_attribute_labels.txt", 7, "", r"no row for image 1, attribute 7"),
        ("parts/parts.txt", 15, "", r"parts.txt: ids must be exactly 1..15"),
    ],
)
def test_cub_malformed(cub, file, lineno, text, message):
    root, w = cub
    replace_line(w["cub"] / file, lineno, text)
    with pytest.raises(ValueError, match=message):
        load_cub200(root)


# ------------------------------------------------------------------------------------ LFW


def test_lfwa_identities_and_attributes(lfw):
    root, w = lfw
    ds = load_lfwa(root, "all", image_size=16)
    assert ds.classes == ["Aaron_Eckhart", "Ann_Veneman", "Zico"]
    assert ds.targets.tolist() == [0, 1, 1, 2]
    np.testing.assert_array_equal(ds.ground_truth["attributes"], w["attributes"])
    assert ds.attribute_names[0] == "5_o_Clock_Shadow" and len(ds.attribute_names) == 40
    check_images(ds, (3, 16, 16))
    assert ds[3][0].mean().item() == pytest.approx(180 / 255, abs=2 / 255)
    # the hash split: disjoint, covering, reproducible, identities indexed as in the full set
    train, test = load_lfwa(root, "train"), load_lfwa(root, "test")
    rows = np.concatenate(
        [train.ground_truth["annotation_row"], test.ground_truth["annotation_row"]]
    )
    assert sorted(rows.tolist()) == [0, 1, 2, 3]
    assert train.classes == test.classes == ds.classes
    assert (
        load_lfwa(root, "test").ground_truth["annotation_row"].tolist()
        == test.ground_truth["annotation_row"].tolist()
    )


def test_lfwa_partition_file_and_deepfunneled(tmp_path):
    w = write_lfw(tmp_path, image_dir="lfw-deepfunneled", with_partition=True)
    splits = load_splits("lfwa", tmp_path, image_size=8)
    assert splits.train.ground_truth["annotation_row"].tolist() == [0, 1]
    assert splits.test.ground_truth["annotation_row"].tolist() == [3]
    assert load_lfwa(tmp_path, "val").targets.tolist() == [1]
    np.testing.assert_array_equal(splits.test.ground_truth["attributes"], w["attributes"][[3]])
    assert "lfw-deepfunneled" in splits.train.paths[0]


def test_lfwa_missing(tmp_path, lfw):
    with pytest.raises(DatasetNotFoundError) as info:
        load_lfwa(tmp_path / "none")
    assert_not_found(info, "LFWA", tmp_path / "none" / "lfw", "vis-www.cs.umass.edu/lfw")
    root, _ = lfw
    (root / "list_attr_lfw.txt").rename(root / "attributes.csv")
    with pytest.raises(DatasetNotFoundError, match="list_attr_lfw.txt.*CelebA"):
        load_lfwa(root)
    (root / "attributes.csv").rename(root / "list_attr_lfw.txt")
    shutil.rmtree(root / "lfw" / "Zico")
    with pytest.raises(DatasetNotFoundError, match="Zico_0001.jpg"):
        load_lfwa(root, "all")


@pytest.mark.parametrize(
    "lineno,text,message",
    [
        (1, "5", "line 1 announces 5 images"),
        (2, "Male Young", "line 2: expected 40 attribute names"),
        (
            3,
            "Aaron_Eckhart_0001.jpg" + " 1" * 39 + " 0",
            "line 3: attribute values must be -1 or 1",
        ),
        (3, "Aaron_Eckhart_0001.jpg" + " 1" * 39, "line 3: expected a filename and 40 values"),
        (4, "Aaron_Eckhart_0001.jpg" + " 1" * 40, "line 4: Aaron_Eckhart_0001.jpg already listed"),
        (3, "aaron.jpg" + " 1" * 40, "cannot derive the person"),
    ],
)
def test_lfwa_malformed(lfw, lineno, text, message):
    root, _ = lfw
    replace_line(root / "list_attr_lfw.txt", lineno, text)
    with pytest.raises(ValueError, match=message):
        load_lfwa(root, "all")


# ----------------------------------------------------------------------------- dispatcher


def test_unknown_dataset_lists_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet21k'.*cifar10.*lfwa"):
        load_dataset("imagenet21k", tmp_path)
    assert {
        "cifar10",
        "cifar100",
        "mnist",
        "fashion_mnist",
        "image_folder",
        "cub200",
        "lfwa",
    } <= set(DATASET_LOADERS)


def test_bad_arguments(cifar10):
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("cifar10", cifar10[0], "validation")
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        load_dataset("cifar10", cifar10[0], "test", image_size=0)


def test_cub_line_numbers_count_blank_lines(cub):
    # numpy's fast parser skips blank lines; the reported line must still be the file's line
    root, w = cub
    path = w["cub"] / "parts" / "part_locs.txt"
    lines = path.read_text().splitlines()
    lines[5] = "1 6 7.0 2.0 3"
    path.write_text("\n\n".join(lines[:3]) + "\n" + "\n".join(lines[3:]) + "\n")
    with pytest.raises(ValueError, match=r"part_locs.txt, line 8: visible must be one of"):
        load_cub200(root)
