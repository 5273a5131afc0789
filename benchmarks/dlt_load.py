"""The SPEC 5 reference loader: dlt merging a bounces CSV into DuckDB on a primary key.

    python benchmarks/dlt_load.py CSV DUCKDB_PATH

`benchmarks/run.py` runs this as a child process and measures it like its other steps; the ingest's
CPU-time target is "no more than this". It is what a generic loader does with the file: no
validation, no lineage, no rejects. The CSV is read with Polars (`scan_csv`, `email` stripped and
lowercased, rows without an email dropped, since a primary key cannot be null) and handed to dlt as
Arrow tables of 500k rows; the resource has `write_disposition="merge", primary_key="email"`.
Addresses repeat within the file: removing the repeats is left to dlt, whose default `delete-insert`
merge deduplicates the staging table on the primary key (one row per key, an arbitrary one: no
`dedup_sort` is given).

dlt's pipeline state, its data dir and its project dir are a fresh temp dir outside the repository,
deleted afterwards (the DuckDB file is the caller's to delete); telemetry is off. Prints one JSON
line: rows read from the file, rows handed to dlt, rows in the merged table (one per distinct
email when dlt deduplicated), seconds, dlt's version.
Exit status 0 on success, 1 when the load fails, 2 on bad usage.
"""

from __future__ import annotations

import os
import sys

# before dlt is imported: no telemetry, and no reading or writing of ~/.dlt or the repo's ./.dlt
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

CHUNK_ROWS = 500_000
TABLE = "bounces"


def load(csv: Path, duckdb_path: Path) -> dict:
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="dlt-bench-"))
    os.environ["DLT_DATA_DIR"] = str(work / "data")
    os.environ["DLT_PROJECT_DIR"] = str(work / "project")
    try:
        import dlt
        import polars as pl

        counts = {"rows_read": 0, "rows_yielded": 0}

        @dlt.resource(name=TABLE, write_disposition="merge", primary_key="email")
        def bounces():
            frame = pl.scan_csv(csv).with_columns(pl.col("email").str.strip_chars().str.to_lowercase())
            for batch in frame.collect_batches(chunk_size=CHUNK_ROWS):
                counts["rows_read"] += batch.height
                batch = batch.filter(pl.col("email").is_not_null())
                counts["rows_yielded"] += batch.height
                yield batch.to_arrow()

        pipeline = dlt.pipeline(
            pipeline_name="suppression_bench",
            destination=dlt.destinations.duckdb(str(duckdb_path)),
            pipelines_dir=str(work / "pipelines"),
            dataset_name="bench",
        )
        pipeline.run(bounces())
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(TABLE)
            rows_loaded = client.execute_sql(f"SELECT count(*) FROM {table}")[0][0]  # cheap: no distinct here
        return {
            **counts,
            "rows_loaded": int(rows_loaded),
            "seconds": round(time.perf_counter() - started, 3),
            "dlt": dlt.__version__,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python benchmarks/dlt_load.py CSV DUCKDB_PATH", file=sys.stderr)
        return 2
    csv, duckdb_path = Path(argv[0]), Path(argv[1])
    if not csv.is_file():
        print(f"error: {csv} is not a file", file=sys.stderr)
        return 2
    try:
        result = load(csv, duckdb_path)
    except ImportError as exc:
        print(f"error: {exc} (install the bench extra: pip install -e '.[bench]')", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
