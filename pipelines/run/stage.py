"""Staging: the run's normalized Parquet parts, deduplicated and counted by an in-memory DuckDB
(SQL in `sql/duckdb/stage.sql`, for every store backend); the store then loads the staged files."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.store import Stage
from pipelines.store.sql import connect_duckdb, sql_statements

# GX audits a uniform sample of about this many staged rows (all of them below it): its pandas path
# needs the batch in memory, and the guarantees that must hold for every row (one row per key,
# known reasons, normalized addresses) come from how the batch is built, not from the audit.
VALIDATION_SAMPLE = 200_000
# The text columns staging carries as enums (sql/duckdb/stage.sql enum_type): type, column; each
# one as long as it has at most ENUM_MAX distinct values, as text otherwise.
TEXT_ENUMS = (("detail_t", "detail"), ("scope_t", "scope"), ("reason_t", "reason"), ("channel_t", "channel"))
ENUM_MAX = 65_536
STAGING_MEMORY = "1500MB"
ROWS_PER_SLICE = 1_250_000  # the key aggregate's input rows per slice of the addresses (stage.sql)
MAX_SLICES = 64
EXAMPLES_PER_ERROR = 5


def staging_connection(workdir: Path):
    """The in-memory DuckDB of a run's staging, spilling into `workdir`. Polars is done by now:
    staging may take more memory than the store's default."""
    return connect_duckdb(memory_limit=STAGING_MEMORY, temp_directory=str(workdir / "duckdb_spill"))


def statements() -> dict[str, str]:
    return sql_statements("duckdb", "stage")


def sql_literal(value: Path | str) -> str:
    """A quoted SQL string literal, for the one place DuckDB takes no parameter: a path in a view
    or a statement written for splicing (`:name` in sql/duckdb/stage.sql)."""
    return "'" + str(value).replace("'", "''") + "'"


def splice_literals(text: str, **values: Path | list[Path] | str) -> str:
    """`text` with each `:name` replaced by its value as a quoted literal (a list: `[...]`): the
    run's own files, and the tenant where a type takes it as a constant (`run_types`; checked by
    `check_tenant` before any run)."""
    for key, value in values.items():
        items = value if isinstance(value, list) else [value]
        literal = ", ".join(sql_literal(v) for v in items)
        text = text.replace(f":{key}", f"[{literal}]" if isinstance(value, list) else literal)
    return text


def key_slices(rows: int) -> int:
    """In how many slices of the addresses the key aggregate runs: a power of two, about
    ROWS_PER_SLICE input rows each (one slice's hash table fits STAGING_MEMORY)."""
    slices = 1
    while slices * ROWS_PER_SLICE < rows and slices < MAX_SLICES:
        slices *= 2
    return slices


def stage_suppressions(parts: list[Path], files: pl.DataFrame, tenant: str, workdir: Path, now) -> tuple[Stage, dict]:
    """Dedupe and count the normalized parts of a suppressions import. `files` has one row per
    input file (file_idx, source_file, source_sha256, sha_rank, source_platform, source_kind,
    one_record_per_line). Returns the staged files and the run's facts (`per_file` by file_idx)."""
    q = statements()

    def sql(name: str, **values) -> str:
        return splice_literals(q[name], **values)

    stage = Stage(*(workdir / f"stage_{n}.parquet"
                    for n in ("suppressions", "lineage", "evidence", "rejects", "warnings")))
    con = staging_connection(workdir)
    try:
        con.register("input_files", files.to_arrow())
        con.execute(sql("rows_view", parts=parts))
        con.execute(sql("run_types", tenant=tenant))
        counts = ", ".join(f"approx_count_distinct({column})" for _, column in TEXT_ENUMS)
        distincts = con.execute(q["distinct_counts"].replace(":counts", counts)).fetchall()[0]
        for (name, column), distinct in zip(TEXT_ENUMS, distincts, strict=True):
            typed = q["enum_type" if 0 < distinct <= ENUM_MAX else "text_type"]
            con.execute(typed.replace(":type", name).replace(":column", column))
        params = {"tenant": tenant, "load_time": now}
        slices = key_slices(con.execute(q["row_count"]).fetchall()[0][0])
        keys = " UNION ALL ".join(
            "(" + q["key_aggregate"].replace(":of", str(slices)).replace(":slice", str(i)) + ")" for i in range(slices))
        con.execute(sql("suppressions", out=stage.suppressions).replace(":keys", keys), params)
        staged, suppression_rows, multi, time_unknown = con.execute(
            sql("suppression_counts", suppressions=stage.suppressions)).fetchall()[0]
        if multi:
            con.execute(sql("lineage", suppressions=stage.suppressions, out=stage.lineage), params)
        else:
            con.execute(sql("no_lineage", suppressions=stage.suppressions, out=stage.lineage))
        con.execute(sql("evidence", out=stage.evidence), {"tenant": tenant})
        con.execute(sql("rejects", out=stage.rejects))
        con.execute(sql("warnings", out=stage.warnings))
        per_file = {r[0]: {"rows_read": r[1], "rows_rejected": r[2], "rows_ignored": r[3]}
                    for r in con.execute(q["file_counts"]).fetchall()}
        by_reason = [dict(zip(("channel", "reason", "scope", "count"), r, strict=False))
                     for r in con.execute(sql("reason_counts", suppressions=stage.suppressions)).fetchall()]
        warnings = dict(con.execute(sql("warning_counts", warnings=stage.warnings)).fetchall())
        evidence = dict(con.execute(q["evidence_counts"]).fetchall())
        rejects = pl.read_parquet(stage.rejects, glob=False)
        warning_examples = (pl.read_parquet(stage.warnings, glob=False).group_by("warning", maintain_order=True)
                            .agg(pl.struct("file", "line", "value").head(EXAMPLES_PER_ERROR).alias("examples")))
        # Bernoulli sampling is one parallel pass; a reservoir of a fixed size is a slow serial one.
        # (A sample's size must be a constant in DuckDB: spliced as a number, never as text.)
        percent = 100.0 if staged <= VALIDATION_SAMPLE else 100.0 * VALIDATION_SAMPLE / staged
        sample = con.sql(
            sql("validation_sample", suppressions=stage.suppressions).replace(":percent", f"{percent:.6f}")
        ).to_arrow_table()
    finally:
        con.close()
    by_error = (rejects.group_by("error")
                .agg(pl.len().alias("count"), pl.struct("file", "line", "value").head(EXAMPLES_PER_ERROR).alias("examples"))
                .sort("count", descending=True))
    return stage, {
        "per_file": per_file,
        "by_reason": by_reason,
        "time_warnings": warnings,
        "time_warning_examples": {r["warning"]: r["examples"] for r in warning_examples.iter_rows(named=True)},
        "suppression_rows": int(suppression_rows),
        "suppressions_in_run": int(staged),
        "suppressions_time_unknown": int(time_unknown),
        "deliveries": int(evidence.get("delivered", 0)),
        "soft_bounce_events": int(evidence.get("soft_bounce", 0) + evidence.get("soft_bounce_count", 0)),
        "rejects_by_error": {r["error"]: r["count"] for r in by_error.iter_rows(named=True)},
        "reject_examples": {r["error"]: r["examples"] for r in by_error.iter_rows(named=True)},
        "validation_sample": pl.from_arrow(sample),
        "rejects": rejects,
    }
