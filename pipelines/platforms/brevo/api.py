"""Brevo: the transactional blocklist (platform-formats 8), `GET /v3/smtp/blockedContacts`.

`limit` at most 100, `offset`, `sort=asc`; `startDate`/`endDate` (`YYYY-MM-DD`) must be sent
together, so an incremental pull names the window's start day and today, each widened by a day:
the days are the account's, not UTC, and loading a record again changes nothing. An exhausted
page answers `"contacts": null` (not `[]`): that ends the list, as does reaching `count` (a page
that repeats the previous one means the offset is ignored: the pull fails). The pages are
written back as one document of the same shape, `{"contacts": [...], "count": N}`.
Rate limits: `x-sib-ratelimit-reset` is seconds until the reset (no Retry-After).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipelines.platforms.client import Client, Window


class BrevoClient(Client):
    platform = "brevo"
    description = "Brevo transactional blocklist (hard bounces, spam, unsubscribes, admin blocks)"
    default_base_url = "https://api.brevo.com"
    max_page_size = 100

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "api-key": self.credentials.secret}

    def pull(self, window: Window, out: Path) -> list[Path]:
        target = "/v3/smtp/blockedContacts"
        size = self.page_size
        params: dict = {"limit": size, "sort": "asc"}
        if window.since is not None:
            day = timedelta(days=1)
            params |= {"startDate": (window.since - day).date().isoformat(),
                       "endDate": (window.until + day).date().isoformat()}
        writer = self.writer(out / "brevo_blocked_contacts.json", "contacts")
        offset, last = 0, None
        while True:
            body = self.page(target, {**params, "offset": offset})
            if not isinstance(body, dict):
                raise self.shape_error(f"GET {target}", body)
            contacts = body.get("contacts")
            if not contacts:  # null on an exhausted page
                break
            if not isinstance(contacts, list):
                raise self.shape_error(f"GET {target}", contacts)
            last = self.same_page(f"GET {target}", contacts, last)
            writer.write(contacts)
            offset += len(contacts)
            count = body.get("count")
            if len(contacts) < size or (isinstance(count, int) and offset >= count):
                break
        return writer.close(count=writer.count)


CLIENT = BrevoClient
