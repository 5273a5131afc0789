"""Where the stores' SQL comes from: named statements in `sql/`, and how each engine is connected.

`sql/common/<file>.sql` holds what both dialects run as written (DuckDB's dialect with `$name`
parameters, translated for PostgreSQL); `sql/<dialect>/<file>.sql` what truly differs; numbered
`sql/<dialect>/NNN_*.sql` files are the schema's migrations. Python never builds SQL from values:
every value is a bound parameter, and the few identifiers (table names) come from fixed lists.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from pipelines.settings import SQL_DIR

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)
_DOLLAR = re.compile(r"\$([a-z_][a-z0-9_]*)")
_PERCENT = re.compile(r"%\(([a-z_][a-z0-9_]*)\)s")
# DuckDB functions PostgreSQL lacks, written out for it (the argument is a column or a parameter).
# The HMAC's key enters as its pads, bound per statement: PostgreSQL never holds the key.
_PG_MACROS = {
    "address_hmac": "encode(sha256(%(outer_pad)s || sha256(%(inner_pad)s || convert_to({}, 'UTF8'))), 'hex')",
    "regexp_escape": r"regexp_replace({}, '([.^$*+?()[\]{{}}|\\-])', '\\\1', 'g')",
}
_MACRO = re.compile(r"\b(" + "|".join(_PG_MACROS) + r")\(([\w.$]+)\)")

# DuckDB spills to disk past this, instead of taking 80% of the machine.
DUCKDB_CONFIG = {"memory_limit": "1GB", "preserve_insertion_order": "false"}


def _named(path: Path) -> dict[str, str]:
    """The named statements of one file (`-- name: x` starts one)."""
    if not path.is_file():
        return {}
    parts = _NAME.split(path.read_text())
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def translate(sql: str, dialect: str) -> str:
    """A statement of `sql/common` for a dialect. PostgreSQL (psycopg) takes `%(name)s`, `%%` for a
    literal `%`, the functions of `_PG_MACROS` written out, and temp tables that end with their
    transaction (DuckDB's are replaced, and dropped by the store)."""
    if dialect == "duckdb":
        return sql
    sql = _MACRO.sub(lambda m: _PG_MACROS[m[1]].format(m[2]), sql.replace("%", "%%"))
    sql = _DOLLAR.sub(r"%(\1)s", sql)
    return re.sub(r"CREATE OR REPLACE TEMP TABLE (\w+) AS", r"CREATE TEMP TABLE \1 ON COMMIT DROP AS", sql)


@cache
def sql_statements(dialect: str, file: str) -> dict[str, str]:
    """The named statements `file` gives a dialect: those of `sql/common/<file>.sql`, written once
    for both, and those of `sql/<dialect>/<file>.sql`. A name in both places is a mistake: each
    statement has one home."""
    common = {name: translate(sql, dialect) for name, sql in _named(SQL_DIR / "common" / f"{file}.sql").items()}
    own = _named(SQL_DIR / dialect / f"{file}.sql")
    if twice := sorted(common.keys() & own.keys()):
        raise RuntimeError(f"{', '.join(twice)}: in both sql/common/{file}.sql and sql/{dialect}/{file}.sql")
    return {**common, **own}


def used_params(sql: str, params: dict) -> dict:
    """The parameters a statement names (DuckDB refuses unused ones; psycopg needs every named one)."""
    names = set(_DOLLAR.findall(sql)) | set(_PERCENT.findall(sql))
    return {k: v for k, v in params.items() if k in names}


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of the numbered migrations `sql/<dialect>/NNN_name.sql`, in order."""
    return [(int(path.name[:3]), path.stem, path.read_text())
            for path in sorted((SQL_DIR / dialect).glob("[0-9][0-9][0-9]_*.sql"))]


def connect_duckdb(path: str = ":memory:", read_only: bool = False, **config):
    """Every DuckDB connection of the library: the memory limit above (and `config` over it), and
    no progress bar, which DuckDB prints on stdout during long queries, before a --json document."""
    import duckdb

    con = duckdb.connect(path, read_only=read_only, config={**DUCKDB_CONFIG, **config})
    con.execute("SET enable_progress_bar = false")
    return con
