"""A real Airflow deployment for the integration tests: what production runs, on 127.0.0.1.

`airflow db migrate` on a fresh PostgreSQL database, the pools imported from the shipped file, then
`airflow scheduler` (LocalExecutor), `airflow dag-processor` and `airflow api-server` as
subprocesses, each in a process group of its own with its output in a log file. The REST API is
driven with httpx and a token from the simple auth manager.

Every wait has a timeout, and every failure message ends with what the processes logged last (and,
for a DAG run, its task states and the tails of its failed tasks' logs), so a red test says why.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"
POOLS_FILE = ROOT / "deploy" / "airflow" / "pools.json"
BIN = Path(sys.executable).parent  # the venv's bin: `airflow` and the Python the workers run
AIRFLOW = BIN / "airflow"
FINISHED = ("success", "failed")
ACTIVE_RUN_STATES = ("queued", "running")
SERVICES = ("scheduler", "dag-processor", "api-server")

T = TypeVar("T")


class ClusterError(AssertionError):
    """The deployment did something other than expected; the message says what and ends with
    the processes' logs."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5,
               context: Callable[[], str] | None = None, alive: Callable[[], None] | None = None) -> T:
    """`probe()` until it returns something truthy; `alive()` between tries (it raises when a
    process died). On timeout, a ClusterError naming `what`, with `context()`."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            detail = context() if context is not None else ""
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}".rstrip())
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# The metadata database


def _with_database(url: str, name: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name, scheme=scheme or parts.scheme))


@contextmanager
def fresh_postgres_database(maintenance_url: str, prefix: str = "airflow_it") -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards, connections and all); yields its URL
    for Airflow (`postgresql+psycopg://`: plain `postgresql://` makes Airflow's async engine want
    asyncpg)."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(maintenance_url, name, scheme="postgresql+psycopg")
    finally:
        with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# The processes


@dataclass
class Service:
    name: str
    popen: subprocess.Popen
    log: Path
    started: float  # time.monotonic() at the start
    descendants: set[int] = field(default_factory=set)  # seen while it ran: checked gone after the stop

    @property
    def pid(self) -> int:
        return self.popen.pid

    def describe(self) -> str:
        rc = self.popen.poll()
        state = "running" if rc is None else f"exited with {rc}"
        return f"--- {self.name} (pid {self.pid}, {state}), {self.log} ends:\n{tail(self.log)}"


def _group_members(pgid: int) -> list[str]:
    """The processes still in a process group: 'pid name cmdline' each."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [proc.info['name'] or '?'])[:160]}")
        except (ProcessLookupError, PermissionError, OSError):
            continue
    return found


def _alive(pids: set[int]) -> list[str]:
    import psutil

    left = []
    for pid in sorted(pids):
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(proc.cmdline())[:160]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return left


class AirflowCluster:
    """One Airflow deployment under `base`: AIRFLOW_HOME is `base/airflow`, the services' own
    output goes to `base/services/<name>.log` (not under AIRFLOW_HOME/logs, which holds what
    Airflow writes itself: task logs, the dag-processor's file logs)."""

    def __init__(self, base: Path, db_url: str, extra_env: dict[str, str] | None = None,
                 parallelism: int = 4):
        self.base = base
        self.home = base / "airflow"
        self.logs = self.home / "logs"
        self.service_logs = base / "services"
        self.workdir = base / "workdir"  # the services' working directory: nothing should land here
        self.tmpdir = base / "tmp"  # their TMPDIR
        for d in (self.home, self.service_logs, self.workdir, self.tmpdir):
            d.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.username, self.password = "admin", secrets.token_urlsafe(16)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}))
        self.env = self._environ(passwords, parallelism, extra_env or {})
        self.services: dict[str, Service] = {}
        self._http: httpx.Client | None = None
        self._token: str | None = None
        self.last_health: Any = None

    def _environ(self, passwords: Path, parallelism: int, extra: dict[str, str]) -> dict[str, str]:
        # Nothing of the test session's own Airflow or store settings leaks into the services.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SUPPRESSION_"))}
        return {
            **base,
            "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(self.tmpdir),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),  # 2 cores: a few task processes at a time
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.db_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # the same in every service
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # The log servers bind every interface on fixed ports by default: free ones here.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            **extra,
        }

    # -- the CLI --------------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 180) -> str:
        """`airflow ARGS` to completion; its output (also kept in services/cli-<args>.log)."""
        log = self.service_logs / ("cli-" + "-".join(a.replace("/", "_") for a in args[:2]) + ".log")
        command = "airflow " + " ".join(args)
        with log.open("w") as out:
            try:
                done = subprocess.run([str(AIRFLOW), *args], env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise ClusterError(f"`{command}` did not finish within {timeout:.0f}s; {log} ends:\n{tail(log)}") from None
        if done.returncode != 0:
            raise ClusterError(f"`{command}` exited with {done.returncode}; {log} ends:\n{tail(log)}")
        return log.read_text(errors="replace")

    def migrate(self, timeout: float = 240) -> None:
        self.cli("db", "migrate", timeout=timeout)

    def import_pools(self, path: Path = POOLS_FILE) -> None:
        self.cli("pools", "import", str(path), timeout=90)

    # -- the services ---------------------------------------------------------------------------
    def start(self) -> None:
        for name in SERVICES:
            log = self.service_logs / f"{name}.log"
            out = log.open("w")
            popen = subprocess.Popen([str(AIRFLOW), name], env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            out.close()  # the child holds its own copy
            self.services[name] = Service(name, popen, log, time.monotonic())

    def diagnostics(self) -> str:
        return "\n".join(s.describe() for s in self.services.values())

    def check_alive(self) -> None:
        dead = [s for s in self.services.values() if s.popen.poll() is not None]
        if dead:
            names = ", ".join(f"{s.name} (exit {s.popen.returncode})" for s in dead)
            raise ClusterError(f"{names} stopped while the test needed it\n{self.diagnostics()}")

    def _remember_descendants(self) -> None:
        import psutil

        for service in self.services.values():
            try:
                service.descendants |= {p.pid for p in psutil.Process(service.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                pass

    def wait_ready(self, timeout: float = 150) -> dict:
        """Until the api-server answers and reports the metadata DB, the scheduler and the
        dag-processor healthy; then log in."""

        def healthy():
            try:
                answer = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
            except httpx.TransportError as exc:
                self.last_health = f"not answering yet ({type(exc).__name__})"
                return None
            self.last_health = answer.text[:1000]
            if answer.status_code != 200:
                return None
            health = answer.json()
            parts = ("metadatabase", "scheduler", "dag_processor")
            return health if all((health.get(p) or {}).get("status") == "healthy" for p in parts) else None

        health = wait_until("the api-server to report the metadata DB, scheduler and dag-processor healthy", healthy,
                            timeout, interval=1, alive=self.check_alive,
                            context=lambda: f"last /api/v2/monitor/health: {self.last_health}\n{self.diagnostics()}")
        self.login()
        self._remember_descendants()
        return health

    def stop(self, timeout: float = 60) -> dict[str, dict]:
        """SIGTERM each service by its PID (scheduler first, the api-server last: tasks report to
        it), wait for it, then for everything it started. Whatever is still there after that is
        killed (SIGKILL) and the stop raises ClusterError: a service that does not stop on
        SIGTERM is a deployment problem. Returns per service its exit code and stop time."""
        self._remember_descendants()
        if self._http is not None:
            self._http.close()
            self._http = None
        report: dict[str, dict] = {}
        problems: list[str] = []
        for name in SERVICES:
            service = self.services.get(name)
            if service is None:
                continue
            began = time.monotonic()
            if service.popen.poll() is None:
                service.popen.send_signal(signal.SIGTERM)
            try:
                code = service.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"{name} (pid {service.pid}) was still running {timeout:.0f}s after SIGTERM: "
                                f"killed with SIGKILL\n{service.describe()}")
                self._kill_group(service.pid)
                code = service.popen.wait(10)
            # What it started (LocalExecutor workers and their tasks, parsing processes, ...)
            try:
                wait_until(f"the processes {name} started to end", lambda s=service: not (
                    _group_members(s.pid) or _alive(s.descendants)), timeout=15, interval=0.3)
            except ClusterError:
                left = sorted(set(_group_members(service.pid)) | set(_alive(service.descendants)))
                if left:
                    problems.append(f"{name} exited ({code}) but left these processes running; killed with SIGKILL:\n  "
                                    + "\n  ".join(left))
                    self._kill_group(service.pid)
                    for pid in service.descendants:
                        self._kill(pid)
            report[name] = {"pid": service.pid, "returncode": code, "seconds": round(time.monotonic() - began, 1)}
        self.services.clear()
        if problems:
            raise ClusterError("the services did not stop cleanly on SIGTERM:\n" + "\n".join(problems))
        return report

    @staticmethod
    def _kill_group(pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_all(self) -> None:
        """After a failed test: stop whatever is left, quietly (SIGTERM, then SIGKILL)."""
        try:
            self.stop(timeout=20)
        except ClusterError:
            pass

    # -- the REST API ---------------------------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=30)
        return self._http

    def login(self) -> None:
        answer = self.http.post("/auth/token", json={"username": self.username, "password": self.password})
        if answer.status_code not in (200, 201):
            raise ClusterError(f"POST /auth/token answered {answer.status_code}: {answer.text[:500]}\n{self.diagnostics()}")
        self._token = answer.json()["access_token"]

    def api(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs) -> Any:
        """One REST call (`path` under /api/v2); its JSON. Any other status than `expect` raises,
        with the answer and the services' logs."""
        if self._token is None:
            self.login()
        url = "/api/v2" + path
        for attempt in (1, 2):
            try:
                answer = self.http.request(method, url, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
            except httpx.TransportError as exc:
                self.check_alive()
                if attempt == 2:
                    raise ClusterError(f"{method} {url}: {type(exc).__name__}: {exc}\n{self.diagnostics()}") from None
                time.sleep(1)
                continue
            if answer.status_code == 401 and attempt == 1:  # the token expired
                self.login()
                continue
            break
        if answer.status_code not in expect:
            raise ClusterError(f"{method} {url} answered {answer.status_code}: {answer.text[:2000]}\n{self.diagnostics()}")
        return answer.json() if answer.content else None

    def paged(self, path: str, key: str, params: dict | None = None, limit: int = 100) -> list[dict]:
        items: list[dict] = []
        while True:
            page = self.api("GET", path, params={**(params or {}), "limit": limit, "offset": len(items)})
            items += page[key]
            if not page[key] or len(items) >= page.get("total_entries", 0):
                return items

    # -- DAGs and runs --------------------------------------------------------------------------
    def import_errors(self) -> list[dict]:
        return self.paged("/importErrors", "import_errors")

    def wait_for_dags(self, dag_ids, timeout: float = 120) -> None:
        """Until the dag-processor has parsed every DAG (the API knows them)."""
        missing = list(dag_ids)

        def parsed():
            missing[:] = [d for d in missing if not self.api("GET", f"/dags/{d}", expect=(200, 404)).get("dag_id")]
            return not missing

        def context():
            errors = "\n".join(f"{e.get('filename')}: {e.get('stack_trace', '')[-1500:]}" for e in self.import_errors())
            return f"not parsed: {missing}\nimport errors: {errors or 'none'}\n{self.diagnostics()}"

        wait_until("the dag-processor to parse the DAGs", parsed, timeout, interval=1, alive=self.check_alive,
                   context=context)

    def unpause(self, dag_id: str) -> None:
        dag = self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        if dag.get("is_paused"):
            raise ClusterError(f"{dag_id} is still paused after PATCH is_paused=false: {dag}")

    def trigger(self, dag_id: str, conf: dict) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def runs(self, dag_id: str = "~", **params) -> list[dict]:
        return self.paged(f"/dags/{dag_id}/dagRuns", "dag_runs", {"order_by": "run_after", **params})

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.paged(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", "task_instances")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict:
        """Until the run has finished (success or failed); the run's JSON, with `seconds` (from
        the trigger call to the end the API reports)."""
        began = time.monotonic()
        run = wait_until(f"{dag_id} run {run_id} to finish",
                         lambda: (lambda r: r if r["state"] in FINISHED else None)(self.run(dag_id, run_id)),
                         timeout, interval=1, alive=self.check_alive,
                         context=lambda: self.run_report(dag_id, run_id) + "\n" + self.diagnostics())
        run["seconds"] = round(time.monotonic() - began, 1)
        return run

    def wait_for_new_run(self, dag_id: str, known: set[str], timeout: float, **params) -> dict | None:
        """A run of `dag_id` not in `known` (e.g. one the scheduler created); None after `timeout`
        (a service that died still raises)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            found = next((r for r in self.runs(dag_id, **params) if r["dag_run_id"] not in known), None)
            if found:
                return found
            time.sleep(1)
        return None

    def wait_idle(self, consumers=("suppression_quality_report",), timeout: float = 120) -> None:
        """Until no run is queued or running and no asset event waits for a consumer DAG (whose run
        the scheduler has yet to create), twice in a row: the store is nobody's but the test's."""
        streak = [0]

        def idle():
            busy = self.api("GET", "/dags/~/dagRuns", params={"state": list(ACTIVE_RUN_STATES), "limit": 1})
            waiting = sum(self.api("GET", f"/dags/{d}/assets/queuedEvents")["total_entries"] for d in consumers)
            streak[0] = streak[0] + 1 if busy["total_entries"] == 0 and waiting == 0 else 0
            return streak[0] >= 2

        def context():
            active = [f"{r['dag_id']} {r['dag_run_id']}: {r['state']}"
                      for r in self.runs(state=list(ACTIVE_RUN_STATES))]
            return "active runs:\n  " + "\n  ".join(active) + "\n" + self.diagnostics()

        wait_until("every DAG run to finish", idle, timeout, interval=1, alive=self.check_alive, context=context)

    def run_report(self, dag_id: str, run_id: str) -> str:
        """A run's task states (counted per task) and the log tails of its failed tasks."""
        try:
            tis = self.task_instances(dag_id, run_id)
        except ClusterError as exc:
            return f"(task instances unavailable: {str(exc).splitlines()[0]})"
        lines = [f"{dag_id} {run_id} task instances:"]
        by_task: dict[str, Counter] = {}
        for ti in tis:
            by_task.setdefault(ti["task_id"], Counter())[f"{ti['state']} (try {ti['try_number']})"] += 1
        lines += [f"  {task}: " + ", ".join(f"{n}x {s}" for s, n in sorted(c.items())) for task, c in by_task.items()]
        for ti in tis:
            if ti["state"] in ("failed", "up_for_retry"):
                for path in self.task_logs(dag_id, run_id, ti["task_id"], ti["map_index"]):
                    lines.append(f"--- {path.relative_to(self.logs)} ends:\n{tail(path, 25)}")
        return "\n".join(lines)

    def task_logs(self, dag_id: str, run_id: str, task_id: str | None = None, map_index: int = -1) -> list[Path]:
        folder = self.logs / f"dag_id={dag_id}" / f"run_id={run_id}"
        if task_id is not None:
            folder = folder / f"task_id={task_id}"
            if map_index >= 0:
                folder = folder / f"map_index={map_index}"
        return sorted(folder.rglob("*.log")) if folder.is_dir() else []

    # -- what a run left behind -----------------------------------------------------------------
    def xcoms(self, dag_id: str, run_id: str) -> list[dict]:
        """Every XCom of a run, each entry as the API gives it one by one (with its `value`)."""
        run = quote(run_id, safe="")
        entries = []
        for task_id in sorted({ti["task_id"] for ti in self.task_instances(dag_id, run_id)}):
            path = f"/dags/{dag_id}/dagRuns/{run}/taskInstances/{quote(task_id, safe='')}/xcomEntries"
            for listed in self.paged(path, "xcom_entries"):
                entry = self.api("GET", f"{path}/{quote(listed['key'], safe='')}",
                                 params={"map_index": listed["map_index"]})
                entries.append(entry)
        return entries

    def asset_events(self, dag_id: str, run_id: str) -> list[dict]:
        return self.paged("/assets/events", "asset_events", {"source_dag_id": dag_id, "source_run_id": run_id})
