"""Mailchimp Marketing API v3: members by status per audience (platform-formats 1.3).

`GET /3.0/lists/{id}/members?status=cleaned|unsubscribed&count&offset&since_last_changed`,
`count` at most 1000. Offset paging over a list that changes while it is read can skip a member
(one earlier in the order leaves the status) or repeat one: pages are sorted by `last_changed`,
read with a small overlap, and de-duplicated by member `id` (a member without one is kept: the
ingest de-duplicates it by address). A member that changes during the
pull has a `last_changed` after the pull started and comes again the next night. The data
center is the API key's suffix (`...-us6` -> `https://us6.api.mailchimp.com`).
"""
from __future__ import annotations

from datetime import UTC
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.platforms.client import Client, Option, Window, safe_name

STATUSES = ("cleaned", "unsubscribed")


class MailchimpClient(Client):
    platform = "mailchimp"
    description = "Mailchimp audience members that are cleaned (hard bounced) or unsubscribed"
    default_base_url = ""  # from the key's data center
    max_page_size = 1000
    options = {
        "list_ids": Option(list, required=True, pattern=r"[0-9A-Za-z]+", help="audience (list) ids"),
        "statuses": Option(list, STATUSES, choices=STATUSES, help="member statuses to pull"),
    }

    def base_url(self) -> str:
        if self.source.options.get("base_url"):
            return self.source.options["base_url"]
        _, dash, dc = self.credentials.secret.rpartition("-")
        if not dash or not dc.isalnum():
            raise UsageError(f"{self.source.label}: the API key names no data center (…-us6); set options.base_url")
        return f"https://{dc}.api.mailchimp.com"

    def auth(self):
        return ("anystring", self.credentials.secret)

    def pull(self, window: Window, out: Path) -> list[Path]:
        files: list[Path] = []
        size = self.page_size
        step = size - size // 10  # re-read a tenth of each page: members that left shift the rest
        for list_id in self.source.options["list_ids"]:
            writer = self.writer(out / f"mailchimp_members_{safe_name(list_id)}.json", "members")
            seen: set[str] = set()
            for status in self.source.options["statuses"]:
                params = {"status": status, "count": size, "sort_field": "last_changed", "sort_dir": "ASC"}
                if window.since is not None:  # the documented form: 2015-10-21T15:41:36+00:00
                    params["since_last_changed"] = window.since.astimezone(UTC).isoformat(timespec="seconds")
                offset, last = 0, None
                while True:
                    body = self.page(f"/3.0/lists/{list_id}/members", {**params, "offset": offset})
                    members = body.get("members") if isinstance(body, dict) else None
                    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
                        raise self.shape_error(f"GET /3.0/lists/{list_id}/members", body)
                    last = self.same_page(f"GET /3.0/lists/{list_id}/members", members, last)
                    fresh = [m for m in members if not m.get("id") or str(m["id"]) not in seen]
                    seen.update(str(m["id"]) for m in fresh if m.get("id"))
                    for m in fresh:
                        m.setdefault("list_id", list_id)  # the adapter scopes unsubscribes by it
                    writer.write(fresh)
                    total = body.get("total_items")
                    if len(members) < size or (isinstance(total, int) and offset + len(members) >= total):
                        break
                    offset += step
            files += writer.close(list_id=list_id, total_items=writer.count)
        return files


CLIENT = MailchimpClient
