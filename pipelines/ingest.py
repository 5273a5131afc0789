"""One suppressions import run, end to end: plan the files (read, detect), normalize them in
batches, stage (dedupe, count), load and validate in one transaction.

The CLI, the DAGs, the sync and the tests all call `ingest()`. Each file is streamed in batches
through its adapter and the normalizer into Parquet parts (`pipelines.run.read`); an in-memory
DuckDB then dedupes them and counts (`pipelines.run.stage`); the store merges the staged result in
one transaction, and GX audits a sample of it before that transaction commits (a refusal rolls it
back). The run returns its summary; its callers write the report.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path

import phonenumbers
import polars as pl

from pipelines import platforms
from pipelines.errors import DataRefused, UsageError
from pipelines.model import MAPPED_SCHEMA, REASONS, check_tenant
from pipelines.normalize.records import FileContext, normalize_batch
from pipelines.normalize.timestamps import slash_order
from pipelines.platforms.base import MapOptions, Probe
from pipelines.readers import InputFile, iter_inputs, read_table
from pipelines.run.read import UNREADABLE, in_batches, unreadable, write_part
from pipelines.run.record import input_hash, record_failure
from pipelines.run.stage import VALIDATION_SAMPLE, stage_suppressions
from pipelines.settings import DEFAULT_MAX_REJECT_RATE, Settings
from pipelines.store import Store, open_store
from pipelines.store.clock import new_run_id, utcnow
from pipelines.validate import Pending, preload, submit

# progress(what, rows read so far, done_bytes=bytes read so far, total_bytes=all input bytes or None)
Progress = Callable[..., None]


@dataclass
class IngestRequest:
    tenant: str
    paths: list[str]
    platform: str = "auto"
    reason: str | None = None
    default_region: str | None = None
    max_reject_rate: float = DEFAULT_MAX_REJECT_RATE
    dry_run: bool = False
    force: bool = False
    mapping: str | None = None  # a TOML file describing an export we have no adapter for
    duplicates: dict[str, str] = field(default_factory=dict)  # file -> the identical file read instead
    # Nightly sync: {source: new watermark}, saved in the load's transaction. Its night may have
    # pulled nothing: no paths is then a run with no rows that still moves the watermark.
    watermarks: dict[str, str] | None = None
    # How inputs are reached (storage through an Airflow connection); not part of the input's identity.
    settings: Settings | None = field(default=None, repr=False, compare=False)

    def adapter(self) -> platforms.Adapter | None:
        from pipelines.platforms.mapping import MappingAdapter

        return MappingAdapter.from_file(self.mapping) if self.mapping else None

    def check(self) -> None:
        check_tenant(self.tenant)
        if not self.paths and self.watermarks is None:
            raise UsageError("name at least one file to ingest")
        if self.reason is not None and self.reason not in REASONS:
            raise UsageError(f"--reason must be one of {', '.join(REASONS)}")
        if not 0.0 <= self.max_reject_rate <= 1.0:
            raise UsageError("--max-reject-rate must be between 0 and 1")
        if self.default_region and self.default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise UsageError(f"--default-region {self.default_region!r} is not a known region code (e.g. US, GB, DE)")
        if self.mapping and self.platform != "auto":
            raise UsageError("--mapping describes the platform itself; leave --platform out")
        if self.platform != "auto":
            platforms.adapter(self.platform)

    def options(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("tenant", "paths", "duplicates", "settings")}


@dataclass
class PlannedFile:
    source: InputFile
    table: object
    probe: Probe
    adapter: platforms.Adapter
    match: platforms.Match
    info: dict = field(default_factory=dict)


def _input_hash(req: IngestRequest, inputs: list[InputFile], custom: platforms.Adapter | None) -> str:
    return input_hash({
        "mapping": custom.fingerprint() if custom is not None else None,
        "tenant": req.tenant,
        "files": sorted(f.sha256 for f in inputs),
        "platform": req.platform,
        "reason": req.reason,
        "default_region": (req.default_region or "").upper(),
    })


def plan_files(req: IngestRequest, workdir: Path, custom: platforms.Adapter | None = None,
               progress: Progress | None = None) -> list[PlannedFile]:
    """Open every input and decide its platform; refuses files that match nothing."""
    planned = []
    seen: dict[str, str] = {}
    opened = 0
    for source in iter_inputs(req.paths, workdir, req.settings):
        opened += _size(source.local_path)
        if progress:
            progress(f"opening {source.name}", 0, done_bytes=opened)
        if source.sha256 in seen:  # the same export twice (copied into two folders, say): read once
            req.duplicates[source.display] = seen[source.sha256]
            continue
        seen[source.sha256] = source.display
        table = read_table(source)
        probe = Probe.of(table)
        found = platforms.detect(probe, req.platform, only=custom)
        if found is None:
            cols = ", ".join(table.columns[:8])
            what = (
                f"what {req.mapping} describes (a column it names is missing)" if custom is not None
                else "any known format" if req.platform == "auto" else f"a {req.platform} export"
            )
            hint = ("name the platform with --platform, or see `suppress formats`" if req.platform == "auto"
                    and custom is None else "see `suppress detect` for what it looks like")
            raise DataRefused(f"{source.display}: does not look like {what} (columns: {cols}); {hint}")
        adapter, match = found
        if match.kind in adapter.needs_reason and req.reason is None:
            raise DataRefused(
                f"{source.display}: a {adapter.name} {match.kind} export carries no suppression status of its own; "
                "pass --reason to say what these addresses are (a contact export is never suppressed by default)"
            )
        planned.append(PlannedFile(source, table, probe, adapter, match))
    return planned


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _normalize_file(pf: PlannedFile, req: IngestRequest, workdir: Path, index: int, now, progress: Progress | None,
                    done: int, read_bytes: tuple[int, int] = (0, 0)) -> tuple[list[Path], int]:
    """Normalize one planned file into parts; `done` rows and `read_bytes` (bytes of the files
    before this one, of all files) so far, for `progress`."""
    opts = MapOptions(reason=req.reason, default_region=req.default_region)
    mapped = pf.adapter.map(pf.table.frame, pf.probe, pf.match, opts)
    try:
        sample_times = pf.adapter.map(pf.table.sample.lazy(), pf.probe, pf.match, opts).collect()["occurred_raw"]
        order = None
        if sample_times.drop_nulls().str.contains(r"^\s*\d{1,2}[/-]\d{1,2}[/-]\d{2,4}").any():
            order = slash_order(mapped, "occurred_raw")
    except UNREADABLE as exc:
        raise unreadable(pf.source.display, exc) from None
    ctx = FileContext(file_idx=index, default_region=req.default_region, now=now, slash_order=order)
    parts = []
    size, before, total = _size(pf.source.local_path), *read_bytes
    lines = max(pf.source.newlines, 1) if pf.table.fmt != "json" else 0  # one JSON document: no estimate within it
    rows_read = 0

    def on_read(rows: int) -> None:  # a batch read, ahead of its normalizing: rows and bytes so far
        nonlocal rows_read
        rows_read += rows
        if progress:
            within = min(size, size * rows_read // lines) if lines else 0
            progress(f"reading {pf.source.name}", done + rows_read, done_bytes=before + within, total_bytes=total)

    # Whether every input line made exactly one record: staging then counts rows without DISTINCT.
    # Batches follow the file's order, so a line's records can only straddle two neighbours.
    one_per_line, last_line = True, 0
    for part, _rows, facts in in_batches(mapped, partial(_normalize_part, ctx=ctx), workdir / f"part_{index:04d}",
                                        pf.source.display, on_read):
        parts.append(part)
        if one_per_line and facts is not None:
            lo, hi, distinct, nulls, records = facts
            one_per_line = distinct == records and not nulls and lo > last_line
            last_line = hi
    done += rows_read
    if progress:
        progress(f"read {pf.source.name}", done, done_bytes=before + size, total_bytes=total)
    pf.info["one_record_per_line"] = one_per_line
    return parts, done


def _normalize_part(batch: pl.DataFrame, part: Path, ctx: FileContext) -> tuple | None:
    """Normalize one batch into a Parquet part; returns its line facts (lowest, highest, distinct
    line numbers, null lines, records; None for no records)."""
    out = normalize_batch(batch, ctx)
    line = pl.col("source_line")
    lines = None
    if out.height:
        lines = out.select(line.min().alias("lo"), line.max().alias("hi"), line.n_unique().alias("n"),
                           line.null_count().alias("nulls"), pl.len().alias("records")).row(0)
    # Staging reads the raw value and status only of rejected rows, the raw time only where it
    # warned: elsewhere they are dropped before writing (a third of a part's bytes).
    out = out.with_columns(
        pl.when(pl.col("error").is_not_null()).then(pl.col(c)).alias(c) for c in ("raw_address", "status")
    ).with_columns(pl.when(pl.col("time_warning").is_not_null()).then(pl.col("occurred_raw")).alias("occurred_raw"))
    write_part(out, part)
    return lines


def _file_table(planned: list[PlannedFile]) -> pl.DataFrame:
    """The run's input files, as staging joins them (`files` in sql/duckdb/stage.sql)."""
    return pl.DataFrame(
        {
            "file_idx": list(range(len(planned))),
            "source_file": [p.source.display for p in planned],
            "source_sha256": [p.source.sha256 for p in planned],
            "sha_rank": [sorted(p.source.sha256 for p in planned).index(p.source.sha256) for p in planned],
            "source_platform": [p.adapter.name for p in planned],
            "source_kind": [p.match.kind for p in planned],
            "one_record_per_line": [p.info.get("one_record_per_line", False) for p in planned],
        },
        schema_overrides={"file_idx": pl.Int32, "sha_rank": pl.Int32, "one_record_per_line": pl.Boolean},
    )


def ingest(req: IngestRequest, store: Store | str | None = None, progress: Progress | None = None) -> dict:
    """Run one import. Returns the run summary; raises UserError/DataRefused for refused input
    (a recorded run's summary goes with it as `exc.summary`). Writes no report: its callers (the
    CLI, the DAG, the sync) do, with `pipelines.report.with_report`."""
    req.check()
    preload()  # GX's process starts importing it now (seconds); later runs of this process reuse it
    own_store = not isinstance(store, Store)
    st = open_store(store) if own_store else store
    try:
        with tempfile.TemporaryDirectory(prefix="suppress-") as tmp:
            return _ingest(req, st, Path(tmp), progress)
    finally:
        if own_store:
            st.close()


def _ingest(req: IngestRequest, store: Store, workdir: Path, progress: Progress | None) -> dict:
    now = utcnow()
    run_id = new_run_id(now)
    inputs_dir = workdir / "inputs"
    inputs_dir.mkdir()
    custom = req.adapter()
    planned = plan_files(req, inputs_dir, custom, progress)
    digest = _input_hash(req, [p.source for p in planned], custom)
    files = [
        {"path": p.source.display, "sha256": p.source.sha256, "platform": p.adapter.name, "kind": p.match.kind,
         "detected_why": p.match.why, "encoding": p.source.encoding,
         "invalid_sequences": p.source.invalid_sequences}
        for p in planned
    ]
    summary: dict = {"run_id": run_id, "tenant": req.tenant, "dry_run": req.dry_run, "input_hash": digest,
                     "started_at": now.isoformat(), "files": files}
    if req.duplicates:
        summary["duplicate_files"] = dict(req.duplicates)

    # Begun (on PostgreSQL: the tenant's lock taken) before asking whether the same input was
    # loaded: an identical run that started first and holds the lock is then seen as done.
    store.begin_run(run_id, req.tenant, "ingest", digest, req.options())
    previous = store.find_succeeded_run(req.tenant, digest)
    if previous and not req.force and planned:
        summary.update(status="skipped", skipped_because=previous, rows_read=0, rows_accepted=0, rows_rejected=0,
                       suppressions_added=0, suppressions_updated=0,
                       message=f"the same input was already loaded by run {previous}; nothing changed (--force to re-run)")
        store.finish_run(run_id, "skipped", summary, None, None)
        if req.watermarks and not req.dry_run:  # the same pull was loaded and committed before
            store.save_watermarks(req.tenant, req.watermarks, run_id)
        return summary

    stage = None
    validation = None
    try:
        parts, done = [], 0
        sizes = [_size(pf.source.local_path) for pf in planned]
        for i, pf in enumerate(planned):
            file_parts, done = _normalize_file(pf, req, workdir, i, now, progress, done, (sum(sizes[:i]), sum(sizes)))
            parts += file_parts
        if not parts and req.watermarks is None:
            shown = ", ".join(p.source.display for p in planned[:3]) + (" ..." if len(planned) > 3 else "")
            raise DataRefused(f"{shown}: the input holds no rows")
        if not parts:  # a sync night with nothing new: staged and loaded like any run, with no rows
            parts = [_empty_part(req, workdir, now)]
        if progress:
            progress("deduplicating", done)
        stage, facts = stage_suppressions(parts, _file_table(planned), req.tenant, workdir, now)
        for i, f in enumerate(files):
            f.update(facts["per_file"].get(i, {"rows_read": 0, "rows_rejected": 0, "rows_ignored": 0}))
        rows_read = sum(f["rows_read"] for f in files)
        rows_rejected = sum(f["rows_rejected"] for f in files)
        summary.update(
            rows_read=rows_read,
            rows_accepted=rows_read - rows_rejected,
            rows_rejected=rows_rejected,
            rows_ignored=sum(f["rows_ignored"] for f in files),
            deliveries=facts["deliveries"],
            soft_bounce_events=facts["soft_bounce_events"],
            suppressions_in_run=facts["suppressions_in_run"],
            suppressions_time_unknown=facts["suppressions_time_unknown"],
            duplicates_collapsed=facts["suppression_rows"] - facts["suppressions_in_run"],
            rejects_by_error=facts["rejects_by_error"],
            reject_examples=facts["reject_examples"],
            time_warnings=facts["time_warnings"],
            time_warning_examples=facts["time_warning_examples"],
            by_reason=facts["by_reason"],
            suppressions_added=0,
            suppressions_updated=0,
        )
        rate = rows_rejected / rows_read if rows_read else 0.0
        summary["reject_rate"] = round(rate, 6)
        if rate > req.max_reject_rate:
            raise DataRefused(
                f"{rows_rejected} of {rows_read} rows rejected ({rate:.1%}), over the limit of "
                f"{req.max_reject_rate:.1%}; nothing loaded. See `suppress rejects {run_id}`"
            )

        pending = _validate(facts["validation_sample"], facts["suppressions_in_run"], facts["rejects"])

        def audit() -> dict:
            """GX's verdict on the staged run, awaited inside the load's transaction just before
            its COMMIT: GX validates in its own process while the store merges; a failed audit
            rolls the merge back, and nothing is loaded."""
            nonlocal validation
            if progress:
                progress("validating", done)
            results = pending.result()
            validation = {"success": all(r.success for r in results), "suites": [r.to_dict() for r in results]}
            if not validation["success"]:
                failed = "; ".join(
                    f"{r['expectation']}({r['column']})" for s in validation["suites"] for r in s["results"]
                    if not r["success"] and r["severity"] == "critical"
                )
                raise DataRefused(f"validation failed: {failed}; nothing loaded")
            if progress:
                progress("loading", done)
            return validation

        if req.dry_run:
            counts = store.load_run(run_id, stage, files, summary, audit, dry_run=True)
            summary.update(**counts.summary(), status="succeeded",
                           message="dry run: nothing was loaded; the counts say what a real run would change")
            store.finish_run(run_id, "succeeded", summary, validation, None, files, stage)
            return summary
        if progress:
            progress("loading", done)
        summary["status"] = "succeeded"
        counts = store.load_run(run_id, stage, files, summary, audit, watermarks=req.watermarks)
        summary.update(counts.summary())
        return summary
    except BaseException as exc:
        record_failure(store, run_id, summary, exc, validation, files, stage)
        raise


def _empty_part(req: IngestRequest, workdir: Path, now) -> Path:
    ctx = FileContext(file_idx=0, default_region=req.default_region, now=now)
    part = workdir / "part_empty.parquet"
    normalize_batch(pl.DataFrame(schema=MAPPED_SCHEMA), ctx).write_parquet(part)
    return part


def _validate(sample: pl.DataFrame, total: int, rejects: pl.DataFrame) -> Pending:
    batches = [(sample, "canonical_suppression", total)]
    if rejects.height:
        batches.append((rejects.head(VALIDATION_SAMPLE), "quarantine_record", rejects.height))
    return submit(batches)  # one GX context for both suites
