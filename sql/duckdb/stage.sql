-- Staging (an in-memory DuckDB over the run's normalized Parquet parts): dedupe and counts.
-- Used for every store backend; the store then loads the staged results in one transaction.
-- :name placeholders are file paths the run itself created, spliced in as quoted literals
-- (DuckDB cannot prepare COPY or views); $name are ordinary parameters.

-- name: rows_view
CREATE OR REPLACE VIEW rows AS SELECT * FROM read_parquet(:parts);

-- name: keys
-- One row per suppression key over every file of the run: the one heavy GROUP BY, on slim keys
-- (the file is a small integer; `files` is registered by the ingest).
CREATE OR REPLACE TEMP TABLE keys AS
SELECT channel, address, reason, scope,
       min(occurred_at)                                         AS first_at,
       max(occurred_at)                                         AS last_at,
       count(occurred_at) > 0                                   AS time_known,
       count(*)                                                 AS row_count,
       min(source_line)                                         AS first_line,
       min(file_idx)                                            AS first_file,
       max(file_idx)                                            AS last_file,
       arg_min(detail, file_idx::BIGINT * 10000000000 + source_line) AS detail
FROM rows
WHERE error IS NULL AND event = 'suppression'
GROUP BY channel, address, reason, scope;

-- name: suppressions
-- An unknown time never widens a span: the load time stands in only where no row had a time.
COPY (
    SELECT $tenant AS tenant, k.channel, k.address, k.reason, k.scope,
           coalesce(k.first_at, $load_time) AS first_seen_at,
           coalesce(k.last_at, $load_time)  AS last_seen_at,
           f.source_platform, k.detail, k.time_known
    FROM keys k JOIN files f ON f.file_idx = k.first_file
) TO :out (FORMAT parquet);

-- name: lineage
-- One row per (suppression key, source file): keys seen in one file only (nearly all) come
-- straight from `keys`.
COPY (
    SELECT $tenant AS tenant, k.channel, k.address, k.reason, k.scope, f.source_sha256, f.source_platform,
           f.source_kind, f.source_file, k.first_line, k.row_count,
           coalesce(k.first_at, $load_time) AS first_seen_at, coalesce(k.last_at, $load_time) AS last_seen_at,
           k.time_known, k.detail
    FROM keys k JOIN files f ON f.file_idx = k.first_file
    WHERE k.first_file = k.last_file
) TO :out (FORMAT parquet);

-- name: multi_file_keys
SELECT count(*) FROM keys WHERE first_file <> last_file;

-- name: lineage_with_multi_file_keys
-- The same, plus the keys seen in several files, grouped per file over their own rows.
COPY (
    SELECT $tenant AS tenant, k.channel, k.address, k.reason, k.scope, f.source_sha256, f.source_platform,
           f.source_kind, f.source_file, k.first_line, k.row_count,
           coalesce(k.first_at, $load_time) AS first_seen_at, coalesce(k.last_at, $load_time) AS last_seen_at,
           k.time_known, k.detail
    FROM keys k JOIN files f ON f.file_idx = k.first_file
    WHERE k.first_file = k.last_file
    UNION ALL
    SELECT $tenant, r.channel, r.address, r.reason, r.scope, any_value(f.source_sha256), any_value(f.source_platform),
           any_value(f.source_kind), any_value(f.source_file), min(r.source_line), count(*),
           coalesce(min(r.occurred_at), $load_time), coalesce(max(r.occurred_at), $load_time),
           count(r.occurred_at) > 0, arg_min(r.detail, r.source_line)
    FROM rows r
    SEMI JOIN (SELECT channel, address, reason, scope FROM keys WHERE first_file <> last_file) m
      ON m.channel = r.channel AND m.address = r.address AND m.reason = r.reason AND m.scope = r.scope
    JOIN files f ON f.file_idx = r.file_idx
    WHERE r.error IS NULL AND r.event = 'suppression'
    GROUP BY r.channel, r.address, r.reason, r.scope, r.file_idx
) TO :out (FORMAT parquet);

-- name: evidence
-- Deliveries and soft bounces, one row per event: what the consecutive-soft-bounce policy counts
-- (a previous platform's soft-bounce counter is one row carrying its bounce_count).
COPY (
    SELECT $tenant AS tenant, r.channel, r.address,
           CASE WHEN r.event = 'delivered' THEN 'delivered'
                WHEN r.bounce_count IS NOT NULL THEN 'soft_bounce_count'
                ELSE 'soft_bounce' END AS kind,
           r.occurred_at, r.bounce_count, f.source_sha256, r.source_line, r.detail
    FROM rows r JOIN files f ON f.file_idx = r.file_idx
    WHERE r.error IS NULL AND (r.event = 'delivered' OR (r.event = 'suppression' AND r.reason = 'soft_bounce'))
) TO :out (FORMAT parquet);

-- name: evidence_counts
SELECT kind, count(*) FROM read_parquet(:evidence) GROUP BY kind;

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
SELECT file_idx,
       count(DISTINCT source_line)                                            AS rows_read,
       count(DISTINCT source_line) FILTER (WHERE error IS NOT NULL)           AS rows_rejected,
       count(DISTINCT source_line) FILTER (WHERE error IS NULL AND event = 'ignored') AS rows_ignored
FROM rows GROUP BY file_idx;

-- name: reason_counts
SELECT channel, reason, scope, count(*) AS n FROM read_parquet(:suppressions) GROUP BY ALL ORDER BY n DESC;

-- name: warnings
-- Rows kept with their time unknown, and the raw string that could not be used.
COPY (
    SELECT source_file AS file, source_line AS line, occurred_raw AS value, time_warning AS warning
    FROM rows WHERE error IS NULL AND time_warning IS NOT NULL
    ORDER BY file, line
) TO :out (FORMAT parquet);

-- name: warning_counts
SELECT time_warning, count(*) AS n FROM rows WHERE error IS NULL AND time_warning IS NOT NULL GROUP BY ALL;
