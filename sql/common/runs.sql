-- Run records, schema versions, store settings and sync watermarks: the same SQL on both stores
-- (see sql/common/load.sql for how a common statement reaches each dialect).

-- name: schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ);

-- name: applied_versions
SELECT version FROM schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES ($version, $name, $now);

-- name: store_settings
SELECT key, value FROM store_settings ORDER BY key;

-- name: insert_store_setting
-- Two processes may set up the same new store at once: the first value stays.
INSERT INTO store_settings (key, value) VALUES ($key, $value) ON CONFLICT (key) DO NOTHING;

-- name: begin_run
INSERT INTO import_runs (run_id, tenant, kind, status, input_hash, options, started_at, dry_run)
VALUES ($run_id, $tenant, $kind, 'running', $input_hash, CAST($options AS JSON), $now, $dry_run);

-- name: close_run
UPDATE import_runs
SET status = $status, finished_at = $now, rows_read = $rows_read, rows_accepted = $rows_accepted,
    rows_rejected = $rows_rejected, suppressions_added = $suppressions_added,
    suppressions_updated = $suppressions_updated, summary = CAST($summary AS JSON),
    validation = CAST($validation AS JSON), error = $error
WHERE run_id = $run_id;

-- name: record_file
-- file_idx: the file's position in the run, as staging numbers it (suppressions.created_file).
INSERT INTO run_files (run_id, path, sha256, platform, kind, detected_why, rows_read, rows_rejected, file_idx)
VALUES ($run_id, $path, $sha256, $platform, $kind, $detected_why, $rows_read, $rows_rejected, $file_idx);

-- name: mark_rolled_back
UPDATE import_runs SET status = 'rolled_back', rolled_back_at = $now WHERE run_id = $run_id;

-- name: run_tenant
SELECT tenant FROM import_runs WHERE run_id = $run_id;

-- name: watermark
SELECT watermark FROM sync_watermarks WHERE tenant = $tenant AND source = $source;

-- name: save_watermark
-- Fixed-width UTC text: greatest() keeps the later time, so a watermark never moves back.
INSERT INTO sync_watermarks AS w (tenant, source, watermark, run_id, updated_at)
VALUES ($tenant, $source, $watermark, $run_id, $now)
ON CONFLICT (tenant, source) DO UPDATE SET
    run_id = CASE WHEN excluded.watermark > w.watermark THEN excluded.run_id ELSE w.run_id END,
    watermark = greatest(w.watermark, excluded.watermark),
    updated_at = excluded.updated_at;
