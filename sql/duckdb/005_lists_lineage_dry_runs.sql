-- SPEC 2.2 / 2.3 as of wave 2.
-- A tenant's previous lists mapped to its new lists: with `--list NAME`, a list-scoped unsubscribe
-- of a mapped list blocks only mail to the list it maps to (unmapped ones block all marketing).
CREATE TABLE list_mappings (
    tenant        VARCHAR NOT NULL,
    previous_list VARCHAR NOT NULL,   -- the stored scope, `list:<id>`
    new_list      VARCHAR NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, previous_list)
);

-- Whether first/last seen are event times or the load time standing in for unknown ones: a
-- rollback narrows to the remaining runs' event times, and the first known time replaces a
-- stand-in instead of widening it.
ALTER TABLE suppressions ADD COLUMN time_known BOOLEAN DEFAULT true;
ALTER TABLE suppression_sources ADD COLUMN time_known BOOLEAN DEFAULT true;

-- Dry runs are marked in the history and can never be rolled back.
ALTER TABLE import_runs ADD COLUMN dry_run BOOLEAN DEFAULT false;
UPDATE import_runs SET dry_run = coalesce(json_extract(options, '$.dry_run')::BOOLEAN, false);

-- What the contact's own data says about marketing consent, before any unsubscribe is applied:
-- the consent for a list that none of the contact's (mapped) unsubscribes concern.
ALTER TABLE contacts ADD COLUMN declared_consent VARCHAR;
UPDATE contacts SET declared_consent = marketing_consent;
