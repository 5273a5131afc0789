"""Klaviyo: profiles with their subscriptions (platform-formats 6), `GET /api/profiles`.

`additional-fields[profile]=subscriptions` (not returned otherwise), `page[size]` at most 100,
then the cursor URL in `links.next`; the `revision` header is required. An incremental pull asks
for `filter=greater-than(updated,<window start>)`: any profile changed since, which covers new
global and list suppressions and consent changes; the adapter ignores subscribed profiles.
Rate limits: 429 with `Retry-After`.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.platforms.client import Client, Option, Window
from pipelines.platforms.http import utc_iso


class KlaviyoClient(Client):
    platform = "klaviyo"
    description = "Klaviyo profiles with email suppressions and list suppressions"
    default_base_url = "https://a.klaviyo.com"
    max_page_size = 100
    options = {
        "revision": Option(str, "2024-10-15", pattern=r"\d{4}-\d\d-\d\d(\.[a-z]+)?", help="API revision header"),
    }

    def headers(self) -> dict[str, str]:
        return {
            "Accept": "application/vnd.api+json",
            "Authorization": f"Klaviyo-API-Key {self.credentials.secret}",
            "revision": self.source.options["revision"],
        }

    def pull(self, window: Window, out: Path) -> list[Path]:
        target: str | None = "/api/profiles"
        params: dict | None = {"additional-fields[profile]": "subscriptions", "page[size]": self.page_size}
        if window.since is not None:
            params["filter"] = f"greater-than(updated,{utc_iso(window.since)})"
        writer = self.writer(out / "klaviyo_profiles.json", "data")
        followed: set[str] = set()
        while target:
            body = self.page(target, params)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise self.shape_error("GET /api/profiles", body)
            writer.write(data)
            target = self.next_cursor("GET /api/profiles", (body.get("links") or {}).get("next"), followed)
            params = None
        return writer.close()


CLIENT = KlaviyoClient
