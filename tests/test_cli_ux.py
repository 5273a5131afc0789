"""Issue 17, the CLI a person enjoys: help that reads like a well-kept CLI, one-line usage errors,
plain lines off a terminal, progress with rows and bytes, reports beside the store, invalid
check inputs said as such, JSONL attributes as objects, URIs passed through as given."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_cli


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _commands():
    """Every command (path of names, click command), the groups' commands included."""
    from typer.main import get_command

    from pipelines.cli import app

    found = []

    def walk(group, path):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, [*path, name])
            else:
                found.append(([*path, name], command))

    walk(get_command(app), [])
    return found


# -- 1. help ------------------------------------------------------------------------------------


def test_ingest_help_shows_flags_as_flags_and_says_what_goes_where():
    result = run_cli("ingest", "--help")
    assert result.code == 0 and result.stderr == ""
    text = result.stdout
    assert text.startswith("Usage: suppress ingest [OPTIONS] PATH...\n")
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith("--")}
    assert lines["--dry-run"].split()[1:3] == ["Do", "everything"]  # a flag: no value after it
    assert lines["--tenant"].split()[1] == "TENANT"
    assert lines["--store"].split()[1] == "FILE|URL"
    assert lines["--default-region"].split()[1] == "REGION"
    assert lines["--report-dir"].split()[1] == "DIR"
    for junk in ("<bool>", "<str>", "<path>", "list[", "{paths}", "╭", "│"):
        assert junk not in text
    assert "Example:\n    suppress ingest --tenant" in text


@pytest.mark.parametrize("path,command", _commands(), ids=lambda v: "-".join(v) if isinstance(v, list) else "")
def test_every_command_help_has_metavars_help_texts_and_an_example(path, command):
    result = run_cli(*path, "--help")
    assert result.code == 0, result.stderr
    text = result.stdout
    assert not re.search(r"<(str|bool|int|float|path|text|list\[.*?\])>", text), text  # no <str>, <list[Path]>
    assert "{" not in text.splitlines()[0] and "Example:\n    suppress " + " ".join(path) in text, text
    for param in command.params:
        assert param.help, f"{' '.join(path)}: {param.name} has no help text"


def test_help_text_is_text_not_markup():
    assert "TOML with a [lists] table" in " ".join(run_cli("lists", "map", "--help").stdout.split())


# -- 2. usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("args,says", [
    (["ingest", "--tenant", "acme"], "Missing argument 'PATH'"),
    (["ingest", "--tenant", "acme", "--bogus", "x.csv"], "No such option: --bogus"),
    (["ingest", "--tenant", "acme", "--max-reject-rate", "lots", "x.csv"], "'--max-reject-rate'"),
    (["check", "a@example.com", "--store", "s.duckdb", "--tenant"], "'--tenant' requires an argument"),
    (["contacts", "export", "--tenant", "acme", "--format", "xml"], "--format must be csv or jsonl"),
])
def test_usage_errors_are_one_plain_line_and_exit_2(tmp_path, args, says):
    result = run_cli(*(args if "--store" in args else [*args, "--store", str(tmp_path / "s.duckdb")]))
    assert result.code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr
    assert not set(result.stderr) & set("╭╮╰╯│─"), result.stderr


# -- 3. off a terminal: plain lines --------------------------------------------------------------


def test_ingest_off_a_terminal_prints_one_unwrapped_line_a_file(tmp_path):
    long = write(tmp_path / ("bounces_exported_from_the_previous_platform_" + "x" * 60 + ".txt"),
                 "a@example.com\nb@example.com\nnot-an-address\n")
    short = write(tmp_path / "more.txt", "c@example.com\n")
    result = run_cli("ingest", "--tenant", "acme", "--store", str(tmp_path / "s.duckdb"), "--max-reject-rate", "0.5",
                     "--no-report", str(long), str(short))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{long}: generic plain_list, 3 rows, 1 rejected" in lines  # whole, on one line
    assert f"{short}: generic plain_list, 1 rows, 0 rejected" in lines
    assert not any(line.split() == ["file", "platform", "kind", "rows", "rejected"] for line in lines)
    assert len(lines) == 7  # run, 2 files, rows, suppressions, rejected, no event time
    assert result.stderr == ""  # no progress off a terminal


def test_ingest_on_a_terminal_keeps_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's own switch: stdout counts as a terminal
    monkeypatch.setenv("CI", "1")  # no progress line in this test's stderr
    monkeypatch.setenv("COLUMNS", "200")
    listed = write(tmp_path / "list.txt", "a@example.com\n")
    result = run_cli("ingest", "--tenant", "acme", "--store", str(tmp_path / "s.duckdb"), "--no-report", str(listed))
    assert result.code == 0, result.stderr
    header = [re.sub(r"\x1b\[[0-9;]*m", "", line).split() for line in result.stdout.splitlines()]
    assert ["file", "platform", "kind", "rows", "rejected"] in header


def test_tables_off_a_terminal_are_tab_separated_lines(tmp_path):
    store = tmp_path / "s.duckdb"
    run_id = run_cli("ingest", "--tenant", "acme", "--store", str(store), "--json", "--no-report",
                     str(write(tmp_path / "l.txt", "a@example.com\n"))).json()["run_id"]
    lines = run_cli("runs", "--tenant", "acme", "--store", str(store)).stdout.splitlines()
    assert lines[0].split("\t") == ["run", "status", "dry run", "started", "read", "rejected", "added", "updated"]
    assert lines[1].split("\t")[:2] == [run_id, "succeeded"] and len(lines) == 2


# -- 4. progress ---------------------------------------------------------------------------------


def test_ingest_reports_rows_and_bytes_as_batches_are_read(tmp_path, monkeypatch):
    from pipelines.ingest import IngestRequest, ingest
    from pipelines.run import read

    monkeypatch.setattr(read, "BATCH_ROWS", 2)
    listed = write(tmp_path / "list.txt", "".join(f"user{i}@example.com\n" for i in range(7)))
    size = listed.stat().st_size
    calls = []
    ingest(IngestRequest(tenant="acme", paths=[str(listed)]), str(tmp_path / "s.duckdb"),
           progress=lambda what, rows, done_bytes=None, total_bytes=None: calls.append((what, rows, done_bytes, total_bytes)))
    assert calls[0] == ("opening list.txt", 0, size, None)  # before any row: the bytes opened
    reading = [c for c in calls if c[0] == "reading list.txt"]
    assert [c[1] for c in reading] == [2, 4, 6, 7]  # rows as each batch is read
    assert all(c[3] == size for c in reading)
    assert [c[2] for c in reading] == sorted(c[2] for c in reading) and 0 < reading[0][2] < size
    assert reading[-1][2] == size


def test_the_progress_line_shows_rows_bytes_and_a_bar_only_on_a_terminal(monkeypatch):
    from rich.console import Console

    from pipelines.cli.output import ProgressLine

    monkeypatch.delenv("CI", raising=False)
    screen = io.StringIO()
    with ProgressLine(Console(file=screen, force_terminal=True, width=100)) as progress:
        assert progress.enabled
        progress("reading list.txt", 1500, done_bytes=2_000_000, total_bytes=4_000_000)
        progress._progress.refresh()
    shown = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())
    assert "reading list.txt" in shown and "1,500 rows" in shown and "2.0 MB/4.0 MB" in shown
    assert "━" in shown  # the bar
    piped = io.StringIO()
    with ProgressLine(Console(file=piped)) as progress:
        assert not progress.enabled
        progress("reading list.txt", 10, done_bytes=10, total_bytes=20)
    assert piped.getvalue() == ""


# -- 5. reports beside the store -----------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The working directory is somewhere else; no reports folder configured; a home of our own."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("SUPPRESSION_REPORTS_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return cwd


def test_a_duckdb_store_gets_its_reports_beside_it_never_in_the_cwd(tmp_path, elsewhere):
    store = tmp_path / "data" / "s.duckdb"
    store.parent.mkdir()
    listed = write(tmp_path / "l.txt", "a@example.com\n")
    s = run_cli("ingest", "--tenant", "acme", "--store", str(store), "--json", "--dry-run", str(listed)).json()
    assert s["report"] == str(tmp_path / "data" / "reports" / s["run_id"] / "report.html")
    assert Path(s["report"]).is_file()
    again = run_cli("report", s["run_id"], "--store", str(store), "--json")
    assert again.code == 0 and (tmp_path / "data" / "reports" / s["run_id"] / "report.json").is_file()
    assert list(elsewhere.iterdir()) == []


def test_report_dir_env_and_no_report(tmp_path, elsewhere, monkeypatch):
    store = tmp_path / "data" / "s.duckdb"
    store.parent.mkdir()
    listed = write(tmp_path / "l.txt", "a@example.com\n")

    def ingest(*extra):
        return run_cli("ingest", "--tenant", "acme", "--store", str(store), "--json", "--force", *extra, str(listed)).json()

    none = ingest("--no-report")
    assert "report" not in none and not (tmp_path / "data" / "reports").exists()
    given = ingest("--report-dir", str(tmp_path / "here"))
    assert given["report"] == str(tmp_path / "here" / "report.html")
    monkeypatch.setenv("SUPPRESSION_REPORTS_DIR", str(tmp_path / "configured"))
    configured = ingest()
    assert configured["report"] == str(tmp_path / "configured" / configured["run_id"] / "report.html")
    assert run_cli("ingest", "--tenant", "acme", "--store", str(store), "--no-report", "--report-dir", "x",
                   str(listed)).code == 2
    assert list(elsewhere.iterdir()) == []


def test_a_postgres_store_reports_to_the_users_data_folder(tmp_path, elsewhere, pg_database, monkeypatch):
    listed = write(tmp_path / "l.txt", "a@example.com\n")
    s = run_cli("ingest", "--tenant", "acme", "--store", pg_database, "--json", str(listed)).json()
    assert s["report"] == str(tmp_path / "home" / ".local" / "share" / "suppress" / "reports" / s["run_id"] / "report.html")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    s = run_cli("ingest", "--tenant", "acme", "--store", pg_database, "--json", "--force", str(listed)).json()
    assert s["report"] == str(tmp_path / "xdg" / "suppress" / "reports" / s["run_id"] / "report.html")
    assert list(elsewhere.iterdir()) == []


def test_the_default_reports_folder_by_store():
    from pipelines.settings import Settings, default_reports_dir

    home = {"HOME": "/home/pat"}
    assert default_reports_dir("/srv/data/s.duckdb", home) == Path("/srv/data/reports")
    assert default_reports_dir("suppressions.duckdb", home) == Path("reports")  # beside it, in the cwd
    assert default_reports_dir("postgresql://u@db/s", home) == Path("/home/pat/.local/share/suppress/reports")
    assert default_reports_dir("postgresql://u@db/s", {**home, "XDG_DATA_HOME": "/x"}) == Path("/x/suppress/reports")
    env = {**home, "SUPPRESSION_STORE": "/srv/data/s.duckdb"}
    assert Settings.from_env(env).reports_dir == Path("/srv/data/reports")
    assert Settings.from_env({**env, "SUPPRESSION_REPORTS_DIR": "/r"}).reports_dir == Path("/r")
    assert Settings.from_env(home, default_store=None, fallback={"reports_dir": "/af"}).reports_dir == Path("/af")


# -- 6. check: invalid inputs --------------------------------------------------------------------


def test_check_says_invalid_and_exits_3_when_nothing_is_an_address(cli, tmp_path):
    cli("ingest", "--tenant", "acme", "--no-report", write(tmp_path / "l.txt", "bob@example.com\n"))
    only = cli("check", "--tenant", "acme", "--json", "not an email")
    assert only.code == 3 and only.stderr.count("\n") == 1
    assert "'not an email' is not a valid email address or phone number" in only.stderr
    (row,) = only.json()
    assert (row["input"], row["address"], row["channel"], row["suppressed"], row["status"]) == (
        "not an email", None, None, False, "invalid")
    mixed = cli("check", "--tenant", "acme", "--json", "bob@example.com", "fresh@example.com", "nope")
    assert mixed.code == 0
    assert [(r["status"], r["channel"]) for r in mixed.json()] == [
        ("suppressed", "email"), ("not_suppressed", "email"), ("invalid", None)]
    human = cli("check", "--tenant", "acme", "not an email", "bob@example.com")
    assert human.code == 0
    assert human.stdout.splitlines() == ["input\taddress\tstatus\treasons", "not an email\t\tinvalid\t",
                                         "bob@example.com\tbob@example.com\tsuppressed\thard_bounce"]
    assert "(unparseable)" not in human.stdout and human.stderr.count("\n") == 1


# -- 7. contacts export --format jsonl -----------------------------------------------------------


def test_contacts_jsonl_attributes_are_an_object(cli, tmp_path):
    people = write(tmp_path / "c.csv", "id,email,first_name,city\nc1,kim@example.com,Kim,Oslo\nc2,lee@example.com,,\n")
    assert cli("contacts", "import", "--tenant", "acme", people).code == 0
    result = cli("contacts", "export", "--tenant", "acme", "--format", "jsonl")
    assert result.code == 0, result.stderr
    rows = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["c1"]["attributes"] == {"first_name": "Kim", "city": "Oslo"}
    assert isinstance(rows["c2"]["attributes"], dict)
    assert rows["c1"]["email"] == "kim@example.com" and list(rows["c1"])[:3] == ["id", "email", "phone"]
    exported = csv.DictReader(io.StringIO(cli("contacts", "export", "--tenant", "acme").stdout))
    cells = {r["id"]: r["attributes"] for r in exported}  # CSV keeps the JSON text in a cell
    assert json.loads(cells["c1"]) == {"first_name": "Kim", "city": "Oslo"}


# -- 8. paths are strings ------------------------------------------------------------------------


def test_ingest_passes_uris_through_as_given(tmp_path, monkeypatch):
    import pipelines.ingest
    from pipelines.errors import UserError

    seen = []

    def fake(req, store=None, progress=None):
        seen.append(req.paths)
        raise UserError("stopped here")

    monkeypatch.setattr(pipelines.ingest, "ingest", fake)
    result = run_cli("ingest", "--tenant", "acme", "--store", str(tmp_path / "s.duckdb"),
                     "s3://bucket/exports/2026-11/", "file:///data/x.csv")
    assert result.code == 1 and "stopped here" in result.stderr
    assert seen == [["s3://bucket/exports/2026-11/", "file:///data/x.csv"]]


# -- 8. check: the fast lane (SPEC 5: a one-address check process in under 0.3 s) ---------------

CHECK_LINES = [
    ["check", "--tenant", "acme", "bob@example.com"],
    ["check", "--tenant", "acme", "--json", "BOB@example.com", "fresh@example.com", "nope", "(415) 555-0100"],
    ["check", "Bob@Example.com", "--tenant=acme", "--purpose", "transactional", "--default-region=US", "4155550100"],
    ["check", "--tenant", "acme", "not an email"],
    ["check", "--tenant", "acme", "--json", ""],
    ["check", "--tenant", "acme", "=cmd@example.com", "+14155550100", 'quo"te', "1.41555E+10", "@x", "-1"],
    ["check", "--tenant", "acme", "=cmd@example.com", "+14155550100", 'quo"te', "1.41555E+10", "@x", "+1"],
    ["check", "--tenant", "acme", "--list", "newsletter", "bob@example.com"],
    ["check", "--tenant", "acme", "--purpose", "sales", "bob@example.com"],
    ["check", "--tenant", "a b", "bob@example.com"],
    ["check", "--tenant", "acme"],
    ["check", "--tenant", "acme", "--json", "--json", "bob@example.com"],
    ["check", "--tenant", "acme", "--nope", "bob@example.com"],
    ["check", "--tenant", "acme", "--", "-x@example.com"],
    ["check", "bob@example.com", "--tenant"],
    ["check", "--tenant", "acme", "Bob <bob@example.com>", "bücher@example.com"],
    ["check", "--tenant", "acme", "--json", "--file", "inputs.txt"],
]


@pytest.mark.parametrize("terminal", [False, True])
def test_a_plain_check_prints_what_the_full_cli_prints(cli, tmp_path, monkeypatch, terminal):
    """A plain `check` line skips Typer, and a few inputs skip Polars (`pipelines/cli/checks.py`):
    same stdout, stderr and exit code as Typer with Polars, whatever the line."""
    import pipelines.cli.checks as checks
    import pipelines.lookup as lookup

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "inputs.txt", "bob@example.com\n(415) 555-0100\nnot one\n")
    cli("ingest", "--tenant", "acme", "--no-report", write(tmp_path / "l.txt", "bob@example.com\n+14155550100\n"))
    if terminal:  # rich's table
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
    plain, rows = checks.plain_check_args, lookup.check_rows
    for line in CHECK_LINES:
        fast = cli(*line)
        monkeypatch.setattr(checks, "plain_check_args", lambda argv: None)
        typer_rows = cli(*line)
        monkeypatch.setattr(lookup, "check_rows", lambda *args, **kwargs: None)
        typer_frames = cli(*line)
        monkeypatch.setattr(checks, "plain_check_args", plain)
        monkeypatch.setattr(lookup, "check_rows", rows)
        assert fast == typer_rows == typer_frames, line


def test_the_fast_lane_takes_the_values_typer_gives(monkeypatch):
    """`plain_check_args` gives `run_check` what Typer gives it, or leaves the line to Typer."""
    import pipelines.cli.checks as checks

    calls = []
    plain = checks.plain_check_args
    monkeypatch.setattr(checks, "run_check", lambda *args: calls.append(args))
    monkeypatch.setattr(checks, "plain_check_args", lambda argv: None)  # every line through Typer
    names = ("addresses", "tenant", "purpose", "default_region", "file", "send_list", "as_json", "store")
    lines = [line + ["--store", "s.duckdb"] for line in CHECK_LINES] + [
        ["check", "--store=x.duckdb", "--file", "f.txt", "--list", "n", "--tenant", "t", "a@b.co"], ["check"],
        ["check", "--tenant", "t", "--store", ""], ["check", "--tenant", "t", "--store=", "a@b.co"], ["--help"],
        ["check", "--tenant", "t", "-h"], ["check", "--help"], ["check", "--tenant", "t", "--json=1", "a"],
        ["check", "--tenant", "t", "--purpose", "--json", "a"], ["export", "--tenant", "t"], ["check", "--tenant", "t\x1b"]]
    for line in lines:
        given = plain(line)
        if given is None:
            continue
        calls.clear()
        run_cli(*line)
        # an invalid tenant stops both lanes before the command (the option's callback)
        expected = [given] if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", given["tenant"]) else []
        assert [dict(zip(names, args, strict=True)) for args in calls] == expected, line
    assert plain(["check", "--tenant", "acme", "--json", "a@b.co"]) is not None


def test_a_one_address_check_imports_no_heavy_module(tmp_path):
    """SPEC 5: a one-address `suppress check` is a process of under 0.3 s; Polars alone takes 0.4 s
    to import. (Measured by benchmarks, not here: here, what it imports.)"""
    import os
    import subprocess
    import sys

    store = tmp_path / "s.duckdb"
    assert run_cli("ingest", "--tenant", "acme", "--no-report", write(tmp_path / "l.txt", "bob@example.com\n"),
                   "--store", store).code == 0
    heavy = ["polars", "pyarrow", "pandas", "numpy", "great_expectations", "fsspec", "phonenumbers", "idna",
             "typer", "click", "pydantic", "rich"]
    env = {k: v for k, v in os.environ.items() if k not in ("TTY_COMPATIBLE", "FORCE_COLOR")}  # plain lines
    script = ("import sys\nfrom pipelines.cli import main\nsys.argv = ['suppress', *sys.argv[1:]]\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")
    for extra in (["--json"], [], ["--default-region", "US", "(415) 555-0100"]):
        done = subprocess.run([sys.executable, "-c", script, "check", "--tenant", "acme", "--store", str(store),
                               *extra, "bob@example.com"], capture_output=True, text=True, check=True, env=env)
        loaded = done.stderr.strip().splitlines()[-1]
        assert loaded == ("['phonenumbers']" if "US" in extra else "[]"), (extra, done.stderr)
        assert "bob@example.com" in done.stdout
