"""Address lookups against the store: `check` for one or a million addresses at once."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.errors import UserError
from pipelines.lists import mapping_for
from pipelines.model import blocks_expr
from pipelines.normalize.email import normalize_emails
from pipelines.normalize.phone import normalize_phones
from pipelines.store import Store


def read_address_file(path: Path) -> list[str]:
    """One address a line; blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")
    return [line.strip() for line in text.splitlines() if line.strip()]


def normalize_inputs(inputs: list[str], default_region: str | None) -> pl.DataFrame:
    """(idx, input, channel, address, error): inputs with an @ are emails, others phone numbers;
    `address` is null where the input is neither, and `error` then says why."""
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


def check_addresses(store: Store, tenant: str, inputs: list[str], purpose: str, default_region: str | None,
                    send_list: str | None = None) -> list[dict]:
    return check_frame(store, tenant, inputs, purpose, default_region, send_list).to_dicts()
