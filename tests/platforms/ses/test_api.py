"""SES's client against the fake API, which recomputes every SigV4 signature from the request as
received: `NextToken`, `StartDate`, and where the credentials come from: static keys (a variable or
a connection) or botocore's default chain (`credentials = "aws"`: the environment, a profile of the
shared files, a credential process whose keys rotate)."""
from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time

import pytest

from pipelines.errors import UsageError
from pipelines.platforms.client import Credentials
from pipelines.platforms.http import SyncError
from pipelines.sync.run import pull
from tests.sync.fake_api import KEYS
from tests.sync.pulls import NIGHT1, NIGHT1_MARK, NIGHT2, records, run_pull, source

ROLE = ("ASIAFAKEROLE0006", "fake/role+secret=0006", "fake-session-token/0006+==")


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """No AWS credentials anywhere but where a test puts them: no AWS_* variable, empty config
    files, no instance metadata (botocore would otherwise wait on it)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, file in (("AWS_CONFIG_FILE", "config"), ("AWS_SHARED_CREDENTIALS_FILE", "credentials")):
        path = tmp_path / "aws" / file
        path.parent.mkdir(exist_ok=True)
        path.write_text("")
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path / "aws"


def pull_chain(apis, tmp_path, options=None, now=NIGHT1):
    """A night's pull of the SES source with `credentials = "aws"` (no secret is resolved for it)."""
    src = dataclasses.replace(source(apis, "ses", tmp_path, options), credentials="aws")
    return pull({"source": src.to_dict(), "old_watermark": None}, tmp_path / "out" / src.name, now=now,
                sleep=lambda s: None, credentials=Credentials(""))


def key_ids(seen) -> list[str]:
    return [r.headers["authorization"].split("Credential=")[1].split("/")[0] for r in seen]


def test_ses_signed_requests_next_token_and_start_date(apis, api_env, tmp_path):
    result = run_pull(apis, "ses", tmp_path)  # static keys from ACME_SES_KEYS=ID:SECRET
    seen = apis.seen("ses")
    assert [r.param("NextToken") is None for r in seen] == [True, False]
    assert all(r.query["Reason"] == ["BOUNCE", "COMPLAINT"] and r.param("PageSize") == "2" for r in seen)
    assert key_ids(seen) == [KEYS["ses"][0]] * 2 and not any("x-amz-security-token" in r.headers for r in seen)
    assert result["records"] == 4
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "ses", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("StartDate") for r in apis.seen("ses")} == {"2024-05-09T20:00:00Z"}
    assert {r["EmailAddress"] for r in records(second["files"][0], "SuppressedDestinationSummaries")} == {
        "ses.late@example.net", "ses.new@example.com"}


def test_ses_static_keys_with_a_session_token(apis, api_env, tmp_path, monkeypatch):
    apis.aws_keys[ROLE[0]] = ROLE[1:]
    monkeypatch.setenv("ACME_SES_KEYS", ":".join(ROLE))
    assert run_pull(apis, "ses", tmp_path)["records"] == 4
    assert {r.headers["x-amz-security-token"] for r in apis.seen("ses")} == {ROLE[2]}
    assert set(key_ids(apis.seen("ses"))) == {ROLE[0]}


def test_ses_wrong_secret_is_refused(apis, api_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_SES_KEYS", f"{KEYS['ses'][0]}:not-the-secret-0099")
    with pytest.raises(SyncError, match="HTTP 401") as caught:
        run_pull(apis, "ses", tmp_path)
    assert "not-the-secret-0099" not in str(caught.value)


def test_ses_a_token_the_server_does_not_expect_is_refused(apis, api_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_SES_KEYS", ":".join(KEYS["ses"]) + ":a-token-0099")  # signed, but not this key's
    with pytest.raises(SyncError, match="HTTP 401"):
        run_pull(apis, "ses", tmp_path)


def test_ses_chain_from_the_environment(apis, aws_env, tmp_path, monkeypatch):
    apis.aws_keys[ROLE[0]] = ROLE[1:]
    for name, value in zip(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), ROLE, strict=True):
        monkeypatch.setenv(name, value)
    assert pull_chain(apis, tmp_path)["records"] == 4
    seen = apis.seen("ses")
    assert len(seen) == 2 and set(key_ids(seen)) == {ROLE[0]}
    assert {r.headers["x-amz-security-token"] for r in seen} == {ROLE[2]}


@pytest.mark.parametrize("how", ["AWS_PROFILE", "option profile"])
def test_ses_chain_from_a_profile_of_the_shared_credentials_file(apis, aws_env, tmp_path, monkeypatch, how):
    (aws_env / "credentials").write_text(
        f"[default]\naws_access_key_id = AKIDNOTTHISONE\naws_secret_access_key = nope\n\n"
        f"[acme-ses]\naws_access_key_id = {KEYS['ses'][0]}\naws_secret_access_key = {KEYS['ses'][1]}\n")
    if how == "AWS_PROFILE":
        monkeypatch.setenv("AWS_PROFILE", "acme-ses")
    assert pull_chain(apis, tmp_path, {"profile": "acme-ses"} if how != "AWS_PROFILE" else None)["records"] == 4
    assert set(key_ids(apis.seen("ses"))) == {KEYS["ses"][0]}


def test_ses_chain_credentials_that_rotate_are_taken_fresh_for_each_request(apis, aws_env, tmp_path):
    """A credential process (as SSO, roles and web identity do) hands out keys that expire within
    the refresh window: each request must be signed with the keys of its moment."""
    counter, script = tmp_path / "issued", tmp_path / "issue.py"
    script.write_text(
        "import datetime, json, pathlib, sys\n"
        "counter = pathlib.Path(sys.argv[1])\n"
        "n = int(counter.read_text()) + 1 if counter.exists() else 1\n"
        "counter.write_text(str(n))\n"
        "expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'ASIAROTATING{n:04d}', 'SecretAccessKey': f'rot/secret+{n}',\n"
        "                  'SessionToken': f'rot-token-{n}', 'Expiration': expires.strftime('%Y-%m-%dT%H:%M:%SZ')}))\n")
    (aws_env / "config").write_text(
        "[profile rotating]\ncredential_process = " + shlex.join([sys.executable, str(script), str(counter)]) + "\n")
    for n in range(1, 10):
        apis.aws_keys[f"ASIAROTATING{n:04d}"] = (f"rot/secret+{n}", f"rot-token-{n}")
    assert pull_chain(apis, tmp_path, {"profile": "rotating"})["records"] == 4
    ids = key_ids(apis.seen("ses"))
    assert len(ids) == 2 and len(set(ids)) == 2, ids  # refreshed between the two pages
    assert int(counter.read_text()) >= 3  # loaded once, then refreshed before each request


def test_ses_chain_without_credentials_is_refused_in_one_line(apis, aws_env, tmp_path):
    started = time.monotonic()
    with pytest.raises(UsageError) as caught:
        pull_chain(apis, tmp_path)
    message = str(caught.value)
    assert message.startswith("acme/ses-main (ses): credentials = \"aws\" found no AWS credentials") and "\n" not in message
    assert "AWS_PROFILE" in message and "AWS_ACCESS_KEY_ID" in message and "IAM role" in message
    assert apis.seen("ses") == [] and time.monotonic() - started < 5


def test_ses_chain_with_an_unknown_profile_is_refused(apis, aws_env, tmp_path):
    with pytest.raises(UsageError, match=r"acme/ses-main \(ses\): .*no-such-profile.*option profile") as caught:
        pull_chain(apis, tmp_path, {"profile": "no-such-profile"})
    assert "\n" not in str(caught.value)


def test_ses_profile_option_with_static_keys_is_refused(apis, api_env, tmp_path):
    with pytest.raises(UsageError, match="option profile needs credentials = \"aws\""):
        run_pull(apis, "ses", tmp_path, options={"profile": "acme-ses"})



def test_ses_chain_whose_credential_source_fails_is_a_retryable_one_line_error(apis, aws_env, tmp_path):
    """A credentials endpoint (here a credential process; on AWS the instance metadata or STS) that
    fails may work on Airflow's next try."""
    failing = shlex.join([sys.executable, "-c", "import sys; sys.exit('endpoint down\\nsecond line')"])
    (aws_env / "config").write_text(f"[profile broken]\ncredential_process = {failing}\n")
    with pytest.raises(SyncError, match=r"^acme/ses-main \(ses\): the AWS credentials could not be loaded "
                                        r"\(CredentialRetrievalError: .*endpoint down") as caught:
        pull_chain(apis, tmp_path, {"profile": "broken"})
    assert caught.value.retryable and "\n" not in str(caught.value) and apis.seen("ses") == []
