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

-- name: insert_new
INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                          source_platform, detail, created_run_id, last_run_id, updated_at, time_known)
-- Keys not in the store yet (created). Returns the number inserted.
SELECT t.tenant, t.channel, t.address, t.reason, t.scope, t.first_seen_at, t.last_seen_at,
       t.source_platform, t.detail, $run_id, $run_id, $now, t.time_known
FROM stage_suppressions t
ANTI JOIN suppressions s
  ON s.tenant = t.tenant AND s.channel = t.channel AND s.address = t.address
 AND s.reason = t.reason AND s.scope = t.scope;

-- name: insert_lineage
-- Every run that asserts a key is its lineage (SPEC 2.3), whether or not it changed the row: a
-- rollback of another run then leaves what this one still asserts. One row per (key, source
-- file, run): a key seen in one file only carries its lineage in the staged suppressions
-- (`single_file`); the lineage file holds the keys seen in several files.
INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256,
                                 first_line, row_count, first_seen_at, last_seen_at, time_known)
SELECT tenant, channel, address, reason, scope, $run_id, source_sha256, first_line, row_count,
       first_seen_at, last_seen_at, time_known
FROM stage_suppressions WHERE single_file
UNION ALL
SELECT tenant, channel, address, reason, scope, $run_id, source_sha256, first_line, row_count,
       first_seen_at, last_seen_at, time_known
FROM stage_lineage;

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
DROP TABLE IF EXISTS stage_changes; DROP TABLE IF EXISTS erased_map; DROP TABLE IF EXISTS soft_bounce_blocks;
DROP VIEW IF EXISTS stage_suppressions; DROP VIEW IF EXISTS stage_lineage; DROP VIEW IF EXISTS stage_evidence;
DROP VIEW IF EXISTS stage_rejects; DROP VIEW IF EXISTS stage_warnings;
