-- Enforcement (SPEC 3, 2.2, 2.3), PostgreSQL flavour of sql/duckdb/002_enforcement.sql: contacts,
-- erasure, explicit lifting, soft-bounce evidence, per-tenant settings, safety copies; plus the
-- trigger that blocks a suppressed contact whoever writes it.

-- An erased address is kept only as its token 'hmac:' || HMAC-SHA-256(key, address), in the same
-- address columns as plain addresses.
DROP INDEX IF EXISTS suppressions_hash;
ALTER TABLE suppressions DROP COLUMN address_hash;
-- Set by `resubscribe` / `unblock` (audited in suppression_events): a lifted suppression blocks
-- nothing; only newer evidence from a later import makes it active again.
ALTER TABLE suppressions ADD COLUMN lifted_at timestamptz;

-- Which reasons block everything on their channel (pipelines.model.BLOCKS_ALL; a test keeps the
-- two equal). An unsubscribe blocks marketing when its scope is `marketing` or `all`.
CREATE TABLE suppression_reasons (
    reason     text PRIMARY KEY,
    blocks_all boolean NOT NULL
);
INSERT INTO suppression_reasons VALUES
    ('hard_bounce', true), ('invalid', true), ('spam_complaint', true), ('manual', true),
    ('unsubscribe', false), ('soft_bounce', false), ('policy_block', false);

CREATE TABLE erased_addresses (
    tenant    text COLLATE "C" NOT NULL,
    channel   text COLLATE "C" NOT NULL,
    address   text COLLATE "C" NOT NULL,   -- the token
    erased_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, channel, address)
);

-- Delivery evidence and soft bounces, one row per event (a previous platform's soft-bounce
-- counter is one `soft_bounce_count` row): what the consecutive-soft-bounce policy counts.
CREATE TABLE message_events (
    tenant        text COLLATE "C" NOT NULL,
    channel       text COLLATE "C" NOT NULL,
    address       text COLLATE "C" NOT NULL,
    kind          text COLLATE "C" NOT NULL,   -- delivered | soft_bounce | soft_bounce_count
    occurred_at   timestamptz,
    bounce_count  bigint,
    run_id        text COLLATE "C" NOT NULL,
    source_sha256 text NOT NULL,
    source_line   bigint,
    recorded_at   timestamptz NOT NULL,
    detail        text
);
CREATE INDEX message_events_address ON message_events (tenant, channel, address, kind, occurred_at);
CREATE INDEX message_events_run ON message_events (run_id);
INSERT INTO message_events
SELECT e.tenant, e.channel, e.address, 'delivered', e.occurred_at, NULL, coalesce(e.run_id, 'unknown'),
       'unknown', NULL, e.recorded_at, e.detail
FROM suppression_events e WHERE e.action = 'delivered';
DELETE FROM suppression_events WHERE action = 'delivered';

-- Rows kept with their time unknown (SPEC 2.1: unparseable, future, before 1995): the raw
-- string stays here, next to the file and line, for the reviewer.
CREATE TABLE row_warnings (
    run_id  text NOT NULL,
    file    text NOT NULL,
    line    bigint,
    value   text,
    warning text NOT NULL
);

CREATE INDEX row_warnings_run ON row_warnings (run_id, file, line);

CREATE TABLE tenant_settings (
    tenant     text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- The platform's contacts. email/phone are normalized; email_key/phone_key are what they match
-- in suppressions (the address, or its token once that address was erased).
CREATE TABLE contacts (
    tenant            text COLLATE "C" NOT NULL,
    contact_id        text COLLATE "C" NOT NULL,
    email             text COLLATE "C",
    phone             text COLLATE "C",
    email_key         text COLLATE "C",
    phone_key         text COLLATE "C",
    email_status      text NOT NULL CHECK (email_status IN ('active', 'suppressed')),
    sms_status        text NOT NULL CHECK (sms_status IN ('active', 'suppressed')),
    marketing_consent text NOT NULL
        CHECK (marketing_consent IN ('subscribed', 'unsubscribed', 'pending_double_opt_in', 'unknown')),
    attributes        jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_run_id    text,
    updated_run_id    text,
    PRIMARY KEY (tenant, contact_id)
);
CREATE INDEX contacts_email_key ON contacts (tenant, email_key);
CREATE INDEX contacts_phone_key ON contacts (tenant, phone_key);

CREATE TABLE contact_events (
    tenant      text COLLATE "C" NOT NULL,
    contact_id  text COLLATE "C" NOT NULL,
    field       text NOT NULL,   -- created | email_status | sms_status | marketing_consent
    old_value   text,
    new_value   text,
    run_id      text COLLATE "C",
    recorded_at timestamptz NOT NULL,
    detail      text
);
CREATE INDEX contact_events_contact ON contact_events (tenant, contact_id);
CREATE INDEX contact_events_run ON contact_events (run_id);

CREATE TABLE safety_exports (
    export_id  text PRIMARY KEY,
    tenant     text NOT NULL,
    path       text NOT NULL,
    rows       bigint NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    removed_at timestamptz
);

-- The database itself blocks a contact written with a suppressed address (SPEC 3), so a writer
-- that bypasses the library cannot create a sendable contact. Such a writer's key is never
-- trusted: it is derived here from email/phone (display name, quotes, mailto:, no-break and
-- zero-width spaces, trailing dot and case for emails; punctuation of +international numbers),
-- unless it is the token of an erased address. Suppressed addresses force the statuses; a
-- pending double opt-in ends only through the library. The library computes statuses itself
-- under the tenant's lock and marks its transactions (`suppression.library_write`), so its bulk
-- writes skip this per-row work.
-- A writer concurrent with a load waits for it (shared/exclusive advisory lock per tenant on
-- 0x53555052): either the load sees the new contact, or the trigger sees the load's suppressions.
-- Limitation: an erased address is stored only as a keyed hash and the key is not in the
-- database, so only the library (which knows the key) matches a plain erased address.
CREATE FUNCTION suppression_email_key(e text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(regexp_replace(lower(regexp_replace(regexp_replace(
        coalesce(substring(e from '<([^<>]*)>[\s\u00a0]*$'), e),
        '^[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"''`]+|[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"''`]+$', '', 'g'),
        '^mailto:', '', 'i')), '\.$', ''), '')
$$;

CREATE FUNCTION suppression_phone_key(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN btrim(p) ~ '^\+' THEN '+' || regexp_replace(p, '\D', '', 'g') ELSE nullif(btrim(p), '') END
$$;

CREATE FUNCTION contacts_enforce_suppressions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('suppression.library_write', true) = 'on' THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1398100050, hashtext(NEW.tenant));
    IF NEW.email_key IS NULL OR NEW.email_key NOT LIKE 'hmac:%'
       OR (TG_OP = 'UPDATE' AND NEW.email IS DISTINCT FROM OLD.email)
       OR NOT EXISTS (SELECT 1 FROM erased_addresses e
                      WHERE e.tenant = NEW.tenant AND e.channel = 'email' AND e.address = NEW.email_key) THEN
        NEW.email_key := suppression_email_key(NEW.email);
    END IF;
    IF NEW.phone_key IS NULL OR NEW.phone_key NOT LIKE 'hmac:%'
       OR (TG_OP = 'UPDATE' AND NEW.phone IS DISTINCT FROM OLD.phone)
       OR NOT EXISTS (SELECT 1 FROM erased_addresses e
                      WHERE e.tenant = NEW.tenant AND e.channel = 'sms' AND e.address = NEW.phone_key) THEN
        NEW.phone_key := suppression_phone_key(NEW.phone);
    END IF;
    IF EXISTS (SELECT 1 FROM suppressions s JOIN suppression_reasons r ON r.reason = s.reason
               WHERE s.tenant = NEW.tenant AND s.channel = 'email' AND s.address = NEW.email_key
                 AND s.lifted_at IS NULL AND r.blocks_all) THEN
        NEW.email_status := 'suppressed';
    END IF;
    IF EXISTS (SELECT 1 FROM suppressions s JOIN suppression_reasons r ON r.reason = s.reason
               WHERE s.tenant = NEW.tenant AND s.channel = 'sms' AND s.address = NEW.phone_key
                 AND s.lifted_at IS NULL AND r.blocks_all) THEN
        NEW.sms_status := 'suppressed';
    END IF;
    IF EXISTS (SELECT 1 FROM suppressions s
               WHERE s.tenant = NEW.tenant AND s.lifted_at IS NULL AND s.reason = 'unsubscribe'
                 AND s.scope IN ('marketing', 'all')
                 AND ((s.channel = 'email' AND s.address = NEW.email_key)
                      OR (s.channel = 'sms' AND s.address = NEW.phone_key))) THEN
        NEW.marketing_consent := 'unsubscribed';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.marketing_consent = 'pending_double_opt_in'
       AND NEW.marketing_consent = 'subscribed' THEN  -- only a confirmation (the library) ends it
        NEW.marketing_consent := OLD.marketing_consent;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER contacts_enforce_suppressions
BEFORE INSERT OR UPDATE ON contacts
FOR EACH ROW EXECUTE FUNCTION contacts_enforce_suppressions();
