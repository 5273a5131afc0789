-- Staging (an in-memory DuckDB over the run's normalized Parquet parts): dedupe and counts.
-- Used for every store backend; the store then loads the staged results in one transaction.
-- :name placeholders are file paths the run itself created (and the tenant, in run_types), spliced
-- in as quoted literals (DuckDB cannot prepare COPY, views or types); $name are ordinary
-- parameters. `input_files` (one row per input file: file_idx, source_file, source_sha256,
-- sha_rank, source_platform, source_kind, one_record_per_line) is registered by the ingest; the
-- parts' rows name their file by file_idx only.

-- name: rows_view
CREATE OR REPLACE VIEW rows AS SELECT * FROM read_parquet(:parts);

-- name: distinct_counts
-- About how many distinct values each text column that staging groups by or writes holds, over
-- the rows the staged files keep (:counts: approx_count_distinct of each of stage.py's TEXT_ENUMS).
SELECT :counts FROM rows WHERE error IS NULL;

-- name: enum_type
-- The type staging carries a text column in (:type and :column: a pair of stage.py's TEXT_ENUMS,
-- spliced in as names). Few distinct values (reasons, scopes, SMTP replies: the usual case): an
-- enum, a small integer where a string would be copied into every group, and DuckDB's Parquet
-- writer writes an enum's dictionary once where it hashes every string into one (the 9.1M staged
-- keys of 10M rows, written from a table: 6.7 -> 2.6 s). Readers of the files see text. In text
-- order, so that min() of the enum is min() of the text.
CREATE TYPE :type AS ENUM (SELECT DISTINCT :column FROM rows WHERE error IS NULL AND :column IS NOT NULL ORDER BY ALL);

-- name: text_type
CREATE TYPE :type AS VARCHAR;

-- name: run_types
-- The same for the run's constants: its tenant, each file's platform and sha256, the evidence's
-- kinds; `files` is `input_files` (registered by the ingest) in those types.
CREATE TYPE tenant_t AS ENUM (:tenant);
CREATE TYPE platform_t AS ENUM (SELECT DISTINCT source_platform FROM input_files ORDER BY ALL);
CREATE TYPE sha_t AS ENUM (SELECT DISTINCT source_sha256 FROM input_files ORDER BY ALL);
CREATE TYPE kind_t AS ENUM ('delivered', 'soft_bounce', 'soft_bounce_count');
CREATE TABLE files AS
SELECT * REPLACE (source_platform::platform_t AS source_platform, source_sha256::sha_t AS source_sha256)
FROM input_files;

-- name: suppressions
-- One row per suppression key over every file of the run: the one heavy GROUP BY, written
-- straight to Parquet. The keys come from key_aggregate run once per slice of the addresses (by
-- their hash; the run splices the slices in, joined by UNION ALL, so key_aggregate holds no
-- comment and the placeholders appear nowhere else): a slice's hash table fits in memory where
-- the whole run's spills (10M rows in 8 slices: 20 -> 15 s of CPU, peak 1.5 -> 0.9 GB, the same
-- rows). An unknown time never widens a span: the load time stands in only where no row had a
-- time. Each row carries the key's lineage too: for a key seen in one file only (`single_file`,
-- nearly all) the store takes its lineage from here (the file by its sha256, or by its position in
-- the run, `file_idx`, on a row the run creates), so the lineage file holds only the keys seen in
-- several files.
COPY (
    SELECT $tenant::tenant_t AS tenant, k.channel, k.address, k.reason, k.scope,
           coalesce(k.first_at, $load_time) AS first_seen_at,
           coalesce(k.last_at, $load_time)  AS last_seen_at,
           f.source_platform, k.detail, k.first_at IS NOT NULL AS time_known,
           f.source_sha256, k.first_file AS file_idx, k.first_line, k.row_count,
           k.first_file = k.last_file AS single_file
    FROM (:keys) k JOIN files f ON f.file_idx = k.first_file
) TO :out (FORMAT parquet);

-- name: key_aggregate
SELECT channel::channel_t AS channel, address, reason::reason_t AS reason, scope::scope_t AS scope,
       min(occurred_at)                                                AS first_at,
       max(occurred_at)                                                AS last_at,
       count(*)                                                        AS row_count,
       min(source_line)                                                AS first_line,
       min(file_idx)                                                   AS first_file,
       max(file_idx)                                                   AS last_file,
       arg_min(detail::detail_t, file_idx::BIGINT * 10000000000 + source_line) AS detail
FROM rows
WHERE error IS NULL AND event = 'suppression' AND hash(address) % :of = :slice
GROUP BY ALL

-- name: row_count
SELECT count(*) FROM rows;

-- name: suppression_counts
SELECT count(*), coalesce(sum(row_count), 0), count(*) FILTER (WHERE NOT single_file),
       count(*) FILTER (WHERE NOT time_known)
FROM read_parquet(:suppressions);

-- name: lineage
-- Keys seen in several files: one row per (key, file), grouped per file over their own rows.
COPY (
    SELECT $tenant AS tenant, r.channel, r.address, r.reason, r.scope, any_value(f.source_sha256) AS source_sha256,
           min(r.source_line) AS first_line, count(*) AS row_count,
           coalesce(min(r.occurred_at), $load_time) AS first_seen_at,
           coalesce(max(r.occurred_at), $load_time) AS last_seen_at,
           count(r.occurred_at) > 0 AS time_known
    FROM rows r
    SEMI JOIN (SELECT channel, address, reason, scope FROM read_parquet(:suppressions) WHERE NOT single_file) m
      ON m.channel = r.channel AND m.address = r.address AND m.reason = r.reason AND m.scope = r.scope
    JOIN files f ON f.file_idx = r.file_idx
    WHERE r.error IS NULL AND r.event = 'suppression'
    GROUP BY r.channel, r.address, r.reason, r.scope, r.file_idx
) TO :out (FORMAT parquet);

-- name: no_lineage
-- Every key was seen in one file: an empty lineage file of the same shape.
COPY (
    SELECT tenant, channel, address, reason, scope, source_sha256, first_line, row_count, first_seen_at, last_seen_at,
           time_known
    FROM read_parquet(:suppressions) LIMIT 0
) TO :out (FORMAT parquet);

-- name: evidence
-- Deliveries and soft bounces, one row per event: what the consecutive-soft-bounce policy counts
-- (a previous platform's soft-bounce counter is one row carrying its bounce_count). The same
-- event in overlapping exports (same address, kind and time) counts once; an event without a
-- time is identified by its file and line.
-- A file is its sha256 (identical files are read once), carried as its rank in sha256 order.
COPY (
    SELECT $tenant::tenant_t AS tenant, e.channel, e.address, e.kind, e.occurred_at, e.bounce_count,
           f.source_sha256, e.source_line, e.detail
    FROM (
        SELECT v.channel, v.address, v.kind, v.occurred_at, v.bounce_count,
               min(v.sha_rank) AS sha_rank, min(v.source_line) AS source_line, min(v.detail::detail_t) AS detail
        FROM (SELECT r.channel::channel_t AS channel, r.address, r.occurred_at, r.bounce_count, r.source_line, r.detail,
                     r.file_idx, f.sha_rank,
                     (CASE WHEN r.event = 'delivered' THEN 'delivered'
                           WHEN r.bounce_count IS NOT NULL THEN 'soft_bounce_count'
                           ELSE 'soft_bounce' END)::kind_t AS kind
              FROM rows r JOIN files f ON f.file_idx = r.file_idx
              WHERE r.error IS NULL
                AND (r.event = 'delivered' OR (r.event = 'suppression' AND r.reason = 'soft_bounce'))) v
        GROUP BY v.channel, v.address, v.kind, v.occurred_at, v.bounce_count,
                 CASE WHEN v.occurred_at IS NULL THEN v.file_idx END,
                 CASE WHEN v.occurred_at IS NULL THEN v.source_line END
    ) e JOIN files f ON f.sha_rank = e.sha_rank
) TO :out (FORMAT parquet);

-- name: rejects
-- A file's name and platform are in `files`: the parts carry only its position.
COPY (
    SELECT f.source_file AS file, r.source_line AS line, r.raw_address AS value, r.error,
           f.source_platform AS platform, coalesce(r.status, '') AS detail
    FROM rows r JOIN files f ON f.file_idx = r.file_idx
    WHERE r.error IS NOT NULL
    ORDER BY file, line
) TO :out (FORMAT parquet);

-- name: warnings
-- Rows kept with their time unknown, and the raw string that could not be used. A row with no time
-- at all in a file whose other rows have one (an SES notification without `timestamp`) is kept
-- with its time unknown too, and said (`missing_time`); a file with no times at all (a plain list)
-- is counted once in the summary instead (`suppressions_time_unknown`).
-- One warning per input line, however many records the line made.
COPY (
    SELECT f.source_file AS file, w.line, w.value, w.warning
    FROM (SELECT DISTINCT file_idx, source_line AS line, occurred_raw AS value, time_warning AS warning
          FROM rows WHERE error IS NULL AND time_warning IS NOT NULL
          UNION
          SELECT r.file_idx, r.source_line, NULL, 'missing_time'
          FROM rows r SEMI JOIN (SELECT DISTINCT file_idx FROM rows WHERE occurred_at IS NOT NULL) t ON t.file_idx = r.file_idx
          WHERE r.error IS NULL AND r.time_warning IS NULL AND r.occurred_at IS NULL
            AND r.event IN ('suppression', 'delivered')) w
    JOIN files f ON f.file_idx = w.file_idx
    ORDER BY file, line
) TO :out (FORMAT parquet);

-- name: file_counts
-- Rows are input rows (one line of a file), even where an adapter made several records of one
-- (opt-out columns, tag lists): a row is rejected if any of its records is. Files whose every
-- line made one record (the normalizer checks) are counted without the costly DISTINCT.
SELECT r.file_idx,
       count(*)                                                     AS rows_read,
       count(*) FILTER (WHERE r.error IS NOT NULL)                  AS rows_rejected,
       count(*) FILTER (WHERE r.error IS NULL AND r.event = 'ignored') AS rows_ignored
FROM rows r SEMI JOIN files f ON f.file_idx = r.file_idx AND f.one_record_per_line
GROUP BY r.file_idx
UNION ALL
SELECT r.file_idx,
       count(DISTINCT r.source_line),
       count(DISTINCT r.source_line) FILTER (WHERE r.error IS NOT NULL),
       count(DISTINCT r.source_line) FILTER (WHERE r.error IS NULL AND r.event = 'ignored')
FROM rows r SEMI JOIN files f ON f.file_idx = r.file_idx AND NOT f.one_record_per_line
GROUP BY r.file_idx;

-- name: evidence_counts
-- Events as read, before the same event seen twice is collapsed.
SELECT CASE WHEN event = 'delivered' THEN 'delivered'
            WHEN bounce_count IS NOT NULL THEN 'soft_bounce_count'
            ELSE 'soft_bounce' END AS kind, count(*)
FROM rows
WHERE error IS NULL AND (event = 'delivered' OR (event = 'suppression' AND reason = 'soft_bounce'))
GROUP BY ALL;

-- name: reason_counts
SELECT channel, reason, scope, count(*) AS n FROM read_parquet(:suppressions) GROUP BY ALL ORDER BY n DESC, channel, reason, scope;

-- name: warning_counts
SELECT warning, count(*) AS n FROM read_parquet(:warnings) GROUP BY ALL ORDER BY n DESC, warning;

-- name: validation_sample
-- What Great Expectations audits: a uniform sample of the staged suppressions, in their
-- canonical columns (`:percent` of them; all of them below the sample size).
SELECT tenant, channel, address, reason, scope, first_seen_at, last_seen_at, source_platform, detail, time_known
FROM read_parquet(:suppressions) USING SAMPLE :percent PERCENT (bernoulli, 7);

-- Contacts import (`suppress contacts import`, pipelines/enforce/contacts.py): the same staging
-- DuckDB over the normalized contact parts (file_idx, line, contact_id, email, phone, consent_in,
-- attributes, value, error, file, has_email, has_phone). Every path here is a bound parameter:
-- DuckDB (2.0) binds the list `read_parquet` reads and a COPY's target; only a view cannot be
-- prepared, which these statements do without.

-- name: contacts_rows
-- One row per contact id: the last line wins (later files, then later lines); the earlier valid
-- lines of the same id are quarantined as duplicate_id.
CREATE TEMP TABLE contact_rows AS
SELECT *, CASE WHEN error IS NULL AND row_number() OVER (
               PARTITION BY contact_id, error IS NULL ORDER BY file_idx DESC, line DESC) > 1
          THEN 'duplicate_id' ELSE error END AS final_error
FROM read_parquet($parts);

-- name: contacts_accepted
COPY (
    SELECT contact_id, email, phone, consent_in, attributes, has_email, has_phone
    FROM contact_rows WHERE final_error IS NULL
) TO $out (FORMAT parquet);

-- name: contacts_rejects
-- In the shape of the suppressions' rejects (`rejects` above); a duplicate shows its id.
COPY (
    SELECT file, line, CASE WHEN final_error = 'duplicate_id' THEN contact_id ELSE value END AS value,
           final_error AS error, 'contacts' AS platform, '' AS detail
    FROM contact_rows WHERE final_error IS NOT NULL
    ORDER BY file, line
) TO $out (FORMAT parquet);

-- name: contacts_file_counts
SELECT file_idx, count(*) AS rows_read, count(*) FILTER (WHERE final_error IS NOT NULL) AS rows_rejected
FROM contact_rows GROUP BY file_idx;

-- name: contacts_reject_counts
SELECT final_error, count(*) AS n FROM contact_rows WHERE final_error IS NOT NULL GROUP BY ALL ORDER BY n DESC, final_error;
