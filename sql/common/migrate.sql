-- `suppress migrate-store` (pipelines/migrate_store.py): the same SQL on both stores. {table} and
-- {columns} are identifiers, filled in from the fixed TABLES list and the target's
-- information_schema (SQL binds values only); every value is a parameter.

-- name: columns
-- The catalog too: DuckDB lists its temp tables (catalog `temp`) under the same schema.
SELECT column_name, data_type FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = $table
ORDER BY ordinal_position;

-- name: count
SELECT count(*) FROM {table};

-- name: any_erased
SELECT count(*) > 0 FROM erased_addresses;

-- name: clear_settings
-- The target's own freshly generated key gives way to the source's settings.
DELETE FROM store_settings;

-- name: drop_key_settings
DELETE FROM store_settings WHERE key IN ('hmac_key', 'hmac_key_fingerprint');
