"""Pull one source from the fake APIs, as a night's `pull` task does, and read back what it wrote."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from pipelines.sync.config import load_sources
from pipelines.sync.run import format_watermark, pull

from .conftest import NIGHT1, NIGHT2, sources_toml

__all__ = ["NIGHT1", "NIGHT1_MARK", "NIGHT2", "SINCE2", "records", "run_pull", "source"]

NIGHT1_MARK = format_watermark(NIGHT1)
SINCE2 = NIGHT1 - timedelta(hours=6)  # night 2's window start: the watermark minus the default overlap


def source(apis, platform: str, tmp_path: Path, options: dict | None = None):
    path = tmp_path / f"{platform}.toml"
    path.write_text(sources_toml(apis.url, (platform,), options=options))
    [found] = load_sources(path)
    return found


def run_pull(apis, platform, tmp_path, watermark=None, now=NIGHT1, options=None, waits=None):
    src = source(apis, platform, tmp_path, options)
    return pull({"source": src.to_dict(), "old_watermark": watermark}, tmp_path / "out" / src.name, now=now,
                sleep=(waits if waits is not None else []).append)


def records(path: str, key: str | None) -> list[dict]:
    doc = json.loads(Path(path).read_text())
    return doc if key is None else doc[key]
