"""The per-installation key that erased addresses are hashed with (SPEC 2.3 privacy)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from pipelines.settings import hmac_key_from_env


def new_key() -> str:
    return secrets.token_hex(32)


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC-SHA-256's inner and outer padded keys (hex), so SQL can compute the HMAC column-wise."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner.hex(), outer.hex()


def hmac_macro_sql(key: bytes) -> str:
    """A DuckDB macro `address_hmac(a)`: HMAC-SHA-256 of a text, column-wise in SQL. A TEMP macro:
    it lives in the connection only, never in the file."""
    inner, outer = hmac_pads(key)
    return (
        "CREATE OR REPLACE TEMP MACRO address_hmac(a) AS "
        f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(a))))"
    )


def address_hmac(key: bytes, address: str) -> str:
    """The same keyed hash in Python (tests and single lookups)."""
    return hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()


def key_fingerprint(key: bytes) -> str:
    return address_hmac(key, "suppression-store-key-check")[:16]


def resolve_key(settings: dict[str, str], generate: bool = True) -> tuple[bytes | None, dict[str, str]]:
    """The HMAC key and the settings to save with a new store.

    SUPPRESSION_HMAC_KEY (production) is never written to the store, only its fingerprint, so a
    dump of the store cannot be brute-forced with it. Without it, a laptop store (`generate`) keeps
    a generated key of its own; a PostgreSQL store has none (None) until the variable is set, and
    refuses to erase addresses meanwhile (`Store.require_key`). A key that differs from the one the
    store was built with is refused: hashed addresses would stop matching.
    """
    from pipelines.errors import UserError

    env = hmac_key_from_env()
    if "hmac_key" in settings:
        key = bytes.fromhex(settings["hmac_key"])
        if env and env != key:
            raise UserError("SUPPRESSION_HMAC_KEY is set, but this store was created with its own generated key")
        return key, {}
    if "hmac_key_fingerprint" in settings:
        if not env:
            raise UserError("this store needs SUPPRESSION_HMAC_KEY (it was created with one)")
        if key_fingerprint(env) != settings["hmac_key_fingerprint"]:
            raise UserError("SUPPRESSION_HMAC_KEY does not match the key this store was created with")
        return env, {}
    if env:
        return env, {"hmac_key_fingerprint": key_fingerprint(env)}
    if not generate:
        return None, {}
    key = bytes.fromhex(new_key())
    return key, {"hmac_key": key.hex()}
