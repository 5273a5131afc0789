-- DuckDB's own housekeeping statements (the store file, its lookup index, staged file sizes).

-- name: is_store
SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = 'schema_migrations';

-- name: parquet_rows
SELECT count(*) FROM read_parquet($path);

-- name: suppression_rows
SELECT count(*) FROM suppressions;

-- name: has_lookup_index
SELECT count(*) > 0 FROM duckdb_indexes() WHERE index_name = 'suppressions_lookup';

-- name: attach_copy
-- The new file an erasure copies the live rows into (DuckDBStore._after_erasure).
ATTACH $path AS erasure_copy;

-- name: detach_copy
DETACH erasure_copy;

-- name: current_database
SELECT current_database();
