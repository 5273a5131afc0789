-- Named statements both dialects run as written here (pipelines/store/sql.py `translate`): DuckDB's
-- dialect with $name parameters; PostgreSQL gets %(name)s, %% for a literal %, address_hmac and
-- regexp_escape written out, and temp tables that end with the transaction. What differs between
-- them is in sql/duckdb and sql/postgres.

-- name: has_contacts
SELECT EXISTS (SELECT 1 FROM contacts WHERE tenant = $tenant);

-- name: count_erase_set
SELECT count(*) FROM erase_set;

-- name: count_erase_map
SELECT count(*) FROM erase_map;

-- name: has_erasures
SELECT EXISTS (SELECT 1 FROM erased_addresses WHERE tenant = $tenant);

-- name: derive_status
-- What the suppressions say for each contact of `status_input` (contact_id, email_key,
-- phone_key): a blocking reason on a channel suppresses that channel; an unsubscribe of any scope
-- (on either channel) takes marketing consent away: a previous platform's list-scoped one too, as
-- the new platform has none of its lists (SPEC 2.2; the consent for one mapped list is computed on
-- read, pipelines/model.py). Lifted suppressions block nothing.
CREATE OR REPLACE TEMP TABLE derived_status AS
WITH hits AS (
    SELECT i.contact_id, s.channel, s.reason, s.scope
    FROM status_input i JOIN suppressions s
      ON s.tenant = $tenant AND s.channel = 'email' AND s.address = i.email_key
    WHERE s.lifted_at IS NULL
    UNION ALL
    SELECT i.contact_id, s.channel, s.reason, s.scope
    FROM status_input i JOIN suppressions s
      ON s.tenant = $tenant AND s.channel = 'sms' AND s.address = i.phone_key
    WHERE s.lifted_at IS NULL
)
SELECT i.contact_id,
       CASE WHEN bool_or(h.channel = 'email' AND r.blocks_all) THEN 'suppressed' ELSE 'active' END AS email_status,
       CASE WHEN bool_or(h.channel = 'sms' AND r.blocks_all) THEN 'suppressed' ELSE 'active' END AS sms_status,
       coalesce(bool_or(h.reason = 'unsubscribe'), false) AS unsubscribed
FROM status_input i
LEFT JOIN hits h ON h.contact_id = i.contact_id
LEFT JOIN suppression_reasons r ON r.reason = h.reason
GROUP BY i.contact_id;

-- name: status_input_from_run
-- The contacts whose address this run's load suppressed or strengthened.
CREATE OR REPLACE TEMP TABLE status_input AS
SELECT c.contact_id, c.email_key, c.phone_key
FROM contacts c
WHERE c.tenant = $tenant
  AND (c.email_key IN (SELECT address FROM stage_changes WHERE channel = 'email'
                       UNION ALL SELECT address FROM soft_bounce_blocks)
       OR c.phone_key IN (SELECT address FROM stage_changes WHERE channel = 'sms'));

-- name: status_input_for_address
CREATE OR REPLACE TEMP TABLE status_input AS
SELECT c.contact_id, c.email_key, c.phone_key
FROM contacts c
WHERE c.tenant = $tenant
  AND ((c.email_key = $address AND $channel = 'email') OR (c.phone_key = $address AND $channel = 'sms'));

-- name: status_input_from_rollback
CREATE OR REPLACE TEMP TABLE status_input AS
SELECT c.contact_id, c.email_key, c.phone_key
FROM contacts c
WHERE c.tenant = $tenant
  AND (c.email_key IN (SELECT address FROM rollback_keys WHERE channel = 'email')
       OR c.phone_key IN (SELECT address FROM rollback_keys WHERE channel = 'sms')
       OR c.contact_id IN (SELECT contact_id FROM contact_events WHERE tenant = $tenant AND run_id = $run_id));

-- name: changes_tighten
-- After a load: statuses and consent only ever tighten (an import never makes a contact sendable).
CREATE OR REPLACE TEMP TABLE contact_changes AS
SELECT c.contact_id, 'email_status' AS field, c.email_status AS old_value, 'suppressed' AS new_value
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND d.email_status = 'suppressed' AND c.email_status <> 'suppressed'
UNION ALL
SELECT c.contact_id, 'sms_status', c.sms_status, 'suppressed'
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND d.sms_status = 'suppressed' AND c.sms_status <> 'suppressed'
UNION ALL
SELECT c.contact_id, 'marketing_consent', c.marketing_consent, 'unsubscribed'
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND d.unsubscribed AND c.marketing_consent <> 'unsubscribed';

-- name: changes_recompute
-- After an explicit lift or a rollback: statuses follow the suppressions both ways, and consent is
-- what the contact declared unless an unsubscribe remains (resubscribe gives consent back in
-- `changes_resubscribe`).
CREATE OR REPLACE TEMP TABLE contact_changes AS
SELECT c.contact_id, 'email_status' AS field, c.email_status AS old_value, d.email_status AS new_value
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND c.email_status <> d.email_status
UNION ALL
SELECT c.contact_id, 'sms_status', c.sms_status, d.sms_status
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND c.sms_status <> d.sms_status
UNION ALL
SELECT x.contact_id, 'marketing_consent', x.marketing_consent, x.consent
FROM (SELECT c.contact_id, c.marketing_consent,
             CASE WHEN d.unsubscribed THEN 'unsubscribed' ELSE coalesce(c.declared_consent, c.marketing_consent) END
                 AS consent
      FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
      WHERE c.tenant = $tenant) x
WHERE x.marketing_consent <> x.consent;

-- name: changes_resubscribe
-- Double opt-in confirmed: contacts of the address that lost their consent (or waited for the
-- confirmation) get it back, unless another unsubscribe (the other channel) still holds.
CREATE OR REPLACE TEMP TABLE contact_changes AS
SELECT c.contact_id, 'email_status' AS field, c.email_status AS old_value, d.email_status AS new_value
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND c.email_status <> d.email_status
UNION ALL
SELECT c.contact_id, 'sms_status', c.sms_status, d.sms_status
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND c.sms_status <> d.sms_status
UNION ALL
SELECT c.contact_id, 'marketing_consent', c.marketing_consent, 'subscribed'
FROM contacts c JOIN derived_status d ON d.contact_id = c.contact_id
WHERE c.tenant = $tenant AND NOT d.unsubscribed AND c.marketing_consent IN ('unsubscribed', 'pending_double_opt_in');

-- name: apply_contact_changes
UPDATE contacts c
SET email_status      = coalesce(x.email_status, c.email_status),
    sms_status        = coalesce(x.sms_status, c.sms_status),
    marketing_consent = coalesce(x.marketing_consent, c.marketing_consent),
    -- a confirmed double opt-in is the contact's own consent too
    declared_consent  = CASE WHEN x.marketing_consent = 'subscribed' THEN 'subscribed' ELSE c.declared_consent END,
    updated_at        = $now,
    updated_run_id    = coalesce($run_id, c.updated_run_id)
FROM (SELECT contact_id,
             max(new_value) FILTER (WHERE field = 'email_status')      AS email_status,
             max(new_value) FILTER (WHERE field = 'sms_status')        AS sms_status,
             max(new_value) FILTER (WHERE field = 'marketing_consent') AS marketing_consent
      FROM contact_changes GROUP BY contact_id) x
WHERE c.tenant = $tenant AND c.contact_id = x.contact_id;

-- name: contact_change_counts
SELECT count(DISTINCT contact_id),
       count(*) FILTER (WHERE field = 'email_status' AND new_value = 'suppressed'),
       count(*) FILTER (WHERE field = 'sms_status' AND new_value = 'suppressed'),
       count(*) FILTER (WHERE field = 'marketing_consent' AND new_value = 'unsubscribed')
FROM contact_changes;

-- name: status_input_from_stage
CREATE OR REPLACE TEMP TABLE status_input AS SELECT contact_id, email_key, phone_key FROM stage_contacts;

-- name: insert_contacts
INSERT INTO contacts (tenant, contact_id, email, phone, email_key, phone_key, email_status, sms_status,
                      marketing_consent, declared_consent, attributes, created_at, updated_at, created_run_id,
                      updated_run_id)
SELECT $tenant, contact_id, email, phone, email_key, phone_key, email_status, sms_status,
       marketing_consent, declared_consent, attributes, $now, $now, $run_id, $run_id
FROM contact_plan WHERE is_new;

-- name: update_contacts
UPDATE contacts c
SET email = p.email, phone = p.phone, email_key = p.email_key, phone_key = p.phone_key,
    email_status = p.email_status, sms_status = p.sms_status, marketing_consent = p.marketing_consent,
    declared_consent = p.declared_consent, attributes = p.attributes, updated_at = $now, updated_run_id = $run_id
FROM contact_plan p
WHERE c.tenant = $tenant AND c.contact_id = p.contact_id AND NOT p.is_new
  AND (p.email IS DISTINCT FROM p.old_email OR p.phone IS DISTINCT FROM p.old_phone
       OR p.attributes IS DISTINCT FROM p.old_attributes OR p.email_status <> p.old_email_status
       OR p.sms_status <> p.old_sms_status OR p.marketing_consent <> p.old_consent
       OR p.declared_consent IS DISTINCT FROM p.old_declared);

-- name: contact_plan_events
INSERT INTO contact_events (tenant, contact_id, field, old_value, new_value, run_id, recorded_at, detail)
SELECT $tenant, contact_id, 'created', NULL,
       email_status || ' / ' || sms_status || ' / ' || marketing_consent, $run_id, $now, NULL
FROM contact_plan WHERE is_new
UNION ALL
SELECT $tenant, contact_id, 'email_status', old_email_status, email_status, $run_id, $now, NULL
FROM contact_plan WHERE NOT is_new AND email_status <> old_email_status
UNION ALL
SELECT $tenant, contact_id, 'sms_status', old_sms_status, sms_status, $run_id, $now, NULL
FROM contact_plan WHERE NOT is_new AND sms_status <> old_sms_status
UNION ALL
SELECT $tenant, contact_id, 'marketing_consent', old_consent, marketing_consent, $run_id, $now, NULL
FROM contact_plan WHERE NOT is_new AND marketing_consent <> old_consent;

-- name: contact_plan_counts
SELECT count(*) FILTER (WHERE is_new),
       count(*) FILTER (WHERE NOT is_new AND (email IS DISTINCT FROM old_email OR phone IS DISTINCT FROM old_phone
                                              OR attributes IS DISTINCT FROM old_attributes
                                              OR email_status <> old_email_status OR sms_status <> old_sms_status
                                              OR marketing_consent <> old_consent
                                              OR declared_consent IS DISTINCT FROM old_declared)),
       count(*) FILTER (WHERE is_new AND (email_status = 'suppressed' OR sms_status = 'suppressed'
                                          OR marketing_consent IN ('unsubscribed', 'pending_double_opt_in'))),
       count(*) FILTER (WHERE marketing_consent = 'pending_double_opt_in' AND (is_new OR old_consent <> marketing_consent))
FROM contact_plan;

-- name: select_hard_bounced
-- Segment `hard_bounced`: contacts whose email has an active hard bounce.
CREATE OR REPLACE TEMP TABLE erase_set AS
SELECT c.* FROM contacts c
WHERE c.tenant = $tenant AND c.email_key IN (
    SELECT address FROM suppressions
    WHERE tenant = $tenant AND channel = 'email' AND reason = 'hard_bounce' AND lifted_at IS NULL);

-- name: erase_suppressions
UPDATE suppressions s SET address = m.token
FROM erase_map m WHERE s.tenant = $tenant AND s.channel = m.channel AND s.address = m.address;

-- name: erase_sources
UPDATE suppression_sources s SET address = m.token
FROM erase_map m WHERE s.tenant = $tenant AND s.channel = m.channel AND s.address = m.address;

-- name: erase_events
UPDATE suppression_events s SET address = m.token
FROM erase_map m WHERE s.tenant = $tenant AND s.channel = m.channel AND s.address = m.address;

-- name: erase_evidence
UPDATE message_events s SET address = m.token
FROM erase_map m WHERE s.tenant = $tenant AND s.channel = m.channel AND s.address = m.address;

-- name: erase_email_keys
-- Other contacts of the tenant with the same address keep matching its (now hashed) suppressions.
UPDATE contacts c SET email_key = m.token
FROM erase_map m WHERE c.tenant = $tenant AND m.channel = 'email' AND c.email_key = m.address;

-- name: erase_phone_keys
UPDATE contacts c SET phone_key = m.token
FROM erase_map m WHERE c.tenant = $tenant AND m.channel = 'sms' AND c.phone_key = m.address;

-- name: record_erasures
INSERT INTO erased_addresses (tenant, channel, address, erased_at)
SELECT $tenant, m.channel, m.token, $now FROM erase_map m
WHERE NOT EXISTS (SELECT 1 FROM erased_addresses e
                  WHERE e.tenant = $tenant AND e.channel = m.channel AND e.address = m.token);

-- name: erase_audit
INSERT INTO suppression_events (tenant, channel, address, action, run_id, recorded_at, detail)
SELECT $tenant, channel, token, 'erased', $run_id, $now, 'contact deleted; the address is kept only as a keyed hash'
FROM erase_map;

-- name: delete_contact_events
DELETE FROM contact_events WHERE tenant = $tenant AND contact_id IN (SELECT contact_id FROM erase_set);

-- name: delete_contacts
DELETE FROM contacts WHERE tenant = $tenant AND contact_id IN (SELECT contact_id FROM erase_set);

-- name: record_safety_export
INSERT INTO safety_exports (export_id, tenant, path, rows, created_at, expires_at)
VALUES ($export_id, $tenant, $path, $rows, $now, $expires_at);

-- name: safety_exports_due
SELECT export_id, tenant, path, rows, created_at, expires_at
FROM safety_exports WHERE removed_at IS NULL AND expires_at <= $now ORDER BY expires_at;

-- name: safety_export_removed
UPDATE safety_exports SET removed_at = $now WHERE export_id = $export_id;

-- name: lift_set
-- resubscribe lifts unsubscribes; unblock lifts everything else.
CREATE OR REPLACE TEMP TABLE lift_set AS
SELECT channel, address, reason, scope, last_seen_at FROM suppressions
WHERE tenant = $tenant AND channel = $channel AND address = $address AND lifted_at IS NULL
  AND ((reason = 'unsubscribe') = $unsubscribes);

-- name: lift
UPDATE suppressions s SET lifted_at = $lifted_at, updated_at = $now
FROM lift_set l
WHERE s.tenant = $tenant AND s.channel = l.channel AND s.address = l.address
  AND s.reason = l.reason AND s.scope = l.scope;

-- name: lift_audit
INSERT INTO suppression_events (tenant, channel, address, reason, scope, action, occurred_at, recorded_at, detail)
SELECT $tenant, channel, address, reason, scope, $action, $lifted_at, $now, $detail FROM lift_set;

-- name: lift_rows
SELECT reason, scope, last_seen_at FROM lift_set ORDER BY reason, scope;

-- name: confirm_audit
-- A double opt-in confirmed for an address (with or without unsubscribes to lift): audited.
INSERT INTO suppression_events (tenant, channel, address, action, occurred_at, recorded_at, detail)
VALUES ($tenant, $channel, $address, 'double_opt_in_confirmed', $lifted_at, $now, $detail);

-- name: remaining_blocks
SELECT reason, scope FROM suppressions
WHERE tenant = $tenant AND channel = $channel AND address = $address AND lifted_at IS NULL
ORDER BY reason, scope;

-- name: get_settings
SELECT key, value FROM tenant_settings WHERE tenant = $tenant ORDER BY key;

-- name: delete_setting
DELETE FROM tenant_settings WHERE tenant = $tenant AND key = $key;

-- name: insert_setting
INSERT INTO tenant_settings (tenant, key, value, updated_at) VALUES ($tenant, $key, $value, $now);

-- name: contact_unsubscribes
-- Each contact's active unsubscribes (either channel) with its declared consent: what its consent
-- for one list (`--list`) is computed from (pipelines/model.py `list_consent`).
SELECT c.contact_id AS id, c.declared_consent, s.scope
FROM contacts c JOIN suppressions s
  ON s.tenant = c.tenant AND s.channel = 'email' AND s.address = c.email_key
WHERE c.tenant = $tenant AND s.reason = 'unsubscribe' AND s.lifted_at IS NULL
UNION ALL
SELECT c.contact_id, c.declared_consent, s.scope
FROM contacts c JOIN suppressions s
  ON s.tenant = c.tenant AND s.channel = 'sms' AND s.address = c.phone_key
WHERE c.tenant = $tenant AND s.reason = 'unsubscribe' AND s.lifted_at IS NULL;

-- name: list_mappings
SELECT previous_list, new_list FROM list_mappings WHERE tenant = $tenant ORDER BY previous_list;

-- name: list_scopes
-- The previous lists this tenant's suppressions name, with how many active ones each.
SELECT scope AS previous_list, channel, count(*) AS suppressions
FROM suppressions
WHERE tenant = $tenant AND scope LIKE 'list:%' AND lifted_at IS NULL
GROUP BY scope, channel ORDER BY scope, channel;

-- name: delete_list_mapping
DELETE FROM list_mappings WHERE tenant = $tenant AND previous_list = $previous_list;

-- name: insert_list_mapping
INSERT INTO list_mappings (tenant, previous_list, new_list, updated_at)
VALUES ($tenant, $previous_list, $new_list, $now);
-- name: tokenize_contact_emails
-- Addresses erased earlier match their suppressions by token.
UPDATE stage_contacts t SET email_key = e.address
FROM erased_addresses e
WHERE e.tenant = $tenant AND e.channel = 'email' AND t.email IS NOT NULL
  AND e.address = 'hmac:' || address_hmac(t.email);

-- name: tokenize_contact_phones
UPDATE stage_contacts t SET phone_key = e.address
FROM erased_addresses e
WHERE e.tenant = $tenant AND e.channel = 'sms' AND t.phone IS NOT NULL
  AND e.address = 'hmac:' || address_hmac(t.phone);

-- name: contact_plan
-- Statuses come from the suppressions, and for a contact whose address did not change they only
-- tighten (an import never makes a contact sendable). Consent: an unsubscribe takes it; a contact
-- that lost it (or waits for double opt-in) keeps that state whatever the file says; a contact
-- created on (or moved to) an address that belonged to a deleted contact needs double opt-in;
-- else the file's value, else what was known.
CREATE OR REPLACE TEMP TABLE contact_plan AS
SELECT t.contact_id, t.email, t.phone, t.email_key, t.phone_key, t.attributes,
       CASE WHEN c.email_status = 'suppressed' AND c.email_key IS NOT DISTINCT FROM t.email_key THEN 'suppressed'
            ELSE d.email_status END AS email_status,
       CASE WHEN c.sms_status = 'suppressed' AND c.phone_key IS NOT DISTINCT FROM t.phone_key THEN 'suppressed'
            ELSE d.sms_status END AS sms_status,
       CASE WHEN d.unsubscribed THEN 'unsubscribed'
            WHEN c.marketing_consent IN ('unsubscribed', 'pending_double_opt_in') THEN c.marketing_consent
            WHEN (t.email_key LIKE 'hmac:%' AND c.email_key IS DISTINCT FROM t.email_key)
              OR (t.phone_key LIKE 'hmac:%' AND c.phone_key IS DISTINCT FROM t.phone_key) THEN 'pending_double_opt_in'
            WHEN t.consent_in IS NOT NULL THEN t.consent_in
            ELSE coalesce(c.marketing_consent, 'unknown') END AS marketing_consent,
       -- the same without the suppressions: what the contact's own data says
       CASE WHEN c.declared_consent IN ('unsubscribed', 'pending_double_opt_in') THEN c.declared_consent
            WHEN (t.email_key LIKE 'hmac:%' AND c.email_key IS DISTINCT FROM t.email_key)
              OR (t.phone_key LIKE 'hmac:%' AND c.phone_key IS DISTINCT FROM t.phone_key) THEN 'pending_double_opt_in'
            WHEN t.consent_in IS NOT NULL THEN t.consent_in
            ELSE coalesce(c.declared_consent, 'unknown') END AS declared_consent,
       c.contact_id IS NULL AS is_new,
       c.email AS old_email, c.phone AS old_phone, c.attributes AS old_attributes,
       c.email_status AS old_email_status, c.sms_status AS old_sms_status, c.marketing_consent AS old_consent,
       c.declared_consent AS old_declared
FROM stage_contacts t
JOIN derived_status d ON d.contact_id = t.contact_id
LEFT JOIN contacts c ON c.tenant = $tenant AND c.contact_id = t.contact_id;

-- name: erase_map
-- The deleted contacts' addresses and their tokens (already-erased ones are tokens already).
CREATE OR REPLACE TEMP TABLE erase_map AS
SELECT DISTINCT channel, address, 'hmac:' || address_hmac(address) AS token
FROM (SELECT 'email' AS channel, email_key AS address FROM erase_set WHERE email_key IS NOT NULL
      UNION ALL
      SELECT 'sms', phone_key FROM erase_set WHERE phone_key IS NOT NULL) a
WHERE address NOT LIKE 'hmac:%';

-- name: erase_suppression_details
-- The address inside texts (an SMTP reply quoting it, a rejected raw value, a run summary's
-- examples) goes too: case-insensitively replaced by its token.
UPDATE suppressions s SET detail = regexp_replace(s.detail, '(?i)' || regexp_escape(m.address), m.token, 'g')
FROM erase_map m WHERE s.tenant = $tenant AND strpos(lower(s.detail), m.address) > 0;

-- name: erase_event_details
UPDATE suppression_events s SET detail = regexp_replace(s.detail, '(?i)' || regexp_escape(m.address), m.token, 'g')
FROM erase_map m WHERE s.tenant = $tenant AND strpos(lower(s.detail), m.address) > 0;

-- name: erase_evidence_details
UPDATE message_events s SET detail = regexp_replace(s.detail, '(?i)' || regexp_escape(m.address), m.token, 'g')
FROM erase_map m WHERE s.tenant = $tenant AND strpos(lower(s.detail), m.address) > 0;

-- name: erase_quarantine
UPDATE quarantine q SET value = regexp_replace(q.value, '(?i)' || regexp_escape(m.address), m.token, 'g'), detail = regexp_replace(q.detail, '(?i)' || regexp_escape(m.address), m.token, 'g')
FROM erase_map m
WHERE q.run_id IN (SELECT run_id FROM import_runs WHERE tenant = $tenant)
  AND (strpos(lower(q.value), m.address) > 0 OR strpos(lower(q.detail), m.address) > 0);

-- name: erase_warnings
UPDATE row_warnings w SET value = regexp_replace(w.value, '(?i)' || regexp_escape(m.address), m.token, 'g')
FROM erase_map m
WHERE w.run_id IN (SELECT run_id FROM import_runs WHERE tenant = $tenant) AND strpos(lower(w.value), m.address) > 0;

-- name: erase_run_summaries
UPDATE import_runs r SET summary = regexp_replace(r.summary::VARCHAR, '(?i)' || regexp_escape(m.address), m.token, 'g')::JSON, validation = regexp_replace(r.validation::VARCHAR, '(?i)' || regexp_escape(m.address), m.token, 'g')::JSON
FROM erase_map m
WHERE r.tenant = $tenant AND (strpos(lower(r.summary::VARCHAR), m.address) > 0
                          OR strpos(lower(r.validation::VARCHAR), m.address) > 0);

-- name: address_key
-- The key an address has in this tenant's suppressions: its token if it was erased.
SELECT coalesce(
    (SELECT e.address FROM erased_addresses e
     WHERE e.tenant = $tenant AND e.channel = $channel AND e.address = 'hmac:' || address_hmac($address)),
    $address);

-- name: contacts
SELECT contact_id AS id, email, phone, email_status, sms_status, marketing_consent,
       created_at, updated_at, attributes::VARCHAR AS attributes
FROM contacts WHERE tenant = $tenant
ORDER BY contact_id;

-- name: erase_set_rows
SELECT contact_id AS id, email, phone, email_status, sms_status, marketing_consent,
       created_at, updated_at, attributes::VARCHAR AS attributes
FROM erase_set ORDER BY contact_id;

-- name: record_contact_changes
INSERT INTO contact_events (tenant, contact_id, field, old_value, new_value, run_id, recorded_at, detail)
SELECT $tenant, contact_id, field, old_value, new_value, $run_id, $now, CAST($detail AS VARCHAR) FROM contact_changes;
