"""`python -m pipelines.report.screenshot [PNG]` (`make report-screenshot`): the README's picture of
the sample run's report: data/samples/ ingested as `make demo` does, into a throw-away store,
its report opened in headless Chromium, the top of the page saved (default docs/report.png).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pipelines.errors import UserError
from pipelines.settings import ROOT

# `make demo`'s run: the samples are ugly on purpose, so the limit is raised as there.
DEMO = {"tenant": "demo", "default_region": "US", "max_reject_rate": 0.2}
TOP = 1400  # pixels: the figures at a glance, the charts and the first rejects


def sample_run_report(workdir: Path) -> dict:
    """Ingest data/samples/ like `make demo` into a store in `workdir`; returns the run summary."""
    from pipelines.ingest import IngestRequest, ingest
    from pipelines.report import with_report
    from pipelines.store import open_store

    here = Path.cwd()
    os.chdir(ROOT)  # relative paths, so the page shows data/samples/..., not this machine's checkout
    try:
        req = IngestRequest(paths=["data/samples"], **DEMO)
        with open_store(str(workdir / "demo.duckdb")) as st:
            return with_report(st, lambda: ingest(req, st), workdir / "report")
    except UserError as exc:
        if getattr(exc, "summary", None):
            return exc.summary  # a refused run has a report too
        raise
    finally:
        os.chdir(here)


def main(argv: list[str] | None = None) -> int:
    from pipelines.report.browser import view_page

    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else ROOT / "docs" / "report.png"
    with tempfile.TemporaryDirectory(prefix="suppress-screenshot-") as tmp:
        summary = sample_run_report(Path(tmp))
        view = view_page(summary["report"], screenshot=True, clip=(0, TOP))
    if view.console_errors:
        print("the report logged errors: " + "; ".join(view.console_errors), file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(view.screenshot)
    print(f"{out}: run {summary['run_id']} ({summary['status']}), {len(view.screenshot):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
