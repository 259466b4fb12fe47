"""The claims ledger and the long-format result table shared by every paper rule.

Every paper rule writes ``claims.csv`` with :data:`CLAIM_COLUMNS` (one row per claim: the
paper's figure or table, the paper's number, ours, how they are compared, whether it holds)
and its numbers as a long table with :data:`RESULT_COLUMNS` (one row per paper, experiment,
method, dataset, model, layer, seed, metric). A claim that does not hold at embedded scale is
a finding, recorded as ``holds = False`` with a note, never tuned away.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

CLAIM_COLUMNS = [
    "paper",
    "claim_id",
    "source",
    "statement",
    "paper_value",
    "our_value",
    "control_value",
    "interval",
    "comparison",
    "holds",
    "note",
]
RESULT_COLUMNS = [
    "paper",
    "experiment",
    "method",
    "dataset",
    "model",
    "layer",
    "seed",
    "metric",
    "value",
]


def claim(
    paper,
    claim_id,
    *,
    source,
    statement,
    paper_value,
    our_value,
    comparison,
    holds,
    note="",
    control_value="",
    interval="",
) -> dict:
    """One ledger row; ``holds`` must be a real bool computed from ``our_value``.

    ``control_value`` is what a random or trivial method scores on the same protocol and
    ``interval`` the spread of ``our_value`` over seeds or a bootstrap (e.g.
    ``"95% bootstrap [0.81, 0.86]"``), so a reader sees whether the claim could have failed.
    """
    if not isinstance(holds, bool):
        raise TypeError(f"claim {claim_id}: holds must be a bool, got {type(holds).__name__}")
    if isinstance(our_value, float) and math.isnan(our_value):
        raise ValueError(f"claim {claim_id}: our_value is NaN; a claim needs a measured value")
    return dict(
        paper=paper,
        claim_id=claim_id,
        source=source,
        statement=statement,
        paper_value=paper_value,
        our_value=our_value,
        control_value=control_value,
        interval=interval,
        comparison=comparison,
        holds=holds,
        note=note,
    )


STATUSES = ("reproduced", "proxy", "full profile only", "not reproduced")


@dataclass(frozen=True)
class Artefact:
    """One table or figure of a paper in the paper's artefact index (``ARTEFACTS`` in
    ``reference_impls/papers/<id>/__init__.py``).

    ``output`` is the file under ``results/<profile>/<id>/`` that reproduces it ("" when not
    reproduced); ``status`` is one of :data:`STATUSES`; ``note`` says what the file shows or,
    for ``proxy`` / ``not reproduced``, why.
    """

    artefact: str
    output: str
    status: str
    note: str = ""

    @property
    def slug(self) -> str:
        """Caption file name ``workflow/report/<id>/<slug>.rst``: abbreviation dots dropped,
        numbering kept ("Fig. 4" -> "fig4", "Table A.1" -> "tablea.1", "App. F" -> "appf")."""
        abbreviations_dropped = re.sub(r"\.(\s|$)", r"\1", self.artefact.lower())
        return re.sub(r"[^a-z0-9.-]", "", abbreviations_dropped)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(
                f"artefact {self.artefact}: status '{self.status}' is not one of {STATUSES}"
            )
        if (self.status in ("reproduced", "proxy")) != bool(self.output):
            raise ValueError(
                f"artefact {self.artefact}: a {self.status} artefact "
                f"{'needs' if not self.output else 'has no'} output file"
            )
        if self.status != "reproduced" and not self.note:
            raise ValueError(
                f"artefact {self.artefact}: status '{self.status}' needs a note saying why"
            )


def claims_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=CLAIM_COLUMNS)
    if frame["claim_id"].duplicated().any():
        dup = frame.loc[frame["claim_id"].duplicated(), "claim_id"].tolist()
        raise ValueError(f"duplicate claim ids {dup}")
    return frame


def results_frame(rows) -> pd.DataFrame:
    """Long-format results; raises if a row misses a column."""
    frame = pd.DataFrame(list(rows))
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"result rows lack columns {missing}")
    return frame[RESULT_COLUMNS + [c for c in frame.columns if c not in RESULT_COLUMNS]]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "/").replace("\n", " ")


FRAGILE_REL = 0.05  # default margin, relative, under which a claim is fragile (tolerances.yaml)
_THRESHOLD = re.compile(r"([<>]=?)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*%?\s*$")
_SPREAD = re.compile(r"bootstrap|seed|confiden|\bCI\b|%", re.IGNORECASE)
_INTERVAL = re.compile(r"\[\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\]")


def _number(value):
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def fragile_claims(ledger: pd.DataFrame, rel: float = FRAGILE_REL) -> dict:
    """``{(paper, claim_id): reason}`` for claims whose margin is inside the noise floor.

    Readable only for claims that compare ``our_value`` with a number written at the end of
    ``comparison`` (``"share choosing the sub-concept > 0.5"``): fragile when
    ``|our_value - threshold| <= rel * max(|our_value|, |threshold|)`` or when the claim's
    ``interval`` (``"seeds 0-2: [0.48, 0.55]"``, a seed or bootstrap / confidence interval
    that contains ``our_value``) contains the threshold. Claims that compare
    two measured quantities carry no threshold and are not judged here.
    """
    out = {}
    for _, r in ledger.iterrows():
        match = _THRESHOLD.search(str(r["comparison"]))
        ours = _number(r["our_value"])
        if match is None or ours is None:
            continue
        threshold = float(match.group(2))
        margin = ours - threshold
        text = str(r.get("interval", ""))
        interval = _INTERVAL.search(text) if _SPREAD.search(text) else None
        if interval and not float(interval.group(1)) <= ours <= float(interval.group(2)):
            interval = None  # an interval of some other quantity
        if abs(margin) <= rel * max(abs(ours), abs(threshold)):
            why = f"margin {margin:+.3g} to the threshold {threshold:g} is within {rel:.0%}"
        elif interval and float(interval.group(1)) <= threshold <= float(interval.group(2)):
            why = f"interval {interval.group(0)} contains the threshold {threshold:g}"
        else:
            continue
        out[(r["paper"], r["claim_id"])] = why
    return out


def claims_markdown(ledger: pd.DataFrame, fragile_rel: float = FRAGILE_REL) -> str:
    """Per paper: each claim, the paper's number, ours, whether it holds, and which claims
    are fragile (margin inside the noise floor, :func:`fragile_claims`)."""
    lines = [
        "# Claims ledger",
        "",
        "Each paper's checkable claims regenerated at this profile's scale. A claim that "
        "does not hold is a finding about the embedded analogue, explained in its note. "
        "A fragile claim (holds marked with †) is one whose margin to its threshold is inside "
        "the noise floor: another machine may flip it.",
        "",
    ]
    if ledger.empty:
        return "\n".join(lines + ["No paper rule has written claims yet.", ""])
    fragile = fragile_claims(ledger, fragile_rel)
    for paper, rows in ledger.groupby("paper", sort=False):
        held = int(rows["holds"].astype(str).str.lower().eq("true").sum())
        lines += [
            f"## {paper} ({held} of {len(rows)} hold)",
            "",
            "| claim | source | statement | paper | ours | comparison | holds | note |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        notes = []
        for _, r in rows.iterrows():
            holds = "yes" if str(r["holds"]).lower() == "true" else "**no**"
            if (paper, r["claim_id"]) in fragile:
                holds += " †"
                notes.append(f"- † `{r['claim_id']}` is fragile: {fragile[(paper, r['claim_id'])]}")
            lines.append(
                "| "
                + " | ".join(
                    _cell(r[c])
                    for c in [
                        "claim_id",
                        "source",
                        "statement",
                        "paper_value",
                        "our_value",
                        "comparison",
                    ]
                )
                + f" | {holds} | {_cell(r['note']) if pd.notna(r['note']) else ''} |"
            )
        lines += [""] + (notes + [""] if notes else [])
    return "\n".join(lines)
