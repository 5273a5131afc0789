"""`suppress check` itself: the body the Typer command (`lookups.check`) runs, and the fast lane
`main()` takes for a plain `check` command line, without importing Typer.

SPEC 5 wants a one-address `suppress check` process in under 0.3 s. Typer costs about half of
that before the command starts (its import, the app's commands, and Pydantic, which it validates
every option with), so a command line that is plainly a `check` is parsed here instead and runs
the same body: `check`, then only known options, each at most once, as `--name value` or
`--name=value` with a value of printable ASCII that does not start with `-`, `--json`, and
addresses. Anything else (help, an unknown, repeated or misspelt option, `--`, a missing value, a
value that looks like an option, non-ASCII text, no `--tenant`) goes to Typer, which parses it or
refuses it with its own message. The fast lane takes the values exactly as Typer would give them
(strings, `--file` as a Path, the tenant checked first as the option's callback does).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pipelines.errors import DataRefused, UsageError

# --name -> the parameter of `lookups.check` (and of `run_check`)
_OPTIONS = {"--tenant": "tenant", "--purpose": "purpose", "--default-region": "default_region", "--file": "file",
            "--list": "send_list", "--store": "store"}
_FLAGS = {"--json": "as_json"}


def _plain(token: str) -> bool:
    return token.isascii() and token.isprintable()


def plain_check_args(argv: list[str]) -> dict | None:
    """`run_check`'s arguments for a plain `check` command line (see above), else None."""
    if not argv or argv[0] != "check" or not all(_plain(token) for token in argv):
        return None
    given: dict = {}
    addresses: list[str] = []
    tokens = iter(argv[1:])
    for token in tokens:
        if not token.startswith("-"):
            addresses.append(token)
            continue
        name, eq, value = token.partition("=")
        if name in _FLAGS and not eq:
            key, value = _FLAGS[name], True
        elif name in _OPTIONS:
            key = _OPTIONS[name]
            if not eq:
                value = next(tokens, None)
            if not value or value.startswith("-"):
                return None
        else:
            return None
        if key in given:
            return None
        given[key] = value
    if "tenant" not in given:
        return None
    file = given.get("file")
    return {"addresses": addresses or None, "tenant": given["tenant"], "purpose": given.get("purpose", "marketing"),
            "default_region": given.get("default_region"), "file": None if file is None else Path(file),
            "send_list": given.get("send_list"), "as_json": given.get("as_json", False), "store": given.get("store")}


def run_plain_check(args: dict) -> None:
    """The fast lane: `--tenant` checked as its option's callback does, then the command."""
    from pipelines.model import check_tenant

    check_tenant(args["tenant"])
    run_check(**args)


def run_check(addresses: list[str] | None, tenant: str, purpose: str, default_region: str | None,
              file: Path | None, send_list: str | None, as_json: bool, store: str | None) -> None:
    """The `check` command (`lookups.check` has its options and help)."""
    from pipelines.cli.context import store_at
    from pipelines.lookup import check_frame, check_rows, read_address_file
    from pipelines.model import PURPOSES

    if purpose not in PURPOSES:
        raise UsageError("--purpose must be marketing or transactional")
    inputs = list(addresses or [])
    if file is not None:
        inputs += read_address_file(file)
    if not inputs:
        raise UsageError("give addresses or --file")
    with store_at(store) as st:
        # a few inputs without Polars (SPEC 5: a one-address check in under 0.3 s); the same rows
        rows = check_rows(st, tenant, inputs, purpose, default_region, send_list)
        results = check_frame(st, tenant, inputs, purpose, default_region, send_list) if rows is None else None
    if rows is not None:
        _print_rows(rows, as_json)
        invalid, total = sum(r["status"] == "invalid" for r in rows), len(rows)
    else:
        _print_checks(results, as_json)
        invalid, total = results.filter(results["status"] == "invalid").height, results.height
    if invalid == total:
        what = f"{inputs[0]!r} is not" if len(inputs) == 1 else f"none of the {len(inputs):,} inputs is"
        raise DataRefused(f"{what} a valid email address or phone number")
    if invalid and not as_json:
        from pipelines.cli.output import err

        err.print(f"{invalid:,} of {total:,} inputs are not a valid email address or phone number")


_COLUMNS = ("input", "address", "status", "reasons")


def _print_checks(results, as_json: bool) -> None:
    import polars as pl

    from pipelines.cli.output import on_terminal
    from pipelines.writers import guard_formulas, write_json_array

    if as_json:  # written by Polars: a million results in half a second, not a minute
        write_json_array(results)
        return
    if results.height > 1000 or not on_terminal():  # a table of a million rows takes minutes to lay out
        guard_formulas(results.select(
            "input", "address", "status",
            pl.when(pl.col("reasons").list.len() > 0).then(pl.col("reasons").list.join(",")).alias("reasons"),
        )).write_csv(sys.stdout, separator="\t")
        return
    _print_table(results.iter_rows(named=True))


def _print_rows(rows: list[dict], as_json: bool) -> None:
    """`_print_checks` for the rows of `check_rows`: the same text, written without Polars."""
    if as_json:  # what Polars' write_json writes
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, separators=(",", ":")) + "\n")
        return
    if not _surely_no_terminal():
        from pipelines.cli.output import on_terminal

        if on_terminal():
            _print_table(rows)
            return
    from pipelines.writers import csv_line, guard_name

    # what guard_formulas + write_csv(separator="\t") write
    lines = [csv_line(_COLUMNS, "\t")]
    for r in rows:
        cells = (r["input"], r["address"], r["status"], ",".join(r["reasons"]) or None)
        lines.append(csv_line((None if c is None else guard_name(c) for c in cells), "\t"))
    sys.stdout.write("".join(lines))


def _surely_no_terminal() -> bool:
    """Whether `output.on_terminal()` is surely False, known without importing rich for it: rich
    takes a stdout that is no TTY for a terminal only where TTY_COMPATIBLE or FORCE_COLOR says so
    (`rich.console.Console.is_terminal`). Every other case is rich's to say."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False
    isatty = getattr(getattr(sys.stdout, "rich_proxied_file", sys.stdout), "isatty", None)
    try:
        return isatty is not None and not isatty()
    except ValueError:
        return False


def _print_table(rows) -> None:
    from pipelines.cli.output import make_table, out

    table = make_table(*_COLUMNS)
    for r in rows:
        table.add_row(r["input"], r["address"] or "", r["status"].replace("_", " "),
                      ", ".join(r["reasons"]) or (r["error"] or ""))
    out.print(table)
