"""`suppress migrate-store`: a whole store copied to another backend."""
from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.options import JsonOpt
from pipelines.cli.output import ProgressLine, make_table, out, print_json


def migrate_store(
    source: Annotated[str, typer.Option("--from", metavar="FILE|URL", help="The store to copy: a .duckdb file or a postgresql:// URL.")],
    target: Annotated[str, typer.Option("--to", metavar="FILE|URL", help="The new, empty store to fill: a .duckdb file or a postgresql:// URL.")],
    as_json: JsonOpt = False,
) -> None:
    """Copy a whole store to another backend (DuckDB to PostgreSQL, say), counts checked per table.

    \b
    Example:
      suppress migrate-store --from suppressions.duckdb --to postgresql://suppress@db/suppressions
    """
    from pipelines.migrate_store import migrate_store as run_migration

    with ProgressLine() as progress:
        result = run_migration(source, target, progress=progress)
    if as_json:
        print_json(result)
        return
    table = make_table("table", "rows")
    for name, rows in result["tables"].items():
        table.add_row(name, f"{rows:,}")
    out.print(f"copied {result['from']} to {result['to']}; every table's row count matches the source")
    out.print(table)
