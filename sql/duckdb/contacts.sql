-- Contacts: what DuckDB does its own way (the rest is sql/common/contacts.sql). The import is read
-- from its Parquet file; attributes merge with json_merge_patch; a set of ids is a registered table.

-- name: stage_contacts
-- A contacts import, normalized by the library. A column the file does not have (has_email /
-- has_phone false) keeps the contact's stored value; attributes are merged, the file's win.
CREATE OR REPLACE TEMP TABLE stage_contacts AS
SELECT t.contact_id,
       CASE WHEN t.has_email THEN t.email ELSE c.email END AS email,
       CASE WHEN t.has_phone THEN t.phone ELSE c.phone END AS phone,
       t.consent_in,
       CASE WHEN c.contact_id IS NULL THEN t.attributes::JSON ELSE json_merge_patch(c.attributes, t.attributes::JSON) END AS attributes,
       CASE WHEN t.has_email THEN t.email ELSE c.email_key END AS email_key,
       CASE WHEN t.has_phone THEN t.phone ELSE c.phone_key END AS phone_key
FROM read_parquet($contacts) t
LEFT JOIN contacts c ON c.tenant = $tenant AND c.contact_id = t.contact_id;

-- name: select_by_ids
-- `erase_ids` (contact_id) is registered by the caller.
CREATE OR REPLACE TEMP TABLE erase_set AS
SELECT c.* FROM contacts c
WHERE c.tenant = $tenant AND c.contact_id IN (SELECT contact_id FROM erase_ids);
