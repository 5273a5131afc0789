"""A tenant's previous lists mapped to its new lists (SPEC 2.2).

A previous platform's list-, audience-, stream- or topic-level unsubscribe is stored with its scope
`list:<id>` and blocks all marketing by default. A tenant may map previous lists to its new lists;
then mail to one new list (`--list NAME`) is blocked only by the unsubscribes of the previous lists
mapped to it, and of those not mapped at all. The rule itself is `model.unsubscribe_blocks_expr`.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.model import LIST_SCOPE_PREFIX

_NEW_LIST = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


def previous_list(text: str) -> str:
    """A previous list as stored: `list:<id>` (the id as the export names it; `list:` optional)."""
    value = (text or "").strip()
    if value.lower().startswith(LIST_SCOPE_PREFIX):
        value = value[len(LIST_SCOPE_PREFIX):].strip()
    if not value or any(ord(c) < 32 for c in value):
        raise UsageError(f"{text!r} is not a previous list id (e.g. a1b2c3d4e5 or list:a1b2c3d4e5)")
    return LIST_SCOPE_PREFIX + value


def new_list(text: str) -> str:
    value = (text or "").strip()
    if not _NEW_LIST.match(value):
        raise UsageError(f"{text!r} is not a list name (1 to 100 printable characters)")
    return value


def read_mapping_file(path: Path) -> dict[str, str]:
    """`previous_list,new_list` rows (CSV with that header), or TOML `[lists]` `"<id>" = "<name>"`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc})") from None
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: not valid TOML ({exc})") from None
        table = doc.get("lists")
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise UsageError(f'{path}: needs a [lists] table of "<previous list id>" = "<new list>"')
        return {previous_list(k): new_list(v) for k, v in table.items()}
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or {"previous_list", "new_list"} - set(rows[0]):
        raise UsageError(f"{path}: needs a header `previous_list,new_list` and one row per list")
    out: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        try:
            out[previous_list(row["previous_list"] or "")] = new_list(row["new_list"] or "")
        except UsageError as exc:
            raise UsageError(f"{path}: line {line}: {exc}") from None
    return out


def mapping_for(store, tenant: str, send_list: str | None) -> dict[str, str] | None:
    """The tenant's mapping when mail goes to `send_list`, which must be a list some previous list
    maps to: a mistyped name would otherwise let every mapped unsubscribe through."""
    if send_list is None:
        return None
    mapping = store.list_mappings(tenant)
    if send_list not in mapping.values():
        known = ", ".join(sorted(set(mapping.values()))) or "none yet"
        raise UsageError(f"--list {send_list!r}: no previous list of tenant {tenant} is mapped to it "
                         f"(mapped lists: {known}; see `suppress lists map`)")
    return mapping
