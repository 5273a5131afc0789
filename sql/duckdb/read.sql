-- Read-side queries: lookups, exports, run listings.

-- name: check
-- check_inputs: a registered relation (idx, channel, address). Returns the active suppressions
-- per input; the blocking rules are applied by the caller (pipelines/lookup.py).
SELECT i.idx, s.reason, s.scope
FROM check_inputs i
JOIN suppressions s
  ON s.tenant = $tenant AND s.channel = i.channel AND s.address = i.address
WHERE i.address IS NOT NULL AND s.lifted_at IS NULL;

-- name: check_point
-- A few inputs (pipelines/store/duckdb_store.py: POINT_LOOKUP_MAX), each address and its token;
-- $addresses is expanded into one parameter per address. An IN list of parameters is the shape
-- DuckDB answers from the lookup index (0.6 ms at 10M rows); a join with the inputs, or a list
-- parameter, is planned as a hash join that scans the table.
SELECT channel, address, reason, scope
FROM suppressions
WHERE address IN ($addresses) AND tenant = $tenant AND lifted_at IS NULL;

-- name: check_keyed
-- The same where the tenant has erased addresses: an erased one matches by its token.
SELECT i.idx, s.reason, s.scope
FROM (SELECT c.idx, c.channel, coalesce(e.address, c.address) AS address
      FROM check_inputs c
      LEFT JOIN erased_addresses e
        ON e.tenant = $tenant AND e.channel = c.channel AND e.address = 'hmac:' || address_hmac(c.address)
      WHERE c.address IS NOT NULL) i
JOIN suppressions s
  ON s.tenant = $tenant AND s.channel = i.channel AND s.address = i.address
WHERE s.lifted_at IS NULL;

-- name: export
-- Active suppressions; an erased address shows as its keyed hash only.
SELECT tenant, channel,
       CASE WHEN address LIKE 'hmac:%' THEN NULL ELSE address END AS address,
       reason, scope, source_platform, first_seen_at, last_seen_at,
       CASE WHEN address LIKE 'hmac:%' THEN substr(address, 6) END AS address_hash,
       detail, created_run_id, last_run_id
FROM suppressions WHERE tenant = $tenant AND lifted_at IS NULL
ORDER BY channel, address, reason, scope;

-- name: runs
SELECT run_id, tenant, kind, status, dry_run, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error
FROM import_runs WHERE tenant = $tenant ORDER BY started_at DESC;

-- name: run
SELECT * FROM import_runs WHERE run_id = $run_id;

-- name: runs_since
-- The cross-run report's input: runs of one tenant (or all, $tenant NULL) since a time.
SELECT run_id, tenant, kind, status, dry_run, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error, options, summary
FROM import_runs
WHERE started_at >= $since AND (CAST($tenant AS VARCHAR) IS NULL OR tenant = $tenant)
ORDER BY started_at, run_id;

-- name: run_files
SELECT path, sha256, platform, kind, detected_why, rows_read, rows_rejected FROM run_files WHERE run_id = $run_id;

-- name: rejects
SELECT file, line, value, error, platform, detail FROM quarantine WHERE run_id = $run_id ORDER BY file, line;

-- name: succeeded_with_hash
SELECT run_id FROM import_runs
WHERE tenant = $tenant AND input_hash = $input_hash AND status = 'succeeded' AND NOT dry_run
ORDER BY started_at DESC LIMIT 1;
