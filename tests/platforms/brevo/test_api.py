"""Brevo's client against the fake API: the null page that ends a list, start and end dates together."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.platforms.brevo.api import BrevoClient
from pipelines.sync.run import pull
from tests.sync.pulls import NIGHT1, NIGHT1_MARK, NIGHT2, run_pull, source


def test_brevo_null_page_ends_the_list_and_dates_go_together(apis, api_env, tmp_path):
    apis.fail("/v3/smtp/", 429, headers={"x-sib-ratelimit-reset": "3"})
    waits: list[float] = []
    result = run_pull(apis, "brevo", tmp_path, options={"rate_limit_max_wait": 60}, waits=waits)
    assert 3.0 <= waits[0] <= 3.01 and len(waits) == 1 and result["rate_limited"] == 1
    offsets = [r.param("offset") for r in apis.seen("brevo")]
    assert offsets == ["0", "0", "2"]  # the 429, then two pages: 4 contacts, `count` reached
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "brevo", tmp_path, NIGHT1_MARK, NIGHT2)
    seen = apis.seen("brevo")
    assert {(r.param("startDate"), r.param("endDate")) for r in seen} == {("2024-05-08", "2024-05-12")}
    doc = json.loads(Path(second["files"][0]).read_text())
    assert [c["email"] for c in doc["contacts"]] == ["br.admin@example.com", "br.new@example.com"]
    assert doc["count"] == 2


def test_brevo_stops_on_a_null_page_before_count(apis, api_env, tmp_path):
    # `count` says more than there is (contacts removed while reading): the null page ends it.
    src = source(apis, "brevo", tmp_path)
    original = apis._brevo

    def overcounting(*args):
        status, body, headers = original(*args)
        return status, {**body, "count": 99}, headers

    apis._brevo = overcounting
    result = pull({"source": src.to_dict(), "old_watermark": None}, tmp_path / "b", now=NIGHT1, sleep=lambda s: None)
    assert [r.param("offset") for r in apis.seen("brevo")] == ["0", "2", "4"]
    assert result["records"] == 4
    assert BrevoClient.max_page_size == 100
