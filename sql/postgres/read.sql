-- Read-side queries: lookups, exports, run listings (PostgreSQL flavour of sql/duckdb/read.sql).

-- name: check
-- check_inputs: a TEMP table (idx, channel, address) COPYed from the inputs. Returns the
-- suppressions per input; the blocking rules are applied in Python (pipelines/lookup.py).
SELECT i.idx, s.reason, s.scope
FROM check_inputs i
JOIN suppressions s
  ON s.tenant = %(tenant)s AND s.channel = i.channel AND s.address = i.address
WHERE i.address IS NOT NULL;

-- name: check_few
-- The same for a handful of inputs, passed as arrays: one round trip, one index probe each.
SELECT i.idx, s.reason, s.scope
FROM unnest(%(idx)s::bigint[], %(channel)s::text[], %(address)s::text[]) AS i(idx, channel, address)
JOIN suppressions s
  ON s.tenant = %(tenant)s AND s.channel = i.channel AND s.address = i.address;

-- name: check_inputs
CREATE TEMP TABLE check_inputs (idx bigint, channel text, address text) ON COMMIT DROP;

-- name: export
-- COLLATE "C": byte order, as DuckDB sorts, whatever the database's locale.
SELECT tenant, channel, address, reason, scope, source_platform,
       first_seen_at, last_seen_at, address_hash, detail, created_run_id, last_run_id
FROM suppressions WHERE tenant = %(tenant)s
ORDER BY channel COLLATE "C", address COLLATE "C", reason COLLATE "C", scope COLLATE "C";

-- name: runs
SELECT run_id, tenant, kind, status, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error
FROM import_runs WHERE tenant = %(tenant)s ORDER BY started_at DESC;

-- name: run
SELECT * FROM import_runs WHERE run_id = %(run_id)s;

-- name: run_files
SELECT path, sha256, platform, kind, detected_why, rows_read, rows_rejected FROM run_files WHERE run_id = %(run_id)s;

-- name: rejects
SELECT file, line, value, error, platform, detail FROM quarantine WHERE run_id = %(run_id)s ORDER BY file COLLATE "C", line;

-- name: succeeded_with_hash
SELECT run_id FROM import_runs
WHERE tenant = %(tenant)s AND input_hash = %(input_hash)s AND status = 'succeeded'
  AND NOT coalesce((options ->> 'dry_run')::boolean, false)
ORDER BY started_at DESC LIMIT 1;
