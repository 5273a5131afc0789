"""What the adapter tests share: a file as detection sees it, one adapter run on it against the
registry, and the CLI round trip (detect, ingest, then the export and the rejects read back)."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines import platforms
from pipelines.normalize.records import resolve_smtp_reasons
from pipelines.platforms.base import Adapter, MapOptions, Match, Probe
from pipelines.platforms.generic.export import ADAPTER as PLAIN_LIST
from pipelines.readers import Table, iter_inputs, read_table
from tests.conftest import ROOT, SAMPLES, run_cli

FIXTURES = ROOT / "tests" / "fixtures"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- one adapter, in process -------------------------------------------------------------------


def tables(path, tmp_path) -> list[Table]:
    """Every table a path opens into (one per archive member)."""
    return [read_table(source) for source in iter_inputs([path], tmp_path)]


def load(path, tmp_path) -> tuple[Table, Probe]:
    (table,) = tables(path, tmp_path)
    return table, Probe.of(table)


def claim(adapter: Adapter, path, tmp_path) -> Match | None:
    """What `adapter` says of a file."""
    return adapter.detect(load(path, tmp_path)[1])


def mapped(adapter: Adapter, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions = MapOptions()) -> pl.DataFrame:
    """The adapter's rows as the normalizer gets them (reasons left to the SMTP classifier filled in)."""
    return resolve_smtp_reasons(adapter.map(frame, probe, match, opts).collect())


def as_detected(adapter: Adapter, path, tmp_path, kind: str | None = None, opts: MapOptions = MapOptions()) -> pl.DataFrame:
    """Map a file as `adapter` detects it (that kind, where one is given), however others score it."""
    table, probe = load(path, tmp_path)
    match = adapter.detect(probe)
    assert kind is None or match.kind == kind, match
    return mapped(adapter, table.frame, probe, match, opts)


def best_other(adapter: Adapter, probe: Probe, against: tuple[Adapter, ...] | None = None) -> tuple[str, Match] | None:
    """The best claim of the adapters `against` (default: every registered one but `adapter`)."""
    others = against if against is not None else [a for a in platforms.adapters() if a.name != adapter.name]
    found = [(a.name, m) for a in others if (m := a.detect(probe)) is not None]
    return max(found, key=lambda x: x[1].score, default=None)


def run_adapter(adapter: Adapter, path, tmp_path, kind: str, opts: MapOptions = MapOptions(),
                against: tuple[Adapter, ...] | None = None) -> pl.DataFrame:
    """Detect (the kind, a score in 50-95 with a why, every adapter `against` lower), then map."""
    table, probe = load(path, tmp_path)
    match = adapter.detect(probe)
    assert match is not None and match.kind == kind, match
    assert 50 <= match.score <= 95 and match.why
    other = best_other(adapter, probe, against)
    assert other is None or other[1].score < match.score, other
    return mapped(adapter, table.frame, probe, match, opts)


def won(adapter: Adapter, table: Table, kind: str) -> tuple[Match, pl.DataFrame]:
    """Detect through the registry (`adapter` wins, with the kind; the plain list lower), then map."""
    probe = Probe.of(table)
    winner, match = platforms.detect(probe)
    assert winner is adapter, (winner.name, match)
    assert match.kind == kind
    plain = PLAIN_LIST.detect(probe)
    assert plain is None or plain.score < match.score
    return match, mapped(adapter, table.frame, probe, match)


def by_line(out: pl.DataFrame) -> dict[int, dict]:
    return {r["_line"]: r for r in out.iter_rows(named=True)}


def records(out: pl.DataFrame, line: int) -> list[tuple]:
    """(event, reason, scope) of every record of one input line, sorted."""
    rows = out.filter(pl.col("_line") == line)
    return sorted(rows.select("event", "reason", "scope").rows(), key=str)


def other_files(platform: str, fixtures: bool = True) -> list[Path]:
    """The samples (and test fixtures) of every other platform."""
    found = [*SAMPLES.rglob("*"), *(FIXTURES.rglob("*") if fixtures else ())]
    return sorted(p for p in found if p.is_file() and p.parent.name != platform and p.suffix != ".md")


def file_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def never_outbids(adapter: Adapter, path, tmp_path) -> None:
    """Where `adapter` claims another platform's file, a registered adapter claims it higher."""
    for source in iter_inputs([path], tmp_path):
        probe = Probe.of(read_table(source))
        mine, other = adapter.detect(probe), best_other(adapter, probe)
        assert mine is None or (other is not None and mine.score < other[1].score), (source.display, mine, other)


# -- through the CLI ---------------------------------------------------------------------------


def detect(*args) -> dict:
    """`suppress detect --json` on one file: what it is taken for."""
    result = run_cli("detect", "--json", *args)
    assert result.code == 0, result.stderr
    (found,) = result.json()
    return found


def ingest(cli, *args) -> dict:
    result = cli("ingest", "--tenant", "t", "--json", "--max-reject-rate", "0.5", *args)
    assert result.code == 0, result.stderr
    return result.json()


def by_address(row: dict) -> str:
    return row["address"]


def exported(cli, key: Callable[[dict], object] = by_address, tenant: str = "t") -> dict:
    """The tenant's suppressions (`suppress export`), grouped by address (or `key`)."""
    out: dict = {}
    for row in csv.DictReader(io.StringIO(cli("export", "--tenant", tenant).stdout)):
        out.setdefault(key(row), []).append(row)
    return out


def reasons(rows: dict, key) -> list[tuple[str, str]]:
    """(reason, scope) of one address's suppressions, sorted."""
    return sorted((r["reason"], r["scope"]) for r in rows.get(key, []))


def rejects(cli, run_id: str) -> list[tuple[int, str, str, str]]:
    """(line, value, error, detail) of a run's quarantined rows, sorted."""
    rows = csv.DictReader(io.StringIO(cli("rejects", run_id, "--format", "csv").stdout))
    return sorted((int(r["line"]), r["value"], r["error"], r["detail"]) for r in rows)


def time_unknown(row: dict, summary: dict) -> bool:
    """The load time stood in: the export gave no usable time."""
    seen = datetime.strptime(row["first_seen_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    return abs((seen - datetime.fromisoformat(summary["started_at"])).total_seconds()) < 1
