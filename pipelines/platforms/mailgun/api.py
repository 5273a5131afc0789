"""Mailgun: bounces, unsubscribes and complaints per sending domain (platform-formats 3).

`GET /v3/{domain}/{list}?limit=N`, then the cursor URLs in `paging.next`. The last page comes
back with `items: []` and still a `next` link: an empty page ends the list (a next link already
followed fails the pull: the paging loops). Lists are in address order and have no time filter,
so every night reads them whole and keeps only the records created since the window start
(`created_at`, RFC 2822).
"""
from __future__ import annotations

from pathlib import Path

from pipelines.platforms.client import Client, Option, Window, keep_since, safe_name

LISTS = ("bounces", "unsubscribes", "complaints")


class MailgunClient(Client):
    platform = "mailgun"
    description = "Mailgun suppressions per domain: bounces, unsubscribes, complaints"
    default_base_url = "https://api.mailgun.net"
    max_page_size = 1000
    options = {
        "domains": Option(list, required=True, pattern=r"[A-Za-z0-9.-]+", help="sending domains"),
        "lists": Option(list, LISTS, choices=LISTS, help="which lists to pull (default: all)"),
    }

    def auth(self):
        return ("api", self.credentials.secret)

    def pull(self, window: Window, out: Path) -> list[Path]:
        files: list[Path] = []
        for domain in self.source.options["domains"]:
            for name in self.source.options["lists"]:
                writer = self.writer(out / f"mailgun_{safe_name(domain)}_{name}.json", "items")
                target, params = f"/v3/{domain}/{name}", {"limit": self.page_size}
                followed: set[str] = set()
                while True:
                    body = self.page(target, params)
                    items = body.get("items") if isinstance(body, dict) else None
                    if not isinstance(items, list):
                        raise self.shape_error(f"GET /v3/{domain}/{name}", body)
                    if not items:
                        break
                    writer.write(keep_since(items, "created_at", window.since))
                    link = self.next_cursor(f"GET /v3/{domain}/{name}", (body.get("paging") or {}).get("next"), followed)
                    if link is None:
                        break
                    target, params = link, None
                files += writer.close()
        return files


CLIENT = MailgunClient
