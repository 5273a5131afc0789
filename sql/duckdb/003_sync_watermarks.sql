-- Nightly sync (SPEC 4.2): how far each tenant's API source has been pulled. A source's watermark
-- is the time its last loaded pull started (UTC ISO text, fixed width, so text order is time
-- order); it is written in the transaction of the load that carried the pull, so it only moves
-- when that load commits. run_id: the run that moved it.

CREATE TABLE sync_watermarks (
    tenant     VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,
    watermark  VARCHAR NOT NULL,
    run_id     VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, source)
);
