"""Great Expectations validation of what a run is about to load (suites in `expectations/`).

GX has no DuckDB or Polars datasource, so batches go through its pandas path. Row-level rejects
are computed before, vectorized; GX is the audit of the batch: pass/fail and the observed values
for the report. The caller hands it the batch or a uniform sample of it (`total_rows` says which).
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field

import polars as pl

from pipelines.settings import EXPECTATIONS_DIR


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: dict = field(default_factory=dict)


@dataclass
class SuiteOutcome:
    suite: str
    success: bool  # no critical expectation failed
    rows_validated: int
    rows_total: int
    results: list[ExpectationOutcome]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success and r.severity == "critical"]

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "success": self.success,
            "rows_validated": self.rows_validated,
            "rows_total": self.rows_total,
            "results": [r.__dict__ for r in self.results],
        }


def _observed(result: dict) -> dict:
    keep = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "partial_unexpected_list")
    out = {k: result[k] for k in keep if k in result}
    if "partial_unexpected_list" in out:
        out["partial_unexpected_list"] = [str(v) for v in out["partial_unexpected_list"][:10]]
    return json.loads(json.dumps(out, default=str))


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx  # slow (seconds): only when a run validates

    return gx


def preload() -> threading.Thread:
    """Import GX in the background while a run reads its files (the import takes seconds)."""
    thread = threading.Thread(target=_import_gx, name="gx-import", daemon=True)
    thread.start()
    return thread


def validate(frame: pl.DataFrame, suite_name: str, total_rows: int | None = None) -> SuiteOutcome:
    """Run one suite from `expectations/<suite_name>.json` on a frame."""
    return validate_suites([(frame, suite_name, total_rows)])[0]


def validate_suites(batches: list[tuple[pl.DataFrame, str, int | None]]) -> list[SuiteOutcome]:
    """Run several suites, each on its frame (`total_rows`: the rows it stands for), in one GX context."""
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars on the user's stderr
    source = context.data_sources.add_pandas("run")
    outcomes = []
    for n, (frame, suite_name, total_rows) in enumerate(batches):
        spec = json.loads((EXPECTATIONS_DIR / f"{suite_name}.json").read_text())
        suite = context.suites.add(gx.ExpectationSuite(**spec))
        batch = (
            source.add_dataframe_asset(f"batch{n}")
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame.to_pandas()})
        )
        result = batch.validate(suite, result_format="SUMMARY")
        outcomes.append(_outcome(result, suite_name, frame.height,
                                 total_rows if total_rows is not None else frame.height))
    return outcomes


def _outcome(result, suite_name: str, rows: int, total: int) -> SuiteOutcome:
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []) or [])
                or None,
                severity=str(getattr(config, "severity", "critical") or "critical").split(".")[-1].lower(),
                success=bool(r.success),
                observed=_observed(r.result or {}),
            )
        )
    ok = not any(not o.success and o.severity == "critical" for o in outcomes)
    return SuiteOutcome(suite_name, ok, rows, total, outcomes)
