"""Config validation and the Snakemake DAG of both profiles (dry runs need no data)."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "config" / "schema.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _config(profile):
    return yaml.safe_load((ROOT / "workflow" / "config" / f"{profile}.yaml").read_text())


@pytest.mark.parametrize("profile", ["default", "full"])
def test_profiles_validate(profile):
    validate(copy.deepcopy(_config(profile)), str(SCHEMA))


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda c: c["models"]["cnn_parts"].update(epoch=3), "epoch"),
        (lambda c: c.update(seed="zero"), "zero"),
        (lambda c: c["datasets"]["parts"].update(n_train=-5), "-5"),
        (lambda c: c.update(profile="my profile"), "my profile"),
        (lambda c: c["activations"][0].pop("layers"), "layers"),
    ],
)
def test_schema_errors_name_the_key(mutate, expected):
    cfg = copy.deepcopy(_config("default"))
    mutate(cfg)
    with pytest.raises(WorkflowError, match=expected):
        validate(cfg, str(SCHEMA))


def _dry_run(*args, cwd=ROOT):
    """A dry run of the whole DAG (``--forceall``: independent of what results/ holds)."""
    run = subprocess.run(
        SNAKEMAKE + ["-n", "--forceall", "--rerun-incomplete", "--nolock", "--cores", "1", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    return run.returncode, run.stdout


@pytest.mark.parametrize("profile", ["default", "full"])
def test_dry_run_lists_the_dag(profile):
    code, out = _dry_run("--config", f"profile={profile}")
    assert code == 0, out[-3000:]
    for rule in ("prepare_dataset", "train_model", "cache_activations"):
        assert rule in out
    assert f"results/{profile}/activations/" in out


def test_dry_run_rejects_a_bad_key_and_a_dangling_reference(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  cnn_parts:\n    epochz: 2\n")
    code, out = _dry_run("--configfile", str(bad))
    assert code != 0 and "'epochz' was unexpected" in out
    dangling = tmp_path / "dangling.yaml"
    dangling.write_text("models:\n  cnn_parts:\n    dataset: cifar7\n")
    code, out = _dry_run("--configfile", str(dangling))
    assert code != 0 and "models.cnn_parts.dataset: 'cifar7'" in out


def test_workflow_profiles_hold_threads_and_resources():
    """Threads and resources come from workflow/profiles/<name>/ (passed by the Makefile),
    not from the rules: without a profile every CRAFT job runs on one thread."""
    code, out = _dry_run(
        "--cores", "4", "--workflow-profile", "workflow/profiles/full", "--config", "profile=full"
    )
    assert code == 0, out[-3000:]
    crops = re.search(r"rule craft_crops:\n((?:    .*\n)+)", out).group(1)
    assert "threads: 4" in crops and "gpu=1" in crops and "mem_mb=32000" in crops
    code, out = _dry_run("--cores", "4", "--workflow-profile", "none", "--config", "profile=full")
    assert code == 0, out[-3000:]
    crops = re.search(r"rule craft_crops:\n((?:    .*\n)+)", out).group(1)
    assert "threads:" not in crops and "gpu=1" not in crops
