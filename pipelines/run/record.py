"""A run's record in the store: its identity (the input hash), and how a run that fails is closed."""
from __future__ import annotations

import hashlib
import json
import logging

from pipelines.errors import Interrupted, PipelineError, UserError, first_line, interrupted_text

log = logging.getLogger(__name__)


def input_hash(basis: dict) -> str:
    """What identifies a run's input (files by content, tenant, options): the same input gives the
    same hash, whatever the files are called."""
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def error_text(exc: BaseException) -> str:
    """The one line a failed run is recorded (and shown) with."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return interrupted_text(exc)
    return f"{type(exc).__name__}: {exc}"


def record_failure(store, run_id: str, summary: dict, exc: BaseException, validation: dict | None = None,
                   files: list[dict] | None = None, stage=None) -> None:
    """Close a run that raised `exc` as `failed`, with what it got to (its rejects, so a reviewer
    sees why). If that cannot be recorded, the run is recorded without them; if even that fails,
    a PipelineError says both (a run must never stay `running` unexplained). A refused run's
    summary goes with its exception (`exc.summary`), for the caller's report and --json."""
    summary["status"] = "failed"
    summary["error"] = error_text(exc)
    try:
        store.finish_run(run_id, "failed", summary, validation, summary["error"], files, stage)
    except Exception as first:  # keep at least the failed run record, without what failed to record
        log.warning("recording run %s with its rejects failed (%s); recording it without them", run_id,
                    first_line(first, with_type=True))
        try:
            store.finish_run(run_id, "failed", bare(summary), None, summary["error"])
        except Exception as second:  # never swallowed: the run would stay `running` unexplained
            raise PipelineError(f"{summary['error']}; and recording run {run_id} as failed failed too: "
                                f"{first_line(second, with_type=True)}") from exc
    if isinstance(exc, UserError):
        exc.summary = summary


def bare(summary: dict) -> dict:
    """A failed run's summary without its bulky parts (examples), for a record that must fit."""
    return {k: v for k, v in summary.items() if not k.endswith("examples") and k != "files"}
