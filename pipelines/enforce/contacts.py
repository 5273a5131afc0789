"""Contacts import (`suppress contacts import`): the platform's contacts, blocked at creation where
suppressed, through the steps every run shares (`pipelines.run`): the files are read by
`pipelines.readers`, their columns chosen here, normalized in batches into Parquet parts, staged
(one row per contact id) in the staging DuckDB (`sql/duckdb/stage.sql`, `contacts_*`), and loaded
by the store in one transaction that closes the run; a failed run is recorded as such.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl

from pipelines.errors import DataRefused
from pipelines.lists import mapping_for
from pipelines.model import CONSENTS, check_tenant, consent_for_list
from pipelines.normalize.email import normalize_emails
from pipelines.normalize.phone import normalize_phones
from pipelines.platforms.base import Probe
from pipelines.readers import iter_inputs, read_table
from pipelines.run.read import in_batches
from pipelines.run.record import input_hash, record_failure
from pipelines.run.stage import staging_connection, statements
from pipelines.store import Store
from pipelines.store.clock import new_run_id, utcnow

ID_COLUMNS = ("id", "contact_id", "contactid", "record_id", "recordid")
EMAIL_COLUMNS = ("email", "email_address", "emailaddress", "e-mail")
PHONE_COLUMNS = ("phone", "phone_number", "phonenumber", "mobile", "mobile_phone", "sms")
CONSENT_COLUMNS = ("marketing_consent",)

Progress = Callable[[str, int], None]


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
        digest = input_hash({"kind": "contacts", "tenant": tenant, "files": sorted(f["sha256"] for f in files),
                             "default_region": (default_region or "").upper()})
        # No skip by content hash as for suppressions: contacts are state, and the same file after
        # a deletion must create the contact again. The upsert itself changes nothing twice.
        options = {"default_region": default_region}
        summary: dict = {"run_id": run_id, "tenant": tenant, "kind": "contacts", "started_at": now.isoformat(),
                         "files": files}
        store.begin_run(run_id, tenant, "contacts", digest, options)
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
            record_failure(store, run_id, summary, exc)
            raise


def contacts_for_list(store: Store, tenant: str, send_list: str | None = None) -> pl.DataFrame:
    """The tenant's contacts; with `send_list`, their marketing consent for mail to that list."""
    mapping = mapping_for(store, tenant, send_list)
    frame = store.contacts(tenant)
    if send_list is None:
        return frame
    return consent_for_list(frame, store.contact_unsubscribes(tenant), send_list, mapping)


# -- plan: which columns a contacts file has -----------------------------------------------------


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


# -- read and normalize ---------------------------------------------------------------------------


def _read_contact_files(paths: list[str], workdir: Path, region: str | None, progress: Progress | None
                        ) -> tuple[list[Path], list[dict]]:
    """Every input file's rows, normalized in batches into Parquet parts; and the files."""
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
        file_columns = (pl.lit(index, pl.Int32).alias("file_idx"), pl.lit(email_col is not None).alias("has_email"),
                        pl.lit(phone_col is not None).alias("has_phone"))
        normalize = partial(_normalize_part, region=region, display=source.display, file_columns=file_columns)
        rows = 0
        for part, batch_rows, _ in in_batches(mapped, normalize, workdir / f"contacts_part_{index:04d}",
                                              source.display):
            parts.append(part)
            rows += batch_rows
            done += batch_rows
            if progress:
                progress(f"reading {source.name}", done)
        files.append({"path": source.display, "sha256": source.sha256, "platform": "contacts", "kind": "contacts",
                      "detected_why": f"id column {id_col!r}", "rows_read": rows})
    return parts, files


def _normalize_part(batch: pl.DataFrame, part: Path, region: str | None, display: str,
                    file_columns: tuple[pl.Expr, ...]) -> None:
    _normalize_contacts(batch, region, display).with_columns(*file_columns).write_parquet(part)


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


# -- stage ------------------------------------------------------------------------------------------


def _stage_contacts(parts: list[Path], workdir: Path) -> tuple[Path, Path, dict]:
    """One row per contact id (the last line wins; earlier lines of the same id are quarantined
    as duplicate_id), and the rejects."""
    q = statements()
    contacts, rejects = workdir / "contacts_stage.parquet", workdir / "contacts_rejects.parquet"
    con = staging_connection(workdir)
    try:
        con.execute(q["contacts_rows"], {"parts": [str(p) for p in parts]})
        con.execute(q["contacts_accepted"], {"out": str(contacts)})
        con.execute(q["contacts_rejects"], {"out": str(rejects)})
        per_file = con.execute(q["contacts_file_counts"]).fetchall()
        by_error = dict(con.execute(q["contacts_reject_counts"]).fetchall())
    finally:
        con.close()
    return contacts, rejects, {"per_file": {r[0]: (r[1], r[2]) for r in per_file}, "rejects_by_error": by_error}
