-- `suppress migrate-store` on DuckDB: tables leave and enter through Parquet files in place.

-- name: dump_target
-- A COPY's file is an expression: bound here, read by `dump` (the path never enters SQL text).
SET VARIABLE migrate_target = $path;

-- name: dump
COPY (SELECT {columns} FROM {table}) TO (getvariable('migrate_target')) (FORMAT parquet);

-- name: load
INSERT INTO {table} ({columns}) SELECT {columns} FROM read_parquet($path);

-- name: event_seq_past_copied
-- Event ids were copied: move the sequence past them (DuckDB cannot set a sequence, only draw from
-- it). The argument draws once and the select as many more as the gap to the copied maximum.
SELECT max(nextval('suppression_event_seq'))
FROM range(greatest((SELECT coalesce(max(event_id), 0) FROM suppression_events)
                    - nextval('suppression_event_seq'), 0));
