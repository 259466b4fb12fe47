"""Glue shared by the Snakemake scripts: logging to the rule's log file, threads, devices."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import torch


@contextlib.contextmanager
def rule_logging(smk):
    """Send stderr (progress bars, warnings) and ``logging`` to the rule's log file."""
    log_path = Path(smk.log[0]) if len(smk.log) else None
    if log_path is None:
        yield logging.getLogger("rule")
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as fh, contextlib.redirect_stderr(fh):
        logging.basicConfig(
            stream=fh,
            level=logging.INFO,
            force=True,
            format="%(asctime)s %(levelname)s %(message)s",
        )
        torch.set_num_threads(max(1, int(getattr(smk, "threads", 1))))
        try:
            yield logging.getLogger(smk.rule)
        except BaseException:
            import traceback

            traceback.print_exc(file=fh)
            raise
        finally:
            sys.stderr.flush()


def resolve_device(name: str | None) -> str:
    """Config ``device`` (auto | cpu | cuda) to a torch device string."""
    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "config device: 'cuda' requested but torch sees no CUDA device; set device: auto or cpu"
        )
    return name
