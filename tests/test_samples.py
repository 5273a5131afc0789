"""Every sample in data/samples/ through the real CLI: detected as its folder's platform, and
the whole folder loads as one run with nothing lost."""
from __future__ import annotations

import pytest

from tests.conftest import SAMPLES, run_cli

SAMPLE_FILES = sorted(p for p in SAMPLES.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_each_sample_is_detected_as_its_platform(path):
    result = run_cli("detect", "--json", path)
    assert result.code == 0, result.stderr
    for found in result.json():
        assert found["platform"] == path.parent.name, found


def test_all_samples_load_in_one_run(cli):
    result = cli("ingest", "--tenant", "demo", "--json", "--default-region", "US", "--max-reject-rate", "0.2", SAMPLES)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["status"] == "succeeded"
    assert s["rows_accepted"] + s["rows_rejected"] == s["rows_read"]
    assert sum(f["rows_read"] for f in s["files"]) == s["rows_read"]
    assert {f["platform"] for f in s["files"]} == {p.name for p in SAMPLES.iterdir() if p.is_dir()}
    assert s["suppressions_added"] == s["suppressions_in_run"] > 0
    # Every quarantined row names a known error code, a file and a line.
    rejects = cli("rejects", s["run_id"], "--format", "csv").stdout.splitlines()
    assert len(rejects) - 1 == sum(s["rejects_by_error"].values()) >= s["rows_rejected"]
