-- Loading one run's staged results into the store, inside one transaction (SPEC 2.3): what
-- PostgreSQL does its own way (the rest is sql/common/load.sql). The staged Parquet files are COPYed into the TEMP
-- tables of `stage_tables` first (they vanish with the transaction); the rest is set-based SQL.
-- Parameters are psycopg placeholders: run_id, now, tenant.

-- name: stage_tables
-- Key columns are COLLATE "C" like the store's (001_core.sql): the merges sort the staged keys in
-- the btree's own order, byte-wise, not by the database locale's much slower rules.
CREATE TEMP TABLE stage_suppressions (
    tenant text COLLATE "C", channel text COLLATE "C", address text COLLATE "C", reason text COLLATE "C",
    scope text COLLATE "C", first_seen_at timestamptz, last_seen_at timestamptz, source_platform text, detail text,
    time_known boolean, source_sha256 text COLLATE "C", file_idx integer, first_line bigint, row_count bigint,
    single_file boolean
) ON COMMIT DROP;
CREATE TEMP TABLE stage_lineage (
    tenant text COLLATE "C", channel text COLLATE "C", address text COLLATE "C", reason text COLLATE "C",
    scope text COLLATE "C", source_sha256 text COLLATE "C",
    first_line bigint, row_count bigint, first_seen_at timestamptz, last_seen_at timestamptz, time_known boolean
) ON COMMIT DROP;
CREATE TEMP TABLE stage_evidence (
    tenant text COLLATE "C", channel text COLLATE "C", address text COLLATE "C", kind text COLLATE "C",
    occurred_at timestamptz, bounce_count bigint, source_sha256 text COLLATE "C", source_line bigint, detail text
) ON COMMIT DROP;
CREATE TEMP TABLE stage_warnings (
    file text, line bigint, value text, warning text
) ON COMMIT DROP;
CREATE TEMP TABLE stage_rejects (
    file text, line bigint, value text, error text, platform text, detail text
) ON COMMIT DROP;

-- name: analyze_stage
-- Temp tables get no statistics of their own: without them a 10M-row merge is planned blind.
ANALYZE stage_suppressions;
ANALYZE stage_lineage;
ANALYZE stage_evidence;

-- name: analyze_known
ANALYZE stage_known;

-- name: erased_map
-- Staged addresses that were erased earlier, with their tokens: they are stored as tokens again
-- (only run when the tenant has erased addresses; otherwise `no_erased_map`).
CREATE TEMP TABLE erased_map ON COMMIT DROP AS
SELECT DISTINCT a.channel, a.address, e.address AS token
FROM (SELECT channel, address FROM stage_suppressions
      UNION SELECT channel, address FROM stage_evidence) a
JOIN erased_addresses e
  ON e.tenant = %(tenant)s AND e.channel = a.channel
 AND e.address = 'hmac:' || encode(sha256(%(outer_pad)s || sha256(%(inner_pad)s || convert_to(a.address, 'UTF8'))), 'hex');

-- name: no_erased_map
CREATE TEMP TABLE erased_map (channel text, address text, token text) ON COMMIT DROP;

-- name: tokenize_stage
UPDATE stage_suppressions t SET address = m.token
FROM erased_map m WHERE m.channel = t.channel AND m.address = t.address;

-- name: tokenize_lineage
UPDATE stage_lineage t SET address = m.token
FROM erased_map m WHERE m.channel = t.channel AND m.address = t.address;

-- name: tokenize_evidence
UPDATE stage_evidence t SET address = m.token
FROM erased_map m WHERE m.channel = t.channel AND m.address = t.address;

-- name: tenant_is_new
-- No key of the tenant in the store (lifted and erased ones count): its first load COPYs the staged
-- keys straight into `suppressions` (copy.sql new_tenant_keys). The tenant's lock is held.
SELECT NOT EXISTS (SELECT 1 FROM suppressions WHERE tenant = %(tenant)s);

-- name: stage_known
-- The store's rows of the keys this run stages, as they were before the run: one pass over the
-- store that classify, insert_new and the lineage steps then read instead of the store. `rid`
-- (the row's ctid) finds the row again without the key index: every writer of a tenant's
-- suppressions holds its lock, so no row moves before this transaction's own updates of it
-- (strengthen 1.6 -> 0.8 s for 50k keys of 10M; base.py checks the count).
-- A join, not EXISTS: the staged keys are unique (the key aggregate's groups), and the planner
-- would make them unique again in a hash table, losing the key order they were COPYed in. Probed
-- in that order, the key index is read page after page (100k keys against 10M: 0.8 -> 0.4 s).
CREATE TEMP TABLE stage_known ON COMMIT DROP AS
SELECT s.ctid AS rid, s.tenant, s.channel, s.address, s.reason, s.scope, s.first_seen_at, s.last_seen_at, s.time_known,
       s.lifted_at, s.created_run_id, s.created_file, s.created_first_line, s.created_row_count
FROM stage_suppressions t
JOIN suppressions s
  ON s.tenant = %(tenant)s AND s.channel = t.channel AND s.address = t.address AND s.reason = t.reason
 AND s.scope = t.scope;

-- name: clear_known_lineage
-- The marker; the line and count mean nothing without it. Not on the keys `strengthen` rewrites
-- anyway: it clears theirs, and each UPDATE of a row writes a new version of it (a night that
-- strengthens 50k keys of 10M wrote 100k versions, now 50k; test_a_strengthened_key_is_one_hot_update).
UPDATE suppressions s SET created_file = NULL
FROM stage_known k
WHERE k.created_file IS NOT NULL AND s.ctid = k.rid
  AND NOT EXISTS (SELECT 1 FROM stage_changes c
                  WHERE c.channel = k.channel AND c.address = k.address AND c.reason = k.reason AND c.scope = k.scope);

-- name: strengthen
UPDATE suppressions s
SET first_seen_at = CASE WHEN s.time_known THEN least(s.first_seen_at, c.first_seen_at) ELSE c.first_seen_at END,
    last_seen_at  = CASE WHEN s.time_known THEN greatest(s.last_seen_at, c.last_seen_at) ELSE c.last_seen_at END,
    time_known    = true,
    last_run_id   = %(run_id)s,
    updated_at    = %(now)s,
    lifted_at     = NULL,
    created_file = NULL  -- its creator's lineage is in suppression_sources now (materialize_known_lineage)
FROM stage_changes c
WHERE c.action IN ('strengthened', 'reactivated') AND s.ctid = c.rid;

-- name: insert_new
INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                          source_platform, detail, created_run_id, last_run_id, updated_at, time_known,
                          created_file, created_first_line, created_row_count)
-- Keys not in the store yet (created); the statement's row count is the number added. A key seen
-- in one file carries its creating run's lineage on the row (006, 008_creator_file): no lineage
-- rows on a first load.
-- A tenant's first load skips this: copy.sql new_tenant_keys writes the same rows (change both).
-- No ORDER BY: the staged rows were COPYed in the key index's order (postgres_store.STAGE_ORDER)
-- and are read in it, so a big load appends to the btree without sorting again (9.1M keys: the
-- sort spilled 2 GB and took 23 s). Unsorted, the same insert took 143 s (a random descent per key).
SELECT t.tenant, t.channel, t.address, t.reason, t.scope, t.first_seen_at, t.last_seen_at,
       t.source_platform, t.detail, %(run_id)s, %(run_id)s, %(now)s, t.time_known,
       CASE WHEN t.single_file THEN t.file_idx END, CASE WHEN t.single_file THEN t.first_line END,
       CASE WHEN t.single_file THEN t.row_count END
FROM stage_suppressions t
WHERE NOT EXISTS (
    SELECT 1 FROM stage_known s
    WHERE s.channel = t.channel AND s.address = t.address AND s.reason = t.reason AND s.scope = t.scope);

-- name: insert_evidence
-- An event with a time that an earlier run also brought (overlapping nightly windows) is kept once
-- per run: a rollback of one run leaves the other's copy, and the soft-bounce count counts each
-- time once. An event without a time is identified by its file and line and kept once.
INSERT INTO message_events (tenant, channel, address, kind, occurred_at, bounce_count, run_id,
                            source_sha256, source_line, recorded_at, detail)
SELECT n.tenant, n.channel, n.address, n.kind, n.occurred_at, n.bounce_count, %(run_id)s,
       n.source_sha256, n.source_line, %(now)s, n.detail
FROM stage_evidence n
WHERE n.occurred_at IS NOT NULL
UNION ALL
SELECT n.tenant, n.channel, n.address, n.kind, n.occurred_at, n.bounce_count, %(run_id)s,
       n.source_sha256, n.source_line, %(now)s, n.detail
FROM stage_evidence n
WHERE n.occurred_at IS NULL AND NOT EXISTS (
    SELECT 1 FROM message_events x
    WHERE x.tenant = n.tenant AND x.channel = n.channel AND x.address = n.address AND x.kind = n.kind
      AND x.occurred_at IS NULL AND x.source_sha256 = n.source_sha256 AND x.source_line = n.source_line);

-- name: insert_soft_bounce_blocks
-- The address is then blocked as hard (SPEC 2.2), with this run as its lineage, so a rollback of
-- the run removes the block with the evidence that caused it.
INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                          source_platform, detail, created_run_id, last_run_id, updated_at)
SELECT %(tenant)s, 'email', b.address, 'hard_bounce', 'all', b.first_at, b.last_at, 'soft_bounce_policy',
       b.consecutive || ' consecutive soft bounces (threshold ' || %(threshold)s || ')', %(run_id)s, %(run_id)s, %(now)s
FROM soft_bounce_blocks b
WHERE NOT EXISTS (SELECT 1 FROM suppressions s
                  WHERE s.tenant = %(tenant)s AND s.channel = 'email' AND s.address = b.address
                    AND s.reason = 'hard_bounce' AND s.scope = 'all');

-- name: interrupted_runs
-- Runs of this tenant still `running` while this session holds the tenant's lock: their process
-- died (the lock goes with the connection), and their transaction with it.
UPDATE import_runs
SET status = 'failed', finished_at = %(now)s,
    error = 'interrupted: the process ended before the run finished; nothing was loaded'
WHERE tenant = %(tenant)s AND status = 'running'
RETURNING run_id;

-- name: load_work_mem
-- Per hash/sort of the merge: a 10M-row join stays in memory.
SET LOCAL work_mem TO '256MB';
