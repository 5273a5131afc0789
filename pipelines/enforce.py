"""Enforcement on contacts and send-outs (SPEC 3).

- `import_contacts`: the one contact insert path of the library. Contacts get their statuses from
  the suppressions as they are written (PostgreSQL also enforces it in a trigger).
- `plan_deletion` / `delete_contacts`: delete or purge contacts after writing a safety CSV that
  expires after 3 days; their suppressions stay, reduced to a keyed hash of the address.
- `resubscribe` / `unblock`: the only ways to lift a suppression, audited.
- `plan_audience`: the sendable recipients of a send-out, each address once.
- `maintenance`: removes expired safety copies.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.errors import DataRefused, UsageError, UserError
from pipelines.lists import mapping_for
from pipelines.lookup import normalize_inputs
from pipelines.model import BLOCKS_ALL, CONSENTS, PURPOSES, blocks_expr, check_tenant, consent_for_list
from pipelines.normalize.email import normalize_emails
from pipelines.normalize.phone import normalize_phones
from pipelines.readers import iter_inputs, read_table
from pipelines.report.csv_guard import guard_formulas
from pipelines.sources.base import Probe
from pipelines.store import Store
from pipelines.store.base import connect_duckdb, new_run_id, utcnow

BATCH_ROWS = 1_000_000
SAFETY_TTL = timedelta(days=3)
SEGMENTS = ("hard_bounced",)
# Which reason a removed recipient is counted under when several apply: the strongest first.
REMOVAL_ORDER = ("spam_complaint", "hard_bounce", "invalid", "manual", "unsubscribe")

ID_COLUMNS = ("id", "contact_id", "contactid", "record_id", "recordid")
EMAIL_COLUMNS = ("email", "email_address", "emailaddress", "e-mail")
PHONE_COLUMNS = ("phone", "phone_number", "phonenumber", "mobile", "mobile_phone", "sms")
CONSENT_COLUMNS = ("marketing_consent",)

Progress = Callable[[str, int], None]


def safety_dir(explicit: str | Path | None = None) -> Path:
    """--export-dir, else $SUPPRESSION_SAFETY_DIR, else ./safety-exports."""
    return Path(explicit or os.environ.get("SUPPRESSION_SAFETY_DIR") or "safety-exports")


# ---------------------------------------------------------------------------------------------
# Contacts import


def _contact_columns(probe: Probe, display: str) -> tuple[str, str | None, str | None, str | None]:
    id_col = probe.column(*ID_COLUMNS)
    email_col = probe.column(*EMAIL_COLUMNS)
    phone_col = probe.column(*PHONE_COLUMNS)
    if id_col is None or (email_col is None and phone_col is None):
        raise DataRefused(
            f"{display}: a contacts file needs an `id` column and an `email` and/or `phone` column "
            f"(columns: {', '.join(probe.columns[:10])})"
        )
    return id_col, email_col, phone_col, probe.column(*CONSENT_COLUMNS)


def _normalize_contacts(batch: pl.DataFrame, region: str | None, display: str) -> pl.DataFrame:
    """(line, contact_id, email, phone, consent_in, attributes, value, error) per input row."""
    def text(col: str) -> pl.Expr:
        return pl.col(col).str.strip_chars().replace("", None)

    batch = batch.with_columns(text("_id"), text("_email"), text("_phone"),
                               text("_consent").str.to_lowercase().str.replace_all(r"[\s-]+", "_"))
    emails = normalize_emails(batch.select("_email"), "_email", "email", "email_error")
    phones = normalize_phones(batch.select("_phone"), "_phone", "phone", "phone_error", region)
    out = pl.concat([batch, emails.select("email", "email_error"), phones.select("phone", "phone_error")],
                    how="horizontal")
    email_given, phone_given = pl.col("_email").is_not_null(), pl.col("_phone").is_not_null()
    error = (
        pl.when(pl.col("_id").is_null()).then(pl.lit("missing_id"))
        .when(~email_given & ~phone_given).then(pl.lit("empty_address"))
        .when(email_given & pl.col("email_error").is_not_null()).then(pl.col("email_error"))
        .when(phone_given & pl.col("phone_error").is_not_null()).then(pl.col("phone_error"))
        .when(pl.col("_consent").is_not_null() & ~pl.col("_consent").is_in(CONSENTS)).then(pl.lit("unknown_consent"))
        .otherwise(pl.lit(None, pl.String))
    )
    value = (
        pl.when(error.is_in(["missing_id", "unknown_consent"]) | error.is_null())
        .then(pl.concat_str(pl.col("_id"), pl.col("_email"), pl.col("_phone"), separator=" | ", ignore_nulls=True))
        .when(email_given & pl.col("email_error").is_not_null()).then(pl.col("_email"))
        .otherwise(pl.col("_phone"))
    )
    return out.select(
        pl.col("_line").alias("line"),
        pl.col("_id").alias("contact_id"),
        pl.when(email_given).then(pl.col("email")).alias("email"),
        pl.when(phone_given).then(pl.col("phone")).alias("phone"),
        pl.col("_consent").alias("consent_in"),
        pl.col("_attributes").alias("attributes"),
        value.alias("value"),
        error.alias("error"),
        pl.lit(display).alias("file"),
    )


def _read_contact_files(paths: list[str], workdir: Path, region: str | None, progress: Progress | None
                        ) -> tuple[list[Path], list[dict]]:
    parts, files, done = [], [], 0
    for index, source in enumerate(iter_inputs(paths, workdir)):
        table = read_table(source)
        id_col, email_col, phone_col, consent_col = _contact_columns(Probe.of(table), source.display)
        used = {c for c in (id_col, email_col, phone_col, consent_col) if c}
        others = [c for c in table.columns if c not in used]
        null = pl.lit(None, pl.String)
        mapped = table.frame.select(
            "_line",
            pl.col(id_col).alias("_id"),
            (pl.col(email_col) if email_col else null).alias("_email"),
            (pl.col(phone_col) if phone_col else null).alias("_phone"),
            (pl.col(consent_col) if consent_col else null).alias("_consent"),
            (pl.struct(others).struct.json_encode() if others else pl.lit("{}")).alias("_attributes"),
        )
        present = {"has_email": email_col is not None, "has_phone": phone_col is not None}
        mapped_path = workdir / f"contacts_mapped_{index}.parquet"
        mapped.sink_parquet(mapped_path)
        rows = pl.scan_parquet(mapped_path).select(pl.len()).collect().item()
        for n, offset in enumerate(range(0, rows, BATCH_ROWS)):
            batch = pl.scan_parquet(mapped_path).slice(offset, BATCH_ROWS).collect()
            part = workdir / f"contacts_part_{index:04d}_{n:05d}.parquet"
            _normalize_contacts(batch, region, source.display).with_columns(
                pl.lit(index, pl.Int32).alias("file_idx"),
                *(pl.lit(v).alias(k) for k, v in present.items())).write_parquet(part)
            parts.append(part)
            done += batch.height
            if progress:
                progress(f"reading {source.name}", done)
        files.append({"path": source.display, "sha256": source.sha256, "platform": "contacts", "kind": "contacts",
                      "detected_why": f"id column {id_col!r}", "rows_read": rows})
        mapped_path.unlink()
    return parts, files


def _stage_contacts(parts: list[Path], workdir: Path) -> tuple[Path, Path, dict]:
    """One row per contact id (the last line wins; earlier lines of the same id are quarantined
    as duplicate_id), and the rejects."""
    contacts, rejects = workdir / "contacts_stage.parquet", workdir / "contacts_rejects.parquet"
    con = connect_duckdb(temp_directory=str(workdir / "spill"))
    try:
        listing = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts) + "]"
        con.execute(f"""
            CREATE TEMP TABLE rows AS
            SELECT *, CASE WHEN error IS NULL AND row_number() OVER (
                           PARTITION BY contact_id, error IS NULL ORDER BY file_idx DESC, line DESC) > 1
                      THEN 'duplicate_id' ELSE error END AS final_error
            FROM read_parquet({listing})""")
        con.execute(f"""COPY (SELECT contact_id, email, phone, consent_in, attributes, has_email, has_phone FROM rows
                             WHERE final_error IS NULL) TO '{contacts}' (FORMAT parquet)""")
        con.execute(f"""COPY (SELECT file, line, CASE WHEN final_error = 'duplicate_id' THEN contact_id ELSE value END
                                     AS value, final_error AS error, 'contacts' AS platform, '' AS detail
                             FROM rows WHERE final_error IS NOT NULL ORDER BY file, line)
                        TO '{rejects}' (FORMAT parquet)""")
        per_file = con.execute("SELECT file_idx, count(*), count(*) FILTER (WHERE final_error IS NOT NULL) "
                               "FROM rows GROUP BY file_idx").fetchall()
        by_error = dict(con.execute("SELECT final_error, count(*) FROM rows WHERE final_error IS NOT NULL "
                                    "GROUP BY ALL ORDER BY 2 DESC").fetchall())
    finally:
        con.close()
    return contacts, rejects, {"per_file": {r[0]: (r[1], r[2]) for r in per_file}, "rejects_by_error": by_error}


def import_contacts(store: Store, tenant: str, paths: list[str], default_region: str | None = None,
                    progress: Progress | None = None) -> dict:
    """Import a platform's contacts (SPEC 4.1 `contacts import`); returns the run summary."""
    check_tenant(tenant)
    now = utcnow()
    run_id = new_run_id(now)
    with tempfile.TemporaryDirectory(prefix="suppress-contacts-") as tmp:
        workdir = Path(tmp)
        (workdir / "inputs").mkdir()
        parts, files = _read_contact_files(paths, workdir / "inputs", default_region, progress)
        basis = {"kind": "contacts", "tenant": tenant, "files": sorted(f["sha256"] for f in files),
                 "default_region": (default_region or "").upper()}
        input_hash = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()
        # No skip by content hash as for suppressions: contacts are state, and the same file after
        # a deletion must create the contact again. The upsert itself changes nothing twice.
        options = {"default_region": default_region}
        summary: dict = {"run_id": run_id, "tenant": tenant, "kind": "contacts", "started_at": now.isoformat(),
                         "files": files}
        store.begin_run(run_id, tenant, "contacts", input_hash, options)
        try:
            if not parts:
                raise DataRefused("the input holds no contacts")
            contacts, rejects, facts = _stage_contacts(parts, workdir)
            for i, f in enumerate(files):
                f["rows_read"], f["rows_rejected"] = facts["per_file"].get(i, (0, 0))
            rows_read = sum(f["rows_read"] for f in files)
            rows_rejected = sum(f["rows_rejected"] for f in files)
            summary.update(status="succeeded", rows_read=rows_read, rows_accepted=rows_read - rows_rejected,
                           rows_rejected=rows_rejected, rejects_by_error=facts["rejects_by_error"])
            if progress:
                progress("loading contacts", rows_read)
            summary.update(store.import_contacts(run_id, tenant, contacts, rejects, summary))
            return summary
        except BaseException as exc:
            summary["status"] = "failed"
            summary["error"] = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            try:
                store.finish_run(run_id, "failed", summary, None, summary["error"])
            except Exception:  # the original failure is what matters
                pass
            raise


# ---------------------------------------------------------------------------------------------
# Deletion


def plan_deletion(store: Store, tenant: str, ids: list[str] | None = None, segment: str | None = None) -> pl.DataFrame:
    """The contacts a delete (ids) or a purge (segment) would remove; unknown ids are an error."""
    if segment is not None:
        if segment not in SEGMENTS:
            raise UsageError(f"--segment must be one of {', '.join(SEGMENTS)}")
        return store.select_contacts(tenant, segment=segment)
    ids = list(dict.fromkeys(i.strip() for i in ids or [] if i.strip()))
    if not ids:
        raise UsageError("name at least one contact id")
    found = store.select_contacts(tenant, ids=ids)
    missing = sorted(set(ids) - set(found["id"].to_list()))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise UserError(f"tenant {tenant} has no contact {shown}; nothing was deleted")
    return found


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60] or "tenant"


def delete_contacts(store: Store, tenant: str, planned: pl.DataFrame, export_dir: str | Path | None = None) -> dict:
    """Write the safety CSV, then delete the planned contacts (one transaction)."""
    now = utcnow()
    expires_at = now + SAFETY_TTL
    export_id = f"safety_{now:%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"
    if planned.height == 0:
        return {"tenant": tenant, "contacts_deleted": 0, "addresses_hashed": 0, "safety_export": None,
                "expires_at": None}
    directory = safety_dir(export_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"deleted-contacts_{_safe_name(tenant)}_{export_id}.csv").resolve()
    copy = planned.with_columns(pl.lit(now.isoformat()).alias("deleted_at"),
                                pl.lit(expires_at.isoformat()).alias("expires_at"))
    # Recorded (with its expiry) before it exists: whatever happens next, maintenance finds it.
    store.record_safety_export(tenant, {"export_id": export_id, "path": str(path), "rows": planned.height,
                                        "expires_at": expires_at})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # personal data: the owner only
    with os.fdopen(fd, "w", newline="") as sink:
        guard_formulas(copy).write_csv(sink)
    try:
        result = store.erase_contacts(tenant, planned["id"].to_list())
    except BaseException:
        path.unlink(missing_ok=True)  # nothing was deleted: no copy to keep
        store.safety_export_removed(export_id)
        raise
    return {"tenant": tenant, **result, "safety_export": str(path), "expires_at": expires_at.isoformat()}


def maintenance(store: Store, now: datetime | None = None) -> dict:
    """Remove the safety copies whose 3 days have passed (the nightly DAG runs this too)."""
    now = now or utcnow()
    removed, elsewhere = [], []
    for export in store.safety_exports_due(now):
        path = Path(export["path"])
        if path.exists():
            path.unlink()
            removed.append(str(path))
            store.safety_export_removed(export["export_id"])
        else:  # written on another machine (or deleted by hand): stays due until it is gone there
            elsewhere.append(str(path))
    return {"safety_exports_removed": removed, "not_found_here": elsewhere}


# ---------------------------------------------------------------------------------------------
# Lifting


def _one_address(address: str, default_region: str | None) -> tuple[str, str]:
    frame = normalize_inputs([address], default_region)
    if frame["address"][0] is None:
        raise UsageError(f"{address!r} is not a valid email address or phone number")
    return frame["channel"][0], frame["address"][0]


def parse_time(text: str, what: str) -> datetime:
    """An ISO 8601 time (naive: UTC) that is not in the future."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} must be an ISO 8601 time such as 2026-11-30T12:00:00Z, not {text!r}") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if value > utcnow() + timedelta(minutes=5):
        raise UsageError(f"{what} {text} lies in the future")
    return value.astimezone(UTC)


def resubscribe(store: Store, tenant: str, address: str, confirmed_at: str, evidence: str,
                default_region: str | None = None) -> dict:
    """Lift an address's unsubscribes on double opt-in evidence; its contacts get consent back."""
    if not evidence or not evidence.strip():
        raise UsageError("--evidence must name the double opt-in confirmation (a reference)")
    when = parse_time(confirmed_at, "--confirmed-at")
    channel, normalized = _one_address(address, default_region)
    key = store.address_key(tenant, channel, normalized)
    detail = json.dumps({"confirmed_at": when.isoformat(), "evidence": evidence.strip()})
    result = store.lift(tenant, channel, key, True, when, "resubscribed", detail)
    if not result["lifted"] and not result["contacts"]["contacts_changed"]:
        raise UserError(f"{address}: no active unsubscribe and no contact waiting for double opt-in "
                        f"for tenant {tenant}; nothing changed")
    return _lift_summary(tenant, address, channel, normalized, result)


def unblock(store: Store, tenant: str, address: str, reason: str, default_region: str | None = None) -> dict:
    """Lift an address's other suppressions (bounces, complaints, manual blocks), with a reason."""
    if not reason or not reason.strip():
        raise UsageError("--reason must say why the address is unblocked")
    channel, normalized = _one_address(address, default_region)
    key = store.address_key(tenant, channel, normalized)
    result = store.lift(tenant, channel, key, False, utcnow(), "unblocked", reason.strip())
    if not result["lifted"]:
        raise UserError(f"{address}: nothing to unblock for tenant {tenant} (unsubscribes need `suppress resubscribe`)")
    return _lift_summary(tenant, address, channel, normalized, result)


def _lift_summary(tenant: str, address: str, channel: str, normalized: str, result: dict) -> dict:
    remaining = result["remaining"]
    still = [r for r in remaining if r["reason"] in BLOCKS_ALL or r["reason"] == "unsubscribe"]
    return {"tenant": tenant, "input": address, "channel": channel, "address": normalized,
            "lifted": result["lifted"], "still_suppressed_by": still,
            "contacts_changed": result["contacts"]["contacts_changed"]}


# ---------------------------------------------------------------------------------------------
# Send-out planning


def _removal(reasons: pl.Expr) -> pl.Expr:
    """The strongest blocking reason of a list."""
    out = pl.lit(None, pl.String)
    for reason in reversed(REMOVAL_ORDER):
        out = pl.when(reasons.list.contains(reason)).then(pl.lit(reason)).otherwise(out)
    return out


def contacts_for_list(store: Store, tenant: str, send_list: str | None = None) -> pl.DataFrame:
    """The tenant's contacts; with `send_list`, their marketing consent for mail to that list."""
    mapping = mapping_for(store, tenant, send_list)
    frame = store.contacts(tenant)
    if send_list is None:
        return frame
    return consent_for_list(frame, store.contact_unsubscribes(tenant), send_list, mapping)


def _blocked(store: Store, tenant: str, purpose: str, channel: str, addresses: pl.Series,
             send_list: str | None = None, mapping: dict[str, str] | None = None) -> pl.DataFrame:
    """(address, removed_because) for the distinct addresses the rules block for this purpose."""
    distinct = pl.DataFrame({"address": addresses}).drop_nulls().unique()
    inputs = distinct.with_row_index("idx").with_columns(pl.lit(channel).alias("channel"),
                                                         pl.col("address").alias("input"))
    hits = store.check(tenant, inputs.select("idx", "input", "channel", "address"))
    hits = (hits.filter(blocks_expr(purpose, send_list, mapping))
            .group_by("idx").agg(pl.col("reason").unique().alias("reasons")))
    return (inputs.join(hits, on="idx").select("address", _removal(pl.col("reasons")).alias("removed_because")))


def plan_audience(store: Store, tenant: str, purpose: str, path: str | None = None, use_contacts: bool = False,
                  channel: str | None = None, default_region: str | None = None,
                  send_list: str | None = None) -> tuple[pl.DataFrame, dict]:
    """The sendable recipients (each normalized address once) and `{sendable, removed, duplicates}`;
    `send_list`: the tenant's new list the send-out goes to (SPEC 2.2)."""
    if purpose not in PURPOSES:
        raise UsageError("--purpose must be marketing or transactional")
    if (path is None) == (not use_contacts):
        raise UsageError("give either an audience file or --contacts")
    mapping = mapping_for(store, tenant, send_list)
    if use_contacts:
        frame = contacts_for_list(store, tenant, send_list)
        channel = channel or "email"
        column = "email" if channel == "email" else "phone"
        recipients = frame.select("id", column, "marketing_consent").with_columns(pl.col(column).alias("address"),
                                                                                    pl.lit(None, pl.String).alias("_error"))
    else:
        with tempfile.TemporaryDirectory(prefix="suppress-audience-") as tmp:
            inputs = list(iter_inputs([path], Path(tmp)))
            if len(inputs) != 1:
                raise UsageError(f"{path}: an audience is one file ({len(inputs)} found)")
            source = inputs[0]
            table = read_table(source)
            probe = Probe.of(table)
            email_col, phone_col = probe.column(*EMAIL_COLUMNS), probe.column(*PHONE_COLUMNS)
            channel = channel or ("email" if email_col else "sms")
            column = email_col if channel == "email" else phone_col
            if column is None:
                raise DataRefused(f"{source.display}: an audience file needs an `email` or `phone` column "
                                  f"(columns: {', '.join(table.columns[:10])})")
            frame = table.frame.collect()
        if "address" in frame.columns:
            frame = frame.rename({"address": "address_original"})
            column = "address_original" if column == "address" else column
        raw = frame.select(pl.col(column).alias("_raw"))
        normalized = (normalize_emails(raw, "_raw", "address", "_error") if channel == "email"
                      else normalize_phones(raw, "_raw", "address", "_error", default_region))
        recipients = pl.concat([frame.drop("_line"), normalized.select("address", "_error")], how="horizontal")
    blocked = _blocked(store, tenant, purpose, channel, recipients["address"], send_list, mapping)
    consent = pl.col("marketing_consent") if use_contacts else pl.lit(None, pl.String)
    address_consent = pl.col("_consent")
    reason = (
        pl.when(pl.col("address").is_null()).then(pl.lit("invalid_address"))
        .when(pl.col("removed_because").is_not_null()).then(pl.col("removed_because"))
        .when(pl.lit(purpose == "marketing") & address_consent.is_not_null())
        .then(pl.concat_str(pl.lit("consent_"), address_consent))
        .otherwise(pl.lit(None, pl.String))
    )
    judged = recipients.join(blocked, on="address", how="left", maintain_order="left")
    # One contact that opted out (or waits for double opt-in) speaks for every contact of its address.
    judged = judged.with_columns(
        pl.when(consent.is_in(["unsubscribed", "pending_double_opt_in"])).then(consent).otherwise(None)
        .max().over("address").alias("_consent"))
    judged = judged.with_columns(reason.alias("_removed"))
    kept = judged.filter(pl.col("_removed").is_null())
    sendable = kept.unique("address", keep="first", maintain_order=True)
    removed = dict(judged.filter(pl.col("_removed").is_not_null()).group_by("_removed").len()
                   .sort("len", descending=True).iter_rows())
    out = sendable.drop("_error", "removed_because", "_removed", "_consent")
    summary = {"tenant": tenant, "purpose": purpose, "channel": channel, "list": send_list,
               "recipients_in": recipients.height, "sendable": sendable.height, "removed": removed,
               "duplicates": kept.height - sendable.height}
    return out, summary
