-- Loading one run's staged results into the store, inside one transaction (SPEC 2.3).
-- $run_id, $now and the staged Parquet paths are parameters. "Not in the store yet" is written as
-- an ANTI JOIN throughout: DuckDB plans NOT EXISTS as a mark join that hashes the whole store table
-- (seconds on a 10M-row store) instead of the run's rows.

-- name: stage_paths
-- The run's staged Parquet files, bound as one variable the views below read (DuckDB cannot bind
-- parameters in a view's definition).
SET VARIABLE stage = {'suppressions': $suppressions, 'lineage': $lineage, 'evidence': $evidence,
                      'rejects': $rejects, 'warnings': $warnings};

-- name: erased_map
-- Staged addresses that were erased earlier, with their tokens: they are stored as tokens again
-- (only run when the tenant has erased addresses; otherwise `no_erased_map`).
CREATE OR REPLACE TEMP TABLE erased_map AS
SELECT DISTINCT a.channel, a.address, e.address AS token
FROM (SELECT channel, address FROM read_parquet(getvariable('stage').suppressions)
      UNION SELECT channel, address FROM read_parquet(getvariable('stage').evidence)) a
JOIN erased_addresses e
  ON e.tenant = $tenant AND e.channel = a.channel AND e.address = 'hmac:' || address_hmac(a.address);

-- name: no_erased_map
CREATE OR REPLACE TEMP TABLE erased_map (channel VARCHAR, address VARCHAR, token VARCHAR);

-- name: stage_views
-- The staged files as the store sees them, under the names PostgreSQL gives its staged tables:
-- erased addresses as their tokens (`erased_map` exists by then). Read where used, never copied
-- into a temp table: a 10M-row run would not fit the store's memory limit and would spill.
CREATE OR REPLACE TEMP VIEW stage_suppressions AS
SELECT p.* REPLACE (coalesce(m.token, p.address) AS address)
FROM read_parquet(getvariable('stage').suppressions) p
LEFT JOIN erased_map m ON m.channel = p.channel AND m.address = p.address;
CREATE OR REPLACE TEMP VIEW stage_lineage AS
SELECT p.* REPLACE (coalesce(m.token, p.address) AS address)
FROM read_parquet(getvariable('stage').lineage) p
LEFT JOIN erased_map m ON m.channel = p.channel AND m.address = p.address;
CREATE OR REPLACE TEMP VIEW stage_evidence AS
SELECT p.* REPLACE (coalesce(m.token, p.address) AS address)
FROM read_parquet(getvariable('stage').evidence) p
LEFT JOIN erased_map m ON m.channel = p.channel AND m.address = p.address;

-- name: stage_rejects
CREATE OR REPLACE TEMP VIEW stage_rejects AS SELECT * FROM read_parquet(getvariable('stage').rejects);

-- name: stage_warnings
CREATE OR REPLACE TEMP VIEW stage_warnings AS SELECT * FROM read_parquet(getvariable('stage').warnings);

-- name: stage_known
-- The store's rows of the keys this run stages, as they were before the run: one pass over the
-- store that classify, insert_new and the lineage steps then read instead of the store. `rid`
-- finds the row again: an UPDATE by rowid reads no key column (50k rows of 10M: 0.4 -> 0.07 s).
CREATE OR REPLACE TEMP TABLE stage_known AS
SELECT s.rowid AS rid, s.tenant, s.channel, s.address, s.reason, s.scope, s.first_seen_at, s.last_seen_at,
       s.time_known, s.lifted_at, s.created_run_id, s.created_file, s.created_first_line, s.created_row_count
FROM suppressions s
WHERE s.tenant = $tenant
  AND EXISTS (SELECT 1 FROM stage_suppressions t
              WHERE t.channel = s.channel AND t.address = s.address AND t.reason = s.reason AND t.scope = s.scope);

-- name: clear_known_lineage
-- Only the marker: the line and count beside it mean nothing without it, and every column an
-- UPDATE touches is rewritten in each row group at the next checkpoint.
UPDATE suppressions SET created_file = NULL
WHERE rowid IN (SELECT rid FROM stage_known WHERE created_file IS NOT NULL);

-- name: strengthen
-- Only the columns that change, each on the rows where it changes (strengthen_first_seen,
-- _time_known, _lifted): a DuckDB checkpoint rewrites every updated column of every row group an
-- update touches, and a night's keys touch them all (50k of 10M rows: six columns at once -> the
-- three that change, 0.3 s less COMMIT). strengthen_time_known runs after the two that read it.
UPDATE suppressions s
SET last_seen_at = CASE WHEN s.time_known THEN greatest(s.last_seen_at, c.last_seen_at) ELSE c.last_seen_at END,
    last_run_id  = $run_id,
    updated_at   = $now
FROM stage_changes c
WHERE c.action IN ('strengthened', 'reactivated') AND s.rowid = c.rid;

-- name: strengthen_first_seen
UPDATE suppressions s
SET first_seen_at = CASE WHEN s.time_known THEN least(s.first_seen_at, c.first_seen_at) ELSE c.first_seen_at END
FROM stage_changes c
WHERE c.action IN ('strengthened', 'reactivated') AND s.rowid = c.rid
  AND s.first_seen_at IS DISTINCT FROM
      CASE WHEN s.time_known THEN least(s.first_seen_at, c.first_seen_at) ELSE c.first_seen_at END;

-- name: strengthen_time_known
UPDATE suppressions s
SET time_known = true
FROM stage_changes c
WHERE c.action IN ('strengthened', 'reactivated') AND s.rowid = c.rid AND s.time_known IS DISTINCT FROM true;

-- name: strengthen_lifted
UPDATE suppressions s
SET lifted_at = NULL
FROM stage_changes c
WHERE c.action IN ('strengthened', 'reactivated') AND s.rowid = c.rid AND s.lifted_at IS NOT NULL;

-- name: insert_new
-- Keys not in the store yet (created). Returns the number inserted. A key seen in one file
-- carries its creating run's lineage on the row (006, 007_creator_file), so a first load writes no
-- lineage rows.
INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                          source_platform, detail, created_run_id, last_run_id, updated_at, time_known,
                          created_file, created_first_line, created_row_count)
SELECT t.tenant, t.channel, t.address, t.reason, t.scope, t.first_seen_at, t.last_seen_at,
       t.source_platform, t.detail, $run_id, $run_id, $now, t.time_known,
       CASE WHEN t.single_file THEN t.file_idx END, CASE WHEN t.single_file THEN t.first_line END,
       CASE WHEN t.single_file THEN t.row_count END
FROM stage_suppressions t
ANTI JOIN stage_known s
  ON s.channel = t.channel AND s.address = t.address AND s.reason = t.reason AND s.scope = t.scope;

-- name: insert_evidence
-- The staged events are one row per event (the staging collapsed the same event seen twice in the
-- run). An event with a time that an earlier run also brought (overlapping nightly windows) is
-- kept once per run: a rollback of one run leaves the other's copy, and the soft-bounce count
-- counts each time once. An event without a time is identified by its file and line and kept once.
INSERT INTO message_events (tenant, channel, address, kind, occurred_at, bounce_count, run_id,
                            source_sha256, source_line, recorded_at, detail)
SELECT n.tenant, n.channel, n.address, n.kind, n.occurred_at, n.bounce_count, $run_id,
       n.source_sha256, n.source_line, $now, n.detail
FROM stage_evidence n
WHERE n.occurred_at IS NOT NULL
UNION ALL
SELECT n.tenant, n.channel, n.address, n.kind, n.occurred_at, n.bounce_count, $run_id,
       n.source_sha256, n.source_line, $now, n.detail
FROM stage_evidence n
ANTI JOIN (SELECT * FROM message_events WHERE occurred_at IS NULL) x
  ON x.tenant = n.tenant AND x.channel = n.channel AND x.address = n.address AND x.kind = n.kind
 AND x.source_sha256 = n.source_sha256 AND x.source_line = n.source_line
WHERE n.occurred_at IS NULL;

-- name: insert_soft_bounce_blocks
-- The address is then blocked as hard (SPEC 2.2), with this run as its lineage, so a rollback of
-- the run removes the block with the evidence that caused it.
INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                          source_platform, detail, created_run_id, last_run_id, updated_at)
SELECT $tenant, 'email', b.address, 'hard_bounce', 'all', b.first_at, b.last_at, 'soft_bounce_policy',
       b.consecutive || ' consecutive soft bounces (threshold ' || $threshold || ')', $run_id, $run_id, $now
FROM soft_bounce_blocks b
ANTI JOIN (SELECT address FROM suppressions
           WHERE tenant = $tenant AND channel = 'email' AND reason = 'hard_bounce' AND scope = 'all') s
  ON s.address = b.address;

-- name: drop_lookup_index
-- A bulk load rebuilds the lookup index (004) after its COMMIT: updating an ART index row by row
-- triples a 10M-row insert; building it afresh over committed rows costs about 7 s at 10M.
DROP INDEX IF EXISTS suppressions_lookup;  -- absent if its last build failed

-- name: create_lookup_index
CREATE INDEX suppressions_lookup ON suppressions (address);

-- name: interrupted_runs
-- Runs still `running` when a process opens the store for writing: DuckDB lets one process write
-- a file at a time, so a run of another process still `running` died (kill -9, a full disk) and
-- its transaction with it. The runs this process has open ($active) are left alone.
UPDATE import_runs
SET status = 'failed', finished_at = $now,
    error = 'interrupted: the process ended before the run finished; nothing was loaded'
WHERE status = 'running' AND NOT list_contains($active, run_id);
-- name: drop_stage
-- A load's temp objects (DuckDB's outlive the transaction).
DROP TABLE IF EXISTS stage_changes; DROP TABLE IF EXISTS stage_known; DROP TABLE IF EXISTS erased_map; DROP TABLE IF EXISTS soft_bounce_blocks;
DROP TABLE IF EXISTS soft_bounce_candidates;
DROP VIEW IF EXISTS stage_suppressions; DROP VIEW IF EXISTS stage_lineage; DROP VIEW IF EXISTS stage_evidence;
DROP VIEW IF EXISTS stage_rejects; DROP VIEW IF EXISTS stage_warnings;
