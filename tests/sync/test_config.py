"""The sources file: what it takes, and a clear one-line error naming the file and the entry
for each mistake; credentials resolved from the environment only when a source is pulled."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import UsageError
from pipelines.platforms import api_platforms
from pipelines.sync.config import load_sources, resolve_credentials, select, sources_path
from tests.conftest import ROOT

GOOD = '''
[defaults]
overlap_hours = 2

[[sources]]
tenant = "acme"
name = "sg"
platform = "sendgrid"
credentials = "env:ACME_SG"
options = { lists = ["bounces"], page_size = 100 }

[[sources]]
tenant = "acme"
name = "mg"
platform = "mailgun"
credentials = "airflow:acme_mailgun"
[sources.options]
domains = "mg.example.com"
overlap_hours = 0
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text)
    return path


def test_the_example_file_configures_every_platform():
    sources = load_sources(ROOT / "config" / "sources.example.toml")
    assert {s.platform for s in sources} == set(api_platforms())
    assert all(s.credentials.startswith(("env:", "airflow:")) for s in sources)


def test_options_get_defaults_and_types(tmp_path):
    sg, mg = load_sources(write(tmp_path, GOOD))
    assert (sg.tenant, sg.name, sg.platform, sg.credentials) == ("acme", "sg", "sendgrid", "env:ACME_SG")
    assert sg.options["lists"] == ["bounces"] and sg.options["page_size"] == 100
    assert sg.options["overlap_hours"] == 2.0 and sg.options["max_attempts"] == 6  # [defaults], then built-in
    assert mg.options["domains"] == ["mg.example.com"]  # a single string is a list of one
    assert mg.options["overlap_hours"] == 0.0 and mg.options["lists"] == ["bounces", "unsubscribes", "complaints"]
    assert sg.label == "acme/sg (sendgrid)" and sg.origin.endswith("sources.toml: [[sources]] #1")


@pytest.mark.parametrize(("change", "message"), [
    (('name = "mg"', 'name = "sg"'), r"#2 \(acme/sg\): source 'sg' of tenant 'acme' is configured twice"),
    (('platform = "mailgun"', 'platform = "mailjet"'), r"#2 \(acme/mg\): platform 'mailjet' has no API client"),
    (('credentials = "env:ACME_SG"', 'credentials = "SG.abcdef123"'), r"#1 \(acme/sg\): credentials must be a reference"),
    (('domains = "mg.example.com"', 'domain = "mg.example.com"'), r"#2 \(acme/mg\): unknown option 'domain' for mailgun"),
    (('domains = "mg.example.com"', ''), r"#2 \(acme/mg\): option domains is required for mailgun"),
    (('page_size = 100', 'page_size = "100"'), r"#1 \(acme/sg\): option page_size must be a whole number"),
    (('lists = ["bounces"]', 'lists = ["bounces", "drops"]'), r"#1 \(acme/sg\): option lists has 'drops'; known: bounces"),
    (('overlap_hours = 0', 'overlap_hours = -1'), r"#2 \(acme/mg\): option overlap_hours must be at least 0"),
    (('tenant = "acme"\nname = "sg"', 'name = "sg"'), r"#1: tenant is missing or empty"),
    (('name = "sg"', 'name = "s g"'), r"#1 \(acme/s g\): name 's g' may hold"),
    # tenants and names become folders that a pull empties first
    (('tenant = "acme"\nname = "sg"', 'tenant = "../etc"\nname = "sg"'), r"#1 \(\.\./etc/sg\): tenant '\.\./etc' may hold"),
    (('tenant = "acme"\nname = "sg"', 'tenant = "acme/x"\nname = "sg"'), r"tenant 'acme/x' may hold"),
    (('tenant = "acme"\nname = "sg"', 'tenant = ".."\nname = "sg"'), r"tenant '\.\.' may hold"),
    (('name = "sg"', 'name = "a..b"'), r"name 'a\.\.b' may hold .*no '\.\.'"),
    (('name = "sg"', 'name = "/tmp"'), r"name '/tmp' may hold"),
    (('[defaults]', '[defaults]\nlists = ["bounces"]'), r"\[defaults\] has 'lists'"),
    (('[defaults]', '[default]'), r"unknown table 'default'"),
    (('credentials = "env:ACME_SG"', 'credentials = "env:ACME_SG"\nsecret = "x"'), r"#1 \(acme/sg\): unknown key 'secret'"),
    (('overlap_hours = 2', 'overlap_hours = '), r"not valid TOML"),
])
def test_mistakes_are_one_line_naming_file_and_entry(tmp_path, change, message):
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(UsageError, match=message) as caught:
        load_sources(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_missing_file_and_no_file_named(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="no such sources file"):
        load_sources(tmp_path / "nope.toml")
    monkeypatch.delenv("SUPPRESSION_SOURCES", raising=False)
    with pytest.raises(UsageError, match=r"--sources or \$SUPPRESSION_SOURCES"):
        sources_path(None)
    monkeypatch.setenv("SUPPRESSION_SOURCES", str(tmp_path / "x.toml"))
    assert sources_path(None) == tmp_path / "x.toml"
    assert sources_path(tmp_path / "y.toml") == tmp_path / "y.toml"


def test_select_by_tenant_and_name(tmp_path):
    sources = load_sources(write(tmp_path, GOOD))
    assert [s.name for s in select(sources, "acme")] == ["sg", "mg"]
    assert [s.name for s in select(sources, "acme", "mg")] == ["mg"]
    with pytest.raises(UsageError, match="no sources for tenant 'globex'"):
        select(sources, "globex", origin="f.toml")
    with pytest.raises(UsageError, match="tenant 'acme' has no source 'x'"):
        select(sources, "acme", "x")


def test_credentials_from_the_environment_only_when_pulled(tmp_path, monkeypatch):
    sg, _ = load_sources(write(tmp_path, GOOD))  # loading needs no secret
    monkeypatch.delenv("ACME_SG", raising=False)
    with pytest.raises(UsageError, match="acme/sg \\(sendgrid\\): environment variable ACME_SG is not set"):
        resolve_credentials(sg)
    monkeypatch.setenv("ACME_SG", " SG.key-from-env \n")
    assert resolve_credentials(sg).secret == "SG.key-from-env"


@pytest.mark.parametrize("value", ["SG.key\rinside", "SG.key\ninside", "SG.key\x1binside", "SG.kéy-inside"])
def test_a_secret_with_a_control_or_non_ascii_character_is_refused_without_showing_it(tmp_path, monkeypatch, value):
    sg, _ = load_sources(write(tmp_path, GOOD))
    monkeypatch.setenv("ACME_SG", value)
    with pytest.raises(UsageError, match=r"acme/sg \(sendgrid\): credentials env:ACME_SG: the secret holds") as caught:
        resolve_credentials(sg)
    assert "inside" not in str(caught.value) and "\n" not in str(caught.value)


def test_credentials_never_show_the_secret_in_their_repr():
    from pipelines.platforms.client import Credentials

    shown = repr(Credentials("SG.very-secret-0001", "AKID", {"session_token": "tok-very-secret"}))
    assert "very-secret" not in shown and "AKID" in shown


def test_pull_refuses_a_job_whose_names_would_leave_its_folder(tmp_path):
    """A job arrives through XCom; its names are part of the folder that a pull empties first."""
    from pipelines.sync.run import pull

    sg, _ = load_sources(write(tmp_path, GOOD))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("x")
    job = {"source": {**sg.to_dict(), "name": "../victim"}, "old_watermark": None}
    with pytest.raises(UsageError, match="source '../victim' may hold"):
        pull(job, tmp_path / "out" / "../victim")
    assert (victim / "keep.txt").exists()
