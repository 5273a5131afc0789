"""SendGrid: every suppression list (platform-formats 2.1), one file per list as the API answers.

- `/v3/suppression/{bounces,blocks,spam_reports,invalid_emails,unsubscribes}`: offset paging
  (`limit` at most 500, `offset`), no total in the body: a page shorter than `limit` is the last
  (a page that repeats the previous one means the offset is ignored: the pull fails).
  `start_time` (Unix seconds, inclusive) makes the pull incremental.
- `/v3/asm/suppressions`: every group's unsubscribes in one answer, no paging and no time
  filter: the records older than the window are dropped here.
- Rate limits: `X-RateLimit-Reset` is a Unix time (handled by `pipelines.platforms.http`).
"""
from __future__ import annotations

from pathlib import Path

from pipelines.platforms.client import Client, Option, Window, keep_since

LISTS = ("bounces", "blocks", "spam_reports", "invalid_emails", "unsubscribes", "group_unsubscribes")


class SendGridClient(Client):
    platform = "sendgrid"
    description = "SendGrid suppression lists: bounces, blocks, spam reports, invalid emails, (group) unsubscribes"
    default_base_url = "https://api.sendgrid.com"
    max_page_size = 500
    options = {
        "lists": Option(list, LISTS, choices=LISTS, help="which lists to pull (default: all)"),
        "on_behalf_of": Option(str, help="a subuser's name: its suppressions instead of the parent's"),
    }

    def headers(self) -> dict[str, str]:
        headers = {**super().headers(), "Authorization": f"Bearer {self.credentials.secret}"}
        if self.source.options.get("on_behalf_of"):
            headers["on-behalf-of"] = self.source.options["on_behalf_of"]
        return headers

    def pull(self, window: Window, out: Path) -> list[Path]:
        files: list[Path] = []
        for name in self.source.options["lists"]:
            writer = self.writer(out / f"sendgrid_{name}.json", None)
            if name == "group_unsubscribes":
                body = self.page("/v3/asm/suppressions")
                if not isinstance(body, list):
                    raise self.shape_error("GET /v3/asm/suppressions", body)
                writer.write(keep_since(body, "created_at", window.since))
            else:
                self._pull_list(name, window, writer)
            files += writer.close()
        return files

    def _pull_list(self, name: str, window: Window, writer) -> None:
        size = self.page_size
        params = {"limit": size}
        if window.since is not None:
            params["start_time"] = int(window.since.timestamp())
        offset, last = 0, None
        while True:
            body = self.page(f"/v3/suppression/{name}", {**params, "offset": offset})
            if not isinstance(body, list):
                raise self.shape_error(f"GET /v3/suppression/{name}", body)
            last = self.same_page(f"GET /v3/suppression/{name}", body, last)
            writer.write(body)
            if len(body) < size:
                return
            offset += size


CLIENT = SendGridClient
