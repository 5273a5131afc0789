"""Trends across runs, per tenant and source (SPEC 4.3): what a nightly feed normally brings, and
the nights that stand out.

Two kinds of series, kept apart:
- nightly API sync (`suppress sync`, the nightly DAG): the source is `sync:<name>`, the sync
  source's name (the run options hold it, with its watermark, under `watermarks`), and its day is
  the night the pull started. A night with nothing new (a run with no rows, or a pull identical to
  one loaded before: `skipped`) is a night that ran and brought 0 new records;
- files (`suppress ingest`, the migration DAG): the source is the platform of a run's files, and
  its day the run's start. Skipped runs (the same files again) and dry runs change nothing and
  are not counted.
Per (tenant, source, UTC day): rows in, rejects and runs; each day is compared with the median of
the source's previous days with runs. Flags:
- `zero_rows`: a day whose runs brought no rows (an empty file; a sync night with nothing new
  when the source's median night brings at least QUIET_NIGHT_MEDIAN rows);
- `volume_spike` / `volume_drop`: rows far above / below that median;
- `reject_spike`: a reject rate far above that median;
- `failed_run`: a run that failed or was refused;
- `missed_runs` / `source_stopped`: a recurring source that skipped its usual days, or has not
  come back since its last run.
A sync night whose pull failed (a `sync` run: nothing was loaded) is a `failed_run`, not a night
with 0 rows. Each sync source also shows its state (`pipelines.sync.state`): its watermark, its
last run and its last error, whenever they were; `sync_state` lists every sync source the store
knows of, those without runs in the period too.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import polars as pl

from pipelines.errors import UsageError
from pipelines.store import Store
from pipelines.sync.state import FAILED_PULL, source_states

HISTORY_DAYS = 7  # a day is compared with the median of up to this many previous days with runs
MIN_HISTORY = 3  # days with runs before a source counts as recurring and a day can be an outlier
SPIKE_FACTOR = 3.0  # rows at or above 3x the median
DROP_FACTOR = 0.2  # rows at or below a fifth of the median
RATE_JUMP = 0.05  # a reject rate at least 5 points and twice above the median
GAP_FACTOR = 1.5  # a gap between days with runs over 1.5x the usual one
# A sync night with nothing new is flagged when the median night brings at least this many rows:
# by chance alone (Poisson) that happens on fewer than 5% of nights.
QUIET_NIGHT_MEDIAN = 3
COUNTED = ("succeeded", "failed", "rolled_back")
SYNC_COUNTED = (*COUNTED, "skipped")  # a sync night whose pull was loaded before: it ran, 0 new
LOADED = ("succeeded", "rolled_back")
SYNC_PREFIX = "sync:"

_RELATIVE = re.compile(r"^(\d+)d$")


def parse_since(text: str | None, now: datetime | None = None, default_days: int = 30) -> datetime:
    """`YYYY-MM-DD`, an ISO 8601 time, or `Nd` (N days back); default `default_days` back."""
    now = now or datetime.now(UTC)
    if text is None or not text.strip():
        return now - timedelta(days=default_days)
    text = text.strip()
    if m := _RELATIVE.match(text):
        return now - timedelta(days=int(m.group(1)))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: give a date (2026-11-01), an ISO time or a number of days (7d)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _time(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _sync_marks(run: dict) -> dict:
    marks = (run.get("options") or {}).get("watermarks")
    return marks if isinstance(marks, dict) else {}


def run_time(run: dict) -> datetime:
    """When a run happened for the trends: a sync run's night is when its pull started (its new
    watermark; the load may come later, after retries), any other run's its start."""
    marks = _sync_marks(run)
    try:
        return min(_time(v) for v in marks.values()) if marks else _time(run["started_at"])
    except (TypeError, ValueError):  # a watermark that is not a time: the run's start then
        return _time(run["started_at"])


def _run_rows(runs: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(one row per run, one per run and source, one per run and reason) from the run records."""
    per_run, per_source, per_reason = [], [], []
    for run in runs:  # a few hundred run records, not rows of an export
        s = run.get("summary") or {}
        dry = bool(s.get("dry_run") or (run.get("options") or {}).get("dry_run"))
        marks = _sync_marks(run)
        feed = "sync" if marks else "files"
        counted = run["status"] in (SYNC_COUNTED if marks else COUNTED) and not dry
        files = s.get("files") or []
        if marks:  # one sync source per run (the nightly load); its files may be none
            sources = [SYNC_PREFIX + name for name in sorted(marks)]
        else:
            sources = list(dict.fromkeys(f.get("platform") or "unknown" for f in files)) or [s.get("source") or "unknown"]
        day = run_time(run).date()
        read, rejected = run.get("rows_read") or 0, run.get("rows_rejected") or 0
        if marks and run["status"] == "skipped":
            read, rejected = 0, 0
        per_run.append({
            "run_id": run["run_id"], "tenant": run["tenant"], "kind": run.get("kind"), "feed": feed,
            "status": run["status"], "dry_run": dry, "counted": counted, "started_at": run["started_at"].isoformat()
            if isinstance(run["started_at"], datetime) else str(run["started_at"]),
            "day": day.isoformat(), "sources": sources, "rows_read": read, "rows_rejected": rejected,
            "reject_rate": round(rejected / read, 6) if read else 0.0,
            "suppressions_added": run.get("suppressions_added") or 0, "error": run.get("error"),
        })
        if not counted or run.get("kind") == FAILED_PULL:  # a failed pull: flagged, but no night of 0 rows
            continue
        by_source: dict[str, list[int]] = {}
        if marks:
            by_source = {source: [read, rejected] for source in sources}
        for f in [] if marks else files:
            acc = by_source.setdefault(f.get("platform") or "unknown", [0, 0])
            acc[0] += f.get("rows_read") or 0
            acc[1] += f.get("rows_rejected") or 0
        if not by_source:
            by_source[sources[0]] = [read, rejected]
        for source, (r, j) in by_source.items():
            per_source.append({"run_id": run["run_id"], "tenant": run["tenant"], "feed": feed, "source": source,
                               "day": day, "rows_read": r, "rows_rejected": j, "failed": run["status"] == "failed"})
        if run["status"] in LOADED:
            for b in s.get("by_reason") or []:
                per_reason.append({"tenant": run["tenant"], "day": day, "reason": b["reason"], "count": b["count"]})
    return per_run, per_source, per_reason


_SOURCE_SCHEMA = {"run_id": pl.String, "tenant": pl.String, "feed": pl.String, "source": pl.String, "day": pl.Date,
                  "rows_read": pl.Int64, "rows_rejected": pl.Int64, "failed": pl.Boolean}


def _series(per_source: list[dict]) -> pl.DataFrame:
    group = ["tenant", "source"]
    prior = {"window_size": HISTORY_DAYS, "min_samples": MIN_HISTORY}
    return (
        pl.DataFrame(per_source, schema=_SOURCE_SCHEMA)
        .group_by("tenant", "feed", "source", "day")
        .agg(pl.col("run_id").n_unique().alias("runs"), pl.col("rows_read").sum(), pl.col("rows_rejected").sum(),
             pl.col("failed").sum().alias("failed_runs"))
        .sort("tenant", "source", "day")
        .with_columns(
            pl.when(pl.col("rows_read") > 0).then(pl.col("rows_rejected") / pl.col("rows_read"))
            .otherwise(0.0).alias("reject_rate"),
        )
        .with_columns(
            pl.col("rows_read").shift(1).rolling_median(**prior).over(group).alias("median_rows"),
            pl.col("reject_rate").shift(1).rolling_median(**prior).over(group).alias("median_reject_rate"),
            (pl.col("day") - pl.col("day").shift(1)).dt.total_days().over(group).alias("gap_days"),
        )
        .with_columns(pl.col("gap_days").median().over(group).alias("usual_gap"),
                      pl.len().over(group).alias("days_with_runs"))
    )


def _flags(series: pl.DataFrame, per_run: list[dict], until: date) -> list[dict]:
    median, rows, rate = pl.col("median_rows"), pl.col("rows_read"), pl.col("reject_rate")
    rules = {
        # a quiet sync night is normal; one is worth a look when the source usually brings several
        "zero_rows": (rows == 0) & ((pl.col("feed") != "sync") | (median >= QUIET_NIGHT_MEDIAN)),
        "volume_spike": (median > 0) & (rows >= median * SPIKE_FACTOR),
        "volume_drop": (median > 0) & (rows > 0) & (rows <= median * DROP_FACTOR),
        "reject_spike": pl.col("median_reject_rate").is_not_null()
        & (rate >= pl.col("median_reject_rate") + RATE_JUMP) & (rate >= pl.col("median_reject_rate") * 2),
        "missed_runs": (pl.col("days_with_runs") >= MIN_HISTORY)
        & (pl.col("gap_days") > pl.max_horizontal(pl.col("usual_gap") * GAP_FACTOR, pl.lit(1.0))),
    }
    flags = []
    for kind, rule in rules.items():  # a handful of rules, each over the whole series
        for p in series.filter(rule.fill_null(False)).iter_rows(named=True):
            flags.append({"tenant": p["tenant"], "source": p["source"], "day": p["day"].isoformat(), "kind": kind,
                          "message": _message(kind, p)})
    for r in per_run:
        if r["counted"] and r["status"] == "failed":
            for source in r["sources"]:
                flags.append({"tenant": r["tenant"], "source": source, "day": r["day"], "kind": "failed_run",
                              "run_id": r["run_id"], "message": f"run {r['run_id']} failed: {r['error'] or 'no reason recorded'}"})
    last = (
        series.group_by("tenant", "source")
        .agg(pl.col("day").max().alias("last_day"), pl.col("usual_gap").first(), pl.len().alias("days"))
        .filter((pl.col("days") >= MIN_HISTORY)
                & ((pl.lit(until) - pl.col("last_day")).dt.total_days()
                   > pl.max_horizontal(pl.col("usual_gap") * GAP_FACTOR, pl.lit(1.0))))
        .sort("tenant", "source")
    )
    for p in last.iter_rows(named=True):
        flags.append({"tenant": p["tenant"], "source": p["source"], "day": until.isoformat(), "kind": "source_stopped",
                      "message": f"no run since {p['last_day']}; it usually runs every {p['usual_gap']:g} day(s)"})
    return sorted(flags, key=lambda f: (f["tenant"], f["source"], f["day"], f["kind"]))


def _message(kind: str, p: dict) -> str:
    if kind == "zero_rows" and p["feed"] == "sync":
        return f"nothing new in {p['runs']} run(s); usually {p['median_rows']:,g} rows a night"
    if kind == "zero_rows":
        return f"no rows in {p['runs']} run(s)"
    if kind in ("volume_spike", "volume_drop"):
        return (f"{p['rows_read']:,} rows, {p['rows_read'] / p['median_rows']:.1f}x the median of the previous days "
                f"({p['median_rows']:,g})")
    if kind == "reject_spike":
        return f"{p['reject_rate']:.1%} rejected, against a median of {p['median_reject_rate']:.1%}"
    return f"{p['gap_days'] - 1:g} day(s) without a run before this one (usually every {p['usual_gap']:g})"


def build_trends(store: Store, since: datetime, until: datetime | None = None, tenant: str | None = None) -> dict:
    """The cross-run report of one tenant (or all) from `since` to `until` (default now)."""
    since, until = _time(since), _time(until or datetime.now(UTC))
    runs = [r for r in store.runs_since(since, tenant) if since <= run_time(r) <= until]
    per_run, per_source, per_reason = _run_rows(runs)
    series = _series(per_source)
    until_day = until.astimezone(UTC).date()
    flags = _flags(series, per_run, until_day)
    flag_count = {}
    for f in flags:
        flag_count[(f["tenant"], f["source"])] = flag_count.get((f["tenant"], f["source"]), 0) + 1
    stopped = {(f["tenant"], f["source"]) for f in flags if f["kind"] == "source_stopped"}
    sources = (
        series.group_by("tenant", "feed", "source")
        .agg(pl.len().alias("days_with_runs"), pl.col("runs").sum(), pl.col("day").min().alias("first_day"),
             pl.col("day").max().alias("last_day"), pl.col("rows_read").sum(), pl.col("rows_rejected").sum(),
             pl.col("rows_read").median().alias("median_rows"))
        .with_columns(pl.when(pl.col("rows_read") > 0).then(pl.col("rows_rejected") / pl.col("rows_read"))
                      .otherwise(0.0).round(6).alias("reject_rate"))
        .sort("tenant", "source")
        .to_dicts()
    )
    states = {(st["tenant"], SYNC_PREFIX + st["source"]): st for st in source_states(store, tenant)}
    for s in sources:
        key = (s["tenant"], s["source"])
        s["sync"] = states.get(key)
        s["recurring"] = s["days_with_runs"] >= MIN_HISTORY
        s["status"] = "stopped" if key in stopped else "flagged" if flag_count.get(key) else "ok"
        s["flags"] = flag_count.get(key, 0)
        s["first_day"], s["last_day"] = s["first_day"].isoformat(), s["last_day"].isoformat()
    mix = (
        pl.DataFrame(per_reason, schema={"tenant": pl.String, "day": pl.Date, "reason": pl.String, "count": pl.Int64})
        .group_by("tenant", "day", "reason").agg(pl.col("count").sum())
        .sort("tenant", "day", "count", "reason", descending=[False, False, True, False])
    )
    reason_mix = [
        {"tenant": t, "day": d.isoformat(), "reasons": dict(zip(reasons, counts, strict=True))}
        for t, d, reasons, counts in mix.group_by("tenant", "day", maintain_order=True)
        .agg("reason", "count").iter_rows()
    ]
    first = min((date.fromisoformat(r["day"]) for r in per_run), default=until_day)
    start = max(first, since.astimezone(UTC).date())
    days = [(start + timedelta(days=i)).isoformat() for i in range((until_day - start).days + 1)]
    return {
        "report": "trends",
        "tenant": tenant,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "generated_at": datetime.now(UTC).isoformat(),
        "thresholds": {"history_days": HISTORY_DAYS, "min_history": MIN_HISTORY, "spike_factor": SPIKE_FACTOR,
                       "drop_factor": DROP_FACTOR, "reject_rate_jump": RATE_JUMP, "gap_factor": GAP_FACTOR,
                       "quiet_night_median": QUIET_NIGHT_MEDIAN},
        "days": days,
        "runs": list(reversed(per_run)),
        "series": [
            {**p, "day": p["day"].isoformat(), "reject_rate": round(p["reject_rate"], 6)}
            for p in series.drop("days_with_runs", "usual_gap").to_dicts()
        ],
        "sources": sources,
        "sync_state": [{**st, "source": key[1], "name": st["source"],
                        "in_period": any((s["tenant"], s["source"]) == key for s in sources)}
                       for key, st in states.items()],
        "reason_mix": reason_mix,
        "flags": flags,
    }


def recent_tenants(store: Store, since: datetime) -> list[str]:
    """Tenants with a run since `since`: the ones whose trends a new load may have changed."""
    return sorted({r["tenant"] for r in store.runs_since(since)})
