-- Loading one run's staged results into the store, inside one transaction (SPEC 2.3): the
-- PostgreSQL flavour of sql/duckdb/load.sql. The staged Parquet files are COPYed into the TEMP
-- tables of `stage_tables` first (they vanish with the transaction); the rest is set-based SQL.
-- Parameters are psycopg placeholders: run_id, now, tenant.

-- name: stage_tables
CREATE TEMP TABLE stage_suppressions (
    tenant text, channel text, address text, reason text, scope text,
    first_seen_at timestamptz, last_seen_at timestamptz, source_platform text, detail text, time_known boolean
) ON COMMIT DROP;
CREATE TEMP TABLE stage_lineage (
    tenant text, channel text, address text, reason text, scope text, source_sha256 text,
    first_line bigint, row_count bigint, first_seen_at timestamptz, last_seen_at timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE stage_deliveries (
    tenant text, channel text, address text, occurred_at timestamptz, detail text
) ON COMMIT DROP;
CREATE TEMP TABLE stage_rejects (
    file text, line bigint, value text, error text, platform text, detail text
) ON COMMIT DROP;

-- name: analyze_stage
-- Temp tables get no statistics of their own: without them a 10M-row merge is planned blind.
ANALYZE stage_suppressions;
ANALYZE stage_lineage;

-- name: classify
-- new: key not in the store; strengthened: known key whose time span the run widens with real
-- event times (the load time that stands in for an unknown time is no new evidence).
CREATE TEMP TABLE stage_changes ON COMMIT DROP AS
SELECT t.tenant, t.channel, t.address, t.reason, t.scope, t.first_seen_at, t.last_seen_at,
       t.source_platform, t.detail,
       CASE WHEN s.tenant IS NULL THEN 'created' ELSE 'strengthened' END AS action
FROM stage_suppressions t
LEFT JOIN suppressions s
  ON s.tenant = t.tenant AND s.channel = t.channel AND s.address = t.address
 AND s.reason = t.reason AND s.scope = t.scope
WHERE s.tenant IS NULL
   OR (t.time_known AND (t.first_seen_at < s.first_seen_at OR t.last_seen_at > s.last_seen_at));

-- name: change_counts
SELECT count(*) FILTER (WHERE action = 'created'), count(*) FILTER (WHERE action = 'strengthened') FROM stage_changes;

-- name: insert_new
INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                          source_platform, detail, created_run_id, last_run_id, updated_at)
SELECT tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
       source_platform, detail, %(run_id)s, %(run_id)s, %(now)s
FROM stage_changes WHERE action = 'created'
ORDER BY tenant, channel, address, reason, scope;  -- in index order: a big load appends to the btree

-- name: strengthen
UPDATE suppressions s
SET first_seen_at = least(s.first_seen_at, c.first_seen_at),
    last_seen_at  = greatest(s.last_seen_at, c.last_seen_at),
    last_run_id   = %(run_id)s,
    updated_at    = %(now)s
FROM stage_changes c
WHERE c.action = 'strengthened'
  AND s.tenant = c.tenant AND s.channel = c.channel AND s.address = c.address
  AND s.reason = c.reason AND s.scope = c.scope;

-- name: insert_lineage
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at)
SELECT l.tenant, l.channel, l.address, l.reason, l.scope, %(run_id)s, l.source_sha256,
       l.first_line, l.row_count, l.first_seen_at, l.last_seen_at
FROM stage_lineage l
WHERE NOT EXISTS (
    SELECT 1 FROM suppression_sources x
    WHERE x.tenant = l.tenant AND x.channel = l.channel AND x.address = l.address
      AND x.reason = l.reason AND x.scope = l.scope AND x.source_sha256 = l.source_sha256)
ORDER BY l.tenant, l.channel, l.address, l.reason, l.scope, l.source_sha256;

-- name: insert_events
INSERT INTO suppression_events (tenant, channel, address, reason, scope, action, run_id, occurred_at, recorded_at)
SELECT tenant, channel, address, reason, scope, action, %(run_id)s, last_seen_at, %(now)s
FROM stage_changes WHERE action = 'strengthened';

-- name: insert_deliveries
INSERT INTO suppression_events (tenant, channel, address, action, run_id, occurred_at, recorded_at, detail)
SELECT d.tenant, d.channel, d.address, 'delivered', %(run_id)s, d.occurred_at, %(now)s, d.detail
FROM stage_deliveries d;

-- name: insert_rejects
INSERT INTO quarantine (run_id, file, line, value, error, platform, detail)
SELECT %(run_id)s, file, line, value, error, platform, detail FROM stage_rejects;

-- name: rollback_touched
CREATE TEMP TABLE rollback_keys ON COMMIT DROP AS
SELECT DISTINCT tenant, channel, address, reason, scope FROM suppression_sources WHERE run_id = %(run_id)s;

-- name: rollback_lineage
DELETE FROM suppression_sources WHERE run_id = %(run_id)s;

-- name: rollback_remaining
-- What is left of each touched suppression once the run's lineage is gone.
CREATE TEMP TABLE rollback_left ON COMMIT DROP AS
SELECT k.tenant, k.channel, k.address, k.reason, k.scope,
       min(x.first_seen_at) AS first_seen_at, max(x.last_seen_at) AS last_seen_at, count(x.run_id) AS sources
FROM rollback_keys k
LEFT JOIN suppression_sources x
  ON x.tenant = k.tenant AND x.channel = k.channel AND x.address = k.address
 AND x.reason = k.reason AND x.scope = k.scope
GROUP BY k.tenant, k.channel, k.address, k.reason, k.scope;

-- name: rollback_events
INSERT INTO suppression_events (tenant, channel, address, reason, scope, action, run_id, recorded_at, detail)
SELECT tenant, channel, address, reason, scope,
       CASE WHEN sources = 0 THEN 'rolled_back' ELSE 'narrowed' END, %(run_id)s, %(now)s, 'rollback of run'
FROM rollback_left;

-- name: rollback_delete
DELETE FROM suppressions s USING rollback_left r
WHERE r.sources = 0
  AND s.tenant = r.tenant AND s.channel = r.channel AND s.address = r.address
  AND s.reason = r.reason AND s.scope = r.scope;

-- name: rollback_narrow
UPDATE suppressions s
SET first_seen_at = r.first_seen_at, last_seen_at = r.last_seen_at, updated_at = %(now)s
FROM rollback_left r
WHERE r.sources > 0
  AND s.tenant = r.tenant AND s.channel = r.channel AND s.address = r.address
  AND s.reason = r.reason AND s.scope = r.scope;

-- name: rollback_counts
SELECT count(*) FILTER (WHERE sources = 0), count(*) FILTER (WHERE sources > 0) FROM rollback_left;

-- name: interrupted_runs
-- Runs of this tenant still `running` while this session holds the tenant's lock: their process
-- died (the lock goes with the connection), and their transaction with it.
UPDATE import_runs
SET status = 'failed', finished_at = %(now)s,
    error = 'interrupted: the process ended before the run finished; nothing was loaded'
WHERE tenant = %(tenant)s AND status = 'running'
RETURNING run_id;
