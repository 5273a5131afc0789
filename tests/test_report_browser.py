"""The reports as a reviewer sees them: headless Chromium (Debian's chromium, installed by
`make test` through .ci/chromium) opens each page offline, with no console errors and no request
but the page itself, and shows the figures of the JSON."""
from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.report.browser import find_chromium, view_page
from pipelines.report.screenshot import sample_run_report
from tests.conftest import run_cli
from tests.test_report_trends import make_history

FIGURES = ("rows_read", "rows_accepted", "rows_rejected", "duplicates_collapsed", "suppressions_added",
           "suppressions_updated", "suppressions_already_present")


def _chromium_problem() -> str | None:
    """Why Chromium cannot run here (None: it can). Found is not enough: `$CHROMIUM` may name a
    file that is not there, and Ubuntu's `chromium-browser` may be a shim for a snap not installed."""
    binary = find_chromium()
    if binary is None:
        return "Chromium is not installed"
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Chromium ({binary}) does not start: {type(exc).__name__}: {exc}"
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return f"Chromium ({binary}) does not start: exit {done.returncode}" + (f": {said[0]}" if said else "")
    return None


@pytest.fixture(scope="module")
def chromium_problem() -> str | None:
    return _chromium_problem()


@pytest.fixture(autouse=True)
def chromium(chromium_problem):
    """Skip without a Chromium that runs, except under CI (`$CI` set), where the browser tests must
    run: a broken install fails there instead of going unnoticed."""
    if chromium_problem is not None:
        message = (f"{chromium_problem}; `.ci/chromium` installs Debian's chromium with apt (needs root or "
                   "passwordless sudo), or set $CHROMIUM to a Chromium binary")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _figure(name: str) -> str:
    return f"document.querySelector('[data-figure={name}]').textContent.trim()"


def _only_the_page_was_requested(view) -> None:
    assert view.requests == [view.url], view.requests


def test_the_harness_sees_console_errors_and_network_requests(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head><link rel="stylesheet" href="https://cdn.example.com/x.css">'
                    '</head><body><p>hi</p><script>console.error("boom"); missingFunction();</script></body></html>')
    view = view_page(page)
    assert view.text == "hi"
    assert "boom" in view.console_errors
    assert any("missingFunction" in e for e in view.console_errors)
    assert any("cdn.example.com" in e for e in view.console_errors)  # offline: the fetch fails, loudly
    assert "https://cdn.example.com/x.css" in view.requests


def test_sample_run_report_loads_offline_and_shows_the_key_figures(tmp_path):
    summary = sample_run_report(tmp_path)
    html = Path(summary["report"])
    report = json.loads((html.parent / "report.json").read_text())
    view = view_page(html, screenshot=True, expressions=tuple(_figure(f) for f in (*FIGURES, "status", "tenant",
                                                                                     "contacts_blocked", "validation")))
    assert view.console_errors == []
    _only_the_page_was_requested(view)
    assert view.title.startswith(f"Run {report['run_id']}")
    shown = {name: view.values[_figure(name)] for name in (*FIGURES, "status", "tenant", "contacts_blocked", "validation")}
    for name in FIGURES:
        assert shown[name] == f"{report[name]:,}", name
    assert (shown["status"], shown["tenant"]) == (report["status"], "demo")
    assert shown["contacts_blocked"] == (f"{report['contacts_blocked']:,}" if report["contacts_tracked"] else "not tracked")
    assert shown["validation"] == "passed"
    for code, examples in report["reject_examples"].items():  # every error code, with an example and its line
        assert code in view.text
        first = examples[0]
        assert f"{first['file'].removeprefix('data/samples/')}:{first['line']}" in view.text
    for platform in report["by_platform"]:
        assert platform["platform"] in view.text
    for expectation in report["validation"]["suites"][0]["results"]:
        assert expectation["expectation"] in view.text
    assert view.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(view.screenshot) > 50_000  # a real, full page


def test_trends_report_loads_offline_and_shows_the_flags(tmp_path):
    store = tmp_path / "store.duckdb"
    make_history(str(store), tmp_path / "exports", datetime.now(UTC))
    result = run_cli("report", "--tenant", "acme", "--since", "14d", "--store", store, "--output", tmp_path / "trends")
    assert result.code == 0, result.stderr
    report = json.loads((tmp_path / "trends" / "report.json").read_text())
    view = view_page(tmp_path / "trends" / "report.html", expressions=(
        "document.querySelectorAll('[data-flag]').length", _figure("flags"), "document.querySelectorAll('svg').length"))
    assert view.console_errors == []
    _only_the_page_was_requested(view)
    assert view.values["document.querySelectorAll('[data-flag]').length"] == len(report["flags"]) == 5
    assert view.values[_figure("flags")] == "5"
    assert view.values["document.querySelectorAll('svg').length"] >= 5
    for flag in report["flags"]:
        assert flag["message"] in view.text


def test_hostile_values_are_shown_as_text_and_never_run(tmp_path):
    nasty = tmp_path / "<img src=x onerror=window.pwned=2>.csv"
    nasty.write_text("email\n<script>window.pwned=1</script>@example.com\n"
                     + "".join(f"ok{i}@example.com\n" for i in range(9)))
    result = run_cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.5", "--store",
                     tmp_path / "s.duckdb", nasty)
    assert result.code == 0, result.stderr
    view = view_page(result.json()["report"], expressions=("typeof window.pwned",))
    assert view.console_errors == []
    _only_the_page_was_requested(view)
    assert view.values["typeof window.pwned"] == "undefined"
    assert "<s***>w***.p***=1</s***>@e***.c***" in view.text  # the value masked, shown as text
    assert "<img src=x onerror=window.pwned=2>.csv" in view.text
