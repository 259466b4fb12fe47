"""Block ADMM paper glue (Khorram thesis ch. 4): ResNet block split, the validation grid,
and the claim arithmetic on planted run histories."""

import numpy as np
import pandas as pd
import pytest
import torch

from reference_impls.models.zoo import SmallResNet
from reference_impls.papers.blockadmm import ARTEFACTS
from reference_impls.papers.blockadmm.experiments import mlp_method, resnet_blocks, validation_split
from reference_impls.papers.blockadmm.report import _claims, _final, _time_to

torch.set_num_threads(1)


def test_resnet_blocks_chain_is_the_network():
    torch.manual_seed(0)
    net = SmallResNet(4).eval()
    x = torch.rand(2, 3, 16, 16)
    first, second = resnet_blocks(net, "stage2")
    torch.testing.assert_close(second(first(x)), net(x))
    with pytest.raises(ValueError, match="split_after"):
        resnet_blocks(net, "stage9")


def test_validation_split_is_disjoint_and_seeded():
    X, y = torch.arange(50.0)[:, None], torch.arange(50) % 5
    a = validation_split(X, y, 0.2, seed=3)
    b = validation_split(X, y, 0.2, seed=3)
    assert len(a[2]) == 10 and len(a[0]) == 40
    assert not set(a[0][:, 0].tolist()) & set(a[2][:, 0].tolist())
    torch.testing.assert_close(a[2], b[2])


def test_block_admm_and_sgd_runs_learn_a_separable_task():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 20, generator=g)
    y = (X[:, :10].argmax(1)).long()
    cfg = dict(
        epochs=15,
        batch_size=32,
        loss="mse",
        sgd_lr=0.05,
        adam_lr=0.01,
        block_admm=dict(beta=1.0, z_lr=0.1, lr=0.01, inner=1),
    )
    for method in ("block_admm", "gotmare", "adam"):
        rows = mlp_method(method, 3, 32, (X, y, X, y), cfg, seed=0)
        assert rows[-1]["accuracy"] > 0.5, method  # chance = 0.1


def _hist(method, accs, depth=3, runs=(0, 1), secs=1.0):
    return pd.DataFrame(
        [
            dict(
                method=method,
                depth=depth,
                run=r,
                epoch=e + 1,
                accuracy=a,
                seconds=secs * (e + 1),
                residual=1.0 / (e + 1),
                width=128,
            )
            for r in runs
            for e, a in enumerate(accs)
        ]
    )


def test_time_to_accuracy_and_final_rows():
    h = _hist("block_admm", [0.5, 0.86, 0.9], secs=2.0)
    assert _time_to(h, "block_admm", 0.85) == 4.0
    assert _time_to(h, "block_admm", 0.95) == np.inf
    assert set(_final(h)["accuracy"]) == {0.9}


def test_claims_follow_the_planted_numbers():
    f43 = _final(
        pd.concat(
            [
                _hist(m, [a])
                for m, a in [
                    ("block_admm", 0.9),
                    ("admm", 0.8),
                    ("taylor", 0.85),
                    ("zeng", 0.7),
                    ("sgd", 0.88),
                    ("gotmare", 0.8),
                    ("dladmm", 0.5),
                ]
            ]
        )
    )
    f44 = _final(
        pd.concat(
            [
                _hist(m, [a], depth=d)
                for m, a, d in [
                    ("block_admm", 0.85, 10),
                    ("block_admm", 0.6, 20),
                    ("sgd", 0.1, 10),
                    ("sgd", 0.1, 20),
                    ("adam", 0.9, 10),
                    ("adam", 0.5, 20),
                ]
            ]
        )
    )
    f45 = _final(
        pd.concat([_hist(m, [a]) for m, a in [("block_admm", 0.7), ("gotmare", 0.6), ("sgd", 0.8)]])
    )
    fb1 = _final(pd.concat([_hist(m, [a]) for m, a in [("block_admm", 0.8), ("dladmm", 0.7)]]))
    h = pd.concat(
        [
            _hist("block_admm", [0.5, 0.9]),
            _hist("gotmare", [0.5, 0.86], secs=3),
            _hist("dladmm", [0.5, 0.6]),
        ]
    )
    rows = {r["claim_id"]: r["holds"] for r in _claims(f43, f44, f45, fb1, h, h)}
    assert rows["shallow_best_admm"] and rows["shallow_beats_sgd"]
    assert not rows["all_duals_help"]  # 0.80 < 0.85
    assert rows["deep_sgd_fails"] and rows["deep_trains"] and not rows["deep20_trains"]
    assert not rows["deep_beats_adam"]
    assert rows["resnet_beats_gotmare"] and not rows["resnet_near_sgd"]  # 10 points behind
    assert rows["time_to_acc"] and rows["beats_dladmm"]
    assert not rows["residual_decreases"]  # 1.0 -> 0.5 is not <= 0.1 x first


def test_artefacts_have_captions():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "workflow" / "report" / "blockadmm"
    for a in ARTEFACTS:
        if a.output:
            assert (root / f"{a.slug}.rst").is_file(), a.slug
