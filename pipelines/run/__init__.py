"""The steps every import run shares, whatever it imports (suppressions: `pipelines.ingest`;
contacts: `pipelines.enforce.contacts`): the files are opened by `pipelines.readers`, streamed in
batches through the run's normalizer into Parquet parts (`read`), deduplicated and counted in an
in-memory DuckDB (`stage`, SQL in `sql/duckdb/stage.sql`), and the run is recorded in the store,
a failed one too (`record`). What is imported decides the plan, the normalizer and the load.
"""
