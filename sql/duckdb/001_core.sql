-- Core tables of the suppression store (SPEC 2.3). Applied once, recorded in schema_migrations.

CREATE TABLE store_settings (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE import_runs (
    run_id               VARCHAR PRIMARY KEY,
    tenant               VARCHAR NOT NULL,
    kind                 VARCHAR NOT NULL,          -- ingest | rollback | ...
    status               VARCHAR NOT NULL,          -- running | succeeded | failed | skipped | rolled_back
    input_hash           VARCHAR,
    options              JSON,
    started_at           TIMESTAMPTZ NOT NULL,
    finished_at          TIMESTAMPTZ,
    rows_read            BIGINT,
    rows_accepted        BIGINT,
    rows_rejected        BIGINT,
    suppressions_added   BIGINT,
    suppressions_updated BIGINT,
    summary              JSON,
    validation           JSON,
    error                VARCHAR,
    rolled_back_at       TIMESTAMPTZ
);

CREATE TABLE run_files (
    run_id        VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    platform      VARCHAR,
    kind          VARCHAR,
    detected_why  VARCHAR,
    rows_read     BIGINT,
    rows_rejected BIGINT
);

-- One row per (tenant, channel, address, reason, scope). address_hash (HMAC-SHA-256 with the
-- installation's key) is filled when a contact is erased and its address set to NULL, so the
-- address stays blocked without being stored.
CREATE TABLE suppressions (
    tenant          VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    address         VARCHAR,
    address_hash    VARCHAR,
    reason          VARCHAR NOT NULL,
    scope           VARCHAR NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    source_platform VARCHAR NOT NULL,
    detail          VARCHAR,
    created_run_id  VARCHAR NOT NULL,
    last_run_id     VARCHAR NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- Lineage: every (suppression, source file) pair that asserted it, and in which run. The file's
-- name, platform and kind are in run_files (joined on run_id + source_sha256).
CREATE TABLE suppression_sources (
    tenant          VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    address         VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    scope           VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    source_sha256   VARCHAR NOT NULL,
    first_line      BIGINT,
    row_count       BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL
);

-- Append-only history of what happened to suppressions after they were created (creation itself
-- is in suppression_sources), and delivery evidence.
CREATE SEQUENCE suppression_event_seq;
CREATE TABLE suppression_events (
    event_id     BIGINT DEFAULT nextval('suppression_event_seq'),
    tenant       VARCHAR NOT NULL,
    channel      VARCHAR NOT NULL,
    address      VARCHAR NOT NULL,
    reason       VARCHAR,
    scope        VARCHAR,
    action       VARCHAR NOT NULL,   -- created | strengthened | rolled_back | delivered | ...
    run_id       VARCHAR,
    occurred_at  TIMESTAMPTZ,
    recorded_at  TIMESTAMPTZ NOT NULL,
    detail       VARCHAR
);

CREATE TABLE quarantine (
    run_id   VARCHAR NOT NULL,
    file     VARCHAR NOT NULL,
    line     BIGINT,
    value    VARCHAR,
    error    VARCHAR NOT NULL,
    platform VARCHAR,
    detail   VARCHAR
);
