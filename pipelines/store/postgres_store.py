"""The production store: PostgreSQL through psycopg 3, where the sending platform reads it.

Same interface and rules as the DuckDB store (`duckdb_store.py`), SQL in `sql/postgres/`:
- the schema is numbered migrations (`NNN_*.sql`), applied automatically and recorded;
- a load COPYs the staged Parquet files into TEMP tables, then merges them with set-based SQL,
  all in one transaction (a dry run does the same and rolls back);
- runs of one tenant never interleave: `begin_run` takes a session-level advisory lock for the
  tenant and holds it until the run is closed (or the connection ends), and every write that
  merges or rolls back takes the same lock for its transaction. Other tenants are not blocked.
"""
from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg.rows import dict_row

from pipelines.errors import UsageError, UserError, first_line
from pipelines.redact import redact, scrub
from pipelines.store.base import (
    LoadCounts,
    Stage,
    Store,
    hmac_pads,
    migrations,
    resolve_key,
    sql_statements,
    utcnow,
)

DIALECT = "postgres"

# Advisory locks use the two-key form (namespace, key) so they cannot collide with other users of
# advisory locks in the same database: (TENANT_LOCKS, hashtext(tenant)) per tenant, one key for
# migrations. Two tenants whose names hash alike merely wait for each other.
TENANT_LOCKS = 0x53555050  # "SUPP"
CONTACT_LOCKS = 0x53555052  # the contacts trigger (shared) against a load's contact step (exclusive)
SCHEMA_LOCKS = 0x53555051
MIGRATION_KEY = 1

# The tables an erasure rewrites addresses in (sql/postgres/contacts.sql erase_*).
ERASED_TABLES = ("suppressions", "suppression_sources", "suppression_events", "message_events", "quarantine",
                 "row_warnings", "import_runs", "contacts", "contact_events")
COPY_BATCH_ROWS = 100_000  # rows per CSV chunk sent through COPY
FEW_INPUTS = 1_000  # up to this many addresses, `check` sends them as arrays instead of COPY
INDEX_PROBE_ROWS = 1_000_000  # up to this many staged keys, a load classifies them by index probes
LOAD_WORK_MEM = "256MB"  # per hash/sort of the merge: a 10M-row join stays in memory

# The staged Parquet columns each TEMP table takes (sql/postgres/load.sql `stage_tables`).
STAGE_COLUMNS = {
    "suppressions": ["tenant", "channel", "address", "reason", "scope", "first_seen_at", "last_seen_at",
                     "source_platform", "detail", "time_known", "source_sha256", "first_line", "row_count",
                     "single_file"],
    "lineage": ["tenant", "channel", "address", "reason", "scope", "source_sha256", "first_line", "row_count",
                "first_seen_at", "last_seen_at", "time_known"],
    "evidence": ["tenant", "channel", "address", "kind", "occurred_at", "bounce_count", "source_sha256",
                 "source_line", "detail"],
    "rejects": ["file", "line", "value", "error", "platform", "detail"],
    "warnings": ["file", "line", "value", "warning"],
}

# PostgreSQL type OIDs -> how a result column comes back through COPY ... (FORMAT csv)
_TIMESTAMPS = {1184, 1114}
_INTEGERS = {20, 21, 23, 26}
_FLOATS = {700, 701, 1700}
_BOOL = 16


def _q(name: str, file: str = "load") -> str:
    return sql_statements(DIALECT, file)[name]


_PARAM = re.compile(r"%\(([a-z_]+)\)s")


def _used(sql: str, params: dict) -> dict:
    names = set(_PARAM.findall(sql))
    return {k: v for k, v in params.items() if k in names}


def _clean_json(value):
    """What jsonb cannot hold: NUL characters (replaced) and NaN/Infinity (null)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_clean_json(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    return value


def json_text(value) -> str | None:
    """A Python value as jsonb input text (the DuckDB store's `json.dumps(..., default=str)`)."""
    if value is None:
        return None
    return json.dumps(_clean_json(json.loads(json.dumps(value, default=str))), allow_nan=False)


def csv_chunks(batches: Iterable[pa.RecordBatch | pl.DataFrame]) -> Iterator[bytes]:
    """Record batches as CSV for COPY ... (FORMAT csv), written by Polars (multi-threaded).

    NULL is an unquoted empty field and an empty string a quoted one (`""`), so both survive.
    PostgreSQL text cannot hold NUL characters: they become U+FFFD (a raw value stays readable).
    """
    for batch in batches:
        frame = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
        if frame.height == 0:
            continue
        text = [c for c, t in frame.schema.items() if t == pl.String]
        if text:
            frame = frame.with_columns(pl.col(text).str.replace_all("\x00", "\ufffd", literal=True))
        yield frame.write_csv(include_header=False, quote_style="necessary", null_value="").encode()


class PostgresStore(Store):
    dialect = DIALECT

    def __init__(self, url: str, read_only: bool = False, create: bool = True):
        from pipelines.store import missing_store

        self.url = url
        self.read_only = read_only
        self._locked: dict[str, str] = {}  # run_id -> tenant whose session lock this connection holds
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="suppress")
        except (psycopg.Error, ValueError) as exc:  # ValueError: a malformed URL (a bad % escape...)
            if not create and "does not exist" in str(exc):
                raise UsageError(missing_store(redact(url))) from None
            raise UserError(f"cannot open store {redact(url)}: {scrub(first_line(exc), url)}") from None
        try:
            self._configure()
            if not create and not self._applied_versions():
                raise UsageError(missing_store(redact(url)))
            if not read_only:
                self.migrate()
            self.key = self._init_key()
            # HMAC pads for column-wise tokens in SQL; parameters of each statement, never stored.
            # Without a key no address has been erased, and no statement needs them.
            self._pads = {}
            if self.key is not None:
                inner, outer = hmac_pads(self.key)
                self._pads = {"inner_pad": bytes.fromhex(inner), "outer_pad": bytes.fromhex(outer)}
        except BaseException:
            self.con.close()
            raise

    def _configure(self) -> None:
        self.con.execute("SET TimeZone TO 'UTC'")
        try:  # PostgreSQL 14+: a killed client's backend stops within seconds, even mid-statement
            self.con.execute("SET client_connection_check_interval TO 2000")
        except psycopg.Error:
            pass
        if self.read_only:
            self.con.execute("SET default_transaction_read_only TO on")

    def _init_key(self) -> bytes:
        try:
            settings = dict(self.con.execute("SELECT key, value FROM store_settings").fetchall())
        except psycopg.errors.UndefinedTable:
            raise UserError(f"{redact(self.url)} holds no suppression store yet") from None
        key, new_settings = resolve_key(settings, generate=False)  # the key is never stored in PostgreSQL
        if new_settings:
            with self.con.transaction():
                for k, v in new_settings.items():
                    self.con.execute(
                        "INSERT INTO store_settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (k, v)
                    )
            # another process may have set up the same new store at the same moment: the stored key wins
            settings = dict(self.con.execute("SELECT key, value FROM store_settings").fetchall())
            key, _ = resolve_key(settings, generate=False)
        return key

    # -- schema ---------------------------------------------------------------------------------
    def _applied_versions(self) -> set[int]:
        exists = self.con.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        if not exists:
            return set()
        return {v for (v,) in self.con.execute("SELECT version FROM schema_migrations").fetchall()}

    def migrate(self) -> list[str]:
        done = self._applied_versions()
        applied = []
        for version, name, sql in migrations(DIALECT):
            if version in done:
                continue
            with self.con.transaction():
                # one migrator at a time: two processes opening a new store race otherwise
                self.con.execute("SELECT pg_advisory_xact_lock(%s, %s)", (SCHEMA_LOCKS, MIGRATION_KEY))
                self.con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version integer PRIMARY KEY, name text, applied_at timestamptz)"
                )
                if self.con.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone():
                    continue  # applied by another process meanwhile
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)", (version, name, utcnow()))
            applied.append(name)
        return applied

    # -- the per-tenant lock --------------------------------------------------------------------
    def _lock_tenant(self, tenant: str) -> None:
        """Wait until no other run of this tenant holds the lock; held until `_unlock`."""
        self.con.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (TENANT_LOCKS, tenant))

    def _xact_lock(self, tenant: str) -> None:
        """The same lock for the current transaction (re-entrant with the session lock). The
        transaction is marked as the library's: the contacts trigger leaves its writes alone
        (statuses are computed set-wise under this lock)."""
        self.con.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (TENANT_LOCKS, tenant))
        self.con.execute("SET LOCAL suppression.library_write = 'on'")

    def _unlock(self, run_id: str) -> None:
        tenant = self._locked.pop(run_id, None)
        if tenant is None or self.con.closed:
            return
        try:
            self.con.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (TENANT_LOCKS, tenant))
        except psycopg.Error:
            pass  # a broken connection has released it already

    def _tenant_of(self, run_id: str, summary: dict | None = None) -> str:
        if run_id in self._locked:
            return self._locked[run_id]
        row = self.con.execute("SELECT tenant FROM import_runs WHERE run_id = %s", (run_id,)).fetchone()
        if row:
            return row[0]
        if summary and summary.get("tenant"):
            return summary["tenant"]
        raise UserError(f"no run {run_id}")

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(self, run_id, tenant, kind, input_hash, options) -> None:
        self._lock_tenant(tenant)
        self._locked[run_id] = tenant
        try:
            with self.con.transaction():
                # Holding the tenant's lock, a run of it still `running` is one whose process died.
                self.con.execute(_q("interrupted_runs"), {"tenant": tenant, "now": utcnow()})
                self.con.execute(
                    "INSERT INTO import_runs (run_id, tenant, kind, status, input_hash, options, started_at, dry_run) "
                    "VALUES (%s, %s, %s, 'running', %s, %s::jsonb, %s, %s)",
                    (run_id, tenant, kind, input_hash, json_text(options), utcnow(), bool(options.get("dry_run"))),
                )
        except BaseException:
            self._unlock(run_id)
            raise

    def find_succeeded_run(self, tenant, input_hash):
        row = self.con.execute(
            _q("succeeded_with_hash", "read"), {"tenant": tenant, "input_hash": input_hash}
        ).fetchone()
        return row[0] if row else None

    def _record_files(self, run_id: str, files: list[dict]) -> None:
        if files:
            with self.con.cursor() as cur:
                cur.executemany(
                    "INSERT INTO run_files VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [[run_id, f["path"], f["sha256"], f.get("platform"), f.get("kind"), f.get("detected_why"),
                      f.get("rows_read"), f.get("rows_rejected")] for f in files],
                )

    def _close_run(self, run_id, status, summary, validation, error) -> None:
        self.con.execute(
            "UPDATE import_runs SET status = %s, finished_at = %s, rows_read = %s, rows_accepted = %s, "
            "rows_rejected = %s, suppressions_added = %s, suppressions_updated = %s, summary = %s::jsonb, "
            "validation = %s::jsonb, error = %s WHERE run_id = %s",
            (status, utcnow(), summary.get("rows_read"), summary.get("rows_accepted"), summary.get("rows_rejected"),
             summary.get("suppressions_added", 0), summary.get("suppressions_updated", 0), json_text(summary),
             json_text(validation), error, run_id),
        )

    def copy_parquet(self, table: str, columns: list[str], path: Path | str) -> int:
        """COPY the named columns of a Parquet file into a table, in CSV chunks; returns the rows sent."""
        parquet = pq.ParquetFile(str(path))
        rows = 0
        cols = ", ".join(f'"{c}"' for c in columns)
        with self.con.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            for chunk in csv_chunks(parquet.iter_batches(batch_size=COPY_BATCH_ROWS, columns=columns)):
                copy.write(chunk)
            rows = parquet.metadata.num_rows
        return rows

    def _stage(self, stage: Stage, parts: tuple[str, ...]) -> None:
        self.con.execute(_q("stage_tables"))
        for part in parts:
            table = "stage_evidence_raw" if part == "evidence" else f"stage_{part}"
            self.copy_parquet(table, STAGE_COLUMNS[part], getattr(stage, part))

    def _x(self, name: str, file: str = "load", **params):
        """Run a named statement with the parameters it uses (always through placeholders: `%%` is `%`)."""
        sql = _q(name, file)
        return self.con.execute(sql, _used(sql, {**self._pads, **params}))

    def load_run(self, run_id, stage: Stage, files, summary, validation, dry_run: bool = False,
                 watermarks: dict[str, str] | None = None) -> LoadCounts:
        now = utcnow()
        tenant = self._tenant_of(run_id, summary)
        p = {"run_id": run_id, "now": now, "tenant": tenant, "threshold": self.soft_bounce_threshold(tenant)}
        with self.con.transaction() as tx:
            self.con.execute(f"SET LOCAL work_mem TO '{LOAD_WORK_MEM}'")
            self._xact_lock(tenant)
            self._stage(stage, ("suppressions", "lineage", "evidence", "rejects")
                        + (("warnings",) if stage.warnings is not None else ()))
            if self.has_erasures(tenant):
                self._x("erased_map", **p)
                for name in ("tokenize_stage", "tokenize_lineage", "tokenize_evidence"):
                    self._x(name)
            else:
                self._x("no_erased_map")
            self.con.execute(_q("analyze_stage"))
            # A nightly increment against a big store: probing the key index per staged key beats
            # the hash join over every suppression the planner otherwise picks (3 s -> 0.3 s for
            # 100k keys against 10M). A big first load keeps its hash join.
            small = pq.ParquetFile(str(stage.suppressions)).metadata.num_rows <= INDEX_PROBE_ROWS
            if small:
                self.con.execute("SET LOCAL enable_hashjoin = off")
            self._x("classify")
            if small:
                self.con.execute("SET LOCAL enable_hashjoin = on")
            updated = self._x("change_counts").fetchone()[0]
            added = self._x("insert_new", **p).rowcount
            if self._has_contacts(tenant):
                self._x("created_changes", **p)
            self._x("strengthen", **p)
            self._x("insert_lineage", **p)
            self._x("insert_events", **p)
            self._x("stage_evidence")
            self._x("insert_evidence", **p)
            self._x("soft_bounce_blocks", **p)
            at_threshold, blocked = self._x("soft_bounce_block_counts").fetchone()
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
                raise psycopg.Rollback(tx)
            if watermarks:
                self._write_watermarks(tenant, watermarks, run_id, now)
            self._close_run(run_id, "succeeded", {**summary, **counts.summary()}, validation, None)
        if not dry_run:  # a dry run is closed by finish_run, which releases the lock
            self._unlock(run_id)
        return counts

    def finish_run(self, run_id, status, summary, validation, error, files=None, stage=None) -> None:
        with self.con.transaction():
            if stage is not None and stage.rejects.exists():
                self._stage(stage, ("rejects",))
                self.con.execute(_q("insert_rejects"), {"run_id": run_id})
            if files:
                self._record_files(run_id, files)
            self._close_run(run_id, status, summary, validation, error)
        self._unlock(run_id)

    def rollback_run(self, run_id: str) -> dict:
        run = self.rollbackable(run_id)
        now = utcnow()
        p = {"run_id": run_id, "now": now, "tenant": run["tenant"]}
        with self.con.transaction():
            self._xact_lock(run["tenant"])
            status = self.con.execute(
                "SELECT status FROM import_runs WHERE run_id = %s FOR UPDATE", (run_id,)
            ).fetchone()[0]
            if status != "succeeded":  # rolled back by someone else while this one waited
                raise UserError(f"run {run_id} is {status}; only a succeeded run can be rolled back")
            self._x("rollback_touched", **p)
            self._x("rollback_lineage", **p)
            self._x("rollback_remaining", **p)
            removed, narrowed = self._x("rollback_counts").fetchone()
            self._x("rollback_events", **p)
            self._x("rollback_evidence", **p)
            self._x("rollback_delete")
            self._x("rollback_narrow", **p)
            contacts = self._contact_changes(run["tenant"], run_id, now, "status_input_from_rollback",
                                             "changes_recompute", detail="rollback of run")
            self.con.execute(
                "UPDATE import_runs SET status = 'rolled_back', rolled_back_at = %s WHERE run_id = %s", (now, run_id))
        return {"run_id": run_id, "status": "rolled_back", "suppressions_removed": removed,
                "suppressions_narrowed": narrowed, "contacts_changed": contacts["contacts_changed"]}

    # -- reads ----------------------------------------------------------------------------------
    def check(self, tenant, inputs: pl.DataFrame) -> pl.DataFrame:
        idx_type = inputs.schema["idx"]
        wanted = inputs.filter(pl.col("address").is_not_null()).select(
            pl.col("idx").cast(pl.Int64), pl.col("channel").cast(pl.String), pl.col("address").cast(pl.String)
        )
        keyed = self.has_erasures(tenant)
        if wanted.height <= FEW_INPUTS:
            rows = self._x(
                "check_few_keyed" if keyed else "check_few", "read",
                tenant=tenant, idx=wanted["idx"].to_list(), channel=wanted["channel"].to_list(),
                address=wanted["address"].to_list(),
            ).fetchall()
            frame = pl.DataFrame(rows, schema={"idx": pl.Int64, "reason": pl.String, "scope": pl.String}, orient="row")
        else:
            with self.con.transaction():
                self.con.execute(_q("check_inputs", "read"))
                with self.con.cursor() as cur, cur.copy("COPY check_inputs (idx, channel, address) FROM STDIN (FORMAT csv)") as copy:
                    for chunk in csv_chunks(wanted.iter_slices(COPY_BATCH_ROWS)):
                        copy.write(chunk)
                if keyed:
                    self._x("tokenize_check_inputs", "read", tenant=tenant)
                self.con.execute("ANALYZE check_inputs")
                # Many inputs: a merge join along the key index (index-only, 004_lookup_index.sql)
                # beats the hash join the planner prefers, which reads every suppression.
                self.con.execute("SET LOCAL enable_hashjoin = off")
                self.con.execute("SET LOCAL jit = off")
                frame = self._frame(_q("check", "read"), {"tenant": tenant})
        return frame.with_columns(pl.col("idx").cast(idx_type))

    def export(self, tenant) -> pl.DataFrame:
        return self._frame(_q("export", "read"), {"tenant": tenant})

    def _describe(self, sql: str, params: dict | None) -> tuple[list[str], dict, list]:
        """Select list, CSV schema and the casts back, from the query's result types."""
        with self.con.cursor() as cur:
            cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0", params)
            columns = [(d.name, d.type_code) for d in cur.description]
        exprs, schema, casts = [], {}, []
        for name, oid in columns:
            ident = '"' + name.replace('"', '""') + '"'
            if oid in _TIMESTAMPS:  # exact microseconds since the epoch, whatever the DateStyle
                exprs.append(f"(extract(epoch FROM q.{ident}) * 1000000)::bigint")
                schema[name] = pl.Int64
                casts.append(pl.col(name).cast(pl.Datetime("us", "UTC")))
            elif oid in _INTEGERS:
                exprs.append(f"q.{ident}")
                schema[name] = pl.Int64
            elif oid in _FLOATS:
                exprs.append(f"q.{ident}::float8")
                schema[name] = pl.Float64
            elif oid == _BOOL:
                exprs.append(f"q.{ident}::int")
                schema[name] = pl.Int8
                casts.append(pl.col(name).cast(pl.Boolean))
            else:
                exprs.append(f"q.{ident}::text")
                schema[name] = pl.String
        return exprs, schema, casts

    def copy_out(self, sql: str, params: dict | None, sink) -> tuple[dict, list]:
        """Write a query's rows as CSV to `sink` through COPY; returns the CSV schema and the casts."""
        sql = sql.strip().rstrip(";")
        exprs, schema, casts = self._describe(sql, params)
        with self.con.cursor() as cur, cur.copy(
            f"COPY (SELECT {', '.join(exprs)} FROM ({sql}) AS q) TO STDOUT (FORMAT csv)", params
        ) as copy:
            for data in copy:
                sink.write(data)
        return schema, casts

    def _frame(self, sql: str, params: dict | None) -> pl.DataFrame:
        buf = io.BytesIO()
        schema, casts = self.copy_out(sql, params, buf)
        if buf.tell() == 0:
            return pl.DataFrame(schema=schema).with_columns(casts)
        return pl.read_csv(buf.getvalue(), has_header=False, schema=schema, infer_schema=False).with_columns(casts)

    def _dicts(self, sql: str, params: dict) -> list[dict]:
        with self.con.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, params).fetchall()

    def rejects(self, run_id) -> pl.DataFrame:
        return self._frame(_q("rejects", "read"), {"run_id": run_id})

    # -- enforcement primitives (the logic is in Store) -------------------------------------
    @contextmanager
    def _txn(self, tenant=None):
        with self.con.transaction():
            if tenant is not None:
                self._xact_lock(tenant)
            yield

    def _one(self, name: str, file: str = "load", **params) -> tuple:
        return self._x(name, file, **params).fetchone()

    def _cframe(self, name: str, **params) -> pl.DataFrame:
        sql = _q(name, "contacts")
        return self._frame(sql, _used(sql, {**self._pads, **params}))

    def _stage_contact_files(self, contacts, rejects, params) -> None:
        self._stage(Stage(contacts, contacts, contacts, rejects), ("rejects",))
        self._x("stage_contacts_raw", "contacts")
        self.copy_parquet("stage_contacts_raw", ["contact_id", "email", "phone", "consent_in", "attributes",
                                                 "has_email", "has_phone"], contacts)
        self._x("stage_contacts", "contacts", **params)

    def _select(self, tenant, ids, segment) -> None:
        if segment is not None:
            self._x("select_hard_bounced", "contacts", tenant=tenant)
        else:
            self._x("select_by_ids", "contacts", tenant=tenant, ids=list(ids))

    def _before_contact_changes(self, tenant: str) -> None:
        # Exclusive against the trigger's shared lock: a contact another writer is inserting right
        # now is either committed before this sees the contacts, or its trigger sees this load.
        self.con.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (CONTACT_LOCKS, tenant))

    def _after_run(self, run_id: str) -> None:
        self._unlock(run_id)

    def _after_erasure(self) -> None:
        # Dead row versions holding the erased addresses become free space that new rows overwrite;
        # only VACUUM FULL (an exclusive lock) rewrites a table at once, and WAL archives and backups
        # keep old versions until they expire (README: Privacy).
        for table in ERASED_TABLES:
            self.con.execute(f"VACUUM {table}")

    def close(self) -> None:
        self._locked.clear()
        self.con.close()  # ends the session: its advisory locks go with it

    # -- sync watermarks (nightly API sync) ------------------------------------------------------
    def watermark(self, tenant: str, source: str) -> str | None:
        row = self.con.execute(
            "SELECT watermark FROM sync_watermarks WHERE tenant = %s AND source = %s", (tenant, source)
        ).fetchone()
        return row[0] if row else None

    def _write_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None, now) -> None:
        """Inside the caller's transaction. Fixed-width UTC text: greatest() keeps the later time."""
        with self.con.cursor() as cur:
            cur.executemany(
                "INSERT INTO sync_watermarks AS w VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant, source) DO UPDATE SET "
                "run_id = CASE WHEN excluded.watermark > w.watermark THEN excluded.run_id ELSE w.run_id END, "
                "watermark = greatest(w.watermark, excluded.watermark), updated_at = excluded.updated_at",
                [(tenant, source, value, run_id, now) for source, value in sorted(watermarks.items())],
            )

    def save_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None = None) -> None:
        with self.con.transaction():
            self._xact_lock(tenant)
            self._write_watermarks(tenant, watermarks, run_id, utcnow())
