"""The store: one engine for every backend (SPEC 2.3).

Runs, loads, rollbacks, migrations, watermarks and reads are written here once, as ordered steps
of named SQL statements (`pipelines/store/sql.py`); enforcement on contacts is the `Enforcement`
mixin. A backend supplies only its dialect: the connection, how a statement runs (`_x`, `_one`,
`_count`, `_frame`, `_xmany`), transactions and the tenant's lock (`_txn`), how a run's staged
Parquet files become `stage_*` relations (`_stage_load`), and the hooks where an engine needs
something of its own (DuckDB's lookup index around a bulk load, PostgreSQL's session lock).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import UsageError
from pipelines.store.clock import new_run_id, utcnow
from pipelines.store.enforcement import TENANT_SETTINGS, Enforcement, contact_counts
from pipelines.store.keys import address_hmac, resolve_key
from pipelines.store.sql import connect_duckdb, migrations, sql_statements

if TYPE_CHECKING:  # annotations only: a small `check` runs without Polars
    import polars as pl

__all__ = ["TENANT_SETTINGS", "LoadCounts", "Stage", "Store", "address_hmac", "connect_duckdb", "migrations",
           "new_run_id", "resolve_key", "sql_statements", "utcnow"]


@dataclass
class Stage:
    """A run's staged results (Parquet files written by the ingest's staging step)."""

    suppressions: Path
    lineage: Path
    evidence: Path  # deliveries and soft bounces, one row per event (message_events)
    rejects: Path
    warnings: Path | None = None  # rows kept with their time unknown (file, line, value, warning)


@dataclass
class LoadCounts:
    added: int
    updated: int
    soft_bounce_blocks: int = 0  # addresses the consecutive-soft-bounce policy blocked (in `added`)
    contacts: dict = field(default_factory=dict)  # contact_counts() of the contacts the run blocked

    def summary(self) -> dict:
        """The run summary's keys for these counts."""
        contacts = self.contacts or contact_counts(None)
        return {"suppressions_added": self.added, "suppressions_updated": self.updated,
                "soft_bounce_blocks": self.soft_bounce_blocks,
                "contacts_blocked": contacts["contacts_changed"],
                "contacts_blocked_by": {k: v for k, v in contacts.items() if k != "contacts_changed"}}


class _DryRun(Exception):
    """Raised inside a dry run's load transaction: the whole merge ran, and is undone."""


# The steps of a load after the staged relations exist (sql/<common|dialect>/load.sql). Each sees
# `stage_suppressions`, `stage_lineage`, `stage_evidence` and the temp tables earlier steps made.
SOFT_BOUNCE_STEPS = ("insert_soft_bounce_blocks", "reactivate_soft_bounce_blocks", "soft_bounce_lineage")
ROLLBACK_STEPS = ("rollback_events", "rollback_evidence", "rollback_delete", "rollback_narrow")


class Store(Enforcement, ABC):
    """Small on purpose: what the CLI, the DAGs and the tests need from any backend."""

    dialect: str
    url: str
    key: bytes | None
    # The statements that widen the keys a run strengthens (DuckDB: one per column that changes)
    strengthen_steps: tuple[str, ...] = ("strengthen",)

    # -- what a backend supplies ---------------------------------------------------------------
    @abstractmethod
    def _x(self, name: str, file: str = "load", /, **params):
        """Run a named statement with the parameters it uses."""

    @abstractmethod
    def _one(self, name: str, file: str = "load", /, **params) -> tuple | None:
        """The first row of a named statement (None if none)."""

    @abstractmethod
    def _count(self, name: str, file: str = "load", /, **params) -> int:
        """The rows a named INSERT/UPDATE/DELETE changed."""

    @abstractmethod
    def _xmany(self, name: str, file: str, rows: list[dict]) -> None:
        """Run a named statement once per parameter set."""

    @abstractmethod
    def _frame(self, name: str, file: str = "read", /, **params) -> pl.DataFrame:
        """A named query's rows as a frame (typed by the query)."""

    @abstractmethod
    def _dicts(self, name: str, file: str, params: dict) -> list[dict]:
        """A named query's rows as dicts (native values)."""

    @abstractmethod
    def _txn(self, tenant: str | None = None) -> AbstractContextManager:
        """A transaction, holding the tenant's lock where the backend has one; rolled back on any
        exception."""

    @abstractmethod
    def _script(self, sql: str) -> None:
        """Run a migration file (several statements)."""

    @abstractmethod
    def _stage_load(self, stage: Stage, p: dict, erased: bool) -> int:
        """Make the run's staged files the relations `stage_suppressions`, `stage_lineage`,
        `stage_evidence`, `stage_rejects` (and `stage_warnings`), erased addresses as their tokens.
        Returns the new keys it put in the store itself, as `insert_new` would have (PostgreSQL: a
        tenant's first load); `stage_suppressions` then holds none of them."""

    @abstractmethod
    def _stage_rejects(self, rejects: Path) -> None:
        """Make `stage_rejects` alone (a run that loads nothing keeps its quarantined rows)."""

    @abstractmethod
    def check(self, tenant: str, inputs: pl.DataFrame) -> pl.DataFrame:
        """`inputs` (idx, input, channel, address) -> rows (idx, reason, scope) of matching suppressions."""

    def check_rows(self, tenant: str, inputs: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        """`check` of (idx, channel, address) tuples: the same (idx, reason, scope) rows, as tuples,
        in no particular order. A backend answers a few inputs without Polars (a one-address
        `suppress check`, SPEC 5); this default goes through `check`."""
        import polars as pl

        frame = pl.DataFrame(inputs, schema={"idx": pl.Int64, "channel": pl.String, "address": pl.String},
                             orient="row")
        return self.check(tenant, frame).select("idx", "reason", "scope").rows()

    @abstractmethod
    def close(self) -> None: ...

    def _json(self, value) -> str | None:
        return None if value is None else json.dumps(value, default=str)

    @contextmanager
    def _load_scope(self, stage: Stage) -> Iterator[None]:
        """Around a load's transaction (DuckDB: its lookup index around a bulk load)."""
        yield

    def _classify(self, stage: Stage, params: dict) -> None:
        """The store's rows of the staged keys (`stage_known`), and which of them the run changes."""
        self._x("stage_known", **params)
        self._x("classify", **params)

    def _before_begin(self, run_id: str, tenant: str) -> None:  # noqa: B027 - a hook
        """Before a run is recorded (PostgreSQL: the tenant's lock, and closing its dead runs)."""

    def _after_run(self, run_id: str) -> None:  # noqa: B027
        """A run closed: release what `_before_begin` took."""

    def _after_load(self) -> None:  # noqa: B027
        """After a load's transaction, committed or not (DuckDB: drop its temp objects)."""

    def _drop(self, *tables: str) -> None:  # noqa: B027
        """Temp tables of a finished step (backends whose temp tables outlive transactions)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- schema ---------------------------------------------------------------------------------
    @contextmanager
    def _migration_txn(self) -> Iterator[None]:
        with self._txn():
            yield

    def _applied_versions(self) -> set[int]:
        return {row["version"] for row in self._dicts("applied_versions", "runs", {})}

    def migrate(self) -> list[str]:
        """Apply pending numbered migrations, each in its own transaction; returns the names."""
        self._x("schema_migrations", "runs")
        applied = []
        for version, name, sql in migrations(self.dialect):
            if version in self._applied_versions():
                continue
            with self._migration_txn():
                if version in self._applied_versions():  # applied by another process meanwhile
                    continue
                self._script(sql)
                self._x("record_migration", "runs", version=version, name=name, now=utcnow())
            applied.append(name)
        return applied

    def _init_key(self, generate: bool) -> bytes | None:
        settings = {row["key"]: row["value"] for row in self._dicts("store_settings", "runs", {})}
        key, new_settings = resolve_key(settings, generate=generate)
        if new_settings:
            with self._txn():
                for k, v in new_settings.items():
                    self._x("insert_store_setting", "runs", key=k, value=v)
            # another process may have set up the same new store at the same moment: the stored key wins
            settings = {row["key"]: row["value"] for row in self._dicts("store_settings", "runs", {})}
            key, _ = resolve_key(settings, generate=generate)
        return key

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(self, run_id: str, tenant: str, kind: str, input_hash: str | None, options: dict) -> None:
        """Record a run as running, committed at once (a crash leaves it visible)."""
        self._before_begin(run_id, tenant)
        try:
            with self._txn():
                self._x("begin_run", "runs", run_id=run_id, tenant=tenant, kind=kind, input_hash=input_hash,
                        options=self._json(options), now=utcnow(), dry_run=bool(options.get("dry_run")))
        except BaseException:
            self._after_run(run_id)
            raise

    def find_succeeded_run(self, tenant: str, input_hash: str) -> str | None:
        row = self._one("succeeded_with_hash", "read", tenant=tenant, input_hash=input_hash)
        return row[0] if row else None

    def _record_files(self, run_id: str, files: list[dict]) -> None:
        """`files` in the run's order: a file's position is its file_idx, which the keys the run
        creates name their file by (suppressions.created_file)."""
        if files:
            keys = ("path", "sha256", "platform", "kind", "detected_why", "rows_read", "rows_rejected")
            self._xmany("record_file", "runs", [{"run_id": run_id, "file_idx": i, **{k: f.get(k) for k in keys}}
                                                for i, f in enumerate(files)])

    def _close_run(self, run_id: str, status: str, summary: dict, validation: dict | None, error: str | None) -> None:
        self._x("close_run", "runs", run_id=run_id, status=status, now=utcnow(), error=error,
                rows_read=summary.get("rows_read"), rows_accepted=summary.get("rows_accepted"),
                rows_rejected=summary.get("rows_rejected"), suppressions_added=summary.get("suppressions_added", 0),
                suppressions_updated=summary.get("suppressions_updated", 0), summary=self._json(summary),
                validation=self._json(validation))

    def load_run(self, run_id: str, stage: Stage, files: list[dict], summary: dict,
                 audit: Callable[[], dict], dry_run: bool = False,
                 watermarks: dict[str, str] | None = None) -> LoadCounts:
        """Merge a staged run and mark it succeeded, all in one transaction (rolled back if dry_run).

        `audit` gives the run's validation; it is called after the merge and before the COMMIT
        (whatever it raises rolls the merge back). `watermarks` ({sync source:
        watermark}, nightly sync only) are saved in that transaction, just before the run is
        marked succeeded: they move only if the load commits.
        """
        now = utcnow()
        tenant = summary["tenant"]
        p = {"run_id": run_id, "now": now, "tenant": tenant, "threshold": self.soft_bounce_threshold(tenant)}
        counts = None
        try:
            with self._load_scope(stage), self._txn(tenant):
                counts = self._merge(run_id, stage, files, p)
                validation = audit()
                if dry_run:
                    raise _DryRun
                if watermarks:
                    self._write_watermarks(tenant, watermarks, run_id, now)
                self._close_run(run_id, "succeeded", {**summary, **counts.summary()}, validation, None)
        except _DryRun:
            return counts  # the counts say what a real run would change; finish_run closes it
        finally:
            self._after_load()
        self._after_run(run_id)
        return counts

    def _merge(self, run_id: str, stage: Stage, files: list[dict], p: dict) -> LoadCounts:
        tenant = p["tenant"]
        self._record_files(run_id, files)  # first: the rows this run creates name their file in it
        added = self._stage_load(stage, p, self.has_erasures(tenant))
        self._classify(stage, p)
        updated = self._one("change_counts")[0]
        added += self._count("insert_new", **p)
        if self._one("known_count")[0]:  # keys other runs created: their lineage rows, before any change
            if self._count("materialize_known_lineage", **p):
                self._x("clear_known_lineage", **p)
            self._x("insert_known_lineage", **p)
        if self._has_contacts(tenant):
            self._x("created_changes", **p)
        # The first step finds each row again by its row id from stage_known: every one of them
        # must still be there, or the load stops (rolled back) rather than strengthen fewer keys.
        strengthened = self._count(self.strengthen_steps[0], **p)
        if strengthened != updated:
            raise RuntimeError(f"strengthened {strengthened} of {updated} suppressions: rows moved during the load")
        for name in (*self.strengthen_steps[1:], "insert_lineage", "insert_events", "soft_bounce_candidates",
                     "insert_evidence", "soft_bounce_blocks"):
            self._x(name, **p)
        at_threshold, blocked = self._one("soft_bounce_block_counts")
        if at_threshold:
            if self._count("materialize_soft_bounce_lineage", **p):
                self._x("clear_soft_bounce_lineage", **p)
            for name in SOFT_BOUNCE_STEPS:
                self._x(name, **p)
        contacts = self._contact_changes(tenant, run_id, p["now"], "status_input_from_run", "changes_tighten",
                                         detail="suppressed by an import")
        if stage.warnings is not None:
            self._x("insert_warnings", **p)
        self._x("insert_rejects", **p)
        return LoadCounts(added + blocked, updated, blocked, contacts)

    def finish_run(self, run_id: str, status: str, summary: dict, validation: dict | None, error: str | None,
                   files: list[dict] | None = None, stage: Stage | None = None) -> None:
        """Close a run that loads nothing (failed, refused, skipped, dry run), keeping its rejects."""
        try:
            with self._txn():
                if stage is not None and stage.rejects.exists():
                    self._stage_rejects(stage.rejects)
                    self._x("insert_rejects", run_id=run_id)
                if files:
                    self._record_files(run_id, files)
                self._close_run(run_id, status, summary, validation, error)
        finally:
            self._after_load()
        self._after_run(run_id)

    def rollback_run(self, run_id: str) -> dict:
        """Remove a run's assertions (SPEC 2.3): what no other live run or lift holds goes, the rest
        narrows to what the remaining runs assert; contacts follow. One transaction."""
        run = self.rollbackable(run_id)
        now = utcnow()
        p = {"run_id": run_id, "now": now, "tenant": run["tenant"]}
        with self._txn(run["tenant"]):
            status = self._one("run_status", run_id=run_id)[0]
            if status != "succeeded":  # rolled back by another process while this one waited
                raise UsageError(f"run {run_id} is {status}; only a succeeded run can be rolled back")
            for name in ("rollback_touched", "rollback_lineage", "rollback_remaining"):
                self._x(name, **p)
            removed, narrowed = self._one("rollback_counts")
            for name in ROLLBACK_STEPS:
                self._x(name, **p)
            contacts = self._contact_changes(run["tenant"], run_id, now, "status_input_from_rollback",
                                             "changes_recompute", detail="rollback of run")
            self._x("mark_rolled_back", "runs", run_id=run_id, now=now)
        self._drop("rollback_keys", "rollback_left")
        return {"run_id": run_id, "status": "rolled_back", "suppressions_removed": removed,
                "suppressions_narrowed": narrowed, "contacts_changed": contacts["contacts_changed"]}

    # -- reads ----------------------------------------------------------------------------------
    def _records(self, name: str, params: dict, json_fields: tuple[str, ...] = ()) -> list[dict]:
        rows = self._dicts(name, "read", params)
        for row in rows:
            for k in json_fields:
                if isinstance(row.get(k), str):
                    row[k] = json.loads(row[k])
        return rows

    def runs(self, tenant: str) -> list[dict]:
        return self._records("runs", {"tenant": tenant})

    def run(self, run_id: str) -> dict | None:
        rows = self._records("run", {"run_id": run_id}, ("summary", "validation", "options"))
        return rows[0] if rows else None

    def rollbackable(self, run_id: str) -> dict:
        """The run record, if the run can be rolled back: a succeeded suppression import that loaded."""
        run = self.run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id}")
        if run.get("dry_run"):
            raise UsageError(f"run {run_id} is a dry run: it loaded nothing, so there is nothing to roll back")
        if run["status"] != "succeeded":
            raise UsageError(f"run {run_id} is {run['status']}; only a succeeded run can be rolled back")
        if run["kind"] != "ingest":
            raise UsageError(f"run {run_id} is a {run['kind']} run; only suppression imports can be rolled back")
        return run

    def run_files(self, run_id: str) -> list[dict]:
        return self._records("run_files", {"run_id": run_id})

    def runs_since(self, since: datetime, tenant: str | None = None) -> list[dict]:
        """Runs started at or after `since` (of one tenant, or all), oldest first, with their
        summary and options parsed: what the cross-run report reads."""
        return self._records("runs_since", {"since": since, "tenant": tenant}, ("summary", "options"))

    def sync_watermarks(self, tenant: str | None = None) -> list[dict]:
        """The nightly sync's watermarks (of one tenant, or all): tenant, source, watermark, run_id, updated_at."""
        return self._records("sync_watermarks", {"tenant": tenant})

    def sync_runs(self, tenant: str | None = None) -> list[dict]:
        """Runs (of one tenant, or all) that are not dry runs, newest first, options parsed: what
        `pipelines.sync.state` reads a sync source's last run and last error from."""
        return self._records("sync_runs", {"tenant": tenant}, ("options",))

    def export(self, tenant: str) -> pl.DataFrame:
        return self._frame("export", tenant=tenant)

    def rejects(self, run_id: str) -> pl.DataFrame:
        return self._frame("rejects", run_id=run_id)

    # -- sync watermarks (nightly API sync, SPEC 4.2) ------------------------------------------
    def watermark(self, tenant: str, source: str) -> str | None:
        """How far a tenant's sync source has been pulled (None: never)."""
        row = self._one("watermark", "runs", tenant=tenant, source=source)
        return row[0] if row else None

    def _write_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None, now) -> None:
        """Inside the caller's transaction; a watermark never moves back."""
        self._xmany("save_watermark", "runs", [{"tenant": tenant, "source": source, "watermark": value,
                                                "run_id": run_id, "now": now}
                                               for source, value in sorted(watermarks.items())])

    def save_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None = None) -> None:
        """Move watermarks on outside a load (a pull skipped as a duplicate of a committed one)."""
        with self._txn(tenant):
            self._write_watermarks(tenant, watermarks, run_id, utcnow())
