-- Read-side queries: lookups, exports, run listings.

-- name: check
-- $inputs: a registered relation (idx, input, channel, address). Returns the active
-- suppressions per input with whether they block the purpose.
SELECT i.idx, s.reason, s.scope
FROM check_inputs i
JOIN suppressions s
  ON s.tenant = $tenant AND s.channel = i.channel AND s.address = i.address
WHERE i.address IS NOT NULL;

-- name: export
SELECT tenant, channel, address, reason, scope, source_platform,
       first_seen_at, last_seen_at, address_hash, detail, created_run_id, last_run_id
FROM suppressions WHERE tenant = $tenant
ORDER BY channel, address, reason, scope;

-- name: runs
SELECT run_id, tenant, kind, status, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error
FROM import_runs WHERE tenant = $tenant ORDER BY started_at DESC;

-- name: run
SELECT * FROM import_runs WHERE run_id = $run_id;

-- name: run_files
SELECT path, sha256, platform, kind, detected_why, rows_read, rows_rejected FROM run_files WHERE run_id = $run_id;

-- name: rejects
SELECT file, line, value, error, platform, detail FROM quarantine WHERE run_id = $run_id ORDER BY file, line;

-- name: succeeded_with_hash
SELECT run_id FROM import_runs
WHERE tenant = $tenant AND input_hash = $input_hash AND status = 'succeeded' AND NOT coalesce(json_extract(options, '$.dry_run')::BOOLEAN, false)
ORDER BY started_at DESC LIMIT 1;
