"""A mapping file lets an onboarding engineer ingest a platform we have no adapter for."""
from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import ROOT

ACME = ROOT / "data" / "mappings" / "acme-esp"
MAPPING = ACME / "acme_esp.mapping.toml"
EXPORT = ACME / "acme_esp_suppressions.csv"


def test_mapped_export_loads_with_its_vocabulary(cli):
    result = cli("ingest", "--tenant", "acme", "--json", "--mapping", MAPPING, "--max-reject-rate", "0.2", EXPORT)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["files"][0]["platform"] == "acme-esp"
    assert (s["rows_read"], s["rows_rejected"], s["rows_ignored"]) == (6, 1, 1)
    assert s["rejects_by_error"] == {"unknown_status": 1}  # "On Hold" is not in the file's [statuses]
    rows = {(r["address"], r["reason"], r["scope"]) for r in csv.DictReader(io.StringIO(cli("export", "--tenant", "acme").stdout))}
    assert rows == {
        ("ana.ruiz@example.com", "hard_bounce", "all"),
        ("bo.chen@example.org", "unsubscribe", "list:weekly"),
        ("bo.chen@example.org", "unsubscribe", "marketing"),
        ("dan@example.com", "spam_complaint", "all"),
    }


def test_detect_with_mapping(cli):
    got = cli("detect", "--json", "--mapping", MAPPING, EXPORT).json()
    assert got[0]["platform"] == "acme-esp" and got[0]["kind"] == "mapped"
    without = cli("detect", "--json", EXPORT).json()
    assert without[0]["platform"] is None  # no built-in adapter claims it


def test_file_missing_a_named_column_is_refused(cli, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("email,status\na@example.com,Hard Bounce\n")
    result = cli("ingest", "--tenant", "acme", "--mapping", MAPPING, other)
    assert result.code == 3
    assert "other.csv" in result.stderr and "a column it names is missing" in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x"\n[columns]\nstatus = "s"\n[statuses]\nA = "hard_bounce"\n', "address is required"),
    ('[columns]\naddress = "e"\nstatus = "s"\n[statuses]\nA = "bounced"\n', "unknown reason(s) bounced"),
    ('[columns]\naddress = "e"\n', "`reason` must be one of"),
    ('[columns\naddress = "e"\n', "not a valid TOML mapping file"),
])
def test_bad_mapping_files_are_usage_errors(cli, tmp_path, text, message):
    mapping = tmp_path / "m.toml"
    mapping.write_text(text)
    result = cli("ingest", "--tenant", "acme", "--mapping", mapping, EXPORT)
    assert result.code == 2, result.stderr
    assert message in result.stderr


def test_changed_mapping_is_a_new_input(cli, tmp_path):
    first = cli("ingest", "--tenant", "acme", "--json", "--mapping", MAPPING, "--max-reject-rate", "0.2", EXPORT).json()
    assert first["status"] == "succeeded"
    changed = tmp_path / "m.toml"
    changed.write_text(MAPPING.read_text() + '"On Hold" = "soft_bounce"\n')
    again = cli("ingest", "--tenant", "acme", "--json", "--mapping", changed, EXPORT).json()
    assert again["status"] == "succeeded" and again["rows_rejected"] == 0
    assert again["suppressions_added"] == 1  # eve's soft bounce; the rest was already there
