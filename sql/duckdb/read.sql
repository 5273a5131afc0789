-- Read-side queries: lookups, exports, run listings.

-- name: check_point
-- A few inputs (pipelines/store/duckdb_store.py: POINT_LOOKUP_MAX = 16), each address and its
-- token, unused places repeating one of them (a NULL makes it a table scan). An IN list of parameters is the shape DuckDB answers from the lookup
-- index (0.6 ms at 10M rows); a join with the inputs, or a list parameter, is planned as a hash
-- join that scans the table.
SELECT channel, address, reason, scope
FROM suppressions
WHERE address IN ($a0, $a1, $a2, $a3, $a4, $a5, $a6, $a7,
                  $a8, $a9, $a10, $a11, $a12, $a13, $a14, $a15,
                  $a16, $a17, $a18, $a19, $a20, $a21, $a22, $a23,
                  $a24, $a25, $a26, $a27, $a28, $a29, $a30, $a31)
  AND tenant = $tenant AND lifted_at IS NULL;

-- name: check_point_2
-- check_point for one input (its address and its token): every place in the list costs (2 places:
-- 1.1 ms at 10M rows, 32 places: 2.6 ms).
SELECT channel, address, reason, scope
FROM suppressions
WHERE address IN ($a0, $a1) AND tenant = $tenant AND lifted_at IS NULL;

-- name: check_point_8
-- check_point for up to four inputs.
SELECT channel, address, reason, scope
FROM suppressions
WHERE address IN ($a0, $a1, $a2, $a3, $a4, $a5, $a6, $a7) AND tenant = $tenant AND lifted_at IS NULL;

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

-- name: runs_since
-- The cross-run report's input: runs of one tenant (or all, $tenant NULL) since a time.
SELECT run_id, tenant, kind, status, dry_run, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error, options, summary
FROM import_runs
WHERE started_at >= $since AND (CAST($tenant AS VARCHAR) IS NULL OR tenant = $tenant)
ORDER BY started_at, run_id;

-- name: rejects
SELECT file, line, value, error, platform, detail FROM quarantine WHERE run_id = $run_id ORDER BY file, line;
