"""Configuration from the environment, with local defaults."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTATIONS_DIR = Path(os.environ.get("SUPPRESSION_EXPECTATIONS_DIR", ROOT / "expectations"))
SQL_DIR = Path(os.environ.get("SUPPRESSION_SQL_DIR", ROOT / "sql"))

DEFAULT_STORE = "suppressions.duckdb"
DEFAULT_MAX_REJECT_RATE = 0.10


def store_url(explicit: str | None = None) -> str:
    """--store, else SUPPRESSION_STORE, else `suppressions.duckdb` in the working directory."""
    return explicit or os.environ.get("SUPPRESSION_STORE") or DEFAULT_STORE


def hmac_key_from_env() -> bytes | None:
    """A per-installation secret for hashing erased addresses (`hex:<hex>` for raw bytes, such as
    a laptop store's generated key); a DuckDB store generates one if unset."""
    value = os.environ.get("SUPPRESSION_HMAC_KEY")
    if value and value.startswith("hex:"):
        try:
            return bytes.fromhex(value[4:])
        except ValueError:
            from pipelines.errors import UsageError

            raise UsageError("SUPPRESSION_HMAC_KEY starts with hex: but the rest is not hexadecimal") from None
    return value.encode() if value else None
