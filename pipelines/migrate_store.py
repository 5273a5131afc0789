"""`suppress migrate-store`: copy a whole store from one backend to another (SPEC 2.3, issue 5).

DuckDB -> PostgreSQL is the common path (a laptop store going to production), but any pair works,
the same backend included. Every table is copied, the HMAC key setting too (hashed addresses keep
matching), from one consistent snapshot of the source, into a new (empty) target in one
transaction; each table's row count is checked against the source before the target commits.
Tables go through Parquet files in a temporary directory: bounded memory for any store size.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from pipelines.errors import PipelineError, UsageError, UserError
from pipelines.settings import store_url
from pipelines.store import Store, is_postgres, open_store
from pipelines.store.keys import resolve_key
from pipelines.store.sql import sql_statements, used_params

# Every table of a store, parents first. schema_migrations is the target's own.
TABLES = ("store_settings", "import_runs", "run_files", "suppressions", "suppression_sources",
          "suppression_events", "quarantine", "message_events", "erased_addresses", "tenant_settings",
          "contacts", "contact_events", "safety_exports", "row_warnings", "sync_watermarks", "list_mappings")
DATA_TABLES = TABLES[1:]  # a target holding rows in any of these is not new

Progress = Callable[[str, int], None]


def describe(url: str) -> str:
    if is_postgres(url):
        from pipelines.redact import redact

        return redact(url)
    return url


def _filled(store: Store, name: str, table: str, columns: Sequence[str] = (), types: dict | None = None) -> str:
    """A statement of migrate.sql with its identifiers written in: SQL binds values, never names. The
    table comes from TABLES only, the columns from the target's information_schema, quoted; with
    `types`, a DuckDB JSON column leaves as text (what the PostgreSQL load reads)."""
    if table not in TABLES:
        raise ValueError(f"not a table of the store: {table}")
    quoted = ['"' + c.replace('"', '""') + '"' for c in columns]
    if types:
        quoted = [f"CAST({q} AS VARCHAR) AS {q}" if types[c] == "JSON" else q for c, q in zip(columns, quoted, strict=True)]
    return sql_statements(store.dialect, "migrate")[name].format(table=table, columns=", ".join(quoted))


def _run(store: Store, name: str, table: str, columns: Sequence[str] = (), **params):
    """Run a statement of `_filled` (the store's `_x` takes only fixed statements)."""
    sql = _filled(store, name, table, columns)
    return store.con.execute(sql, used_params(sql, params))


class _Side:
    """One store's end of the copy: its dialect's statements of sql/<common|dialect>/migrate.sql."""

    def __init__(self, store: Store):
        self.store = store
        self.duckdb = store.dialect == "duckdb"

    def columns(self, table: str) -> dict[str, str]:
        return {r["column_name"]: r["data_type"] for r in self.store._dicts("columns", "migrate", {"table": table})}

    def count(self, table: str) -> int:
        return _run(self.store, "count", table).fetchone()[0]

    def dump(self, table: str, columns: list[str], path: Path) -> None:
        types = self.columns(table)
        missing = [c for c in columns if c not in types]
        if missing:
            raise UserError(f"the source's {table} lacks column(s) {', '.join(missing)}: is it an older store?")
        sql = _filled(self.store, "dump", table, columns, types)
        if self.duckdb:
            self.store._x("dump_target", "migrate", path=str(path))
            self.store.con.execute(sql)
            return
        csv_path = path.with_suffix(".csv")
        with csv_path.open("wb") as sink:
            schema, casts = self.store.copy_out(sql, None, sink)
        if csv_path.stat().st_size == 0:
            pl.DataFrame(schema=schema).with_columns(casts).write_parquet(path)
        else:
            pl.scan_csv(csv_path, has_header=False, schema=schema, infer_schema=False).with_columns(casts).sink_parquet(path)
        csv_path.unlink()

    def load(self, table: str, columns: list[str], path: Path) -> None:
        if self.duckdb:
            _run(self.store, "load", table, columns, path=str(path))
        else:
            self.store.copy_in(table, columns, path)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.store._txn():  # DuckDB's transactions are snapshots already
            if not self.duckdb:
                self.store._x("snapshot", "migrate")
            yield

    @contextmanager
    def writing(self) -> Iterator[None]:
        if self.duckdb:
            self.store._x("drop_lookup_index")  # built again after the copy, as a bulk load does
        try:
            with self.store._txn():
                yield
        finally:
            if self.duckdb:
                self.store._ensure_lookup_index()

    def after_load(self) -> None:
        self.store._x("event_seq_past_copied", "migrate")


def _has_erasures(store: Store) -> bool:
    return bool(store._one("any_erased", "migrate")[0])


def _settings(store: Store) -> dict[str, str]:
    return {row["key"]: row["value"] for row in store._dicts("store_settings", "runs", {})}


def _keep_no_key_in_postgres(src: Store, dst: Store) -> None:
    """A laptop store keeps a generated key; PostgreSQL never stores one (only the fingerprint of
    SUPPRESSION_HMAC_KEY). Without erased addresses the old key hashes nothing and is dropped;
    with them it must come along as SUPPRESSION_HMAC_KEY, or they would stop matching."""
    from pipelines.settings import hmac_key_from_env
    from pipelines.store.keys import key_fingerprint

    if "hmac_key" not in _settings(dst):
        return
    env = hmac_key_from_env()
    if _has_erasures(src) and env != src.key:
        raise UserError("the source store hashes erased addresses with a key of its own, and PostgreSQL never "
                        "stores a key: set SUPPRESSION_HMAC_KEY=hex:<the source's `hmac_key` setting> for this "
                        "command and on every host of the new store; nothing was copied")
    dst._x("drop_key_settings", "migrate")
    if env:
        dst._x("insert_store_setting", "runs", key="hmac_key_fingerprint", value=key_fingerprint(env))


def migrate_store(source: str, target: str, progress: Progress | None = None) -> dict:
    """Copy every table of the store at `source` into the new store at `target`; returns the counts."""
    if not source or not target:
        raise UsageError("name both stores: --from and --to")
    source, target = store_url(source), store_url(target)
    if source == target:
        raise UsageError("--from and --to name the same store")
    with open_store(source, read_only=True, create=False) as src, open_store(target) as dst:
        src_side, dst_side = _Side(src), _Side(dst)
        filled = {t: n for t in DATA_TABLES if (n := dst_side.count(t))}
        if filled:
            rows = ", ".join(f"{t} {n:,}" for t, n in filled.items())
            raise UserError(f"the target store {describe(target)} is not empty ({rows}); migrate-store only fills a new store")
        counts: dict[str, int] = {}
        with tempfile.TemporaryDirectory(prefix="suppress-migrate-") as tmp, src_side.snapshot(), dst_side.writing():
            # the target's own freshly generated key gives way to the source's: hashes must keep matching
            dst._x("clear_settings", "migrate")
            for table in TABLES:
                columns = list(dst_side.columns(table))
                path = Path(tmp) / f"{table}.parquet"
                expected = src_side.count(table)
                src_side.dump(table, columns, path)
                dst_side.load(table, columns, path)
                copied = dst_side.count(table)
                if copied != expected:
                    raise PipelineError(f"{table}: {copied:,} rows in the target, {expected:,} in the source; nothing was copied")
                counts[table] = copied
                path.unlink()
                if progress:
                    progress(f"copied {table}", copied)
            dst_side.after_load()
            if dst.dialect == "postgres":
                _keep_no_key_in_postgres(src, dst)
            # the copy must open with the source's key (resolve_key also refuses a mismatching env key)
            key, _ = resolve_key(_settings(dst), generate=dst.dialect != "postgres")
            if key != src.key and _has_erasures(src):
                raise PipelineError("the copied settings give another HMAC key than the source's; nothing was copied")
    return {"status": "copied", "from": describe(source), "to": describe(target), "tables": counts}
