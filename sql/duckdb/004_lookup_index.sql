-- Single-address lookups (SPEC 5: under 1 ms). Loads insert in hash order, so without an index a
-- point query scans every row group (~200 ms at 10M rows). A bulk load drops this index before
-- its transaction and builds it again after its COMMIT instead of updating it row by row
-- (DuckDBStore.load_run; sql/duckdb/load.sql: drop_lookup_index, create_lookup_index).
CREATE INDEX suppressions_lookup ON suppressions (address);
