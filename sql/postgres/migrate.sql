-- `suppress migrate-store` on PostgreSQL: tables leave through COPY TO STDOUT (as CSV, then
-- Parquet) and enter through COPY FROM STDIN (PostgresStore.copy_parquet).

-- name: snapshot
-- The source is read from one consistent snapshot.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: dump
SELECT {columns} FROM {table};

-- name: event_seq_past_copied
-- Event ids were copied: move the identity past them.
SELECT setval(pg_get_serial_sequence('suppression_events', 'event_id'), max(event_id))
FROM suppression_events HAVING max(event_id) IS NOT NULL;
