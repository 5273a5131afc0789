"""Great Expectations validation of what a run is about to load (suites in `expectations/`).

GX has no DuckDB or Polars datasource, so batches go through its pandas path. Row-level rejects
are computed before, vectorized; GX is the audit of the batch: pass/fail and the observed values
for the report. The caller hands it the batch or a uniform sample of it (`total_rows` says which).

Importing GX takes seconds of one core (pydantic models, scipy, altair, SQLAlchemy). A run therefore starts
GX in a process of its own (`preload`), which imports it on the other core while the run reads,
stages and merges, with no GIL shared; the run hands it the staged sample as soon as it has it
(`submit`) and waits for the verdict only before its COMMIT. If that process cannot start, dies,
errs or does not answer in time, the same suites run in this process instead: slower, never
skipped.
"""
from __future__ import annotations

import atexit
import importlib.abc
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.settings import EXPECTATIONS_DIR

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

log = logging.getLogger(__name__)


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: dict = field(default_factory=dict)


@dataclass
class SuiteOutcome:
    suite: str
    success: bool  # no critical expectation failed
    rows_validated: int
    rows_total: int
    results: list[ExpectationOutcome]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success and r.severity == "critical"]

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "success": self.success,
            "rows_validated": self.rows_validated,
            "rows_total": self.rows_total,
            "results": [r.__dict__ for r in self.results],
        }


def _observed(result: dict) -> dict:
    keep = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "partial_unexpected_list")
    out = {k: result[k] for k in keep if k in result}
    if "partial_unexpected_list" in out:
        out["partial_unexpected_list"] = [str(v) for v in out["partial_unexpected_list"][:10]]
    return json.loads(json.dumps(out, default=str))


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx  # slow (seconds): only when a run validates

    return gx


def _suite_specs(names: list[str]) -> dict[str, dict]:
    return {name: json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text()) for name in dict.fromkeys(names)}


def validate(frame: pl.DataFrame, suite_name: str, total_rows: int | None = None) -> SuiteOutcome:
    """Run one suite from `expectations/<suite_name>.json` on a frame, in this process."""
    return validate_suites([(frame, suite_name, total_rows)])[0]


def validate_suites(batches: list[tuple[pl.DataFrame, str, int | None]]) -> list[SuiteOutcome]:
    """Run several suites, each on its frame (`total_rows`: the rows it stands for), in one GX
    context, in this process."""
    return _run_suites([(frame.to_pandas(), name, total) for frame, name, total in batches],
                       _suite_specs([name for _, name, _ in batches]))


def _run_suites(batches: list[tuple[pd.DataFrame, str, int | None]], specs: dict[str, dict]) -> list[SuiteOutcome]:
    """The suites on pandas frames (GX's own path): from Polars here, from Parquet through
    pyarrow in the GX process, which gives the same frame without importing Polars."""
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars on the user's stderr
    source = context.data_sources.add_pandas("run")
    outcomes, suites = [], {}
    for n, (frame, suite_name, total_rows) in enumerate(batches):
        if suite_name not in suites:
            suites[suite_name] = context.suites.add(gx.ExpectationSuite(**specs[suite_name]))
        suite = suites[suite_name]
        batch = (
            source.add_dataframe_asset(f"batch{n}")
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        result = batch.validate(suite, result_format="SUMMARY")
        outcomes.append(_outcome(result, suite_name, len(frame), total_rows if total_rows is not None else len(frame)))
    return outcomes


class WorkerGone(RuntimeError):
    """The GX process did not answer (it could not start, died, failed or took too long)."""


REPLY_TIMEOUT = 300.0  # seconds from a request to its answer (GX takes seconds); then validate here
# Not for the GX process: secrets it has no use for
_PRIVATE_ENV = ("SUPPRESSION_", "AIRFLOW_CONN_", "AIRFLOW_VAR_")


class _Worker:
    """One GX process, reused by every run of this process. It reads one request per line on
    stdin (the suites and the Parquet files of their batches) and answers each, by its number, on
    stdout; it ends when stdin closes, so it never outlives this process. A thread here reads
    every answer as it comes, so neither side can block the other on a full pipe, and answers
    nobody waits for any more (a run that failed before its audit) are dropped."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="suppress-gx-"))
        self.lock = threading.Condition()
        self.write_lock = threading.Lock()
        self.sent = 0
        self.waiting: set[int] = set()
        self.replies: dict[int, dict] = {}
        self.gone: str | None = None
        self.stderr = (self.dir / "stderr.txt").open("w+b")
        try:
            # -P and this package first: a `pipelines` (or a `polars`...) in the cwd is not ours
            root = str(Path(__file__).resolve().parent.parent)
            env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV)}
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            code = (f"import sys; sys.path.insert(0, {root!r}); "
                    f"from pipelines.validate import _serve; _serve({str(self.dir)!r})")
            self.proc = subprocess.Popen([sys.executable, "-P", "-c", code], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        except BaseException:
            self.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        threading.Thread(target=self._read, name="gx-replies", daemon=True).start()

    def _read(self) -> None:
        why = None
        try:
            for line in self.proc.stdout:
                reply = json.loads(line)  # a cut line (killed mid-write) raises: the process is gone
                with self.lock:
                    if reply["id"] in self.waiting:
                        self.replies[reply["id"]] = reply
                        self.lock.notify_all()
        except Exception as exc:  # noqa: BLE001 - any garbled answer retires the process
            why = f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.gone = why or self._why()
            self.lock.notify_all()

    def send(self, batches: list[tuple[pl.DataFrame, str, int | None]]) -> int:
        with self.lock:
            if self.gone:
                raise WorkerGone(self.gone)
            self.sent += 1
            number = self.sent
            self.waiting.add(number)
        try:
            files = []
            for n, (frame, name, total) in enumerate(batches):
                path = self.dir / f"r{number}_b{n}.parquet"
                frame.write_parquet(path)
                files.append([str(path), name, total])
            request = {"id": number, "batches": files, "suites": _suite_specs([name for _, name, _ in batches])}
            with self.write_lock:  # not self.lock: the reader thread must never wait for a writer
                self.proc.stdin.write(json.dumps(request).encode() + b"\n")
                self.proc.stdin.flush()
        except BaseException:
            self.forget(number)
            raise
        return number

    def receive(self, number: int, timeout: float) -> list[SuiteOutcome]:
        with self.lock:
            self.lock.wait_for(lambda: number in self.replies or self.gone, timeout)
            reply = self.replies.pop(number, None)
            self.waiting.discard(number)
            if reply is None:
                raise WorkerGone(self.gone or f"no answer in {timeout:.0f} s")
        if "error" in reply:
            raise WorkerGone(reply["error"])
        return [SuiteOutcome(**{**o, "results": [ExpectationOutcome(**r) for r in o["results"]]})
                for o in reply["outcomes"]]

    def forget(self, number: int) -> None:
        with self.lock:
            self.waiting.discard(number)
            self.replies.pop(number, None)

    def _why(self) -> str:
        try:
            self.proc.wait(timeout=1)  # its stdout just closed: its exit code is moments away
        except subprocess.TimeoutExpired:
            pass
        try:  # through our own handle: the process removes its folder as it ends
            self.stderr.seek(max(0, self.stderr.seek(0, 2) - 4096))
            tail = self.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
        except (OSError, ValueError):
            tail = []
        return f"exit code {self.proc.poll()}" + (f": {tail[0]}" if tail else "")

    def close(self) -> None:
        """End the process at once, even mid-import (a skipped run asked it nothing)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # wedged in C, or stopped
            self.proc.kill()
            self.proc.wait()
        try:  # after the process: closing flushes, which would wait for a reader that is stuck
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def preload() -> None:
    """Start the GX process (it imports GX at once), unless it runs already. If it cannot be
    started, runs validate in this process."""
    global _worker
    with _worker_lock:
        if _worker is not None and _worker.proc.poll() is None and not _worker.gone:
            return
        if _worker is not None:
            _worker.close()
        try:
            _worker = _Worker()
        except Exception as exc:  # noqa: BLE001 - validation then runs here
            log.warning("GX runs in this process: its own process did not start (%s)", exc)
            _worker = None
            return
    atexit.unregister(_close_worker)
    atexit.register(_close_worker)


def _close_worker() -> None:
    global _worker
    with _worker_lock:
        if _worker is not None:
            _worker.close()
        _worker = None


def _after_fork() -> None:
    """A forked child (an executor's) starts its own GX process if it validates: the parent's
    pipes are not its to use, and its copy of them must not keep that process alive."""
    global _worker, _worker_lock
    if _worker is not None:
        for pipe in (_worker.proc.stdin, _worker.proc.stdout):
            try:
                pipe.close()
            except (OSError, ValueError):
                pass
    _worker, _worker_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


class Pending:
    """Suites handed to the GX process; `result()` waits for their outcomes. Whatever goes wrong
    with that process, the suites then run in this process: a run is never left unvalidated."""

    def __init__(self, batches: list[tuple[pl.DataFrame, str, int | None]]) -> None:
        self.batches = batches
        self.worker, self.number = _worker, None
        if self.worker is None:
            return
        try:
            self.number = self.worker.send(batches)
        except Exception as exc:  # noqa: BLE001 - validated here instead
            log.warning("GX runs in this process: its own process did not take the run (%s)", exc)
            return
        weakref.finalize(self, self.worker.forget, self.number)  # a run that never asks for it

    def result(self, timeout: float = REPLY_TIMEOUT) -> list[SuiteOutcome]:
        if self.number is not None:
            try:
                return self.worker.receive(self.number, timeout)
            except Exception as exc:  # noqa: BLE001 - validated here instead
                log.warning("GX runs in this process: its own process did not answer (%s)", exc)
                _retire(self.worker)
        return validate_suites(self.batches)


def _retire(worker: _Worker) -> None:
    """A GX process that failed a run is not asked again: the next run starts another."""
    with worker.lock:
        worker.gone = worker.gone or "retired"


def submit(batches: list[tuple[pl.DataFrame, str, int | None]]) -> Pending:
    """Hand the suites to the GX process (`preload`) and return at once; `Pending.result()` gives
    the outcomes, from this process if the GX process is not there."""
    return Pending(batches)


# Modules GX imports at its own import and our suites never use: statistics for distribution
# expectations, charts and markdown for rendering, JSON Schema. Loaded on first use instead, by
# the standard library's LazyLoader (GX's import 3.6 -> 2.3 s on a quiet machine with the first
# two; the others save a few tenths more). Used by the GX process only.
LAZY_MODULES = frozenset({"scipy.stats", "altair", "mistune", "jsonschema"})
# Packages GX treats as optional (it checks for them and does without) that only its SQL and S3
# datasources use: to the GX process they are not installed (its import 0.2-0.3 s less).
ABSENT_PACKAGES = frozenset({"sqlalchemy", "boto3", "botocore"})


class _GXImports(importlib.abc.MetaPathFinder):
    """The GX process's imports: LAZY_MODULES load on first use, ABSENT_PACKAGES not at all."""

    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ABSENT_PACKAGES:
            raise ModuleNotFoundError(f"No module named {name!r} (not for the GX process)", name=name)
        if name not in LAZY_MODULES:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def _serve(workdir: str) -> None:
    """The GX process: import GX, then answer requests until stdin closes. A request's files are
    deleted once read (they hold addresses), and the folder when stdin closes or the process is
    terminated (the run's process ended, however it ended)."""
    out = os.fdopen(os.dup(1), "w")  # the answers; anything else printed to fd 1 goes to stderr
    os.dup2(2, 1)

    def end(*_) -> None:
        # No interpreter teardown: GX's objects alone take over a second to tear down, and the
        # run's process waits for this one to end.
        shutil.rmtree(workdir, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it closes stdin
    signal.signal(signal.SIGTERM, end)
    try:
        sys.meta_path.insert(0, _GXImports())
        _run_suites([], {})  # the import and a first context, before the run asks
        for line in sys.stdin.buffer:
            request = json.loads(line)
            try:
                batches = [(_read_batch(path), name, total) for path, name, total in request["batches"]]
                for path, _, _ in request["batches"]:
                    os.unlink(path)
                reply = {"id": request["id"],
                         "outcomes": [o.to_dict() for o in _run_suites(batches, request["suites"])]}
            except Exception as exc:  # noqa: BLE001 - reported to the run, which validates itself
                reply = {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(reply, default=str) + "\n")
            out.flush()
    except BrokenPipeError:
        pass  # the run's process is gone
    except Exception:
        traceback.print_exc()  # to stderr.txt: the run's warning quotes its last line
        sys.stderr.flush()
    finally:
        end()


def _read_batch(path: str) -> pd.DataFrame:
    """A request's frame as Polars' `to_pandas()` gives it, read by pyarrow (pandas' own
    dependency, loaded by GX already): the GX process does without Polars' import."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas(date_as_object=False)  # dates as datetime64, as Polars does


def _outcome(result, suite_name: str, rows: int, total: int) -> SuiteOutcome:
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []) or [])
                or None,
                severity=str(getattr(config, "severity", "critical") or "critical").split(".")[-1].lower(),
                success=bool(r.success),
                observed=_observed(r.result or {}),
            )
        )
    ok = not any(not o.success and o.severity == "critical" for o in outcomes)
    return SuiteOutcome(suite_name, ok, rows, total, outcomes)
