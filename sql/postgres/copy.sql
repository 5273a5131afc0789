-- What DuckDB reads for a COPY into PostgreSQL (postgres_store.copy_in): DuckDB's dialect, over
-- `source`, the staged Parquet file; $name are DuckDB parameters. PostgreSQL never runs these.

-- name: new_tenant_keys
-- A tenant's first load (no suppressions and no erased addresses yet): every staged key is new, and
-- goes straight into `suppressions` as `insert_new` (load.sql) writes it, without a TEMP table and an
-- INSERT ... SELECT in between (9.1M keys: 19 s COPY + 37 s insert -> 33-42 s COPY, sort included).
-- The same columns and values as insert_new: test_a_first_load_writes_what_insert_new_writes holds
-- the two together.
SELECT tenant, channel, address, reason, scope, first_seen_at, last_seen_at, source_platform, detail,
       $run_id AS created_run_id, $run_id AS last_run_id, $now AS updated_at, time_known,
       CASE WHEN single_file THEN file_idx END AS created_file,
       CASE WHEN single_file THEN first_line END AS created_first_line,
       CASE WHEN single_file THEN row_count END AS created_row_count
FROM source
