"""The embedded store: one DuckDB file (one writing process at a time, DuckDB's own rule).

The engine is `Store` (base.py); this is DuckDB's dialect: how statements run, transactions, the
staged Parquet files read in place through views, and the lookup index around bulk loads.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipelines.errors import UsageError, UserError, first_line
from pipelines.lazy import lazy
from pipelines.store.base import Stage, Store
from pipelines.store.clock import utcnow
from pipelines.store.keys import address_hmac, hmac_macro_sql
from pipelines.store.sql import connect_duckdb, sql_statements, used_params

if TYPE_CHECKING:
    import polars as pl
else:  # imported on first use: a small `check` (SPEC 5: one address in under 0.3 s) needs none of it
    pl = lazy("polars")

DIALECT = "duckdb"
log = logging.getLogger(__name__)
# A bulk insert buffers whole row groups per thread before writing them out; under the 1GB limit
# DuckDB's default buffer (a fifth of the limit shared by the threads) is below one row group of
# a suppressions table, and a 10M-row load then runs on one thread at twice the time.
BULK_WRITE_CONFIG = {"write_buffer_row_group_memory_limit": "256MB"}
# A check of at most this many inputs filters on an IN list of parameters (each address and its
# token: sql/duckdb/read.sql check_point has 2 x 16), which DuckDB answers from the lookup index
# (2 ms for 16 inputs at 10M rows); more are joined with the table, a scan that costs ~150 ms
# however few they are but scales to millions.
POINT_LOOKUP_MAX = 16
# sql/duckdb/read.sql: the point lookup by its number of places (each place costs: 2 -> 1.1 ms, 32 -> 2.6 ms).
POINT_STATEMENTS = {2: "check_point_2", 8: "check_point_8", 2 * POINT_LOOKUP_MAX: "check_point"}
# A load of at least this many staged keys, and at least half as many as the store holds, drops
# the lookup index and builds it again after its inserts: cheaper than updating it row by row.
INDEX_REBUILD_MIN_ROWS = 500_000
# Runs this process has begun and not closed: any other run still `running` when the store is
# opened for writing belongs to a process that died (DuckDB allows one writing process).
_OPEN_RUNS: set[str] = set()
# The temp objects of a finished step (names from this fixed list only).
_TEMP_TABLES = frozenset({"rollback_keys", "rollback_left", "stage_contacts", "contact_plan", "erase_set",
                          "erase_map", "lift_set"})


def _rollback(con) -> None:
    """ROLLBACK after a failure; a COMMIT that failed has already ended the transaction, and the
    error that matters is the one being raised, not "no transaction is active"."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


class DuckDBStore(Store):
    dialect = DIALECT
    strengthen_steps = ("strengthen", "strengthen_first_seen", "strengthen_time_known", "strengthen_lifted")

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
        if not create and not self._one("is_store", "runs")[0]:
            self.con.close()
            raise UsageError(f"{path} is a DuckDB file but holds no suppression store")
        if not read_only:
            self.migrate()
            self._ensure_lookup_index()  # a bulk load that stopped before rebuilding it
            self._x("interrupted_runs", now=utcnow(), active=sorted(_OPEN_RUNS))
        self.key = self._init_key(generate=True)
        self.con.execute(hmac_macro_sql(self.key))

    # -- how a statement runs -------------------------------------------------------------------
    def _x(self, name: str, file: str = "load", /, **params):
        sql = sql_statements(DIALECT, file)[name]
        return self.con.execute(sql, used_params(sql, params))

    def _one(self, name: str, file: str = "load", /, **params) -> tuple | None:
        rows = self._x(name, file, **params).fetchall()  # all: DuckDB refuses new work over an unfinished result
        return rows[0] if rows else None

    def _count(self, name: str, file: str = "load", /, **params) -> int:
        return self._x(name, file, **params).fetchall()[0][0]  # DuckDB answers DML with its count

    def _xmany(self, name: str, file: str, rows: list[dict]) -> None:
        for params in rows:  # a handful (files of a run, sources of a night)
            self._x(name, file, **params)

    def _frame(self, name: str, file: str = "read", /, **params) -> pl.DataFrame:
        sql = sql_statements(DIALECT, file)[name]
        return pl.from_arrow(self.con.sql(sql, params=used_params(sql, params)).to_arrow_table())

    def _dicts(self, name: str, file: str, params: dict) -> list[dict]:
        cur = self._x(name, file, **params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    @contextmanager
    def _txn(self, tenant: str | None = None) -> Iterator[None]:
        self.con.execute("BEGIN")
        try:
            yield
        except BaseException:
            _rollback(self.con)
            raise
        self.con.execute("COMMIT")

    def _script(self, sql: str) -> None:
        self.con.execute(sql)

    def _drop(self, *tables: str) -> None:
        for table in tables:
            if table not in _TEMP_TABLES:
                raise ValueError(f"not a temp table of the store: {table}")
            self.con.execute(f"DROP TABLE IF EXISTS {table}")

    # -- runs and loads -------------------------------------------------------------------------
    def begin_run(self, run_id, tenant, kind, input_hash, options) -> None:
        _OPEN_RUNS.add(run_id)
        super().begin_run(run_id, tenant, kind, input_hash, options)

    def _close_run(self, run_id, status, summary, validation, error) -> None:
        _OPEN_RUNS.discard(run_id)
        super()._close_run(run_id, status, summary, validation, error)

    def _stage_paths(self, stage: Stage) -> None:
        self._x("stage_paths", suppressions=str(stage.suppressions), lineage=str(stage.lineage),
                evidence=str(stage.evidence), rejects=str(stage.rejects),
                warnings=str(stage.warnings) if stage.warnings is not None else None)

    def _stage_load(self, stage: Stage, p: dict, erased: bool) -> int:
        self._stage_paths(stage)
        self._x("erased_map" if erased else "no_erased_map", tenant=p["tenant"])
        for name in ("stage_views", "stage_rejects") + (("stage_warnings",) if stage.warnings is not None else ()):
            self._x(name)
        return 0  # every new key goes in through insert_new

    def _stage_rejects(self, rejects: Path) -> None:
        self._x("stage_paths", suppressions=None, lineage=None, evidence=None, rejects=str(rejects), warnings=None)
        self._x("stage_rejects")

    def _after_load(self) -> None:
        self._x("drop_stage")

    @contextmanager
    def _load_scope(self, stage: Stage) -> Iterator[None]:
        """A bulk load drops the lookup index in a transaction of its own and builds it again
        after its COMMIT, whatever happens. Dropped inside the load's transaction, DuckDB's COMMIT
        writes every new row to the WAL instead (33 s more at 10M rows)."""
        if not self._bulk_load(stage):
            yield
            return
        self._x("drop_lookup_index")
        try:
            yield
        finally:
            self._ensure_lookup_index()

    def _bulk_load(self, stage: Stage) -> bool:
        """Whether this load rebuilds the lookup index rather than update it (INDEX_REBUILD_MIN_ROWS)."""
        staged = self._one("parquet_rows", "runs", path=str(stage.suppressions))[0]
        if staged < INDEX_REBUILD_MIN_ROWS:
            return False
        return 2 * staged >= self._one("suppression_rows", "runs")[0]

    def _ensure_lookup_index(self) -> None:
        """Build the lookup index if a bulk load dropped it. After the load's COMMIT, not inside
        it: DuckDB builds an index over rows of an open transaction at COMMIT, in memory, and a
        10M-row build there exceeds the store's memory limit. Until it is built (if building fails
        or the process dies first, at the next open) lookups are right, only slower."""
        if self._one("has_lookup_index", "runs")[0]:
            return
        try:
            self._x("create_lookup_index")
        except duckdb.Error as exc:
            log.warning("the lookup index of %s was not rebuilt (%s); lookups scan the table until it is", self.url, exc)

    # -- reads ----------------------------------------------------------------------------------
    def check(self, tenant, inputs: pl.DataFrame) -> pl.DataFrame:
        if inputs.height <= POINT_LOOKUP_MAX:
            return self._check_point(tenant, inputs)
        self.con.register("check_inputs", inputs.select("idx", "channel", "address").to_arrow())
        try:
            return self._frame("check_keyed" if self.has_erasures(tenant) else "check", tenant=tenant)
        finally:
            self.con.unregister("check_inputs")

    def _check_point(self, tenant: str, inputs: pl.DataFrame) -> pl.DataFrame:
        """`check` of a few inputs through the lookup index, with the rows the join would give."""
        hits = self._point_rows(tenant, zip(*(inputs[c].to_list() for c in ("idx", "channel", "address")), strict=True))
        return pl.DataFrame(hits, schema={"idx": inputs.schema["idx"], "reason": pl.String, "scope": pl.String},
                            orient="row")

    def check_rows(self, tenant, inputs):
        if len(inputs) <= POINT_LOOKUP_MAX:
            return self._point_rows(tenant, inputs)
        return super().check_rows(tenant, inputs)

    def _point_rows(self, tenant: str, inputs) -> list[tuple]:
        """(idx, reason, scope) of at most POINT_LOOKUP_MAX (idx, channel, address) inputs.

        An erased address is stored only as its token (the load maps it too), so looking up both
        the address and its token is the `check_keyed` answer without asking which were erased.
        """
        wanted: dict[tuple[str, str], list] = {}
        for idx, channel, address in inputs:
            for stored in (address, "hmac:" + address_hmac(self.key, address)) if address is not None else ():
                wanted.setdefault((channel, stored), []).append(idx)
        addresses = sorted({a for _, a in wanted})
        rows = []
        if addresses:  # unused places repeat an address: a NULL in the list makes the index scan a table scan
            places = min(n for n in POINT_STATEMENTS if n >= len(addresses))
            params = {f"a{i}": addresses[min(i, len(addresses) - 1)] for i in range(places)}
            rows = self._x(POINT_STATEMENTS[places], "read", tenant=tenant, **params).fetchall()
        return [(idx, reason, scope) for channel, address, reason, scope in rows for idx in wanted.get((channel, address), ())]

    # -- enforcement hooks ----------------------------------------------------------------------
    def _stage_contact_files(self, contacts, rejects, params) -> None:
        self._x("stage_contacts", "contacts", **params, contacts=str(contacts))
        self._stage_rejects(rejects)

    def _select(self, tenant, ids, segment) -> None:
        if segment is not None:
            self._x("select_hard_bounced", "contacts", tenant=tenant)
            return
        self.con.register("erase_ids", pl.DataFrame({"contact_id": ids}, schema={"contact_id": pl.String}).to_arrow())
        try:
            self._x("select_by_ids", "contacts", tenant=tenant)
        finally:
            self.con.unregister("erase_ids")

    def _after_erasure(self) -> None:
        """Rewrite the file: DuckDB keeps the old versions of updated rows in blocks it only marks
        free, so an erased address would survive in the file (`strings store.duckdb`). A copy of
        the database into a new file holds only the live rows; it replaces the old file atomically
        (a crash before that leaves the old file, whole). Costs a copy of the store."""
        path = Path(self.url)
        fresh = path.with_name(path.name + ".rewrite")
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
        self._x("drop_lookup_index")  # built again after the copy: a 10M-row index inside it would not fit
        self._x("attach_copy", "runs", path=str(fresh))
        try:
            # COPY FROM DATABASE takes identifiers only: the store's own name, quoted
            current = self._one("current_database", "runs")[0].replace('"', '""')
            self.con.execute(f'COPY FROM DATABASE "{current}" TO erasure_copy')
        finally:
            self._x("detach_copy", "runs")
        self.con.close()
        os.replace(fresh, path)
        self.con = connect_duckdb(str(path), **BULK_WRITE_CONFIG)
        self._ensure_lookup_index()
        self.con.execute(hmac_macro_sql(self.key))

    def close(self) -> None:
        self.con.close()
