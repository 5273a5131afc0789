"""The production store: PostgreSQL through psycopg 3, where the sending platform reads it.

The engine is `Store` (base.py), with the same rules as the DuckDB store; this is PostgreSQL's
dialect (SQL in `sql/common` and `sql/postgres`):
- the staged Parquet files are COPYed into TEMP tables, then merged with set-based SQL, all in one
  transaction (a dry run does the same and rolls back);
- runs of one tenant never interleave: `begin_run` takes a session-level advisory lock for the
  tenant and holds it until the run is closed (or the connection ends), and every write that
  merges or rolls back takes the same lock for its transaction. Other tenants are not blocked;
- the key for erased addresses is never stored: HMACs are computed in SQL from pads passed as
  parameters of each statement that needs them.
"""
from __future__ import annotations

import io
import json
import math
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import dict_row

from pipelines.errors import UsageError, UserError, first_line
from pipelines.lazy import lazy
from pipelines.redact import redact, scrub
from pipelines.store.base import Stage, Store, connect_duckdb
from pipelines.store.clock import utcnow
from pipelines.store.keys import hmac_pads
from pipelines.store.sql import sql_statements, used_params

if TYPE_CHECKING:
    import polars as pl
    import pyarrow.parquet as pq
else:  # imported on first use: a small `check` (SPEC 5) needs none of them
    pl, pq = lazy("polars"), lazy("pyarrow.parquet")

DIALECT = "postgres"

# The advisory lock namespaces of sql/postgres/runs.sql (there as literals; here for operators'
# tooling and the tests, which take the same locks from outside).
TENANT_LOCKS = 0x53555050  # "SUPP": per tenant, (TENANT_LOCKS, hashtext(tenant))
SCHEMA_LOCKS = 0x53555051  # migrations
CONTACT_LOCKS = 0x53555052  # the contacts trigger (shared) against a load's contact step (exclusive)

# The tables an erasure rewrites addresses in (sql/<common|postgres>/contacts.sql erase_*).
ERASED_TABLES = ("suppressions", "suppression_sources", "suppression_events", "message_events", "quarantine",
                 "row_warnings", "import_runs", "contacts", "contact_events")
COPY_BATCH_ROWS = 100_000  # rows per chunk sent through COPY
# DuckDB's memory while it reads (and sorts) what a COPY sends. A sort of 9.1M staged keys spills
# beyond it (as fast with 1 GB as with 256 MB), but the memory it pins grows with its threads: on 4
# threads a first load's sort of 3M keys ran out of 256 MB in 9 of 11 runs, on 2 threads 9.1M keys
# in 2 of 22 (2026-12-07; none of 6 with 512 MB, none of 6 with 1 GB). 512 MB doubles the room;
# with 1 GB a 10M-row PostgreSQL ingest peaked at 1.97 GB (1.5 GB with 256 MB).
# On two threads whatever the host: the server is the bottleneck.
COPY_MEMORY = "512MB"
COPY_THREADS = 2
FEW_INPUTS = 1_000  # up to this many addresses, `check` sends them as arrays instead of COPY
INDEX_PROBE_ROWS = 1_000_000  # up to this many staged keys, a load classifies them by index probes

# The staged Parquet columns each TEMP table takes (sql/postgres/load.sql `stage_tables`).
STAGE_COLUMNS = {
    "suppressions": ["tenant", "channel", "address", "reason", "scope", "first_seen_at", "last_seen_at",
                     "source_platform", "detail", "time_known", "source_sha256", "file_idx", "first_line",
                     "row_count", "single_file"],
    "lineage": ["tenant", "channel", "address", "reason", "scope", "source_sha256", "first_line", "row_count",
                "first_seen_at", "last_seen_at", "time_known"],
    "evidence": ["tenant", "channel", "address", "kind", "occurred_at", "bounce_count", "source_sha256",
                 "source_line", "detail"],
    "rejects": ["file", "line", "value", "error", "platform", "detail"],
    "warnings": ["file", "line", "value", "warning"],
}
# The order a big load's staged rows reach their TEMP tables in: the key index's own order (COLLATE
# "C" is DuckDB's byte-wise order), so insert_new and insert_evidence read them sorted and append
# to the btree without a sort of their own (9.1M keys: PostgreSQL's sort spilled 2 GB, 23 s).
STAGE_ORDER = {"suppressions": ("channel", "address", "reason", "scope"),
               "evidence": ("channel", "address", "kind", "occurred_at")}
# The columns `insert_new` writes (load.sql), which a tenant's first load COPYs straight in.
NEW_KEY_COLUMNS = ["tenant", "channel", "address", "reason", "scope", "first_seen_at", "last_seen_at",
                   "source_platform", "detail", "created_run_id", "last_run_id", "updated_at", "time_known",
                   "created_file", "created_first_line", "created_row_count"]
CONTACT_COLUMNS = ["contact_id", "email", "phone", "consent_in", "attributes", "has_email", "has_phone"]

# PostgreSQL type OIDs -> how a result column comes back through COPY ... (FORMAT csv)
_TIMESTAMPS = {1184, 1114}
_INTEGERS = {20, 21, 23, 26}
_FLOATS = {700, 701, 1700}
_BOOL = 16


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


# A column's PostgreSQL type -> the DuckDB type it is cast to before pgpq writes it in PostgreSQL's
# binary COPY format (the store's tables use no other types; a new one fails loudly here).
_COPY_TYPES = {"boolean": "BOOLEAN", "text": "VARCHAR", "character varying": "VARCHAR", "integer": "INTEGER",
               "bigint": "BIGINT", "timestamp with time zone": "TIMESTAMPTZ", "jsonb": "VARCHAR"}


def _ident(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def binary_value(column: str, pg_type: str) -> str:
    """A column as a value of the DuckDB type that COPY (FORMAT binary) into `pg_type` takes.
    PostgreSQL text cannot hold NUL characters: they become U+FFFD (a raw value stays readable)."""
    expr = f"CAST({_ident(column)} AS {_COPY_TYPES[pg_type]})"
    if _COPY_TYPES[pg_type] == "VARCHAR":
        expr = f"CASE WHEN contains({expr}, chr(0)) THEN replace({expr}, chr(0), '\ufffd') ELSE {expr} END"
    return expr


def binary_select(columns: list[str], types: dict[str, str]) -> str:
    """The select list that gives `columns` as COPY (FORMAT binary) into columns of `types` takes
    them. jsonb's binary input is a version byte (1), then the JSON text."""
    exprs = []
    for column in columns:
        expr = binary_value(column, types[column])
        if types[column] == "jsonb":
            expr = f"chr(1) || {expr}"
        exprs.append(f"{expr} AS {_ident(column)}")
    return ", ".join(exprs)


def read_ahead(chunks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """`chunks`, made on a thread of their own up to `depth` ahead: the next chunk is read and
    encoded while the server takes this one."""
    with ThreadPoolExecutor(1, thread_name_prefix="copy") as pool:
        pending = deque(pool.submit(next, chunks, None) for _ in range(depth))
        while (chunk := pending.popleft().result()) is not None:
            pending.append(pool.submit(next, chunks, None))
            yield chunk


class PostgresStore(Store):
    dialect = DIALECT

    def __init__(self, url: str, read_only: bool = False, create: bool = True):
        from pipelines.store import missing_store

        self.url = url
        self.read_only = read_only
        self._locked: dict[str, str] = {}  # run_id -> tenant whose session lock this connection holds
        self._pads: dict = {}
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="suppress")
        except (psycopg.Error, ValueError) as exc:  # ValueError: a malformed URL (a bad % escape...)
            if not create and "does not exist" in str(exc):
                raise UsageError(missing_store(redact(url))) from None
            raise UserError(f"cannot open store {redact(url)}: {scrub(first_line(exc), url)}") from None
        try:
            self._x("session", "runs")
            try:  # PostgreSQL 14+: a killed client's backend stops within seconds, even mid-statement
                self._x("connection_check", "runs")
            except psycopg.Error:
                pass
            if read_only:
                self._x("read_only", "runs")
            if not create and not self._one("is_store", "runs")[0]:
                raise UsageError(missing_store(redact(url)))
            if not read_only:
                self.migrate()
            try:
                self.key = self._init_key(generate=False)  # the key is never stored in PostgreSQL
            except psycopg.errors.UndefinedTable:
                raise UserError(f"{redact(url)} holds no suppression store yet") from None
            # HMAC pads for column-wise tokens in SQL; parameters of each statement, never stored.
            # Without a key no address has been erased, and no statement needs them.
            if self.key is not None:
                inner, outer = hmac_pads(self.key)
                self._pads = {"inner_pad": bytes.fromhex(inner), "outer_pad": bytes.fromhex(outer)}
        except BaseException:
            self.con.close()
            raise

    # -- how a statement runs -------------------------------------------------------------------
    def _x(self, name: str, file: str = "load", /, **params):
        """Run a named statement with the parameters it uses (always through placeholders)."""
        sql = sql_statements(DIALECT, file)[name]
        return self.con.execute(sql, used_params(sql, {**self._pads, **params}))

    def _one(self, name: str, file: str = "load", /, **params) -> tuple | None:
        return self._x(name, file, **params).fetchone()

    def _count(self, name: str, file: str = "load", /, **params) -> int:
        return self._x(name, file, **params).rowcount

    def _xmany(self, name: str, file: str, rows: list[dict]) -> None:
        if rows:
            sql = sql_statements(DIALECT, file)[name]
            with self.con.cursor() as cur:
                cur.executemany(sql, [used_params(sql, {**self._pads, **r}) for r in rows])

    def _frame(self, name: str, file: str = "read", /, **params) -> pl.DataFrame:
        sql = sql_statements(DIALECT, file)[name]
        return self._sql_frame(sql, used_params(sql, {**self._pads, **params}))

    def _dicts(self, name: str, file: str, params: dict) -> list[dict]:
        sql = sql_statements(DIALECT, file)[name]
        with self.con.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, used_params(sql, params)).fetchall()

    def _json(self, value) -> str | None:
        return json_text(value)

    @contextmanager
    def _txn(self, tenant: str | None = None) -> Iterator[None]:
        with self.con.transaction():
            if tenant is not None:
                self._xact_lock(tenant)
            yield

    def _script(self, sql: str) -> None:
        self.con.execute(sql)

    @contextmanager
    def _migration_txn(self) -> Iterator[None]:
        with self.con.transaction():
            self._x("migration_lock", "runs")  # one migrator at a time: two processes opening a new store race
            yield

    def _applied_versions(self) -> set[int]:
        if not self._one("is_store", "runs")[0]:
            return set()
        return super()._applied_versions()

    # -- the per-tenant lock --------------------------------------------------------------------
    def _xact_lock(self, tenant: str) -> None:
        """The tenant's lock for the current transaction (re-entrant with the session lock). The
        transaction is marked as the library's: the contacts trigger leaves its writes alone
        (statuses are computed set-wise under this lock)."""
        self._x("tenant_xact_lock", "runs", tenant=tenant)
        self._x("library_write", "runs")

    def _before_begin(self, run_id: str, tenant: str) -> None:
        """Wait until no other run of this tenant holds the lock; held until the run closes. Holding
        it, a run of the tenant still `running` is one whose process died: it is closed."""
        self._x("tenant_lock", "runs", tenant=tenant)
        self._locked[run_id] = tenant
        with self.con.transaction():
            self._x("interrupted_runs", tenant=tenant, now=utcnow())

    def _after_run(self, run_id: str) -> None:
        tenant = self._locked.pop(run_id, None)
        if tenant is None or self.con.closed:
            return
        try:
            self._x("tenant_unlock", "runs", tenant=tenant)
        except psycopg.Error:
            pass  # a broken connection has released it already

    def _before_contact_changes(self, tenant: str) -> None:
        # Exclusive against the trigger's shared lock: a contact another writer is inserting right
        # now is either committed before this sees the contacts, or its trigger sees this load.
        self._x("contacts_lock", "runs", tenant=tenant)

    # -- staging and loads ----------------------------------------------------------------------
    def copy_in(self, table: str, columns: list[str], source: Path | str | pl.DataFrame,
                order: tuple[str, ...] = (), select: str | None = None, params: dict | None = None) -> int:
        """COPY `columns` of a Parquet file or a frame into a table; returns the rows sent.

        DuckDB reads the source (through `select`, a DuckDB query over `source` with `params`, if
        given; in `order`, if given) and casts each column to the table's type; pgpq encodes the
        batches in PostgreSQL's binary COPY format, which the server takes without parsing text
        (9.1M staged keys: the server's share 24 -> 10.5 s; the client's, which was CSV written by
        Polars, 28 -> 2 s, 7 s in key order). The table and column names come from this module's
        fixed lists (COPY takes no parameters); the rows are data, never SQL."""
        from pgpq import ArrowToPostgresBinaryEncoder

        types = dict(self._x("column_types", "runs", table=table).fetchall())
        # In the order of the values PostgreSQL gets (NUL replaced): `order` names columns of the
        # source that go into the table's columns of the same name.
        order_by = (" ORDER BY " + ", ".join(binary_value(c, types[c]) for c in order)) if order else ""
        frame = isinstance(source, pl.DataFrame)
        # Sorted before `select` adds its columns: the run ids and times it adds to 9.1M keys made
        # the sort run out of COPY_MEMORY. The SELECT over the sorted rows keeps their order
        # (DuckDB 2.0 plans it above the sort; its order preservation is on for it). Were the order
        # lost, only the speed would suffer: nothing reads the order the rows arrive in.
        query = (f"WITH source AS (SELECT * FROM {'source_frame' if frame else 'read_parquet($path)'}{order_by}) "
                 f"SELECT {binary_select(columns, types)} FROM ({select or 'SELECT * FROM source'}) AS q")
        query_params = used_params(query, {**(params or {}), **({} if frame else {"path": str(source)})})
        cols = ", ".join(map(_ident, columns))
        sent = 0

        def chunks(duck) -> Iterator[bytes]:
            nonlocal sent
            reader = duck.sql(query, params=query_params or None).to_arrow_reader(COPY_BATCH_ROWS)
            encoder = ArrowToPostgresBinaryEncoder(reader.schema)
            yield encoder.write_header()
            for batch in reader:
                sent += batch.num_rows
                yield encoder.write_batch(batch)
            yield encoder.finish()

        # A sort that outgrows COPY_MEMORY spills here: beside a file (the run's own directory),
        # never into DuckDB's default `.tmp` under the current directory.
        with (tempfile.TemporaryDirectory(prefix="copy-spill-", dir=None if frame else Path(source).parent) as spill,
              connect_duckdb(memory_limit=COPY_MEMORY, threads=COPY_THREADS, temp_directory=spill,
                             preserve_insertion_order="true" if order else "false") as duck,
              self.con.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT binary)") as copy):
            if frame:
                duck.register("source_frame", source)
            for chunk in read_ahead(chunks(duck)):
                copy.write(chunk)
        return sent

    def _stage(self, stage: Stage, parts: tuple[str, ...]) -> None:
        self._x("stage_tables")
        for part in parts:
            self.copy_in(f"stage_{part}", STAGE_COLUMNS[part], getattr(stage, part), STAGE_ORDER.get(part, ()))

    def _stage_load(self, stage: Stage, p: dict, erased: bool) -> int:
        self._x("load_work_mem")  # per hash/sort of the merge: a 10M-row join stays in memory
        parts = ("lineage", "evidence", "rejects") + (("warnings",) if stage.warnings is not None else ())
        # A tenant's first load (the migration of its history): no key is in the store, so the
        # staged keys are the new rows, COPYed straight in; `stage_suppressions` stays empty.
        first = not erased and self._one("tenant_is_new", tenant=p["tenant"])[0]
        self._stage(stage, parts if first else ("suppressions", *parts))
        added = 0
        if first:
            added = self.copy_in("suppressions", NEW_KEY_COLUMNS, stage.suppressions, STAGE_ORDER["suppressions"],
                                 select=sql_statements(DIALECT, "copy")["new_tenant_keys"],
                                 params={"run_id": p["run_id"], "now": p["now"]})
        if erased:
            self._x("erased_map", tenant=p["tenant"])
            for name in ("tokenize_stage", "tokenize_lineage", "tokenize_evidence"):
                self._x(name)
        else:
            self._x("no_erased_map")
        self._x("analyze_stage")
        return added

    def _stage_rejects(self, rejects: Path) -> None:
        self._stage(Stage(rejects, rejects, rejects, rejects), ("rejects",))

    def _classify(self, stage: Stage, params: dict) -> None:
        # A nightly increment against a big store: probing the key index per staged key beats the
        # hash join over every suppression the planner otherwise picks (3 s -> 0.3 s for 100k keys
        # against 10M). A big first load keeps its hash join.
        small = pq.ParquetFile(str(stage.suppressions)).metadata.num_rows <= INDEX_PROBE_ROWS
        if small:
            self._x("hashjoin_off", "runs")
            self._x("jit_off", "runs")  # for the rest of the load: compiling took 0.2 s of stage_known alone
        self._x("stage_known", **params)
        if small:
            self._x("hashjoin_on", "runs")
        self._x("analyze_known")
        self._x("classify", **params)

    # -- reads ----------------------------------------------------------------------------------
    def check(self, tenant, inputs: pl.DataFrame) -> pl.DataFrame:
        idx_type = inputs.schema["idx"]
        wanted = inputs.filter(pl.col("address").is_not_null()).select(
            pl.col("idx").cast(pl.Int64), pl.col("channel").cast(pl.String), pl.col("address").cast(pl.String)
        )
        if wanted.height <= FEW_INPUTS:
            rows = self._check_few(tenant, wanted["idx"].to_list(), wanted["channel"].to_list(),
                                   wanted["address"].to_list())
            frame = pl.DataFrame(rows, schema={"idx": pl.Int64, "reason": pl.String, "scope": pl.String}, orient="row")
        else:
            keyed = self.has_erasures(tenant)
            with self.con.transaction():
                self._x("check_inputs", "read")
                # In the merge join's order: its sort of a sorted run is cheap (1M inputs: 1.1 -> 0.4 s)
                self.copy_in("check_inputs", ["idx", "channel", "address"], wanted, order=("channel", "address"))
                if keyed:
                    self._x("tokenize_check_inputs", "read", tenant=tenant)
                # Many inputs: a merge join along the key index (index-only, 004_lookup_index.sql)
                # beats the hash join the planner prefers, which reads every suppression.
                for name in ("analyze_check_inputs", "hashjoin_off", "jit_off"):
                    self._x(name, "runs")
                frame = self._frame("check", tenant=tenant)
        return frame.with_columns(pl.col("idx").cast(idx_type))

    def check_rows(self, tenant, inputs):
        wanted = [row for row in inputs if row[2] is not None]
        if len(wanted) > FEW_INPUTS:
            return super().check_rows(tenant, inputs)
        return self._check_few(tenant, *(list(column) for column in zip(*wanted, strict=True))) if wanted else []

    def _check_few(self, tenant: str, idx: list[int], channel: list[str], address: list[str]) -> list[tuple]:
        """(idx, reason, scope) of at most FEW_INPUTS inputs, sent as arrays: one round trip."""
        keyed = self.has_erasures(tenant)
        return self._x("check_few_keyed" if keyed else "check_few", "read", tenant=tenant, idx=idx,
                       channel=channel, address=address).fetchall()

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

    def _sql_frame(self, sql: str, params: dict | None) -> pl.DataFrame:
        buf = io.BytesIO()
        schema, casts = self.copy_out(sql, params, buf)
        if buf.tell() == 0:
            return pl.DataFrame(schema=schema).with_columns(casts)
        return pl.read_csv(buf.getvalue(), has_header=False, schema=schema, infer_schema=False).with_columns(casts)

    # -- enforcement hooks ----------------------------------------------------------------------
    def _stage_contact_files(self, contacts, rejects, params) -> None:
        self._stage(Stage(contacts, contacts, contacts, rejects), ("rejects",))
        self._x("stage_contacts_raw", "contacts")
        self.copy_in("stage_contacts_raw", CONTACT_COLUMNS, contacts)
        self._x("stage_contacts", "contacts", **params)

    def _select(self, tenant, ids, segment) -> None:
        if segment is not None:
            self._x("select_hard_bounced", "contacts", tenant=tenant)
        else:
            self._x("select_by_ids", "contacts", tenant=tenant, ids=list(ids))

    def _after_erasure(self) -> None:
        # Dead row versions holding the erased addresses become free space that new rows overwrite;
        # only VACUUM FULL (an exclusive lock) rewrites a table at once, and WAL archives and backups
        # keep old versions until they expire (README: Privacy). Table names from the fixed list.
        for table in ERASED_TABLES:
            self.con.execute(f"VACUUM {table}")

    def close(self) -> None:
        self._locked.clear()
        self.con.close()  # ends the session: its advisory locks go with it
