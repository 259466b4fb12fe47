"""The house rules, checked for every paper (benchopt's test_benchmarks / Captum's test_config
style): each artefact of a paper's index is produced by the DAG and captioned, claims.csv and
results.csv are registered, every ``<id>_<step>`` rule that runs paper_step.py has a
``steps.<step>``; and adding a paper takes one include line plus new files (a toy paper)."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from reference_impls.papers import artefacts, available_papers

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def dry_run(*args, cwd=ROOT, env=None):
    """A dry run of the whole DAG (``--forceall``: independent of what results/ holds)."""
    return snakemake("-n", "--forceall", "--rerun-incomplete", *args, cwd=cwd, env=env)


def snakemake(*args, cwd=ROOT, env=None):
    """Run snakemake (one core, no lock); its output, after asserting it succeeded."""
    run = subprocess.run(
        SNAKEMAKE + ["--nolock", "--cores", "1", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return run.stdout


def dag(text: str) -> tuple[set[str], set[str]]:
    """Rule names and file names (inputs and outputs) of the jobs a dry run lists."""
    rules = set(re.findall(r"^(?:local)?rule (\w+):", text, flags=re.M))
    files = set()
    for line in re.findall(r"^\s+(?:input|output): (.+)$", text, flags=re.M):
        files.update(f.strip() for f in line.split(","))
    return rules, files


def paper_step_rules(smk: Path, paper: str) -> list[str]:
    """``<paper>_<step>`` rules of a rules file whose script is paper_step.py."""
    blocks = re.split(r"^\s*rule ", smk.read_text(), flags=re.M)[1:]
    return [
        b.split(":", 1)[0].strip()
        for b in blocks
        if "paper_step.py" in b and b.startswith(f"{paper}_")
    ]


@pytest.fixture(scope="module")
def default_dag():
    return dag(dry_run())


@pytest.mark.parametrize("paper", available_papers())
def test_paper_follows_the_house_rules(paper, default_dag):
    rules, files = default_dag
    if not (ROOT / "workflow" / "config" / "default" / f"{paper}.yaml").is_file():
        pytest.skip(f"{paper}: no workflow/config/default/{paper}.yaml yet (rules are a stub)")
    if not any(r.startswith(f"{paper}_") for r in rules):
        pytest.skip(f"{paper}: its rules file adds no job to the default DAG yet (a stub)")
    out = f"results/default/{paper}"
    report = ROOT / "workflow" / "report" / paper
    for a in artefacts(paper):
        if a.output:
            assert f"{out}/{a.output}" in files, f"{paper} {a.artefact}: {a.output} not in DAG"
            assert (report / f"{a.slug}.rst").is_file(), (
                f"{paper} {a.artefact}: no caption workflow/report/{paper}/{a.slug}.rst"
            )
    for name in ("claims.csv", "results.csv"):
        assert f"{out}/{name}" in files, f"{paper}: {name} is not produced"
    assert {"claims_ledger", "reproduction_index"} <= rules
    assert (report / "claims.rst").is_file()
    steps = importlib.import_module(f"reference_impls.papers.{paper}.steps")
    smk = ROOT / "workflow" / "rules" / f"{paper}.smk"
    for rule in paper_step_rules(smk, paper):
        step = rule.removeprefix(f"{paper}_")
        assert callable(getattr(steps, step, None)), f"rule {rule}: no steps.{step}"


def test_craft_rules_run_steps_and_are_named_after_artefacts():
    rules = paper_step_rules(ROOT / "workflow" / "rules" / "craft.smk", "craft")
    assert {"craft_fig4", "craft_fig5", "craft_fig6", "craft_table1", "craft_claims"} <= set(rules)
    assert not list((ROOT / "workflow" / "scripts").glob("craft_*.py"))


# ------------------------------------------------------------- adding a paper: a toy paper

TOY_RULES = '''
TOY_CFG = paper_config("toy")
if TOY_CFG is not None:
    TOY_OUT = paper_dir("toy")

    rule toy_fig1:
        """Fig. 1 of the toy paper: n numbers."""
        output:
            report(f"{TOY_OUT}/fig1_numbers.csv", caption=paper_caption("toy", "fig1"),
                   category="toy"),
        params:
            cfg=section("toy", "n"),
        log: paper_log("toy", "fig1")
        script: "../scripts/paper_step.py"

    rule toy_claims:
        """The toy paper's claims and results."""
        input:
            rules.toy_fig1.output[0],
        output:
            results=f"{TOY_OUT}/results.csv",
            claims=report(f"{TOY_OUT}/claims.csv", caption=paper_caption("toy", "claims"),
                          category="toy"),
        log: paper_log("toy", "claims")
        script: "../scripts/paper_step.py"

    register_paper("toy", [*rules.toy_fig1.output, *rules.toy_claims.output])

    rule toy:
        input: paper_targets("toy")
'''

TOY_INIT = """
from reference_impls.claims import Artefact

ARTEFACTS = [
    Artefact("Fig. 1", "fig1_numbers.csv", "reproduced", "n numbers"),
    Artefact("Table 9", "", "not reproduced", "needs a human study"),
]
"""

TOY_STEPS = """
import pandas as pd

from reference_impls.claims import claim, claims_frame, results_frame


def fig1(inp, out, params, log):
    pd.DataFrame({"x": range(params.cfg["n"])}).to_csv(out[0], index=False)


def claims(inp, out, params, log):
    n = len(pd.read_csv(inp[0]))
    results_frame([dict(paper="toy", experiment="fig1", method="toy", dataset="none",
                        model="none", layer="none", seed=0, metric="n", value=float(n))]
                  ).to_csv(out.results, index=False)
    claims_frame([claim("toy", "fig1_has_n_rows", source="Fig. 1", statement="n rows",
                        paper_value=4, our_value=n, comparison="== 4", holds=n == 4,
                        control_value=0, interval="exact")]).to_csv(out.claims, index=False)
"""


@pytest.fixture(scope="module")
def toy_copy(tmp_path_factory):
    """A copy of the workflow with a toy paper added: one include line in the Snakefile, and
    new files only (rules, schema, config, captions, and the package on PYTHONPATH)."""
    tmp = tmp_path_factory.mktemp("house")
    shutil.copy(ROOT / "Snakefile", tmp / "Snakefile")
    shutil.copytree(
        ROOT / "workflow",
        tmp / "workflow",
        ignore=shutil.ignore_patterns("__pycache__", "*.dev.smk"),
    )
    snakefile = (tmp / "Snakefile").read_text()
    anchor = 'include: "workflow/rules/ledger.smk"'
    assert snakefile.count(anchor) == 1
    (tmp / "Snakefile").write_text(
        snakefile.replace(anchor, f'include: "workflow/rules/toy.smk"\n{anchor}')
    )
    w = tmp / "workflow"
    (w / "rules" / "toy.smk").write_text(TOY_RULES)
    (w / "schemas" / "toy.schema.yaml").write_text(
        textwrap.dedent("""\
        $schema: "https://json-schema.org/draft/2020-12/schema"
        type: object
        additionalProperties: false
        properties:
          n: {type: integer, minimum: 1, default: 3, description: how many numbers}
        """)
    )
    (w / "config" / "default" / "toy.yaml").write_text("n: 4\n")
    (w / "report" / "toy").mkdir()
    for slug in ("fig1", "claims"):
        (w / "report" / "toy" / f"{slug}.rst").write_text(f"Toy {slug}.\n")
    pkg = tmp / "pkgs" / "reference_impls" / "papers" / "toy"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(TOY_INIT)
    (pkg / "steps.py").write_text(TOY_STEPS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp / "pkgs"), str(ROOT)]))
    return tmp, env


def test_adding_a_paper_is_one_include_line_and_new_files(toy_copy):
    tmp, env = toy_copy
    rules, files = dag(dry_run(cwd=tmp, env=env))
    assert {"toy_fig1", "toy_claims", "claims_ledger", "reproduction_index"} <= rules
    assert {"results/default/toy/fig1_numbers.csv", "results/default/toy/claims.csv"} <= files
    assert "craft_fig5" in rules  # the other papers are untouched

    # run the toy paper alone (other papers' configs removed) through the ledger and the index
    for cfg in (tmp / "workflow" / "config" / "default").glob("*.yaml"):
        if cfg.stem != "toy":
            cfg.unlink()
    targets = ["results/default/claims.csv", "results/default/reproduction_index.csv"]
    snakemake(*targets, cwd=tmp, env=env)
    ledger = pd.read_csv(tmp / "results/default/claims.csv")
    assert ledger[["paper", "claim_id"]].values.tolist() == [["toy", "fig1_has_n_rows"]]
    assert ledger["holds"].tolist() == [True]  # the config's n: 4 reached the step
    index = pd.read_csv(tmp / "results/default/reproduction_index.csv")
    assert index[["artefact", "status", "claims", "claims_holding"]].values.tolist() == [
        ["Fig. 1", "reproduced", 1, 1],
        ["Table 9", "not reproduced", 0, 0],
    ]


def test_a_user_profile_is_a_config_name_not_a_code_path(toy_copy):
    """``--config profile=mine`` reads workflow/config/mine.yaml and mine/<paper>.yaml and
    writes results/mine/; nothing in the workflow switches on the profile's name."""
    tmp, env = toy_copy
    cfg = tmp / "workflow" / "config"
    default = (cfg / "default.yaml").read_text()
    (cfg / "mine.yaml").write_text(default.replace("profile: default", "profile: mine", 1))
    (cfg / "mine").mkdir()
    (cfg / "mine" / "toy.yaml").write_text("n: 2\n")
    shutil.copy(ROOT / "workflow/config/default/craft.yaml", cfg / "mine" / "craft.yaml")
    rules, files = dag(dry_run("--config", "profile=mine", cwd=tmp, env=env))
    assert "results/mine/toy/fig1_numbers.csv" in files
    assert "results/mine/craft/fig5_attribution_maps.png" in files
    assert not any(f.startswith("results/default/") for f in files)
    rules_dir = ROOT / "workflow" / "rules"
    for smk in [rules_dir / "common.smk", rules_dir / "ledger.smk"] + [
        rules_dir / f"{p}.smk" for p in available_papers()
    ]:
        text = smk.read_text()
        assert not re.search(r"""profile"\]\s*==|== *["'](default|full)["']""", text), smk.name


@pytest.mark.parametrize(
    "artefact,slug",
    [
        ("Fig. 4", "fig4"),
        ("Table A.1", "tablea.1"),
        ("App. F", "appf"),
        ("Sec. 3.4", "sec3.4"),
        ("Figs. 2-3", "figs2-3"),
        ("Fig. B.1", "figb.1"),
        ("Table I", "tablei"),
    ],
)
def test_caption_slug_drops_abbreviation_dots_keeps_numbering(artefact, slug):
    from reference_impls.claims import Artefact

    assert Artefact(artefact, "out.csv", "reproduced").slug == slug
