"""`suppress migrate-store`: copy a whole store from one backend to another (SPEC 2.3, issue 5).

DuckDB -> PostgreSQL is the common path (a laptop store going to production), but any pair works,
the same backend included. Every table is copied, the HMAC key setting too (hashed addresses keep
matching), from one consistent snapshot of the source, into a new (empty) target in one
transaction; each table's row count is checked against the source before the target commits.
Tables go through Parquet files in a temporary directory: bounded memory for any store size.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from pipelines.errors import PipelineError, UsageError, UserError
from pipelines.settings import store_url
from pipelines.store import Store, open_store
from pipelines.store.base import resolve_key

# Every table of a store, parents first. schema_migrations is the target's own.
TABLES = ("store_settings", "import_runs", "run_files", "suppressions", "suppression_sources",
          "suppression_events", "quarantine", "message_events", "erased_addresses", "tenant_settings",
          "contacts", "contact_events", "safety_exports", "row_warnings", "sync_watermarks", "list_mappings")
DATA_TABLES = TABLES[1:]  # a target holding rows in any of these is not new

Progress = Callable[[str, int], None]


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def describe(url: str) -> str:
    if _is_postgres(url):
        from pipelines.redact import redact

        return redact(url)
    return url


class _DuckDB:
    def __init__(self, store: Store):
        self.store = store
        self.con = store.con

    def columns(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [table]).fetchall()
        return dict(rows)

    def count(self, table: str) -> int:
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def dump(self, table: str, columns: list[str], path: Path) -> None:
        types = self.columns(table)
        missing = [c for c in columns if c not in types]
        if missing:
            raise UserError(f"the source's {table} lacks column(s) {', '.join(missing)}: is it an older store?")
        select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if types[c] == "JSON" else f'"{c}"' for c in columns)
        target = str(path).replace("'", "''")
        self.con.execute(f"COPY (SELECT {select} FROM {table}) TO '{target}' (FORMAT parquet)")

    def load(self, table: str, columns: list[str], path: Path) -> None:
        cols = ", ".join(f'"{c}"' for c in columns)
        self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM read_parquet(?)", [str(path)])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.con.execute("BEGIN")
        try:
            yield
        finally:
            self.con.execute("ROLLBACK")

    @contextmanager
    def writing(self) -> Iterator[None]:
        self.store._x("drop_lookup_index")  # built again after the copy, as a bulk load does
        try:
            self.con.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        finally:
            self.store._ensure_lookup_index()

    def after_load(self) -> None:
        """Event ids were copied: move the sequence past them (DuckDB cannot set a sequence)."""
        top = self.con.execute("SELECT coalesce(max(event_id), 0) FROM suppression_events").fetchone()[0]
        current = self.con.execute("SELECT nextval('suppression_event_seq')").fetchone()[0]
        if current < top:
            self.con.execute("SELECT max(nextval('suppression_event_seq')) FROM range(?)", [top - current])


class _Postgres:
    def __init__(self, store: Store):
        self.store = store
        self.con = store.con

    def columns(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
        return dict(rows)

    def count(self, table: str) -> int:
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def dump(self, table: str, columns: list[str], path: Path) -> None:
        types = self.columns(table)
        missing = [c for c in columns if c not in types]
        if missing:
            raise UserError(f"the source's {table} lacks column(s) {', '.join(missing)}: is it an older store?")
        csv_path = path.with_suffix(".csv")
        select = ", ".join(f'"{c}"' for c in columns)
        with csv_path.open("wb") as sink:
            schema, casts = self.store.copy_out(f"SELECT {select} FROM {table}", None, sink)
        if csv_path.stat().st_size == 0:
            pl.DataFrame(schema=schema).with_columns(casts).write_parquet(path)
        else:
            pl.scan_csv(csv_path, has_header=False, schema=schema, infer_schema=False).with_columns(casts).sink_parquet(path)
        csv_path.unlink()

    def load(self, table: str, columns: list[str], path: Path) -> None:
        self.store.copy_parquet(table, columns, path)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.con.transaction():
            self.con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    def after_load(self) -> None:
        """Event ids were copied: move the identity past them."""
        self.con.execute(
            "SELECT setval(pg_get_serial_sequence('suppression_events', 'event_id'), max(event_id)) "
            "FROM suppression_events HAVING max(event_id) IS NOT NULL"
        )


def _side(store: Store):
    return _Postgres(store) if store.dialect == "postgres" else _DuckDB(store)


def _has_erasures(store: Store) -> bool:
    return bool(store.con.execute("SELECT count(*) FROM erased_addresses").fetchone()[0])


def _keep_no_key_in_postgres(src: Store, dst: Store) -> None:
    """A laptop store keeps a generated key; PostgreSQL never stores one (only the fingerprint of
    SUPPRESSION_HMAC_KEY). Without erased addresses the old key hashes nothing and is dropped;
    with them it must come along as SUPPRESSION_HMAC_KEY, or they would stop matching."""
    from pipelines.settings import hmac_key_from_env
    from pipelines.store.base import key_fingerprint

    settings = dict(dst.con.execute("SELECT key, value FROM store_settings").fetchall())
    if "hmac_key" not in settings:
        return
    env = hmac_key_from_env()
    if _has_erasures(src) and env != src.key:
        raise UserError("the source store hashes erased addresses with a key of its own, and PostgreSQL never "
                        "stores a key: set SUPPRESSION_HMAC_KEY=hex:<the source's `hmac_key` setting> for this "
                        "command and on every host of the new store; nothing was copied")
    dst.con.execute("DELETE FROM store_settings WHERE key IN ('hmac_key', 'hmac_key_fingerprint')")
    if env:
        dst.con.execute("INSERT INTO store_settings (key, value) VALUES (%s, %s)",
                        ("hmac_key_fingerprint", key_fingerprint(env)))


def migrate_store(source: str, target: str, progress: Progress | None = None) -> dict:
    """Copy every table of the store at `source` into the new store at `target`; returns the counts."""
    if not source or not target:
        raise UsageError("name both stores: --from and --to")
    source, target = store_url(source), store_url(target)
    if source == target:
        raise UsageError("--from and --to name the same store")
    with open_store(source, read_only=True, create=False) as src, open_store(target) as dst:
        src_side, dst_side = _side(src), _side(dst)
        filled = {t: n for t in DATA_TABLES if (n := dst_side.count(t))}
        if filled:
            rows = ", ".join(f"{t} {n:,}" for t, n in filled.items())
            raise UserError(f"the target store {describe(target)} is not empty ({rows}); migrate-store only fills a new store")
        counts: dict[str, int] = {}
        with tempfile.TemporaryDirectory(prefix="suppress-migrate-") as tmp, src_side.snapshot(), dst_side.writing():
            # the target's own freshly generated key gives way to the source's: hashes must keep matching
            dst.con.execute("DELETE FROM store_settings")
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
            settings = dict(dst.con.execute("SELECT key, value FROM store_settings").fetchall())
            key, _ = resolve_key(settings, generate=dst.dialect != "postgres")
            if key != src.key and _has_erasures(src):
                raise PipelineError("the copied settings give another HMAC key than the source's; nothing was copied")
    return {"status": "copied", "from": describe(source), "to": describe(target), "tables": counts}
