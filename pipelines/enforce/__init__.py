"""Enforcement on contacts and send-outs (SPEC 3), one module per job:

- `contacts`: `import_contacts`, the one contact insert path of the library (contacts get their
  statuses from the suppressions as they are written; PostgreSQL also enforces it in a trigger),
  through the run's shared steps (`pipelines.run`); `contacts_for_list`, their consent per list.
- `erasure`: `plan_deletion` / `delete_contacts` delete or purge contacts after writing a safety
  CSV that expires after 3 days (their suppressions stay, reduced to a keyed hash of the
  address); `maintenance` removes expired safety copies.
- `lifting`: `resubscribe` / `unblock`, the only ways to lift a suppression, audited.
- `audiences`: `plan_audience`, the sendable recipients of a send-out, each address once.
"""
from __future__ import annotations

from pipelines.enforce.audiences import plan_audience
from pipelines.enforce.contacts import contacts_for_list, import_contacts
from pipelines.enforce.erasure import SAFETY_TTL, SEGMENTS, delete_contacts, maintenance, plan_deletion, safety_dir
from pipelines.enforce.lifting import parse_time, resubscribe, unblock

__all__ = [
    "SAFETY_TTL",
    "SEGMENTS",
    "contacts_for_list",
    "delete_contacts",
    "import_contacts",
    "maintenance",
    "parse_time",
    "plan_audience",
    "plan_deletion",
    "resubscribe",
    "safety_dir",
    "unblock",
]
