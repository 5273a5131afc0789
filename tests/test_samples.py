"""Every sample in data/samples/ through the real CLI: detected as its folder's platform, and
the whole folder loads as one run with nothing lost."""
from __future__ import annotations

import csv
import io

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
    # Each platform's mapping survives the whole run (normalize, dedupe, load) next to all the others.
    loaded = {tuple(r[k] for k in ("channel", "address", "reason", "scope"))
              for r in csv.DictReader(io.StringIO(cli("export", "--tenant", "demo").stdout))}
    assert EXPECTED_IN_DEMO <= loaded, sorted(EXPECTED_IN_DEMO - loaded)


# A few suppressions per platform that only its own vocabulary yields (list scopes, channels).
EXPECTED_IN_DEMO = {
    ("email", "list-leaver@example.net", "unsubscribe", "list:AbC123"),  # klaviyo list suppression
    ("email", "imported@example.org", "manual", "all"),  # klaviyo "User suppressed"
    ("email", "one.to.one@example.com", "unsubscribe", "list:4550521"),  # hubspot hs_email_optout_<id>
    ("email", "multi@example.com", "unsubscribe", "list:one-to-one"),  # hubspot "Opted out of email: ..."
    ("email", "dead@example.org", "hard_bounce", "all"),  # hubspot hard bounce reason (label twice)
    ("email", "bounce.back@example.net", "hard_bounce", "all"),  # kajabi "Unsubscribed (Bounced)"
    ("email", "gone.reader@example.com", "unsubscribe", "list:654523a5855b4a440bae3fb295641546"),  # campaign monitor
    ("email", "blocked.by.us@example.org", "manual", "all"),  # mandrill custom
    ("email", "clicked-unsub@example.org", "unsubscribe", "list:broadcast"),  # postmark stream
    ("email", "api.group@example.com", "unsubscribe", "list:42"),  # sendgrid group
    ("email", "api.some@example.org", "unsubscribe", "list:promo"),  # mailgun tag
    ("sms", "+447700900123", "unsubscribe", "marketing"),  # twilio STOP
    ("email", "blocked.by.admin@example.com", "manual", "all"),  # brevo adminBlocked
    ("sms", "+33698765432", "unsubscribe", "marketing"),  # brevo SMS_BLACKLISTED
    ("email", "weekly.only@example.com", "unsubscribe", "list:5"),  # activecampaign list status 2
    ("email", "soft.three@example.org", "soft_bounce", "all"),  # activecampaign bounced_soft "3"
    ("email", "lee@example.org", "manual", "all"),  # constantcontact opt-out by the account
    ("email", "isp.blocked@example.net", "policy_block", "all"),  # constantcontact bounce code Z
}
