-- Named statements both dialects run as written here (pipelines/store/sql.py `translate`): DuckDB's
-- dialect with $name parameters; PostgreSQL gets %(name)s, %% for a literal %, address_hmac and
-- regexp_escape written out, and temp tables that end with the transaction. What differs between
-- them is in sql/duckdb and sql/postgres.

-- name: created_changes
-- With contacts to update: the keys this run created join stage_changes, which the contact
-- statements read as "what this run suppressed".
INSERT INTO stage_changes (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                           source_platform, detail, action)
SELECT tenant, channel, address, reason, scope, first_seen_at, last_seen_at, source_platform, detail, 'created'
FROM suppressions
WHERE tenant = $tenant AND created_run_id = $run_id;

-- name: insert_events
INSERT INTO suppression_events (tenant, channel, address, reason, scope, action, run_id, occurred_at, recorded_at)
SELECT tenant, channel, address, reason, scope, action, $run_id, last_seen_at, $now
FROM stage_changes WHERE action IN ('strengthened', 'reactivated');

-- name: soft_bounce_block_counts
-- Addresses at the threshold, and those of them this run blocks (not blocked as hard already).
SELECT count(*), count(*) FILTER (WHERE newly) FROM soft_bounce_blocks;

-- name: reactivate_soft_bounce_blocks
UPDATE suppressions s
SET lifted_at = NULL, last_seen_at = greatest(s.last_seen_at, b.last_at), last_run_id = $run_id, updated_at = $now
FROM soft_bounce_blocks b
WHERE s.tenant = $tenant AND s.channel = 'email' AND s.address = b.address
  AND s.reason = 'hard_bounce' AND s.scope = 'all' AND s.lifted_at IS NOT NULL;

-- name: soft_bounce_lineage
-- Every run whose events reach the threshold is lineage of the block, also when it was blocked
-- already: rolling back an earlier run leaves the block that this run's evidence still holds up.
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at)
SELECT $tenant, 'email', b.address, 'hard_bounce', 'all', $run_id, 'soft_bounce_policy', NULL,
       b.consecutive, b.first_at, b.last_at
FROM soft_bounce_blocks b;

-- name: change_counts
SELECT count(*) FROM stage_changes;

-- name: rollback_touched
-- The run's lineage rows, and the keys it created that carry its lineage on the row (006).
CREATE OR REPLACE TEMP TABLE rollback_keys AS
SELECT DISTINCT tenant, channel, address, reason, scope FROM suppression_sources WHERE run_id = $run_id
UNION
SELECT tenant, channel, address, reason, scope FROM suppressions
WHERE tenant = $tenant AND created_run_id = $run_id AND created_file IS NOT NULL;

-- name: rollback_lineage
DELETE FROM suppression_sources WHERE run_id = $run_id;

-- name: rollback_events
INSERT INTO suppression_events (tenant, channel, address, reason, scope, action, run_id, recorded_at, detail)
SELECT tenant, channel, address, reason, scope,
       CASE WHEN sources = 0 AND lift_at IS NULL THEN 'rolled_back' ELSE 'narrowed' END, $run_id, $now, 'rollback of run'
FROM rollback_left;

-- name: rollback_evidence
DELETE FROM message_events WHERE run_id = $run_id;

-- name: rollback_delete
DELETE FROM suppressions s USING rollback_left r
WHERE r.sources = 0 AND r.lift_at IS NULL
  AND s.tenant = r.tenant AND s.channel = r.channel AND s.address = r.address
  AND s.reason = r.reason AND s.scope = r.scope;

-- name: rollback_narrow
UPDATE suppressions s
SET first_seen_at  = CASE WHEN r.sources > 0 THEN r.first_seen_at ELSE s.first_seen_at END,
    last_seen_at   = CASE WHEN r.sources > 0 THEN r.last_seen_at ELSE s.last_seen_at END,
    time_known     = r.time_known,
    created_run_id = coalesce(r.created_run_id, s.created_run_id),
    last_run_id    = coalesce(r.last_run_id, s.last_run_id),
    lifted_at      = r.lifted_at,
    created_file = NULL, created_first_line = NULL, created_row_count = NULL,  -- the lineage left is all in suppression_sources
    updated_at     = $now
FROM rollback_left r
WHERE (r.sources > 0 OR r.lift_at IS NOT NULL)
  AND s.tenant = r.tenant AND s.channel = r.channel AND s.address = r.address
  AND s.reason = r.reason AND s.scope = r.scope;

-- name: rollback_counts
SELECT count(*) FILTER (WHERE sources = 0 AND lift_at IS NULL), count(*) FILTER (WHERE sources > 0) FROM rollback_left;
-- name: classify
-- The run's keys the store already holds and the run changes (new keys go in by insert_new):
-- strengthened: an active key whose time span the run widens with real event times (the load
-- time that stands in for an unknown time is no new evidence); reactivated: a lifted key the run
-- shows newer evidence for (evidence older than the lift, or without a time, leaves it lifted).
-- A key whose times were only load times standing in for unknown ones takes the first real ones.
CREATE OR REPLACE TEMP TABLE stage_changes AS
SELECT t.tenant, t.channel, t.address, t.reason, t.scope, t.first_seen_at, t.last_seen_at,
       t.source_platform, t.detail,
       CASE WHEN s.lifted_at IS NOT NULL THEN 'reactivated' ELSE 'strengthened' END AS action,
       s.rid  -- the store row to strengthen (stage_known)
FROM stage_suppressions t
JOIN stage_known s
  ON s.channel = t.channel AND s.address = t.address AND s.reason = t.reason AND s.scope = t.scope
WHERE t.time_known
  AND ((s.lifted_at IS NULL AND (NOT s.time_known OR t.first_seen_at < s.first_seen_at OR t.last_seen_at > s.last_seen_at))
       OR (s.lifted_at IS NOT NULL AND t.last_seen_at > s.lifted_at));

-- name: known_count
SELECT count(*) FROM stage_known;

-- name: materialize_known_lineage
-- Keys this run re-asserts whose creating run kept its lineage on the row (006, *_creator_file):
-- written out as that run's lineage row before this run widens the row or adds its own assertion.
-- The file's sha256 comes from run_files; a LEFT JOIN, so a file missing there fails the load
-- (source_sha256 is NOT NULL) instead of dropping the lineage.
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at, time_known)
SELECT k.tenant, k.channel, k.address, k.reason, k.scope, k.created_run_id, f.sha256, k.created_first_line,
       k.created_row_count, k.first_seen_at, k.last_seen_at, k.time_known
FROM stage_known k LEFT JOIN run_files f ON f.run_id = k.created_run_id AND f.file_idx = k.created_file
WHERE k.created_file IS NOT NULL;

-- name: insert_known_lineage
-- This run's lineage of keys seen in one of its files that other runs created (the keys it
-- creates carry it on the row; keys seen in several files are in stage_lineage).
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at, time_known)
SELECT t.tenant, t.channel, t.address, t.reason, t.scope, $run_id, t.source_sha256, t.first_line, t.row_count,
       t.first_seen_at, t.last_seen_at, t.time_known
FROM stage_suppressions t
WHERE t.single_file
  AND EXISTS (SELECT 1 FROM stage_known k
              WHERE k.channel = t.channel AND k.address = t.address AND k.reason = t.reason AND k.scope = t.scope);

-- name: insert_lineage
-- Every run that asserts a key is its lineage (SPEC 2.3), whether or not it changed the row: a
-- rollback of another run then leaves what this one still asserts. One row per (key, source
-- file, run) for the keys seen in several files (the others: insert_new, insert_known_lineage).
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at, time_known)
SELECT tenant, channel, address, reason, scope, $run_id, source_sha256, first_line, row_count,
       first_seen_at, last_seen_at, time_known
FROM stage_lineage;

-- name: materialize_soft_bounce_lineage
-- As materialize_known_lineage, for the hard blocks the soft-bounce policy is about to reassert.
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at, time_known)
SELECT s.tenant, s.channel, s.address, s.reason, s.scope, s.created_run_id, f.sha256, s.created_first_line,
       s.created_row_count, s.first_seen_at, s.last_seen_at, s.time_known
FROM suppressions s LEFT JOIN run_files f ON f.run_id = s.created_run_id AND f.file_idx = s.created_file
WHERE s.tenant = $tenant AND s.channel = 'email' AND s.reason = 'hard_bounce' AND s.scope = 'all'
  AND s.created_file IS NOT NULL AND s.created_run_id <> $run_id
  AND s.address IN (SELECT address FROM soft_bounce_blocks);

-- name: clear_soft_bounce_lineage
UPDATE suppressions s SET created_file = NULL  -- the marker (as clear_known_lineage)
WHERE s.tenant = $tenant AND s.channel = 'email' AND s.reason = 'hard_bounce' AND s.scope = 'all'
  AND s.created_file IS NOT NULL AND s.created_run_id <> $run_id
  AND s.address IN (SELECT address FROM soft_bounce_blocks);

-- name: insert_warnings
INSERT INTO row_warnings (run_id, file, line, value, warning)
SELECT $run_id, file, line, value, warning FROM stage_warnings;

-- name: insert_rejects
INSERT INTO quarantine (run_id, file, line, value, error, platform, detail)
SELECT $run_id, file, line, value, error, platform, detail FROM stage_rejects;

-- name: rollback_remaining
-- What is left of each touched suppression once the run's lineage is gone (as in
-- sql/duckdb/load.sql): the other live runs' assertions, and the latest explicit lift of the key.
CREATE OR REPLACE TEMP TABLE rollback_left AS
WITH lifts AS (
    SELECT e.channel, e.address, e.reason, e.scope, max(e.occurred_at) AS lift_at
    FROM suppression_events e
    WHERE e.tenant = $tenant AND e.action IN ('resubscribed', 'unblocked')
      AND EXISTS (SELECT 1 FROM rollback_keys k
                  WHERE k.channel = e.channel AND k.address = e.address AND k.reason = e.reason AND k.scope = e.scope)
    GROUP BY e.channel, e.address, e.reason, e.scope
)
SELECT k.tenant, k.channel, k.address, k.reason, k.scope, l.lift_at,
       count(x.run_id) AS sources,
       coalesce(bool_or(x.time_known), false) AS time_known,
       coalesce(min(x.first_seen_at) FILTER (WHERE x.time_known), min(x.first_seen_at)) AS first_seen_at,
       coalesce(max(x.last_seen_at) FILTER (WHERE x.time_known), min(x.first_seen_at)) AS last_seen_at,
       min(x.run_id) AS created_run_id, max(x.run_id) AS last_run_id,
       CASE WHEN l.lift_at IS NOT NULL
             AND NOT coalesce(bool_or(x.time_known AND x.last_seen_at > l.lift_at), false)
            THEN l.lift_at END AS lifted_at
FROM rollback_keys k
LEFT JOIN suppression_sources x
  ON x.tenant = k.tenant AND x.channel = k.channel AND x.address = k.address
 AND x.reason = k.reason AND x.scope = k.scope
LEFT JOIN lifts l
  ON l.channel = k.channel AND l.address = k.address AND l.reason = k.reason AND l.scope = k.scope
GROUP BY k.tenant, k.channel, k.address, k.reason, k.scope, l.lift_at;

-- name: run_status
-- A run's status as its rollback starts (another process may have rolled it back meanwhile).
SELECT status FROM import_runs WHERE run_id = $run_id;

-- name: soft_bounce_candidates
-- Run before insert_evidence: the email addresses this run brings soft bounces for whose soft
-- bounces plus highest counter, stored and staged, could reach the threshold at all. An upper bound
-- of the consecutive count (an event both stored and staged counts twice: still a bound); only
-- these go through soft_bounce_blocks' full count, in a big import nearly none. Counted before the
-- run's events are stored, a tenant's first load aggregates its staged events alone instead of
-- joining them back from message_events (PostgreSQL, 2.2M events: 7.2-8.7 s -> 2.8 + 0.2 s).
CREATE OR REPLACE TEMP TABLE soft_bounce_candidates AS
WITH touched AS (
    SELECT DISTINCT address FROM stage_evidence WHERE channel = 'email' AND kind <> 'delivered'
), events AS (
    SELECT address, kind, bounce_count FROM stage_evidence WHERE channel = 'email' AND kind <> 'delivered'
    UNION ALL
    SELECT e.address, e.kind, e.bounce_count
    FROM message_events e
    WHERE e.tenant = $tenant AND e.channel = 'email' AND e.kind <> 'delivered'
      AND e.address IN (SELECT address FROM touched)
)
SELECT address
FROM events
GROUP BY address
HAVING count(*) FILTER (WHERE kind = 'soft_bounce')
       + greatest(coalesce(max(bounce_count) FILTER (WHERE kind = 'soft_bounce_count'), 0), 0) >= $threshold;

-- name: soft_bounce_blocks
-- SPEC 2.2: email addresses of this run's soft bounces whose consecutive soft bounces (no
-- delivery in between) reach the tenant's threshold. Counting starts after the latest delivery or
-- explicit unblock; a previous platform's latest counter newer than that is the state at its
-- time (it already counts the bounces before it). An event without a time counts at load time.
-- Only soft_bounce_candidates go through this count.
CREATE OR REPLACE TEMP TABLE soft_bounce_blocks AS
WITH ev AS (
    SELECT e.address, e.kind, coalesce(e.occurred_at, e.recorded_at) AS at, e.bounce_count,
           coalesce(e.occurred_at::VARCHAR, e.source_sha256 || ':' || e.source_line) AS event
    FROM message_events e
    WHERE e.tenant = $tenant AND e.channel = 'email' AND e.address IN (SELECT address FROM soft_bounce_candidates)
), lifted AS (
    SELECT s.address, max(s.lifted_at) AS at
    FROM suppressions s
    WHERE s.tenant = $tenant AND s.channel = 'email' AND s.lifted_at IS NOT NULL
      AND s.address IN (SELECT address FROM soft_bounce_candidates)
    GROUP BY s.address
), per_address AS (
    SELECT ev.address,
           max(ev.at) FILTER (WHERE ev.kind = 'delivered') AS delivered_at,
           max(ev.at) FILTER (WHERE ev.kind = 'soft_bounce_count') AS counter_at,
           (array_agg(ev.bounce_count ORDER BY ev.at DESC) FILTER (WHERE ev.kind = 'soft_bounce_count'))[1] AS counter
    FROM ev GROUP BY ev.address
), base AS (
    SELECT p.address,
           greatest(p.delivered_at, l.at) AS reset_at, p.counter_at,
           CASE WHEN p.counter_at IS NOT NULL
                 AND (greatest(p.delivered_at, l.at) IS NULL OR p.counter_at > greatest(p.delivered_at, l.at))
                THEN p.counter ELSE 0 END AS counted
    FROM per_address p LEFT JOIN lifted l ON l.address = p.address
), counts AS (
    SELECT b.address,
           b.counted + count(DISTINCT ev.event) FILTER (
               WHERE ev.kind = 'soft_bounce' AND (greatest(b.reset_at, b.counter_at) IS NULL
                                                  OR ev.at > greatest(b.reset_at, b.counter_at))) AS consecutive,
           min(ev.at) FILTER (WHERE ev.kind <> 'delivered' AND (b.reset_at IS NULL OR ev.at > b.reset_at)) AS first_at,
           max(ev.at) FILTER (WHERE ev.kind <> 'delivered') AS last_at
    FROM base b JOIN ev ON ev.address = b.address
    GROUP BY b.address, b.counted
)
SELECT c.address, c.consecutive, c.first_at, c.last_at, s.address IS NULL AS newly
FROM counts c
LEFT JOIN (SELECT address FROM suppressions
           WHERE tenant = $tenant AND channel = 'email' AND reason = 'hard_bounce' AND scope = 'all'
             AND lifted_at IS NULL) s
  ON s.address = c.address
WHERE c.consecutive >= $threshold;
