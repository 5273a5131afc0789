-- The run that creates a key from one file keeps that assertion on the row itself instead of a
-- lineage row (SPEC 2.3, issue "faster than the generic loader"): a 10M-row first load writes no
-- 10M lineage rows. While `created_sha256` is set, the row's seen times and time_known are that
-- run's assertion and no other run asserts the key; the first other run that asserts, widens or
-- blocks the key writes it out to suppression_sources and clears it (sql/common/load.sql
-- `materialize_*`). Rows of earlier loads keep NULL: their lineage is in suppression_sources.
ALTER TABLE suppressions ADD COLUMN created_sha256 text COLLATE "C";
ALTER TABLE suppressions ADD COLUMN created_first_line bigint;
ALTER TABLE suppressions ADD COLUMN created_row_count bigint;

-- Every run's assertion of every key, wherever it is kept: what a reader of lineage queries.
CREATE VIEW suppression_lineage AS
SELECT tenant, channel, address, reason, scope, run_id, source_sha256, first_line, row_count,
       first_seen_at, last_seen_at, time_known
FROM suppression_sources
UNION ALL
SELECT tenant, channel, address, reason, scope, created_run_id, created_sha256, created_first_line,
       created_row_count, first_seen_at, last_seen_at, time_known
FROM suppressions WHERE created_sha256 IS NOT NULL;
