"""The embedded store: one DuckDB file (one writing process at a time, DuckDB's own rule)."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from pipelines.errors import UserError
from pipelines.store.base import (
    DUCKDB_CONFIG,
    LoadCounts,
    Stage,
    Store,
    hmac_macro_sql,
    migrations,
    resolve_key,
    sql_statements,
    utcnow,
)

DIALECT = "duckdb"


def _q(name: str, file: str = "load") -> str:
    return sql_statements(DIALECT, file)[name]




class DuckDBStore(Store):
    dialect = DIALECT

    def __init__(self, path: str | Path, read_only: bool = False):
        self.url = str(path)
        try:
            self.con = duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
        except duckdb.IOException as exc:
            raise UserError(f"cannot open store {path}: {exc}") from None
        self.read_only = read_only
        if not read_only:
            self.migrate()
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
                self.con.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(self, run_id, tenant, kind, input_hash, options) -> None:
        self.con.execute(
            "INSERT INTO import_runs (run_id, tenant, kind, status, input_hash, options, started_at) "
            "VALUES (?, ?, ?, 'running', ?, ?, ?)",
            [run_id, tenant, kind, input_hash, json.dumps(options), utcnow()],
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
        self.con.execute(
            "UPDATE import_runs SET status = ?, finished_at = ?, rows_read = ?, rows_accepted = ?, rows_rejected = ?, "
            "suppressions_added = ?, suppressions_updated = ?, summary = ?, validation = ?, error = ? WHERE run_id = ?",
            [status, utcnow(), summary.get("rows_read"), summary.get("rows_accepted"), summary.get("rows_rejected"),
             summary.get("suppressions_added", 0), summary.get("suppressions_updated", 0), json.dumps(summary, default=str),
             json.dumps(validation, default=str) if validation is not None else None, error, run_id],
        )

    def load_run(self, run_id, stage: Stage, files, summary, validation, dry_run: bool = False) -> LoadCounts:
        now = utcnow()
        params = {"run_id": run_id, "now": now}
        self.con.execute("BEGIN")
        try:
            self.con.execute(_q("stage"), {"suppressions": str(stage.suppressions)})
            self.con.execute(_q("classify"))
            added, updated = self.con.execute(_q("change_counts")).fetchall()[0]
            self.con.execute(_q("insert_new"), params)
            self.con.execute(_q("strengthen"), params)
            self.con.execute(_q("insert_lineage"), {"run_id": run_id, "lineage": str(stage.lineage)})
            self.con.execute(_q("insert_events"), params)
            self.con.execute(_q("insert_deliveries"), {**params, "deliveries": str(stage.deliveries)})
            self.con.execute(_q("insert_rejects"), {"run_id": run_id, "rejects": str(stage.rejects)})
            self._record_files(run_id, files)
            if dry_run:  # the whole merge ran; undo it and keep only the counts
                self.con.execute("ROLLBACK")
                return LoadCounts(added, updated)
            summary = {**summary, "suppressions_added": added, "suppressions_updated": updated}
            self._close_run(run_id, "succeeded", summary, validation, None)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            for t in ("stage_suppressions", "stage_changes"):
                self.con.execute(f"DROP TABLE IF EXISTS {t}")
        return LoadCounts(added, updated)

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
            self.con.execute("ROLLBACK")
            raise

    def rollback_run(self, run_id: str) -> dict:
        run = self.run(run_id)
        if run is None:
            raise UserError(f"no run {run_id}")
        if run["status"] != "succeeded":
            raise UserError(f"run {run_id} is {run['status']}; only a succeeded run can be rolled back")
        params = {"run_id": run_id, "now": utcnow()}
        self.con.execute("BEGIN")
        try:
            self.con.execute(_q("rollback_touched"), {"run_id": run_id})
            self.con.execute(_q("rollback_lineage"), {"run_id": run_id})
            self.con.execute(_q("rollback_remaining"))
            removed, narrowed = self.con.execute(_q("rollback_counts")).fetchall()[0]
            self.con.execute(_q("rollback_events"), params)
            self.con.execute(_q("rollback_delete"))
            self.con.execute(_q("rollback_narrow"), {"now": params["now"]})
            self.con.execute(
                "UPDATE import_runs SET status = 'rolled_back', rolled_back_at = ? WHERE run_id = ?",
                [params["now"], run_id],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.execute("DROP TABLE IF EXISTS rollback_keys; DROP TABLE IF EXISTS rollback_left")
        return {"run_id": run_id, "status": "rolled_back", "suppressions_removed": removed,
                "suppressions_narrowed": narrowed}

    # -- reads ----------------------------------------------------------------------------------
    def check(self, tenant, inputs: pl.DataFrame) -> pl.DataFrame:
        self.con.register("check_inputs", inputs.to_arrow())
        try:
            return self._frame("check", {"tenant": tenant})
        finally:
            self.con.unregister("check_inputs")

    def export(self, tenant) -> pl.DataFrame:
        return self._frame("export", {"tenant": tenant})

    def _frame(self, name: str, params: dict) -> pl.DataFrame:
        return pl.from_arrow(self.con.sql(_q(name, "read"), params=params).to_arrow_table())

    def _dicts(self, sql: str, params: dict) -> list[dict]:
        cur = self.con.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]

    def runs(self, tenant) -> list[dict]:
        return self._dicts(_q("runs", "read"), {"tenant": tenant})

    def run(self, run_id) -> dict | None:
        rows = self._dicts(_q("run", "read"), {"run_id": run_id})
        if not rows:
            return None
        row = rows[0]
        for k in ("summary", "validation", "options"):
            if isinstance(row.get(k), str):
                row[k] = json.loads(row[k])
        return row

    def run_files(self, run_id) -> list[dict]:
        return self._dicts(_q("run_files", "read"), {"run_id": run_id})

    def rejects(self, run_id) -> pl.DataFrame:
        return self._frame("rejects", {"run_id": run_id})

    def close(self) -> None:
        self.con.close()
