-- Staging (an in-memory DuckDB over the run's normalized Parquet parts): dedupe and counts.
-- Used for every store backend; the store then loads the staged results in one transaction.
-- :name placeholders are file paths the run itself created, spliced in as quoted literals
-- (DuckDB cannot prepare COPY or views); $name are ordinary parameters.

-- name: rows_view
CREATE OR REPLACE VIEW rows AS SELECT * FROM read_parquet(:parts);

-- name: lineage
-- One row per (suppression key, source file): the lineage this run asserts.
COPY (
    SELECT tenant, channel, address, reason, scope, source_sha256,
           any_value(source_platform)            AS source_platform,
           any_value(source_kind)                AS source_kind,
           any_value(source_file)                AS source_file,
           min(source_line)                      AS first_line,
           count(*)                              AS row_count,
           coalesce(min(occurred_at), $load_time) AS first_seen_at,
           coalesce(max(occurred_at), $load_time) AS last_seen_at,
           count(occurred_at) > 0                AS time_known,
           arg_min(detail, source_line)          AS detail
    FROM rows
    WHERE error IS NULL AND event = 'suppression'
    GROUP BY ALL
) TO :out (FORMAT parquet);

-- name: suppressions
-- One row per suppression key across every file of the run.
COPY (
    SELECT tenant, channel, address, reason, scope,
           min(first_seen_at)                           AS first_seen_at,
           max(last_seen_at)                            AS last_seen_at,
           arg_min(source_platform, first_seen_at)      AS source_platform,
           arg_min(detail, first_seen_at)               AS detail,
           bool_or(time_known)                          AS time_known
    FROM read_parquet(:lineage)
    GROUP BY tenant, channel, address, reason, scope
) TO :out (FORMAT parquet);

-- name: deliveries
COPY (
    SELECT tenant, channel, address, occurred_at, detail, source_file, source_line
    FROM rows WHERE error IS NULL AND event = 'delivered'
) TO :out (FORMAT parquet);

-- name: rejects
COPY (
    SELECT source_file AS file, source_line AS line, raw_address AS value, error,
           source_platform AS platform, coalesce(status, '') AS detail
    FROM rows WHERE error IS NOT NULL
    ORDER BY file, line
) TO :out (FORMAT parquet);

-- name: file_counts
-- Rows are input rows (one line of a file), even where an adapter made several records of one
-- (opt-out columns, tag lists): a row is rejected if any of its records is.
SELECT source_file,
       count(DISTINCT source_line)                                            AS rows_read,
       count(DISTINCT source_line) FILTER (WHERE error IS NOT NULL)           AS rows_rejected,
       count(DISTINCT source_line) FILTER (WHERE error IS NULL AND event = 'ignored') AS rows_ignored
FROM rows GROUP BY source_file;

-- name: reason_counts
SELECT channel, reason, scope, count(*) AS n FROM read_parquet(:suppressions) GROUP BY ALL ORDER BY n DESC;

-- name: warning_counts
SELECT time_warning, count(*) AS n FROM rows WHERE error IS NULL AND time_warning IS NOT NULL GROUP BY ALL;
