"""The README's claims that can drift: the supported platforms must match `suppress formats`."""
from __future__ import annotations

import re

from tests.conftest import ROOT, run_cli


def test_readme_lists_exactly_the_supported_platforms():
    formats = {row["platform"] for row in run_cli("formats", "--json").json()}
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Supported platforms", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| ([a-z]+) \|", section, flags=re.M)) - {"platform"}
    assert listed == formats
