"""Extractor registry, the comparison metrics, the claims ledger and the regression check."""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from reference_impls import compare, regression
from reference_impls.claims import claim, claims_frame, claims_markdown
from reference_impls.methods import BUILTIN, concept_bank, make_extractor, resolve_class
from reference_impls.models import build_model

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def relu_acts():
    rng = np.random.default_rng(0)
    base = rng.random((6, 24)) ** 3
    codes = rng.random((400, 6)) * (rng.random((400, 6)) < 0.4)
    return (codes @ base + 0.01 * rng.random((400, 24))).astype(np.float32)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_extractor_follows_the_interface(name, relu_acts):
    ext = make_extractor(name, n_components=4, random_state=0).fit(relu_acts)
    U = np.asarray(ext.transform(relu_acts))
    assert U.shape == (400, 4) and concept_bank(ext).shape == (4, 24)
    A_hat = np.asarray(ext.inverse_transform(U))
    err = np.linalg.norm(relu_acts - A_hat) / np.linalg.norm(relu_acts)
    assert err < (1.0 if name == "random" else 0.6), err
    D, b = compare.affine_decoder(ext, 4, 24)
    np.testing.assert_allclose(U @ D + b, A_hat, rtol=1e-3, atol=1e-3 * np.abs(A_hat).max())


def test_learned_methods_beat_the_random_control(relu_acts):
    errors = {}
    for name in ("nmf", "pca", "random"):
        ext = make_extractor(name, n_components=6, random_state=0).fit(relu_acts)
        A_hat = np.asarray(ext.inverse_transform(ext.transform(relu_acts)))
        errors[name] = np.linalg.norm(relu_acts - A_hat) / np.linalg.norm(relu_acts)
    assert errors["nmf"] < 0.1 and errors["pca"] < 0.1 and errors["random"] > 3 * errors["nmf"]


def test_a_class_from_outside_the_package_joins_by_name(tmp_path, monkeypatch, relu_acts):
    (tmp_path / "my_methods.py").write_text(
        textwrap.dedent("""
        import numpy as np
        class TopChannels:
            def __init__(self, n_components=3):
                self.n_components = n_components
            def fit(self, A, y=None):
                top = np.argsort(-A.var(0))[: self.n_components]
                self.components_ = np.eye(A.shape[1], dtype=np.float32)[top]
                return self
            def transform(self, A):
                return A @ self.components_.T
            def inverse_transform(self, U):
                return U @ self.components_
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ext = make_extractor("my_methods:TopChannels", {}, n_components=5, random_state=1)
    assert ext.n_components == 5  # random_state is not passed to a class without it
    ext.fit(relu_acts)
    assert concept_bank(ext).shape == (5, 24)


def test_registry_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="built-in name"):
        resolve_class("nmff")
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg'"):
        resolve_class("no_such_pkg:X")
    with pytest.raises(ValueError, match="has no 'Nope'"):
        resolve_class("reference_impls.methods.baselines:Nope")
    with pytest.raises(TypeError, match="lacks"):
        resolve_class("numpy:ndarray")
    with pytest.raises(TypeError, match="bad parameters"):
        make_extractor("pca", {"colour": "red"})


def test_non_affine_decoder_is_rejected():
    class Squares:
        def inverse_transform(self, U):
            return np.asarray(U) ** 2 @ np.ones((2, 3))

    with pytest.raises(ValueError, match="not affine"):
        compare.affine_decoder(Squares(), 2, 3)


def test_hard_assignments_keep_dead_patches_in_their_own_bin():
    U = np.array([[0.0, 2.0, 1.0], [0.0, 0.0, 0.0], [3.0, 1.0, 0.0]])
    assert compare.hard_assignments(U).tolist() == [1, 3, 0]


@pytest.fixture(scope="module")
def tiny_setup():
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, widths=(4, 4, 4, 16)).eval()
    rng = np.random.default_rng(1)
    train = np.maximum(rng.standard_normal((60, 16, 4, 4)), 0).astype(np.float32)
    test = np.maximum(rng.standard_normal((45, 16, 4, 4)), 0).astype(np.float32)
    labels = np.arange(45) % 3
    attrs = np.stack([labels == 0, (np.arange(45) // 3) % 2 == 0], 1).astype(int)
    masks = rng.integers(0, 6, size=(45, 8, 8))
    data = compare.EvalData(
        acts=test,
        labels=labels,
        attributes=attrs,
        model=model,
        layer="stage4",
        probe_acts=test[::-1].copy(),
        probe_labels=labels,
        probe_attributes=attrs[::-1].copy(),
        part_masks=masks,
        reference=compare.fit_rows(train, 300),
    )
    return train, data


def test_fit_and_evaluate_and_collect(tiny_setup):
    train, data = tiny_setup
    plan = {
        "main_rank": 4,
        "seeds": [0, 1],
        "rank_sweep": [2],
        "n_folds": 2,
        "n_fit_rows": 400,
        "n_stability_rows": 200,
        "eval": {"n_fidelity_per_class": 5, "n_design": 8, "n_distribution_rows": 300},
    }
    fits, folds = [], {}
    for name in ("nmf", "pca", "random"):
        run = compare.run_method(name, {}, train, data, plan)
        assert sorted(run["fits"]) == [(2, 0), (4, 0), (4, 1)]
        folds[name] = run["folds"]
        for (rank, seed), res in run["fits"].items():
            fits.append({**res, "meta": {"method": name, "n_components": rank, "seed": seed}})
    scores = fits[0]["scores"]
    assert set(scores) == set(compare.SCALAR_METRICS) - {
        "cka_stability_seeds",
        "cka_stability_ranks",
        "dictionary_stability",
        "fold_stability",
    }
    assert 0 < scores["reconstruction_error"] < 1
    assert 0 <= scores["part_alignment_iou"] <= 1
    assert set(fits[2]["scores"]) == {"fit_seconds"}  # rank-sweep fit: stability only
    long = compare.collect_metrics(fits, 4, {"dataset": "d", "model": "m", "layer": "l"}, folds)
    nmf = long[long.method == "nmf"].set_index(["seed", "metric"])["value"]
    assert 0 < nmf[("all", "cka_stability_seeds")] <= 1
    assert 0 < nmf[("all", "cka_stability_ranks")] <= 1
    assert nmf[("all", "dictionary_stability")] <= 1
    assert 0 < nmf[("all", "fold_stability")] <= 1
    pca = long[long.method == "pca"].set_index(["seed", "metric"])["value"]
    assert pca[("all", "dictionary_stability")] == pytest.approx(1, abs=1e-4)  # deterministic
    pairs = compare.stability_pairs(fits, 4, folds)
    assert set(pairs["pair"]) == {"0-1"}  # 2 seeds, 2 folds: one pair each
    sep = compare.separation_table(long, pairs, control="random")
    assert set(sep["verdict"]) <= {"separates", "does not separate", "control better"}
    rec = sep.set_index("metric").loc["reconstruction_error"]
    assert rec["verdict"] == "separates" and rec["effect"] > 0  # lower-is-better, signed
    md = compare.summary_markdown(long, sep)
    assert "| metric | nmf | pca | random |" in md and "| reconstruction_error ↓ |" in md


def _long(values: dict, metric="m_high", seeds=("0", "1", "2")):
    rows = [
        {"method": method, "seed": s, "metric": metric, "value": v[i]}
        for method, v in values.items()
        for i, s in enumerate(seeds)
    ]
    return pd.DataFrame(rows)


def test_separation_verdicts_follow_the_paired_interval(monkeypatch):
    monkeypatch.setitem(compare.SCALAR_METRICS, "m_high", True)
    monkeypatch.setitem(compare.SCALAR_METRICS, "m_low", False)
    control = [0.50, 0.52, 0.51]
    sep = compare.separation_table(
        _long({"good": [0.60, 0.61, 0.62], "random_control": control})
    ).iloc[0]
    assert sep["verdict"] == "separates"
    assert sep["effect"] == pytest.approx(0.1) and sep["effect_low"] == pytest.approx(0.09)
    sep = compare.separation_table(
        _long({"meh": [0.49, 0.56, 0.51], "random_control": control})
    ).iloc[0]
    assert sep["verdict"] == "does not separate"  # interval [-0.01, 0.04] straddles 0
    sep = compare.separation_table(
        _long({"bad": [0.60, 0.61, 0.62], "random_control": control}, metric="m_low")
    ).iloc[0]
    assert sep["verdict"] == "control better" and sep["effect"] == pytest.approx(-0.1)


def test_metric_agreement_orients_each_metric(monkeypatch):
    monkeypatch.setitem(compare.SCALAR_METRICS, "m_high", True)
    monkeypatch.setitem(compare.SCALAR_METRICS, "m_low", False)
    vals = {"a": [1.0], "b": [2.0], "c": [3.0]}
    long = pd.concat(
        [
            _long(vals, "m_high", seeds=("0",)),
            _long({k: [-v[0]] for k, v in vals.items()}, "m_low", seeds=("0",)),
        ]
    )
    tau = compare.metric_agreement(long)
    assert tau.loc["m_high", "m_low"] == pytest.approx(1.0)  # same ranking once oriented


def _metrics_frame():
    return pd.DataFrame(
        {
            "method": ["nmf", "nmf", "pca"],
            "dataset": "parts",
            "model": "cnn",
            "layer": "stage4",
            "seed": ["0", "0", "0"],
            "n_components": 10,
            "metric": ["reconstruction_error", "fit_seconds", "reconstruction_error"],
            "value": [0.30, 2.0, 0.28],
        }
    )


def _write(results, expected, metrics, claims):
    (results / "compare").mkdir(parents=True, exist_ok=True)
    metrics.to_csv(results / "compare" / "metrics.csv", index=False)
    claims.to_csv(results / "claims.csv", index=False)


def test_regression_check_names_the_drifting_metric_and_flipped_claim(tmp_path):
    results, expected = tmp_path / "default", tmp_path / "expected" / "default"
    tol = tmp_path / "tol.yaml"
    tol.write_text("default: {abs: 0.01, rel: 0}\nmetrics:\n  fit_seconds: skip\n")
    claims = claims_frame(
        [
            claim(
                "craft",
                "c1",
                source="Fig. 6",
                statement="Sobol beats TCAV",
                paper_value=0.1,
                our_value=0.2,
                comparison="<",
                holds=True,
            )
        ]
    )
    _write(results, expected, _metrics_frame(), claims)
    regression.update(results, expected)
    assert regression.check(results, expected, tol) == []
    # wall time is skipped; a value inside tolerance passes
    m = _metrics_frame()
    m.loc[1, "value"] = 50.0
    m.loc[0, "value"] = 0.305
    _write(results, expected, m, claims)
    assert regression.check(results, expected, tol) == []
    # perturbing one stored expected value makes the check fail, naming the metric
    exp = pd.read_csv(expected / "compare_metrics.csv")
    exp.loc[2, "value"] = 0.35
    exp.to_csv(expected / "compare_metrics.csv", index=False)
    failures = regression.check(results, expected, tol)
    assert len(failures) == 1 and "method=pca" in failures[0]
    assert "metric=reconstruction_error" in failures[0] and "expected 0.35" in failures[0]
    flipped = claims.assign(holds=False)
    _write(results, expected, m, flipped)
    assert any(
        f.startswith("FLIPPED  claim craft/c1") for f in regression.check(results, expected, tol)
    )


def test_regression_cli_exit_codes(tmp_path):
    results = tmp_path / "res"
    _write(
        results / "default",
        None,
        _metrics_frame(),
        claims_frame(
            [
                claim(
                    "p",
                    "a",
                    source="T1",
                    statement="s",
                    paper_value=1,
                    our_value=1,
                    comparison="=",
                    holds=True,
                )
            ]
        ),
    )
    (results / "expected").mkdir()
    (results / "expected" / "tolerances.yaml").write_text("default: {abs: 0.0, rel: 0.0}\n")
    run = lambda action: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "reference_impls.regression", action, "--results", str(results)],
        capture_output=True,
        text=True,
    )
    assert run("check").returncode == 1  # no expected values yet
    assert run("update").returncode == 0
    ok = run("check")
    assert ok.returncode == 0 and "passed" in ok.stdout
    with pytest.raises(ValueError, match="'default' entry"):
        regression.load_tolerances(tmp_path / "res" / "default" / "claims.csv")


def test_claims_ledger_rows_and_markdown():
    with pytest.raises(TypeError, match="holds must be a bool"):
        claim(
            "p",
            "x",
            source="T",
            statement="s",
            paper_value=1,
            our_value=2,
            comparison="<",
            holds="yes",
        )
    with pytest.raises(ValueError, match="NaN"):
        claim(
            "p",
            "x",
            source="T",
            statement="s",
            paper_value=1,
            our_value=float("nan"),
            comparison="<",
            holds=True,
        )
    ledger = claims_frame(
        [
            claim(
                "craft",
                "a",
                source="Fig. 6",
                statement="s1",
                paper_value=0.1,
                our_value=0.2,
                comparison="<",
                holds=True,
            ),
            claim(
                "craft",
                "b",
                source="Fig. 6",
                statement="s2",
                paper_value=0.1,
                our_value=0.05,
                comparison=">",
                holds=False,
                note="why",
            ),
        ]
    )
    md = claims_markdown(ledger)
    assert "## craft (1 of 2 hold)" in md and "**no**" in md and "why" in md
    with pytest.raises(ValueError, match="duplicate"):
        claims_frame(
            [
                claim(
                    "p",
                    "a",
                    source="T",
                    statement="s",
                    paper_value=1,
                    our_value=1,
                    comparison="=",
                    holds=True,
                )
            ]
            * 2
        )


def test_a_method_added_by_config_alone_enters_the_dag(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("compare:\n  methods:\n    my_method: {class: 'my_pkg.mod:MyExtractor'}\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--forceall",
            "--nolock",
            "--cores",
            "1",
            "--configfile",
            str(extra),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert "results/default/compare/runs/my_method/r10_s0.npz" in run.stdout
