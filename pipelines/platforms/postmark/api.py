"""Postmark: the suppression dump of each message stream (platform-formats 4.1).

`GET /message-streams/{stream}/suppressions/dump?fromdate=YYYY-MM-DD` answers the whole list in
one response (no paging). The filter is by day, in the server's time zone rather than UTC: it
names the day before the window's start, and loading that again changes nothing. Each record gets the `MessageStream` it came from (the adapter scopes a
recipient's unsubscribe to its stream), and the file is named for the stream too.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipelines.platforms.client import Client, Option, Window, safe_name


class PostmarkClient(Client):
    platform = "postmark"
    description = "Postmark suppressions per message stream (hard bounces, spam complaints, manual/unsubscribes)"
    default_base_url = "https://api.postmarkapp.com"
    max_page_size = 1  # unpaged
    options = {
        "streams": Option(list, required=True, pattern=r"[A-Za-z0-9_-]+", help="message stream ids, e.g. outbound, broadcast"),
    }

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "X-Postmark-Server-Token": self.credentials.secret}

    def pull(self, window: Window, out: Path) -> list[Path]:
        files: list[Path] = []
        for stream in self.source.options["streams"]:
            params = {} if window.since is None else {"fromdate": (window.since - timedelta(days=1)).date().isoformat()}
            target = f"/message-streams/{stream}/suppressions/dump"
            body = self.page(target, params)
            records = body.get("Suppressions") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise self.shape_error(f"GET {target}", body)
            for r in records:
                r.setdefault("MessageStream", stream)
            writer = self.writer(out / f"postmark_suppressions_stream-{safe_name(stream).lower()}.json", "Suppressions")
            writer.write(records)
            files += writer.close()
        return files


CLIENT = PostmarkClient
