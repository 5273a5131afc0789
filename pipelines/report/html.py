"""The reports as single HTML pages: inline CSS and SVG, no script, every value escaped.

Jinja2 autoescapes everything a template prints; the page's Content-Security-Policy forbids
scripts and any network fetch as well, so a value that slipped through could still not run.
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from pipelines.report import charts

TEMPLATES = Path(__file__).parent / "templates"
CONTACT_LABELS = {"email_suppressed": "email off", "sms_suppressed": "SMS off",
                  "marketing_unsubscribed": "unsubscribed"}


@cache
def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["rel"] = _relative
    return env


def _when(value: str | None) -> str:
    """An ISO time as `2026-11-30 13:49:55 UTC`."""
    if not value:
        return "–"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


def _relative(path: str | None, base: str) -> str:
    if path and base and path.startswith(base + "/"):
        return path[len(base) + 1:]
    return path or ""


def common_folder(paths: list[str]) -> str:
    """The folder all the run's files share (shown once, so the tables show short names)."""
    try:
        folder = os.path.commonpath([p for p in paths if p])
    except ValueError:  # none, or absolute and relative paths mixed
        return ""
    return os.path.dirname(folder) if folder in paths else folder


def _pct(v: float) -> str:
    return f"{v:.1%}"


def run_charts(r: dict) -> dict:
    ignored = r.get("rows_ignored") or 0
    rows = charts.hbars("Rows in", [("rows", {
        "accepted": max((r["rows_accepted"] or 0) - ignored, 0), "ignored": ignored, "rejected": r["rows_rejected"] or 0,
    })], series=["accepted", "ignored", "rejected"])
    added, updated = r["suppressions_added"] or 0, r["suppressions_updated"] or 0
    unchanged = r.get("suppressions_unchanged") or 0
    suppressions = charts.hbars("Suppressions in this run", [("suppressions", {
        "added": added, "updated": updated, "unchanged": unchanged,
    })], series=["added", "updated", "unchanged"])
    rejects = charts.hbars("Rejected rows by error code",
                           [(code, {"rejected": count}) for code, count in r["rejects_by_error"].items()])
    reasons = charts.hbars("Suppressions by reason",
                           [(reason, {reason: count}) for reason, count in r["by_reason_total"].items()])
    reasons.series = []
    platforms = charts.hbars("Rows per platform", [
        (p["platform"] or "?", {"accepted": p["rows_accepted"] or 0, "rejected": p["rows_rejected"] or 0})
        for p in r["by_platform"]
    ], series=["accepted", "rejected"])
    return {"rows": rows, "suppressions": suppressions, "rejects": rejects, "reasons": reasons, "platforms": platforms}


def render_run(report: dict) -> str:
    base = common_folder([f["path"] for f in report["files"]])
    return _env().get_template("run.html.j2").render(r=report, charts=run_charts(report), base=base,
                                                      contact_labels=CONTACT_LABELS)


def trend_charts(report: dict) -> dict:
    """Per (tenant, source): daily volume and reject-rate columns; per tenant: the reason mix."""
    flagged: dict[tuple, list[str]] = {}
    for f in report["flags"]:
        flagged.setdefault((f["tenant"], f["source"], f["day"]), []).append(f["kind"])
    days = report["days"]
    out = []
    for src in report["sources"]:
        key = (src["tenant"], src["source"])
        by_day = {p["day"]: p for p in report["series"] if (p["tenant"], p["source"]) == key}
        volume, rate = [], []
        for day in days:
            p = by_day.get(day)
            marks = flagged.get((*key, day), [])
            if p is None:
                volume.append((day, 0, "source_stopped" in marks, "no run" + (": " + ", ".join(marks) if marks else "")))
                rate.append((day, 0, False, "no run"))
                continue
            note = f"{p['rows_read']:,} rows, {p['rows_rejected']:,} rejected in {p['runs']} run(s)"
            if marks:
                note += " · " + ", ".join(marks)
            volume.append((day, p["rows_read"], bool(marks), note))
            rate.append((day, p["reject_rate"], "reject_spike" in marks, f"{p['reject_rate']:.1%} rejected"))
        out.append({
            **src,
            "volume": charts.columns(f"{src['source']}: rows per day", volume),
            "rate": charts.columns(f"{src['source']}: reject rate per day", rate, fmt=_pct, height=110,
                                   base_color=charts.COLORS["rate"]),
        })
    mixes = []
    for tenant in dict.fromkeys(s["tenant"] for s in report["sources"]):
        rows = [(p["day"], p["reasons"]) for p in report["reason_mix"] if p["tenant"] == tenant]
        reasons = list(dict.fromkeys(k for _, mix in rows for k in mix))
        mixes.append({"tenant": tenant, "chart": charts.hbars(f"{tenant}: suppressions by reason per day", rows,
                                                               series=reasons, width=720, label_width=110,
                                                               legend=True)})
    return {"sources": out, "mixes": mixes}


def render_trends(report: dict) -> str:
    return _env().get_template("trends.html.j2").render(t=report, charts=trend_charts(report))
