-- SPEC 2.2 / 2.3 as of wave 2; the PostgreSQL flavour of sql/duckdb/005.
CREATE TABLE list_mappings (
    tenant        text COLLATE "C" NOT NULL,
    previous_list text COLLATE "C" NOT NULL,   -- the stored scope, `list:<id>`
    new_list      text NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, previous_list)
);

ALTER TABLE suppressions ADD COLUMN time_known boolean NOT NULL DEFAULT true;
ALTER TABLE suppression_sources ADD COLUMN time_known boolean NOT NULL DEFAULT true;

ALTER TABLE import_runs ADD COLUMN dry_run boolean NOT NULL DEFAULT false;
UPDATE import_runs SET dry_run = coalesce((options ->> 'dry_run')::boolean, false) WHERE options ? 'dry_run';

ALTER TABLE contacts ADD COLUMN declared_consent text
    CHECK (declared_consent IN ('subscribed', 'unsubscribed', 'pending_double_opt_in', 'unknown'));
UPDATE contacts SET declared_consent = marketing_consent;

-- The contacts trigger, as in 002 but: any active unsubscribe takes marketing consent (a list-
-- scoped one too, SPEC 2.2), and a writer's own consent value is kept as the declared consent.
CREATE OR REPLACE FUNCTION contacts_enforce_suppressions() RETURNS trigger
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
    IF TG_OP = 'INSERT' OR NEW.marketing_consent IS DISTINCT FROM OLD.marketing_consent THEN
        NEW.declared_consent := NEW.marketing_consent;
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
                 AND ((s.channel = 'email' AND s.address = NEW.email_key)
                      OR (s.channel = 'sms' AND s.address = NEW.phone_key))) THEN
        NEW.marketing_consent := 'unsubscribed';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.marketing_consent = 'pending_double_opt_in'
       AND NEW.marketing_consent = 'subscribed' THEN  -- only a confirmation (the library) ends it
        NEW.marketing_consent := OLD.marketing_consent;
        NEW.declared_consent := OLD.declared_consent;
    END IF;
    RETURN NEW;
END
$$;

-- The trigger's email key strips quotes and spaces again after `mailto:`, as the library's
-- normalizer now does (`mailto:'x@example.com'` is x@example.com).
CREATE OR REPLACE FUNCTION suppression_email_key(e text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(regexp_replace(regexp_replace(lower(regexp_replace(regexp_replace(
        coalesce(substring(e from '<([^<>]*)>[\s\u00a0]*$'), e),
        '^[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"''`]+|[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"''`]+$', '', 'g'),
        '^mailto:', '', 'i')),
        '^[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"''`]+|[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"''`]+$', '', 'g'),
        '\.$', ''), '')
$$;
