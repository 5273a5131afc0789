"""The embedded store: one DuckDB file (one writing process at a time, DuckDB's own rule)."""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import duckdb
import polars as pl

from pipelines.errors import UsageError, UserError, first_line
from pipelines.store.base import (
    LoadCounts,
    Stage,
    Store,
    address_hmac,
    connect_duckdb,
    hmac_macro_sql,
    migrations,
    resolve_key,
    sql_statements,
    utcnow,
)

DIALECT = "duckdb"
log = logging.getLogger(__name__)
# A bulk insert buffers whole row groups per thread before writing them out; under the 1GB limit
# DuckDB's default buffer (a fifth of the limit shared by the threads) is below one row group of
# a suppressions table, and a 10M-row load then runs on one thread at twice the time.
BULK_WRITE_CONFIG = {"write_buffer_row_group_memory_limit": "256MB"}
# A check of at most this many inputs filters on an IN list (each address and its token), which
# DuckDB answers from the lookup index (sql/duckdb/004: 2 ms for 16 inputs at 10M rows); more are
# joined with the table, a scan that costs ~150 ms however few they are but scales to millions.
POINT_LOOKUP_MAX = 16
# A load of at least this many staged keys, and at least half as many as the store holds, drops
# the lookup index and builds it again after its inserts: cheaper than updating it row by row.
INDEX_REBUILD_MIN_ROWS = 500_000
# Runs this process has begun and not closed: any other run still `running` when the store is
# opened for writing belongs to a process that died (DuckDB allows one writing process).
_OPEN_RUNS: set[str] = set()


def _rollback(con) -> None:
    """ROLLBACK after a failure; a COMMIT that failed has already ended the transaction, and the
    error that matters is the one being raised, not "no transaction is active"."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _q(name: str, file: str = "load") -> str:
    return sql_statements(DIALECT, file)[name]


_PARAM = re.compile(r"\$([a-z_]+)")


def _used(sql: str, params: dict) -> dict:
    """The parameters a statement names (DuckDB refuses unused ones)."""
    names = set(_PARAM.findall(sql))
    return {k: v for k, v in params.items() if k in names}


class DuckDBStore(Store):
    dialect = DIALECT

    def __init__(self, path: str | Path, read_only: bool = False, create: bool = True):
        from pipelines.store import missing_store

        self.url = str(path)
        if not create and not Path(path).is_file():
            raise UsageError(missing_store(self.url))
        try:
            self.con = connect_duckdb(str(path), read_only=read_only, **BULK_WRITE_CONFIG)
        except duckdb.Error as exc:
            raise UserError(f"cannot open store {path}: {first_line(exc)}") from None
        self.read_only = read_only
        if not create and not self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'").fetchall()[0][0]:
            self.con.close()
            raise UsageError(f"{path} is a DuckDB file but holds no suppression store")
        if not read_only:
            self.migrate()
            self._ensure_lookup_index()  # a bulk load that stopped before rebuilding it
            self._x("interrupted_runs", now=utcnow(), active=sorted(_OPEN_RUNS))
        settings = dict(self.con.execute("SELECT key, value FROM store_settings").fetchall())
        self.key, new_settings = resolve_key(settings)
        for k, v in new_settings.items():
            self.con.execute("INSERT INTO store_settings VALUES (?, ?)", [k, v])
        self.con.execute(hmac_macro_sql(self.key))

    # -- schema ---------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
        )
        done = {v for (v,) in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, name, sql in migrations(DIALECT):
            if version in done:
                continue
            self.con.execute("BEGIN")
            try:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
                self.con.execute("COMMIT")
            except Exception:
                _rollback(self.con)
                raise
            applied.append(name)
        return applied

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(self, run_id, tenant, kind, input_hash, options) -> None:
        _OPEN_RUNS.add(run_id)
        self.con.execute(
            "INSERT INTO import_runs (run_id, tenant, kind, status, input_hash, options, started_at, dry_run) "
            "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
            [run_id, tenant, kind, input_hash, json.dumps(options), utcnow(), bool(options.get("dry_run"))],
        )

    def find_succeeded_run(self, tenant, input_hash):
        rows = self.con.execute(
            _q("succeeded_with_hash", "read"), {"tenant": tenant, "input_hash": input_hash}
        ).fetchall()
        return rows[0][0] if rows else None

    def _record_files(self, run_id: str, files: list[dict]) -> None:
        if files:
            self.con.executemany(
                "INSERT INTO run_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[run_id, f["path"], f["sha256"], f.get("platform"), f.get("kind"), f.get("detected_why"),
                  f.get("rows_read"), f.get("rows_rejected")] for f in files],
            )

    def _close_run(self, run_id, status, summary, validation, error) -> None:
        _OPEN_RUNS.discard(run_id)
        self.con.execute(
            "UPDATE import_runs SET status = ?, finished_at = ?, rows_read = ?, rows_accepted = ?, rows_rejected = ?, "
            "suppressions_added = ?, suppressions_updated = ?, summary = ?, validation = ?, error = ? WHERE run_id = ?",
            [status, utcnow(), summary.get("rows_read"), summary.get("rows_accepted"), summary.get("rows_rejected"),
             summary.get("suppressions_added", 0), summary.get("suppressions_updated", 0), json.dumps(summary, default=str),
             json.dumps(validation, default=str) if validation is not None else None, error, run_id],
        )

    def _x(self, name: str, file: str = "load", **params):
        """Run a named statement with the parameters it uses."""
        sql = _q(name, file)
        return self.con.execute(sql, _used(sql, params))

    def load_run(self, run_id, stage: Stage, files, summary, validation, dry_run: bool = False,
                 watermarks: dict[str, str] | None = None) -> LoadCounts:
        if not self._bulk_load(stage):
            return self._load_run(run_id, stage, files, summary, validation, dry_run, watermarks)
        # Dropped in a transaction of its own: dropped inside the load's, DuckDB's COMMIT writes
        # every new row to the WAL instead (33 s more at 10M rows). Built again whatever happens.
        self._x("drop_lookup_index")
        try:
            return self._load_run(run_id, stage, files, summary, validation, dry_run, watermarks)
        finally:
            self._ensure_lookup_index()

    def _load_run(self, run_id, stage: Stage, files, summary, validation, dry_run, watermarks) -> LoadCounts:
        now = utcnow()
        tenant = summary["tenant"]
        p = {"run_id": run_id, "now": now, "tenant": tenant, "suppressions": str(stage.suppressions),
             "lineage": str(stage.lineage), "evidence": str(stage.evidence), "rejects": str(stage.rejects),
             "warnings": str(stage.warnings) if stage.warnings else None,
             "threshold": self.soft_bounce_threshold(tenant)}
        self.con.execute("BEGIN")
        try:
            if self.has_erasures(tenant):
                self._x("erased_map", **p)
            else:
                self._x("no_erased_map")
            self._x("stage")
            self._x("classify", **p)
            updated = self._x("change_counts").fetchall()[0][0]
            added = self._x("insert_new", **p).fetchall()[0][0]
            if self._has_contacts(tenant):
                self._x("created_changes", **p)
            self._x("strengthen", **p)
            self._x("insert_lineage", **p)
            self._x("insert_events", **p)
            self._x("insert_evidence", **p)
            self._x("soft_bounce_blocks", **p)
            at_threshold, blocked = self._x("soft_bounce_block_counts").fetchall()[0]
            if at_threshold:
                self._x("insert_soft_bounce_blocks", **p)
                self._x("reactivate_soft_bounce_blocks", **p)
                self._x("soft_bounce_lineage", **p)
            contacts = self._contact_changes(tenant, run_id, now, "status_input_from_run", "changes_tighten",
                                             detail="suppressed by an import")
            if stage.warnings is not None:
                self._x("insert_warnings", **p)
            self._x("insert_rejects", **p)
            self._record_files(run_id, files)
            counts = LoadCounts(added + blocked, updated, blocked, contacts)
            if dry_run:  # the whole merge ran; undo it and keep only the counts
                self.con.execute("ROLLBACK")
                return counts
            if watermarks:
                self._write_watermarks(tenant, watermarks, run_id, now)
            self._close_run(run_id, "succeeded", {**summary, **counts.summary()}, validation, None)
            self.con.execute("COMMIT")
        except BaseException:
            _rollback(self.con)
            raise
        finally:
            self.con.execute("DROP TABLE IF EXISTS stage_changes; DROP MACRO TABLE IF EXISTS staged; "
                             "DROP TABLE IF EXISTS erased_map; "
                             "DROP TABLE IF EXISTS soft_bounce_blocks")
        return counts

    def _ensure_lookup_index(self) -> None:
        """Build the lookup index if a bulk load dropped it. After the load's COMMIT, not inside
        it: DuckDB builds an index over rows of an open transaction at COMMIT, in memory, and a
        10M-row build there exceeds the store's memory limit. Until it is built (if building fails
        or the process dies first, at the next open) lookups are right, only slower."""
        present = self.con.execute(
            "SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'suppressions_lookup'").fetchall()[0][0]
        if present:
            return
        try:
            self._x("create_lookup_index")
        except duckdb.Error as exc:
            log.warning("the lookup index of %s was not rebuilt (%s); lookups scan the table until it is", self.url, exc)

    def _bulk_load(self, stage: Stage) -> bool:
        """Whether this load rebuilds the lookup index rather than update it (INDEX_REBUILD_MIN_ROWS)."""
        staged = self.con.execute("SELECT count(*) FROM read_parquet(?)", [str(stage.suppressions)]).fetchall()[0][0]
        if staged < INDEX_REBUILD_MIN_ROWS:
            return False
        held = self.con.execute("SELECT count(*) FROM suppressions").fetchall()[0][0]
        return 2 * staged >= held

    def finish_run(self, run_id, status, summary, validation, error, files=None, stage=None) -> None:
        self.con.execute("BEGIN")
        try:
            if stage is not None and stage.rejects.exists():
                self.con.execute(_q("insert_rejects"), {"run_id": run_id, "rejects": str(stage.rejects)})
            if files:
                self._record_files(run_id, files)
            self._close_run(run_id, status, summary, validation, error)
            self.con.execute("COMMIT")
        except BaseException:
            _rollback(self.con)
            raise

    def rollback_run(self, run_id: str) -> dict:
        run = self.rollbackable(run_id)
        now = utcnow()
        p = {"run_id": run_id, "now": now, "tenant": run["tenant"]}
        self.con.execute("BEGIN")
        try:
            self._x("rollback_touched", **p)
            self._x("rollback_lineage", **p)
            self._x("rollback_remaining", **p)
            removed, narrowed = self._x("rollback_counts").fetchall()[0]
            self._x("rollback_events", **p)
            self._x("rollback_evidence", **p)
            self._x("rollback_delete")
            self._x("rollback_narrow", **p)
            contacts = self._contact_changes(run["tenant"], run_id, now, "status_input_from_rollback",
                                             "changes_recompute", detail="rollback of run")
            self.con.execute(
                "UPDATE import_runs SET status = 'rolled_back', rolled_back_at = ? WHERE run_id = ?", [now, run_id])
            self.con.execute("COMMIT")
        except BaseException:
            _rollback(self.con)
            raise
        finally:
            self.con.execute("DROP TABLE IF EXISTS rollback_keys; DROP TABLE IF EXISTS rollback_left")
        return {"run_id": run_id, "status": "rolled_back", "suppressions_removed": removed,
                "suppressions_narrowed": narrowed, "contacts_changed": contacts["contacts_changed"]}

    # -- reads ----------------------------------------------------------------------------------
    def check(self, tenant, inputs: pl.DataFrame) -> pl.DataFrame:
        if inputs.height <= POINT_LOOKUP_MAX:
            return self._check_point(tenant, inputs)
        self.con.register("check_inputs", inputs.select("idx", "channel", "address").to_arrow())
        try:
            return self._frame("check_keyed" if self.has_erasures(tenant) else "check", {"tenant": tenant})
        finally:
            self.con.unregister("check_inputs")

    def _check_point(self, tenant: str, inputs: pl.DataFrame) -> pl.DataFrame:
        """`check` of a few inputs through the lookup index, with the rows the join would give.

        An erased address is stored only as its token (the load maps it too), so looking up both
        the address and its token is the `check_keyed` answer without asking which were erased.
        """
        wanted: dict[tuple[str, str], list] = {}
        for idx, channel, address in zip(*(inputs[c].to_list() for c in ("idx", "channel", "address")), strict=True):
            for stored in (address, "hmac:" + address_hmac(self.key, address)) if address is not None else ():
                wanted.setdefault((channel, stored), []).append(idx)
        params = {f"a{i}": a for i, a in enumerate(sorted({a for _, a in wanted}))}
        sql = _q("check_point", "read").replace("$addresses", ", ".join(f"${k}" for k in params))
        rows = self.con.execute(sql, {"tenant": tenant, **params}).fetchall() if params else []
        hits = [(idx, reason, scope) for channel, address, reason, scope in rows for idx in wanted.get((channel, address), ())]
        return pl.DataFrame(hits, schema={"idx": inputs.schema["idx"], "reason": pl.String, "scope": pl.String},
                            orient="row")

    def export(self, tenant) -> pl.DataFrame:
        return self._frame("export", {"tenant": tenant})

    def _frame(self, name: str, params: dict) -> pl.DataFrame:
        return pl.from_arrow(self.con.sql(_q(name, "read"), params=params).to_arrow_table())

    def _dicts(self, sql: str, params: dict) -> list[dict]:
        cur = self.con.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]

    def rejects(self, run_id) -> pl.DataFrame:
        return self._frame("rejects", {"run_id": run_id})

    # -- enforcement primitives (the logic is in Store) -------------------------------------
    def _txn(self, tenant=None):
        return _Transaction(self.con)

    def _one(self, name: str, file: str = "load", **params) -> tuple:
        return self._x(name, file, **params).fetchall()[0]

    def _cframe(self, name: str, **params) -> pl.DataFrame:
        sql = _q(name, "contacts")
        return pl.from_arrow(self.con.sql(sql, params=_used(sql, params)).to_arrow_table())

    def _stage_contact_files(self, contacts, rejects, params) -> None:
        self._x("stage_contacts", "contacts", **params, contacts=str(contacts))

    def _select(self, tenant, ids, segment) -> None:
        if segment is not None:
            self._x("select_hard_bounced", "contacts", tenant=tenant)
            return
        self.con.register("erase_ids", pl.DataFrame({"contact_id": ids}, schema={"contact_id": pl.String}).to_arrow())
        try:
            self._x("select_by_ids", "contacts", tenant=tenant)
        finally:
            self.con.unregister("erase_ids")

    def _drop(self, *tables: str) -> None:
        self.con.execute("; ".join(f"DROP TABLE IF EXISTS {t}" for t in tables))

    def _after_erasure(self) -> None:
        """Rewrite the file: DuckDB keeps the old versions of updated rows in blocks it only marks
        free, so an erased address would survive in the file (`strings store.duckdb`). A copy of
        the database into a new file holds only the live rows; it replaces the old file atomically
        (a crash before that leaves the old file, whole). Costs a copy of the store."""
        path = Path(self.url)
        fresh = path.with_name(path.name + ".rewrite")
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
        current = self.con.execute("SELECT current_database()").fetchall()[0][0]
        self._x("drop_lookup_index")  # built again after the copy: a 10M-row index inside it would not fit
        self.con.execute(f"ATTACH '{_quoted(fresh)}' AS erasure_copy")
        try:
            self.con.execute(f'COPY FROM DATABASE "{current}" TO erasure_copy')
        finally:
            self.con.execute("DETACH erasure_copy")
        self.con.close()
        os.replace(fresh, path)
        self.con = connect_duckdb(str(path), **BULK_WRITE_CONFIG)
        self._ensure_lookup_index()
        self.con.execute(hmac_macro_sql(self.key))

    def close(self) -> None:
        self.con.close()

    # -- sync watermarks (nightly API sync) ------------------------------------------------------
    def watermark(self, tenant: str, source: str) -> str | None:
        rows = self.con.execute(
            "SELECT watermark FROM sync_watermarks WHERE tenant = ? AND source = ?", [tenant, source]
        ).fetchall()
        return rows[0][0] if rows else None

    def _write_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None, now) -> None:
        """Inside the caller's transaction. Fixed-width UTC text: greatest() keeps the later time."""
        self.con.executemany(
            "INSERT INTO sync_watermarks AS w VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, source) DO UPDATE SET "
            "run_id = CASE WHEN excluded.watermark > w.watermark THEN excluded.run_id ELSE w.run_id END, "
            "watermark = greatest(w.watermark, excluded.watermark), updated_at = excluded.updated_at",
            [[tenant, source, value, run_id, now] for source, value in sorted(watermarks.items())],
        )

    def save_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None = None) -> None:
        self.con.execute("BEGIN")
        try:
            self._write_watermarks(tenant, watermarks, run_id, utcnow())
            self.con.execute("COMMIT")
        except BaseException:
            _rollback(self.con)
            raise


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN")
        return self.con

    def __exit__(self, exc_type, *exc):
        if exc_type:
            _rollback(self.con)
        else:
            self.con.execute("COMMIT")
