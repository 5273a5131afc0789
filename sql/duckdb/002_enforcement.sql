-- Enforcement (SPEC 3, 2.2, 2.3): contacts, erasure, explicit lifting, soft-bounce evidence,
-- per-tenant settings and the safety copies of deleted contacts.

-- An erased address is kept only as its token 'hmac:' || HMAC-SHA-256(key, address), in the same
-- address columns as plain addresses: keys, lineage and joins stay as they are, and an address
-- that comes back (an import, a lookup, a new contact) is turned into its token before matching.
ALTER TABLE suppressions DROP COLUMN address_hash;
-- Set by `resubscribe` / `unblock` (audited in suppression_events): a lifted suppression blocks
-- nothing; only newer evidence from a later import makes it active again.
ALTER TABLE suppressions ADD COLUMN lifted_at TIMESTAMPTZ;

-- Which reasons block everything on their channel (pipelines.model.BLOCKS_ALL; a test keeps the
-- two equal). An unsubscribe blocks marketing when its scope is `marketing` or `all`.
CREATE TABLE suppression_reasons (
    reason     VARCHAR PRIMARY KEY,
    blocks_all BOOLEAN NOT NULL
);
INSERT INTO suppression_reasons VALUES
    ('hard_bounce', true), ('invalid', true), ('spam_complaint', true), ('manual', true),
    ('unsubscribe', false), ('soft_bounce', false), ('policy_block', false);

CREATE TABLE erased_addresses (
    tenant    VARCHAR NOT NULL,
    channel   VARCHAR NOT NULL,
    address   VARCHAR NOT NULL,   -- the token
    erased_at TIMESTAMPTZ NOT NULL
);

-- Delivery evidence and soft bounces, one row per event (a previous platform's soft-bounce
-- counter is one `soft_bounce_count` row): what the consecutive-soft-bounce policy counts.
-- occurred_at is null where the export gave no usable time.
CREATE TABLE message_events (
    tenant        VARCHAR NOT NULL,
    channel       VARCHAR NOT NULL,
    address       VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,   -- delivered | soft_bounce | soft_bounce_count
    occurred_at   TIMESTAMPTZ,
    bounce_count  BIGINT,
    run_id        VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    source_line   BIGINT,
    recorded_at   TIMESTAMPTZ NOT NULL,
    detail        VARCHAR
);
INSERT INTO message_events
SELECT e.tenant, e.channel, e.address, 'delivered', e.occurred_at, NULL, e.run_id,
       'unknown', NULL, e.recorded_at, e.detail
FROM suppression_events e WHERE e.action = 'delivered';
DELETE FROM suppression_events WHERE action = 'delivered';

-- Rows kept with their time unknown (SPEC 2.1: unparseable, future, before 1995): the raw
-- string stays here, next to the file and line, for the reviewer.
CREATE TABLE row_warnings (
    run_id  VARCHAR NOT NULL,
    file    VARCHAR NOT NULL,
    line    BIGINT,
    value   VARCHAR,
    warning VARCHAR NOT NULL
);

CREATE TABLE tenant_settings (
    tenant     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,
    value      VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- The platform's contacts. email/phone are normalized; email_key/phone_key are what they match
-- in suppressions (the address, or its token once that address was erased).
CREATE TABLE contacts (
    tenant            VARCHAR NOT NULL,
    contact_id        VARCHAR NOT NULL,
    email             VARCHAR,
    phone             VARCHAR,
    email_key         VARCHAR,
    phone_key         VARCHAR,
    email_status      VARCHAR NOT NULL,   -- active | suppressed
    sms_status        VARCHAR NOT NULL,   -- active | suppressed
    marketing_consent VARCHAR NOT NULL,   -- subscribed | unsubscribed | pending_double_opt_in | unknown
    attributes        JSON,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    created_run_id    VARCHAR,
    updated_run_id    VARCHAR,
    PRIMARY KEY (tenant, contact_id)
);

-- A contact's own history (deleted with it): status and consent changes, and by which run.
CREATE TABLE contact_events (
    tenant      VARCHAR NOT NULL,
    contact_id  VARCHAR NOT NULL,
    field       VARCHAR NOT NULL,   -- created | email_status | sms_status | marketing_consent
    old_value   VARCHAR,
    new_value   VARCHAR,
    run_id      VARCHAR,
    recorded_at TIMESTAMPTZ NOT NULL,
    detail      VARCHAR
);

-- Safety copies written before contacts are deleted; `suppress maintenance` removes them once
-- expired.
CREATE TABLE safety_exports (
    export_id  VARCHAR PRIMARY KEY,
    tenant     VARCHAR NOT NULL,
    path       VARCHAR NOT NULL,
    rows       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    removed_at TIMESTAMPTZ
);
