"""The claims ledger and the long-format result table shared by every paper rule.

Every paper rule writes ``claims.csv`` with :data:`CLAIM_COLUMNS` (one row per claim: the
paper's figure or table, the paper's number, ours, how they are compared, whether it holds)
and its numbers as a long table with :data:`RESULT_COLUMNS` (one row per paper, experiment,
method, dataset, model, layer, seed, metric). A claim that does not hold at embedded scale is
a finding, recorded as ``holds = False`` with a note, never tuned away.
"""

from __future__ import annotations

import math

import pandas as pd

CLAIM_COLUMNS = ["paper", "claim_id", "source", "statement", "paper_value", "our_value",
                 "comparison", "holds", "note"]
RESULT_COLUMNS = ["paper", "experiment", "method", "dataset", "model", "layer", "seed",
                  "metric", "value"]


def claim(paper, claim_id, source, statement, paper_value, our_value, comparison, holds,
          note="") -> dict:
    """One ledger row; ``holds`` must be a real bool computed from ``our_value``."""
    if not isinstance(holds, bool):
        raise TypeError(f"claim {claim_id}: holds must be a bool, got {type(holds).__name__}")
    if isinstance(our_value, float) and math.isnan(our_value):
        raise ValueError(f"claim {claim_id}: our_value is NaN; a claim needs a measured value")
    return dict(zip(CLAIM_COLUMNS, [paper, claim_id, source, statement, paper_value,
                                    our_value, comparison, holds, note]))


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


def claims_markdown(ledger: pd.DataFrame) -> str:
    """Per paper: each claim, the paper's number, ours, and whether it holds."""
    lines = ["# Claims ledger", "",
             "Each paper's checkable claims regenerated at this profile's scale. A claim that "
             "does not hold is a finding about the embedded analogue, explained in its note.", ""]
    if ledger.empty:
        return "\n".join(lines + ["No paper rule has written claims yet.", ""])
    for paper, rows in ledger.groupby("paper", sort=False):
        held = int(rows["holds"].astype(str).str.lower().eq("true").sum())
        lines += [f"## {paper} ({held} of {len(rows)} hold)", "",
                  "| claim | source | statement | paper | ours | comparison | holds | note |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for _, r in rows.iterrows():
            holds = "yes" if str(r["holds"]).lower() == "true" else "**no**"
            lines.append("| " + " | ".join(_cell(r[c]) for c in ["claim_id", "source",
                         "statement", "paper_value", "our_value", "comparison"])
                         + f" | {holds} | {_cell(r['note']) if pd.notna(r['note']) else ''} |")
        lines.append("")
    return "\n".join(lines)
