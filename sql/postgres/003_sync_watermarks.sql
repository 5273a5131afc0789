-- Nightly sync (SPEC 4.2), PostgreSQL flavour of sql/duckdb/003_sync_watermarks.sql: how far each
-- tenant's API source has been pulled. A source's watermark is the time its last loaded pull
-- started (UTC ISO text, fixed width, so text order is time order); it is written in the
-- transaction of the load that carried the pull, so it only moves when that load commits.
-- run_id: the run that moved it.

CREATE TABLE sync_watermarks (
    tenant     text COLLATE "C" NOT NULL,
    source     text COLLATE "C" NOT NULL,
    watermark  text COLLATE "C" NOT NULL,
    run_id     text,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, source)
);
