"""Time and run ids, the same for every store and every caller."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    now = now or utcnow()
    return f"run_{now:%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"
