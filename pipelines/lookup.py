"""Address lookups against the store: `check` for one or a million addresses at once.

A million go through frames (`check_frame`). A few (`check_rows`: a one-address `suppress check`
must be a process of under 0.3 s, SPEC 5, and importing Polars alone takes 0.4 s) are normalized
one by one with the same rules (`pipelines.normalize.rules`) and looked up through the store's
point lookup, without Polars; any input those rules do not settle sends the call to the frames.
Both give the same rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import UserError
from pipelines.lazy import lazy
from pipelines.lists import mapping_for
from pipelines.model import blocks, blocks_expr
from pipelines.normalize.rules import clean_email, clean_phone
from pipelines.store import Store

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy("polars")

# At most this many inputs are checked without frames (`check_rows`): what a command line names,
# and what DuckDB's point lookup takes (duckdb_store.POINT_LOOKUP_MAX).
FEW_INPUTS = 16


def read_address_file(path: Path) -> list[str]:
    """One address a line; blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")
    return list(filter(None, map(str.strip, text.splitlines())))  # 1M lines: 0.6 -> 0.2 s


def normalize_inputs(inputs: list[str], default_region: str | None) -> pl.DataFrame:
    """(idx, input, channel, address, error): inputs with an @ are emails, others phone numbers;
    `address` is null where the input is neither, and `error` then says why."""
    from pipelines.normalize.email import normalize_emails
    from pipelines.normalize.phone import normalize_phones

    frame = pl.DataFrame({"input": inputs}, schema={"input": pl.String}).with_row_index("idx")
    frame = frame.with_columns(
        pl.when(pl.col("input").str.contains("@")).then(pl.lit("email")).otherwise(pl.lit("sms")).alias("channel")
    )
    emails = normalize_emails(frame.filter(pl.col("channel") == "email"), "input", "address", "_err")
    phones = normalize_phones(frame.filter(pl.col("channel") == "sms"), "input", "address", "_err", default_region)
    return pl.concat([emails, phones], how="vertical_relaxed").rename({"_err": "error"}).sort("idx")


def check_frame(store: Store, tenant: str, inputs: list[str], purpose: str, default_region: str | None,
                send_list: str | None = None) -> pl.DataFrame:
    """(input, address, channel, suppressed, reasons, status, error) per input, in input order;
    `send_list`: the tenant's new list the mail goes to (SPEC 2.2). `status` is `suppressed`,
    `not_suppressed`, or `invalid` for an input that is neither an email address nor a phone
    number (its `address` and `channel` null, `error` the reason)."""
    mapping = mapping_for(store, tenant, send_list)
    frame = normalize_inputs(inputs, default_region)
    valid_rows = frame.filter(pl.col("address").is_not_null())
    if valid_rows.height:  # only addresses are looked up
        hits = store.check(tenant, valid_rows.select("idx", "input", "channel", "address"))
        hits = hits.with_columns(blocks_expr(purpose, send_list, mapping).alias("blocks"))
        per_input = hits.group_by("idx").agg(
            pl.col("blocks").any().alias("suppressed"), pl.col("reason").unique().sort().alias("reasons")
        )
        result = frame.join(per_input, on="idx", how="left").sort("idx")
    else:
        result = frame.with_columns(pl.lit(None, pl.Boolean).alias("suppressed"),
                                    pl.lit(None, pl.List(pl.String)).alias("reasons"))
    result = result.with_columns(pl.col("suppressed").fill_null(False), pl.col("reasons").fill_null([]))
    valid = pl.col("address").is_not_null()
    return result.select(
        "input", "address", pl.when(valid).then(pl.col("channel")).alias("channel"), "suppressed", "reasons",
        pl.when(~valid).then(pl.lit("invalid")).when(pl.col("suppressed")).then(pl.lit("suppressed"))
        .otherwise(pl.lit("not_suppressed")).alias("status"),
        pl.when(~valid).then(pl.col("error").fill_null("invalid_address")).alias("error"),
    )


def _normalize_one(value: str, default_region: str | None) -> tuple[str, str | None, str | None] | None:
    """(channel, address, error) as `normalize_inputs` gives them, or None where only it can say."""
    if "@" in value:
        address = clean_email(value)
        return None if address is None else ("email", address, None)
    phone = clean_phone(value, default_region)
    return None if phone is None else ("sms", *phone)


def check_rows(store: Store, tenant: str, inputs: list[str], purpose: str, default_region: str | None,
               send_list: str | None = None) -> list[dict] | None:
    """`check_frame(...).to_dicts()` without Polars, for at most FEW_INPUTS inputs, each a clean
    email address (`rules.clean_email`) or a phone number in printable ASCII; None for any other
    inputs (then `check_frame` answers)."""
    if len(inputs) > FEW_INPUTS:
        return None
    normalized = [_normalize_one(value, default_region) for value in inputs]
    if None in normalized:
        return None
    mapping = mapping_for(store, tenant, send_list)
    wanted = [(idx, channel, address) for idx, (channel, address, _) in enumerate(normalized) if address is not None]
    found: dict[int, list[tuple[str, str]]] = {}
    for idx, reason, scope in store.check_rows(tenant, wanted) if wanted else ():
        found.setdefault(idx, []).append((reason, scope))
    rows = []
    for idx, (value, (channel, address, error)) in enumerate(zip(inputs, normalized, strict=True)):
        hits = found.get(idx, ())
        suppressed = any(blocks(reason, scope, purpose, send_list, mapping) for reason, scope in hits)
        valid = address is not None
        rows.append({
            "input": value, "address": address, "channel": channel if valid else None, "suppressed": suppressed,
            "reasons": sorted({reason for reason, _ in hits}),
            "status": "invalid" if not valid else "suppressed" if suppressed else "not_suppressed",
            "error": None if valid else error or "invalid_address",
        })
    return rows


def check_addresses(store: Store, tenant: str, inputs: list[str], purpose: str, default_region: str | None,
                    send_list: str | None = None) -> list[dict]:
    rows = check_rows(store, tenant, inputs, purpose, default_region, send_list)
    if rows is None:
        rows = check_frame(store, tenant, inputs, purpose, default_region, send_list).to_dicts()
    return rows
