"""Ingest benchmark against the SPEC section 5 quality targets.

    python benchmarks/run.py --rows 10000000 [--seed 42] [--keep] [--postgres postgresql://...]

One run:
1. generates `benchmarks/out/sendgrid_bounces-<rows>-seed<seed>.csv` unless it is already cached;
2. BASELINE: a fresh Python process doing a bare Polars `scan_csv` + lowercase of `email` +
   `group_by(email).agg(len)`, collected with the streaming engine;
3. INGEST: `suppress ingest --tenant bench --json --store <fresh>.duckdb FILE`, run as
   `python -m pipelines.cli ingest ...` in a fresh process;
4. optionally (`--postgres URL`) the same ingest with `--store URL`.

Each step is a separate child process. Wall time is measured from spawn to exit (interpreter start
and imports included, the same for every step). Peak memory is that child's own peak, never the
maximum over earlier children: every 50 ms the RSS of the child's whole process tree is summed with
psutil and the child's own high-water mark (Linux VmHWM) is read; after exit the kernel's
`ru_maxrss` from `os.wait4` on that very child is taken too (only when above this parent's own peak,
since Linux carries the parent's peak over into a fresh child). The largest of these is reported.
The generator also runs as a child, so this parent stays small. Memory figures are decimal
(1 GB = 10^9 bytes), the stricter reading of the targets.

The table and the PASS/FAIL verdicts are printed and written to `benchmarks/out/result-<rows>.json`.
Exit status: 0 when every DuckDB target passes, 1 otherwise (including a failed ingest), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"

TIME_RATIO_MAX = 3.0  # SPEC 5: ingest at most 3x the baseline time
PEAK_RSS_MAX = 2.5e9  # SPEC 5: peak memory under 2.5 GB
SPEC_ROWS = 10_000_000  # the targets are stated for a 10M-row (~1 GB) export
SAMPLE_EVERY = 0.05  # seconds

BASELINE_CODE = r"""
import json, sys, time
import polars as pl
t0 = time.perf_counter()
counts = (
    pl.scan_csv(sys.argv[1])
    .with_columns(pl.col("email").str.to_lowercase())
    .group_by("email")
    .agg(pl.len())
    .collect(engine="streaming")
)
print(json.dumps({"groups": counts.height, "rows": int(counts["len"].sum()), "query_seconds": time.perf_counter() - t0}))
"""


# --------------------------------------------------------------------------------------------------
# measuring one child process


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass  # exited between listing and reading
    return total


def _hwm(pid: int) -> int:
    """Linux: the process's own peak RSS so far (VmHWM, reset at exec); 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _self_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def measure(cmd: list[str], *, label: str, env: dict[str, str] | None = None) -> dict:
    """Run `cmd` to completion; wall time, peak RSS of its process tree, exit code, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        try:
            child = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as exc:
            return {
                "label": label,
                "cmd": cmd,
                "exit_code": None,
                "wall_seconds": 0.0,
                "peak_rss_bytes": 0,
                "stdout": "",
                "stderr": f"could not start: {exc}",
            }
        try:
            ps_child = psutil.Process(child.pid)
        except psutil.Error:
            ps_child = None
        peak = {"sampled": 0, "hwm": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                if ps_child is not None:
                    peak["sampled"] = max(peak["sampled"], _tree_rss(ps_child))
                    peak["hwm"] = max(peak["hwm"], _hwm(child.pid))
                stop.wait(SAMPLE_EVERY)

        sampler = threading.Thread(target=sample, name=f"rss-{label}", daemon=True)
        sampler.start()
        try:
            # wait4 on this very pid: its rusage is this child's (and its reaped descendants'), never an
            # earlier child's. Linux carries the parent's peak over into a fresh child's ru_maxrss
            # (fork/exec), so it only counts when above this (small) parent's own peak.
            _, status, usage = os.wait4(child.pid, 0)
        except KeyboardInterrupt:
            child.kill()
            child.wait()
            raise
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    maxrss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # Linux reports KiB
    maxrss_own = maxrss if maxrss > _self_maxrss() else 0
    return {
        "label": label,
        "cmd": cmd,
        "exit_code": child.returncode,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_bytes": max(peak["sampled"], peak["hwm"], maxrss_own),
        "peak_rss_tree_sampled_bytes": peak["sampled"],
        "peak_rss_vmhwm_bytes": peak["hwm"],
        "ru_maxrss_bytes": maxrss_own or None,
        "stdout": stdout,
        "stderr": stderr,
    }


# --------------------------------------------------------------------------------------------------
# helpers


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _json_doc(text: str) -> dict | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _warm_cache(path: Path) -> None:
    """Read the file once so baseline and ingest both start with it in the page cache."""
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.0f} MB"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)  # without importing it into this process
    except importlib.metadata.PackageNotFoundError:
        return None


def _ingest_cmd(store: str, path: Path, platform_name: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "pipelines.cli", "ingest", "--tenant", "bench", "--json", "--store", store]
    if platform_name:
        cmd += ["--platform", platform_name]
    return cmd + [str(path)]


def _summarize_ingest(result: dict, rows: int) -> dict:
    """Add the ingest's own JSON summary and a success flag to a measurement."""
    doc = _json_doc(result["stdout"])
    result["summary"] = (
        {
            k: doc.get(k)
            for k in (
                "run_id",
                "status",
                "rows_read",
                "rows_accepted",
                "rows_rejected",
                "suppressions_added",
                "suppressions_updated",
            )
        }
        if doc is not None
        else None
    )
    problems = []
    if result["exit_code"] != 0:
        problems.append(f"exit code {result['exit_code']}")
    elif doc is None:
        problems.append("stdout is not one JSON document")
    else:
        if doc.get("status") != "succeeded":
            problems.append(f"status {doc.get('status')!r}")
        if doc.get("rows_read") != rows:
            problems.append(f"rows_read {doc.get('rows_read')} != {rows} rows generated")
    result["ok"] = not problems
    result["problems"] = problems
    return result


_SECRETS: list[str] = []  # the --postgres URL (may hold a password): never printed or stored


def _mask(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "<postgres-url>")
    return text


def _print_failure(result: dict) -> None:
    problems = result.get("problems") or [f"exit code {result['exit_code']}"]
    print(f"\n{result['label']} FAILED: {'; '.join(problems)}")
    print(f"  command: {_mask(' '.join(result['cmd']))}")
    for stream in ("stderr", "stdout"):
        if result[stream].strip():
            print(f"  {stream} (tail):")
            for line in _tail(_mask(result[stream])).splitlines():
                print(f"    {line}")
        else:
            print(f"  {stream}: (empty)")


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark `suppress ingest` against the SPEC 5 targets.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the synthetic export (default 1000000)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB store(s) under benchmarks/out/")
    parser.add_argument("--postgres", metavar="URL", help="also ingest into this postgresql:// store")
    parser.add_argument("--platform", help="pass --platform to ingest (default: let it auto-detect)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")
    if args.postgres and not args.postgres.startswith(("postgresql://", "postgres://")):
        parser.error("--postgres takes a postgresql:// URL")

    if args.postgres:
        _SECRETS.append(args.postgres)
    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / f"sendgrid_bounces-{args.rows}-seed{args.seed}.csv"
    generated = None
    if data.exists():
        print(f"using cached {data.relative_to(REPO)} ({data.stat().st_size / 1e6:,.0f} MB)")
    else:
        print(f"generating {args.rows:,} rows into {data.relative_to(REPO)} ...", flush=True)
        # in a child process, so this parent stays small (see measure() on ru_maxrss)
        gen_cmd = [
            sys.executable,
            str(HERE / "generate.py"),
            "--rows",
            str(args.rows),
            "--out",
            str(data),
            "--seed",
            str(args.seed),
        ]
        started = time.perf_counter()
        done = subprocess.run(gen_cmd, cwd=REPO)
        if done.returncode != 0 or not data.exists():
            print(f"error: generating {data} failed (exit code {done.returncode})", file=sys.stderr)
            return 1
        generated = {"seconds": round(time.perf_counter() - started, 2), "bytes": data.stat().st_size}
        print(f"  done in {generated['seconds']:.1f} s, {generated['bytes'] / 1e6:,.0f} MB")
    _warm_cache(data)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("SUPPRESSION_STORE", None)  # the store is always given explicitly

    # (b) baseline
    print("baseline: polars scan_csv + lowercase + group_by(email).agg(len), streaming ...", flush=True)
    baseline = measure([sys.executable, "-c", BASELINE_CODE, str(data)], label="baseline", env=env)
    baseline_doc = _json_doc(baseline["stdout"].strip().splitlines()[-1] if baseline["stdout"].strip() else "")
    baseline["ok"] = baseline["exit_code"] == 0 and baseline_doc is not None
    baseline["summary"] = baseline_doc
    if not baseline["ok"]:
        baseline["problems"] = [f"exit code {baseline['exit_code']}"]
        _print_failure(baseline)

    # (c) ingest into a fresh DuckDB store (fresh, or the run would be skipped as a duplicate)
    store_dir = Path(tempfile.mkdtemp(prefix=f"store-{args.rows}-", dir=OUT))
    store = store_dir / "bench.duckdb"
    print(f"ingest (duckdb): suppress ingest --tenant bench --json --store {store.relative_to(REPO)} ...", flush=True)
    ingest = _summarize_ingest(
        measure(_ingest_cmd(str(store), data, args.platform), label="ingest (duckdb)", env=env), args.rows
    )
    if not ingest["ok"]:
        _print_failure(ingest)
    if args.keep and store.exists():
        ingest["store"] = str(store)
    else:
        shutil.rmtree(store_dir, ignore_errors=True)

    # (d) optional PostgreSQL ingest; its failure is reported, never fatal
    pg = None
    if args.postgres:
        print("ingest (postgres): suppress ingest --tenant bench --json --store <url> ...", flush=True)
        pg = _summarize_ingest(
            measure(_ingest_cmd(args.postgres, data, args.platform), label="ingest (postgres)", env=env), args.rows
        )
        if not pg["ok"]:
            _print_failure(pg)
            print("  (PostgreSQL ingest skipped in the verdict)")

    # ratios and targets
    def ratio(m: dict | None) -> float | None:
        if m is None or not m["ok"] or not baseline["ok"] or baseline["wall_seconds"] <= 0:
            return None
        return round(m["wall_seconds"] / baseline["wall_seconds"], 2)

    ingest_ratio = ratio(ingest)
    targets = [
        {
            "target": "ingest time <= 3x baseline (duckdb)",
            "limit": TIME_RATIO_MAX,
            "value": ingest_ratio,
            "pass": ingest_ratio is not None and ingest_ratio <= TIME_RATIO_MAX,
        },
        {
            "target": "ingest peak RSS < 2.5 GB (duckdb)",
            "limit": PEAK_RSS_MAX,
            "value": ingest["peak_rss_bytes"] if ingest["ok"] else None,
            "pass": ingest["ok"] and ingest["peak_rss_bytes"] < PEAK_RSS_MAX,
        },
    ]

    # report
    rows_out = [("baseline", baseline), ("ingest (duckdb)", ingest)] + ([("ingest (postgres)", pg)] if pg else [])
    print()
    print(f"{args.rows:,} rows, {data.stat().st_size / 1e6:,.0f} MB, {os.cpu_count()} CPUs")
    header = f"{'step':<18} {'status':<8} {'wall s':>8} {'cpu s':>8} {'peak RSS':>10} {'x baseline':>10}"
    print(header)
    print("-" * len(header))
    for name, m in rows_out:
        x = "1.00" if name == "baseline" and m["ok"] else (f"{ratio(m):.2f}" if ratio(m) is not None else "-")
        status = "ok" if m["ok"] else ("exit " + str(m["exit_code"]) if m["exit_code"] else "bad out")
        print(
            f"{name:<18} {status:<8} {m['wall_seconds']:>8.2f} {m.get('cpu_seconds', 0):>8.2f} "
            f"{_mb(m['peak_rss_bytes']):>10} {x:>10}"
        )
    for name, m in rows_out[1:]:
        s = m.get("summary")
        if s:
            print(
                f"{name}: status={s['status']} rows_read={s['rows_read']} rows_accepted={s['rows_accepted']} "
                f"rows_rejected={s['rows_rejected']} suppressions_added={s['suppressions_added']}"
            )
    if baseline["ok"]:
        print(f"baseline: {baseline_doc['groups']:,} distinct lowercased emails over {baseline_doc['rows']:,} rows")
    print()
    for t in targets:
        shown = "-" if t["value"] is None else (f"{t['value']:.2f}x" if "time" in t["target"] else _mb(t["value"]))
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {shown}")
    if args.rows != SPEC_ROWS:
        print(
            f"note: the SPEC targets are for {SPEC_ROWS:,} rows; at {args.rows:,} rows fixed start-up "
            "costs weigh more, so treat this as indicative"
        )
    if ingest.get("store"):
        print(f"kept store: {ingest['store']}")

    def public(m: dict | None) -> dict | None:
        if m is None:
            return None
        keep = {k: v for k, v in m.items() if k not in ("stdout", "stderr", "cmd")}
        keep["command"] = _mask(" ".join(m["cmd"]))
        if not m["ok"]:
            keep["stderr_tail"] = _tail(_mask(m["stderr"]))
            keep["stdout_tail"] = _tail(_mask(m["stdout"]))
        return keep

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "seed": args.seed,
        "file": str(data.relative_to(REPO)),
        "file_bytes": data.stat().st_size,
        "generated": generated,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "polars": _version("polars"),
            "duckdb": _version("duckdb"),
        },
        "baseline": public(baseline),
        "ingest_duckdb": public(ingest),
        "ingest_postgres": public(pg),
        "ratio_ingest_to_baseline": ingest_ratio,
        "ratio_postgres_to_baseline": ratio(pg),
        "targets": targets,
        "pass": all(t["pass"] for t in targets),
    }
    result_path = OUT / f"result-{args.rows}.json"
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {result_path.relative_to(REPO)}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
