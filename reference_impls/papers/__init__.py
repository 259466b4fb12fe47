"""The experiment code behind each paper's tables and figures: one package per paper.

Every paper package ``reference_impls.papers.<id>`` has the same shape: ``__init__.py``
(docstring + ``ARTEFACTS``, the paper's artefact index), ``steps.py`` (one function per
Snakemake rule ``<id>_<step>``, signature ``step(inp, out, params, log)``) and the modules
they call. Papers never import each other (import-linter contract in ``pyproject.toml``);
what two papers need lives in data / models / factorization / methods / metrics / figures.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import pandas as pd

from ..claims import STATUSES, Artefact

# A paper package may also live outside this repository: any ``reference_impls/papers/<id>/``
# folder on ``sys.path`` (e.g. via PYTHONPATH) joins this package (tests add a toy paper so).
for _entry in sys.path:
    _extra = os.path.realpath(os.path.join(_entry or os.curdir, "reference_impls", "papers"))
    if os.path.isdir(_extra) and _extra not in map(os.path.realpath, __path__):
        __path__.append(_extra)


def available_papers() -> list[str]:
    """Paper ids: the sub-packages of this package (discovered, so adding a paper edits no
    shared file)."""
    return sorted({m.name for m in pkgutil.iter_modules(__path__) if m.ispkg})


def _paper(paper_id: str):
    if paper_id not in available_papers():
        raise KeyError(f"unknown paper '{paper_id}'; known: {available_papers()}")
    return importlib.import_module(f"{__name__}.{paper_id}")


def artefacts(paper_id: str) -> list[Artefact]:
    """The paper's artefact index (``ARTEFACTS`` of its package)."""
    index = getattr(_paper(paper_id), "ARTEFACTS", None)
    if not index or not all(isinstance(a, Artefact) for a in index):
        raise TypeError(
            f"reference_impls.papers.{paper_id}.ARTEFACTS must be a non-empty list "
            f"of reference_impls.claims.Artefact"
        )
    return list(index)


def step_function(rule: str):
    """Rule ``<id>_<step>`` -> ``reference_impls.papers.<id>.steps.<step>``."""
    paper_id, _, step = rule.partition("_")
    if not step:
        raise ValueError(f"rule '{rule}' is not named <paper>_<step>")
    _paper(paper_id)
    steps = importlib.import_module(f"{__name__}.{paper_id}.steps")
    fn = getattr(steps, step, None)
    if not callable(fn):
        raise AttributeError(
            f"rule '{rule}': reference_impls.papers.{paper_id}.steps has no function '{step}'"
        )
    return fn


def reproduction_index(papers, claims: pd.DataFrame) -> pd.DataFrame:
    """Paper x artefact x output x status x claims holding (claims matched on their
    ``source``, which names the table or figure)."""
    rows = []
    for paper_id in papers:
        paper_claims = claims[claims["paper"] == paper_id]
        for a in artefacts(paper_id):
            mine = paper_claims[
                paper_claims["source"].astype(str).str.contains(a.artefact, regex=False)
            ]
            holds = mine["holds"].astype(str).str.lower().eq("true")
            rows.append(
                dict(
                    paper=paper_id,
                    artefact=a.artefact,
                    output=a.output,
                    status=a.status,
                    claims=len(mine),
                    claims_holding=int(holds.sum()),
                    note=a.note,
                )
            )
    return pd.DataFrame(
        rows, columns=["paper", "artefact", "output", "status", "claims", "claims_holding", "note"]
    )


def reproduction_index_markdown(index: pd.DataFrame) -> str:
    lines = [
        "# Reproduction index",
        "",
        "Every table and figure of every registered paper, the file that reproduces it "
        f"and its status ({', '.join(STATUSES)}).",
        "",
    ]
    for status, n in index["status"].value_counts().items():
        lines.append(f"- {status}: {n}")
    lines += [
        "",
        "| paper | artefact | output | status | claims holding | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in index.itertuples():
        held = f"{r.claims_holding} of {r.claims}" if r.claims else "-"
        out = f"`{r.output}`" if r.output else "-"
        lines.append(
            f"| {r.paper} | {r.artefact} | {out} | {r.status} | {held} | "
            f"{str(r.note).replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"
