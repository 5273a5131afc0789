-- Contacts: what PostgreSQL does its own way (the rest is sql/common/contacts.sql). The import is
-- COPYed into a raw table; attributes merge as jsonb; a set of ids is bound as an array.

-- name: stage_contacts_raw
CREATE TEMP TABLE stage_contacts_raw (
    contact_id text, email text, phone text, consent_in text, attributes text, has_email boolean,
    has_phone boolean
) ON COMMIT DROP;

-- name: stage_contacts
-- A contacts import, normalized by the library. A column the file does not have (has_email /
-- has_phone false) keeps the contact's stored value; attributes are merged, the file's win.
CREATE TEMP TABLE stage_contacts ON COMMIT DROP AS
SELECT t.contact_id,
       CASE WHEN t.has_email THEN t.email ELSE c.email END AS email,
       CASE WHEN t.has_phone THEN t.phone ELSE c.phone END AS phone,
       t.consent_in,
       coalesce(c.attributes, '{}'::jsonb) || t.attributes::jsonb AS attributes,
       CASE WHEN t.has_email THEN t.email ELSE c.email_key END AS email_key,
       CASE WHEN t.has_phone THEN t.phone ELSE c.phone_key END AS phone_key
FROM stage_contacts_raw t
LEFT JOIN contacts c ON c.tenant = %(tenant)s AND c.contact_id = t.contact_id;

-- name: select_by_ids
CREATE TEMP TABLE erase_set ON COMMIT DROP AS
SELECT c.* FROM contacts c
WHERE c.tenant = %(tenant)s AND c.contact_id = ANY(%(ids)s::text[]);
