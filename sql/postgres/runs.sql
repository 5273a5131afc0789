-- PostgreSQL's own session and locking statements. Advisory locks use the two-key form
-- (namespace, key) so they cannot collide with other users of advisory locks in the database:
-- 1398100048 ("SUPP") per tenant as hashtext(tenant), 1398100049 for migrations, 1398100050 the
-- contacts trigger (shared) against a load's contact step (exclusive). Two tenants whose names
-- hash alike merely wait for each other.

-- name: session
SET TimeZone TO 'UTC';

-- name: connection_check
-- PostgreSQL 14+: a killed client's backend stops within seconds, even mid-statement.
SET client_connection_check_interval TO 2000;

-- name: read_only
SET default_transaction_read_only TO on;

-- name: is_store
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: migration_lock
SELECT pg_advisory_xact_lock(1398100049, 1);

-- name: tenant_lock
-- Held from a run's start to its end (the session's), so runs of one tenant never interleave.
SELECT pg_advisory_lock(1398100048, hashtext(%(tenant)s));

-- name: tenant_unlock
SELECT pg_advisory_unlock(1398100048, hashtext(%(tenant)s));

-- name: tenant_xact_lock
SELECT pg_advisory_xact_lock(1398100048, hashtext(%(tenant)s));

-- name: library_write
-- The contacts trigger leaves the library's own writes alone (statuses computed set-wise).
SET LOCAL suppression.library_write = 'on';

-- name: contacts_lock
SELECT pg_advisory_xact_lock(1398100050, hashtext(%(tenant)s));

-- name: hashjoin_off
SET LOCAL enable_hashjoin = off;

-- name: hashjoin_on
SET LOCAL enable_hashjoin = on;

-- name: jit_off
SET LOCAL jit = off;

-- name: analyze_check_inputs
ANALYZE check_inputs;

-- name: column_types
-- A table's columns and their types (a TEMP table's too): what a binary COPY must send.
SELECT a.attname, format_type(a.atttypid, NULL)
FROM pg_attribute a
WHERE a.attrelid = %(table)s::regclass AND a.attnum > 0 AND NOT a.attisdropped;
