-- Read-side queries: lookups, exports, run listings that PostgreSQL words its own way (the rest: sql/common/read.sql).

-- name: tokenize_check_inputs
-- Where the tenant has erased addresses: an erased one matches by its token.
UPDATE check_inputs c SET address = e.address
FROM erased_addresses e
WHERE e.tenant = %(tenant)s AND e.channel = c.channel AND c.address IS NOT NULL
  AND e.address = 'hmac:' || encode(sha256(%(outer_pad)s || sha256(%(inner_pad)s || convert_to(c.address, 'UTF8'))), 'hex');

-- name: check_few
-- The same for a handful of inputs, passed as arrays: one round trip, one index probe each.
SELECT i.idx, s.reason, s.scope
FROM unnest(%(idx)s::bigint[], %(channel)s::text[], %(address)s::text[]) AS i(idx, channel, address)
JOIN suppressions s
  ON s.tenant = %(tenant)s AND s.channel = i.channel AND s.address = i.address
WHERE s.lifted_at IS NULL;

-- name: check_few_keyed
SELECT i.idx, s.reason, s.scope
FROM (SELECT u.idx, u.channel, coalesce(e.address, u.address) AS address
      FROM unnest(%(idx)s::bigint[], %(channel)s::text[], %(address)s::text[]) AS u(idx, channel, address)
      LEFT JOIN erased_addresses e
        ON e.tenant = %(tenant)s AND e.channel = u.channel
       AND e.address = 'hmac:' || encode(sha256(%(outer_pad)s || sha256(%(inner_pad)s || convert_to(u.address, 'UTF8'))), 'hex')) i
JOIN suppressions s
  ON s.tenant = %(tenant)s AND s.channel = i.channel AND s.address = i.address
WHERE s.lifted_at IS NULL;

-- name: check_inputs
-- COLLATE "C" like the key columns, so a merge join can walk the key index in its own order.
CREATE TEMP TABLE check_inputs (idx bigint, channel text COLLATE "C", address text COLLATE "C") ON COMMIT DROP;

-- name: export
-- Active suppressions; an erased address shows as its keyed hash only. COLLATE "C": byte
-- order, as DuckDB sorts, whatever the database's locale.
SELECT tenant, channel,
       CASE WHEN address LIKE 'hmac:%%' THEN NULL ELSE address END AS address,
       reason, scope, source_platform, first_seen_at, last_seen_at,
       CASE WHEN address LIKE 'hmac:%%' THEN substr(address, 6) END AS address_hash,
       detail, created_run_id, last_run_id
FROM suppressions WHERE tenant = %(tenant)s AND lifted_at IS NULL
ORDER BY channel COLLATE "C", CASE WHEN address LIKE 'hmac:%%' THEN NULL ELSE address END COLLATE "C",
         reason COLLATE "C", scope COLLATE "C";

-- name: runs_since
-- The cross-run report's input: runs of one tenant (or all, tenant NULL) since a time.
SELECT run_id, tenant, kind, status, dry_run, started_at, finished_at, rows_read, rows_accepted, rows_rejected,
       suppressions_added, suppressions_updated, error, options, summary
FROM import_runs
WHERE started_at >= %(since)s AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
ORDER BY started_at, run_id COLLATE "C";

-- name: rejects
SELECT file, line, value, error, platform, detail FROM quarantine WHERE run_id = %(run_id)s ORDER BY file COLLATE "C", line;
