"""Open a page in headless Chromium and say what a person would see: its text, its console errors,
every URL it asked for, and a screenshot.

Speaks the Chrome DevTools Protocol over `--remote-debugging-pipe` (NUL-terminated JSON on file
descriptors 3 and 4), so it needs no driver library and no TCP port. Name resolution is mapped to
nothing: a page that needs the network shows it as failed requests and console errors.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import UserError

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


@dataclass
class PageView:
    url: str
    text: str
    title: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)  # the `expressions` asked for, evaluated in the page
    screenshot: bytes | None = None


class _Pipe:
    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int):
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("Chromium did not answer in time" if left <= 0 else "Chromium exited")
            ready, _, _ = select.select([self.read_fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)


def _console_errors(events: list[dict]) -> list[str]:
    errors = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            details = p.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    return errors


def _high_pipe() -> tuple[int, int]:
    """A pipe on descriptors above 9, so the child's shell can move them onto 3 and 4 safely."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


def view_page(path: Path | str, screenshot: bool = False, expressions: tuple[str, ...] = (), width: int = 1280,
              clip: tuple[int, int] | None = None, timeout: float = 60) -> PageView:
    """Load a local HTML file headless; returns what it shows and what went wrong on the way.

    The screenshot is of the whole page, or of the band `clip` = (top, height) in pixels.
    """
    binary = find_chromium()
    if binary is None:
        raise UserError("Chromium is not installed (apt-get install chromium chromium-driver)")
    url = Path(path).resolve().as_uri()
    to_chrome_r, to_chrome_w = _high_pipe()
    from_chrome_r, from_chrome_w = _high_pipe()
    with tempfile.TemporaryDirectory(prefix="suppress-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        # The pipe must be fds 3 (Chromium reads) and 4 (it writes): bash puts them there (dash cannot
        # redirect descriptors above 9).
        shell = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        proc = subprocess.Popen(
            ["/bin/bash", "-c", shell, "bash", *cmd], pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
            pipe.send("Page.navigate", {"url": url}, session=session)
            pipe.wait_for("Page.loadEventFired", timeout=timeout)
            time.sleep(0.2)  # let late console messages arrive

            def evaluate(expression: str):
                return pipe.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                 session=session)["result"].get("value")

            text = evaluate("document.body ? document.body.innerText : ''") or ""
            title = evaluate("document.title") or ""
            values = {e: evaluate(e) for e in expressions}
            shot = None
            if screenshot:
                full = evaluate("Math.ceil(document.documentElement.scrollHeight)") or 900
                top, height = clip or (0, full)
                pipe.send("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": int(full), "deviceScaleFactor": 1, "mobile": False},
                          session=session)
                params = {"format": "png", "captureBeyondViewport": True,
                          "clip": {"x": 0, "y": top, "width": width, "height": min(height, full - top), "scale": 1}}
                data = pipe.send("Page.captureScreenshot", params, session=session, timeout=timeout)["data"]
                shot = base64.b64decode(data)
            requests = [e["params"]["request"]["url"] for e in pipe.events
                        if e.get("method") == "Network.requestWillBeSent"]
            errors = _console_errors(pipe.events)
            try:
                pipe.send("Browser.close", timeout=5)
            except RuntimeError:
                pass
        finally:
            os.close(to_chrome_w)
            os.close(from_chrome_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return PageView(url, text, title, errors, requests, values, shot)
