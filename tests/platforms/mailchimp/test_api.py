"""Mailchimp's client against the fake API: statuses since `last_changed`, overlapping pages
de-duplicated (members without an id kept), the data center from the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.platforms.client import Credentials
from pipelines.platforms.mailchimp.api import MailchimpClient
from tests.sync.pulls import NIGHT1_MARK, NIGHT2, records, run_pull, source


def test_mailchimp_statuses_since_last_changed_and_overlapping_pages_deduplicated(apis, api_env, tmp_path):
    for i in range(12):
        apis.add("mailchimp", "members_a1b2c3d4e5", {
            "id": f"bulk{i:028d}", "email_address": f"bulk{i}@example.com", "status": "cleaned", "list_id": "a1b2c3d4e5",
            "unique_email_id": "b", "last_changed": "2024-03-01T00:00:00+00:00", "timestamp_opt": ""})
    result = run_pull(apis, "mailchimp", tmp_path, options={"page_size": 10})
    seen = apis.seen("mailchimp")
    assert [(r.param("status"), r.param("offset")) for r in seen] == [("cleaned", "0"), ("cleaned", "9"), ("unsubscribed", "0")]
    assert all(r.param("sort_field") == "last_changed" and r.param("sort_dir") == "ASC" for r in seen)
    [path] = result["files"]
    members = records(path, "members")
    assert len(members) == len({m["id"] for m in members}) == 17  # the 10th came twice: kept once
    assert {m["status"] for m in members} == {"cleaned", "unsubscribed"}
    assert json.loads(Path(path).read_text())["list_id"] == "a1b2c3d4e5"

    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "mailchimp", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("since_last_changed") for r in apis.seen("mailchimp")} == {"2024-05-09T20:00:00+00:00"}
    assert {m["email_address"] for m in records(second["files"][0], "members")} == {
        "late.left@example.com", "new.cleaned@example.com", "new.left@example.org"}


def test_mailchimp_data_center_comes_from_the_key(apis, api_env, tmp_path, monkeypatch):
    src = source(apis, "mailchimp", tmp_path)
    no_base = type(src)(**{**src.to_dict(), "options": {**src.options, "base_url": None}})
    assert MailchimpClient(no_base, Credentials("abc123-us6")).http.base_url == "https://us6.api.mailchimp.com"
    with pytest.raises(Exception, match="names no data center"):
        MailchimpClient(no_base, Credentials("abc123"))


def test_mailchimp_members_without_an_id_are_not_collapsed(apis, api_env, tmp_path):
    for i in range(3):
        apis.add("mailchimp", "members_a1b2c3d4e5", {
            "email_address": f"noid{i}@example.com", "status": "cleaned", "list_id": "a1b2c3d4e5",
            "last_changed": f"2024-03-0{i + 1}T00:00:00+00:00", "timestamp_opt": ""})
    result = run_pull(apis, "mailchimp", tmp_path)
    members = records(result["files"][0], "members")
    assert {f"noid{i}@example.com" for i in range(3)} <= {m["email_address"] for m in members}
    with_id = [m["id"] for m in members if m.get("id")]
    assert len(with_id) == len(set(with_id))  # pages overlap: those with an id still come once
