"""Model zoo, training smoke test, and the activation cache."""

import numpy as np
import pytest
import torch

from reference_impls.data import ArrayImageDataset
from reference_impls.data.procedural import build_taxonomy, generate_split
from reference_impls.models import (
    CorruptCacheError,
    build_model,
    extract_activations,
    load_activations,
    load_checkpoint,
    save_activations,
    save_checkpoint,
    train_model,
)
from reference_impls.utils import seed_everything


def _parts(n, seed, size=32):
    train, _, _ = build_taxonomy()
    d = generate_split(train[:4], n, image_size=size, seed=seed, attribute_noise=0.0)
    return ArrayImageDataset(
        d["images"].transpose(0, 3, 1, 2) / 255.0,
        d["labels"],
        [c.name for c in train[:4]],
        {"attributes": d["attributes"]},
    )


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(2)
    train, test = _parts(480, seed=1), _parts(160, seed=2)
    seed_everything(0)
    model = build_model("small_cnn", 4, widths=(8, 16, 16, 32))
    history, metrics = train_model(
        model, train, test, epochs=5, batch_size=32, lr=5e-3, seed=0, progress=False
    )
    return model, test, history, metrics


def test_training_reaches_nontrivial_accuracy(trained):
    _, _, history, metrics = trained
    assert metrics["test_accuracy"] > 0.8  # chance is 0.25
    assert list(history.columns)[:5] == [
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
    ]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_training_is_deterministic():
    train, test = _parts(96, seed=5), _parts(32, seed=6)
    runs = []
    for _ in range(2):
        seed_everything(7)
        model = build_model("small_cnn", 4, widths=(4, 8, 8, 8))
        _, metrics = train_model(
            model, train, test, epochs=1, batch_size=32, seed=7, progress=False
        )
        runs.append((metrics["test_loss"], model.fc.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize(
    "arch,shape",
    [("small_cnn", (2, 3, 64, 64)), ("small_resnet", (2, 3, 64, 64)), ("mlp", (2, 1, 28, 28))],
)
def test_zoo_stages_are_named_and_nonnegative(arch, shape):
    model = build_model(arch, 5).eval()
    out = extract_activations(
        model,
        ArrayImageDataset(np.random.rand(*shape), [0, 1], list("ab")),
        model.stage_names,
        progress=False,
    )
    assert out["logits"].shape == (2, 5)
    for name in model.stage_names:
        assert out["layers"][name].min() >= 0, name  # post-ReLU stages


def test_unknown_arch_and_layer_errors():
    with pytest.raises(ValueError, match="unknown architecture 'vgg7'"):
        build_model("vgg7", 3)
    model = build_model("small_cnn", 3)
    ds = ArrayImageDataset(np.zeros((1, 3, 16, 16)), [0], list("abc"))
    with pytest.raises(KeyError, match="layer 'stage9'"):
        extract_activations(model, ds, ["stage9"], progress=False)
    with pytest.raises(FileNotFoundError, match="pretrained weights not found"):
        build_model("resnet18", 10, weights_path="/nonexistent/resnet18.pth")


def test_activation_cache_round_trip_and_checkpoint(trained, tmp_path):
    model, test, _, _ = trained
    out = extract_activations(
        model, test, ["stage3", "stage4"], pooled={"stage3": False, "stage4": True}, progress=False
    )
    assert out["layers"]["stage3"].ndim == 4 and out["layers"]["stage4"].shape == (160, 32)
    np.testing.assert_array_equal(out["labels"], test.targets)
    np.testing.assert_array_equal(out["indices"], np.arange(160))
    path = tmp_path / "stage3.npz"
    save_activations(
        path,
        out["layers"]["stage3"],
        out["logits"],
        out["labels"],
        out["indices"],
        meta={"layer": "stage3"},
    )
    back = load_activations(path)
    np.testing.assert_array_equal(back["activations"], out["layers"]["stage3"])
    assert back["activations"].dtype == np.float32 and back["meta"]["layer"] == "stage3"
    # logits from the cache equal a fresh forward pass of a reloaded checkpoint
    save_checkpoint(tmp_path / "m.pt", model, "small_cnn", 4, {"widths": [8, 16, 16, 32]}, {})
    again = load_checkpoint(tmp_path / "m.pt")
    with torch.no_grad():
        logits = again(torch.from_numpy(test.images[:8])).numpy()
    np.testing.assert_allclose(logits, back["logits"][:8], rtol=1e-5, atol=1e-5)


def test_corrupted_and_truncated_caches_are_reported(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "a.npz"
    save_activations(
        path,
        rng.random((20, 8), dtype=np.float32),
        rng.random((20, 3)),
        np.arange(20) % 3,
        np.arange(20),
    )
    raw = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptCacheError, match="trunc.npz"):
        load_activations(tmp_path / "trunc.npz")
    # flip bytes inside the stored activations (uncompressed npz: data sits in the file)
    data = dict(np.load(path))
    data["activations"][3, 2] += 1.0
    np.savez(tmp_path / "tampered.npz", **data)
    with pytest.raises(CorruptCacheError, match="checksum mismatch"):
        load_activations(tmp_path / "tampered.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_activations(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="'labels' has 5 rows"):
        save_activations(
            tmp_path / "bad.npz", np.zeros((4, 2)), np.zeros((4, 2)), np.zeros(5), np.arange(4)
        )
