-- Named statements both dialects run as written here (pipelines/store/sql.py `translate`): DuckDB's
-- dialect with $name parameters; PostgreSQL gets %(name)s, %% for a literal %, address_hmac and
-- regexp_escape written out, and temp tables that end with the transaction. What differs between
-- them is in sql/duckdb and sql/postgres.

-- name: check
-- check_inputs: a registered relation (idx, channel, address). Returns the active suppressions
-- per input; the blocking rules are applied by the caller (pipelines/lookup.py).
SELECT i.idx, s.reason, s.scope
FROM check_inputs i
JOIN suppressions s
  ON s.tenant = $tenant AND s.channel = i.channel AND s.address = i.address
WHERE i.address IS NOT NULL AND s.lifted_at IS NULL;

-- name: runs
SELECT run_id, tenant, kind, status, dry_run, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error
FROM import_runs WHERE tenant = $tenant ORDER BY started_at DESC;

-- name: run
SELECT * FROM import_runs WHERE run_id = $run_id;

-- name: run_files
SELECT path, sha256, platform, kind, detected_why, rows_read, rows_rejected FROM run_files WHERE run_id = $run_id;

-- name: succeeded_with_hash
SELECT run_id FROM import_runs
WHERE tenant = $tenant AND input_hash = $input_hash AND status = 'succeeded' AND NOT dry_run
ORDER BY started_at DESC LIMIT 1;

-- name: sync_watermarks
-- The nightly sync's watermarks of one tenant (or all: $tenant NULL), with the run that moved each.
SELECT tenant, source, watermark, run_id, updated_at
FROM sync_watermarks
WHERE CAST($tenant AS VARCHAR) IS NULL OR tenant = $tenant;

-- name: sync_runs
-- Runs of one tenant (or all) that are not dry runs, newest first, with their options: a nightly
-- sync run names its source there, under `watermarks` (pipelines/sync/state.py picks those out).
SELECT run_id, tenant, kind, status, started_at, finished_at, rows_read, rows_rejected, suppressions_added, error,
       options
FROM import_runs
WHERE (CAST($tenant AS VARCHAR) IS NULL OR tenant = $tenant) AND NOT coalesce(dry_run, false)
ORDER BY started_at DESC;
