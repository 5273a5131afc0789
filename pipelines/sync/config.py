"""Tenant sources for the nightly sync: a TOML file (`--sources FILE`, else the settings' sources
file, $SUPPRESSION_SOURCES).

    [defaults]                      # options for every source that does not set its own (optional)
    overlap_hours = 6

    [[sources]]
    tenant = "acme"
    name = "sendgrid"               # unique per tenant: the watermark is kept per (tenant, name)
    platform = "sendgrid"
    credentials = "env:ACME_SENDGRID_API_KEY"   # or "airflow:acme_sendgrid" (an Airflow connection)
    options = { lists = ["bounces", "spam_reports"] }

`config/sources.example.toml` shows every platform. A mistake is one line naming the file and
the entry. Tenants and source names become folder names of the pulls (which a pull empties
first): letters, digits, `.`, `_` and `-` only. The file holds references to credentials, never a
secret: they are resolved only when a source is pulled, through the settings' `Secrets`: from the
environment or from an Airflow connection (password, else extra `api_key`; login and extra where
a platform needs them, e.g. SES), with surrounding whitespace stripped.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.model import check_name
from pipelines.platforms import api_platforms, client_class
from pipelines.platforms.client import COMMON_OPTIONS, Credentials, Option, Source
from pipelines.platforms.http import SyncError
from pipelines.settings import SOURCES_ENV, Secrets, Settings

SOURCE_KEYS = ("tenant", "name", "platform", "credentials", "options")
_CREDENTIALS = re.compile(r"(env|airflow):([A-Za-z_][A-Za-z0-9_.-]*)")


def sources_path(explicit: str | os.PathLike | None = None, settings: Settings | None = None) -> Path:
    """The sources file: `explicit`, else the settings' (default: the environment's)."""
    value = explicit or (settings or Settings.from_env()).sources_file
    if not value:
        raise UsageError(f"name the sources file with --sources or ${SOURCES_ENV} (see config/sources.example.toml)")
    return Path(value)


def _check(where: str, name: str, spec: Option, value):
    """The option's value, checked against its spec (ints are taken where floats are meant)."""
    def bad(why: str):
        return UsageError(f"{where}: option {name} {why}")

    if spec.kind is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise bad("must be a non-empty list of strings")
        items = value
    elif spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"must be a number, not {value!r}")
        value = float(value)
        items = []
    elif spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"must be a whole number, not {value!r}")
        items = []
    elif spec.kind is bool:
        if not isinstance(value, bool):
            raise bad(f"must be true or false, not {value!r}")
        items = []
    else:
        if not isinstance(value, str) or not value.strip():
            raise bad("must be a non-empty string")
        items = [value]
    if spec.minimum is not None and not isinstance(value, list | str) and value < spec.minimum:
        raise bad(f"must be at least {spec.minimum:g}")
    if spec.maximum is not None and not isinstance(value, list | str) and value > spec.maximum:
        raise bad(f"must be at most {spec.maximum:g}")
    for item in items:
        if spec.choices is not None and item not in spec.choices:
            raise bad(f"has {item!r}; known: {', '.join(spec.choices)}")
        if spec.pattern is not None and not re.fullmatch(spec.pattern, item):
            raise bad(f"has {item!r}, which is not a valid value")
    if spec.kind is list:
        value = list(dict.fromkeys(value))
    return value


def _options(where: str, platform: str, given: dict, defaults: dict) -> dict:
    specs = {**COMMON_OPTIONS, **client_class(platform).options}
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise UsageError(f"{where}: unknown option {unknown[0]!r} for {platform} (known: {', '.join(sorted(specs))})")
    options = {}
    for name, spec in specs.items():
        if name in given:
            options[name] = _check(where, name, spec, given[name])
        elif name in defaults:
            options[name] = defaults[name]
        elif spec.required:
            raise UsageError(f"{where}: option {name} is required for {platform} ({spec.help})")
        else:
            options[name] = list(spec.default) if isinstance(spec.default, tuple) else spec.default
    return options


def parse_sources(doc: dict, path: str) -> list[Source]:
    unknown = sorted(set(doc) - {"defaults", "sources"})
    if unknown:
        raise UsageError(f"{path}: unknown table {unknown[0]!r} (expected [defaults] and [[sources]])")
    raw_defaults = doc.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        raise UsageError(f"{path}: [defaults] must be a table")
    extra = sorted(set(raw_defaults) - set(COMMON_OPTIONS))
    if extra:
        raise UsageError(f"{path}: [defaults] has {extra[0]!r}; defaults take only {', '.join(COMMON_OPTIONS)}")
    defaults = {k: _check(f"{path}: [defaults]", k, COMMON_OPTIONS[k], v) for k, v in raw_defaults.items()}
    entries = doc.get("sources", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UsageError(f"{path}: sources must be an array of tables ([[sources]])")
    found: list[Source] = []
    seen: dict[tuple[str, str], str] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: [[sources]] #{number}"
        if isinstance(entry.get("tenant"), str) and isinstance(entry.get("name"), str):
            where += f" ({entry['tenant']}/{entry['name']})"
        unknown = sorted(set(entry) - set(SOURCE_KEYS))
        if unknown:
            raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(SOURCE_KEYS)}; "
                             "platform options go under options)")
        for key in ("tenant", "name", "platform", "credentials"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"{where}: {key} is missing or empty")
        tenant, name, platform, credentials = (entry[k].strip() for k in ("tenant", "name", "platform", "credentials"))
        check_name("tenant", tenant, where)
        check_name("name", name, where)
        if platform not in api_platforms():
            raise UsageError(f"{where}: platform {platform!r} has no API client (known: {', '.join(api_platforms())})")
        chain = getattr(client_class(platform), "credentials_chain", None)  # SES: "aws", the SDK's own chain
        if credentials != chain and not _CREDENTIALS.fullmatch(credentials):
            raise UsageError(f"{where}: credentials must be a reference, env:VARIABLE or airflow:connection_id"
                             + (f", or \"{chain}\" for {platform}'s own credential chain" if chain else "")
                             + " (never the key itself)")
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise UsageError(f"{where}: options must be a table")
        if (tenant, name) in seen:
            raise UsageError(f"{where}: source {name!r} of tenant {tenant!r} is configured twice (also {seen[(tenant, name)]})")
        seen[(tenant, name)] = where.split(": ", 1)[1]
        found.append(Source(tenant, name, platform, credentials, _options(where, platform, options, defaults),
                            where.split(" (")[0]))
    return found


def load_sources(path: str | os.PathLike, where: str | None = None) -> list[Source]:
    """The sources of a TOML file; `where` names it in a refusal (default: its path)."""
    path = Path(path)
    where = where or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where}: no such sources file") from None
    except OSError as exc:
        raise UsageError(f"{where}: cannot be read ({exc.strerror})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML ({exc})") from None
    return parse_sources(doc, str(path))


def parse_sources_text(text: str, where: str) -> list[Source]:
    """The sources of a TOML or JSON text (an Airflow Variable), the same tables either way."""
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise UsageError(f"{where}: expected an object with \"sources\"")
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{where}: not valid TOML ({exc})") from None
    return parse_sources(doc, where)


def select(sources: list[Source], tenant: str | None = None, name: str | None = None, origin: str = "") -> list[Source]:
    """The sources of one tenant (all when None), optionally one by name; unknown ones are refused."""
    chosen = [s for s in sources if tenant is None or s.tenant == tenant]
    if tenant is not None and not chosen:
        raise UsageError(f"{origin or 'the sources file'}: no sources for tenant {tenant!r}")
    if name is not None:
        chosen = [s for s in chosen if s.name == name]
        if not chosen:
            raise UsageError(f"{origin or 'the sources file'}: tenant {tenant!r} has no source {name!r}")
    return chosen


def _stripped(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


def resolve_credentials(source: Source, secrets: Secrets | None = None) -> Credentials:
    """The secret behind a source's reference, looked up in `secrets` (default: the environment's,
    without Airflow): an environment variable or an Airflow connection.

    A connection that cannot be read is a retryable SyncError: Airflow reports a secrets backend
    that failed for a moment as "not found", and two retries of a missing one cost little.
    """
    if source.credentials == getattr(client_class(source.platform), "credentials_chain", None):
        return Credentials("")  # the client finds its own (botocore's default chain for SES)
    secrets = secrets or Settings.from_env().secrets
    kind, _, ref = source.credentials.partition(":")
    if kind == "env":
        value = (secrets.env(ref) or "").strip()
        if not value:
            raise UsageError(f"{source.label}: environment variable {ref} is not set (credentials {source.credentials})")
        return _credentials(source, value)
    if secrets.connection is None:
        raise UsageError(f"{source.label}: credentials {source.credentials} need Airflow (or use env:VARIABLE)")
    try:
        conn = secrets.connection(ref)
    except ImportError:  # Airflow missing or broken: say what the reference needs
        raise UsageError(f"{source.label}: credentials {source.credentials} need Airflow (or use env:VARIABLE)") from None
    except Exception as exc:  # noqa: BLE001 - not defined, no secrets backend; the text may hold a URI
        raise SyncError(f"{source.label}: Airflow connection {ref!r} is not available ({type(exc).__name__})",
                        retryable=True) from None
    extra = {k: _stripped(v) for k, v in dict(getattr(conn, "extra_dejson", None) or {}).items()}
    secret = _stripped(conn.password) or extra.pop("api_key", None)
    if not secret:
        raise UsageError(f"{source.label}: Airflow connection {ref!r} has no password (or extra api_key)")
    return _credentials(source, str(secret), _stripped(conn.login), {k: v for k, v in extra.items() if v is not None})


def _credentials(source: Source, *args) -> Credentials:
    try:
        return Credentials(*args)
    except UsageError as exc:  # names the part at fault, never its value
        raise UsageError(f"{source.label}: credentials {source.credentials}: {exc}") from None
