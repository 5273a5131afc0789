"""Lookup and increment benchmark: the SPEC 5 targets `run.py` does not cover.

    python benchmarks/lookups.py [--suppressions 10000000] [--postgres postgresql://...]

For each store (a fresh DuckDB file, and a PostgreSQL database when `--postgres` is given):
1. fills it with N suppressions of one tenant straight in SQL, as a first load leaves them (each
   row carrying its creating run's lineage), without spending an hour importing;
2. NIGHTLY: `suppress ingest` of a 100,000-row event export (half of it addresses already
   suppressed, with newer times; half new) in a fresh process; target under 4 s (SPEC 5);
3. CHECK: `suppress check --file` of 1,000,000 addresses (half suppressed) in a fresh process,
   output to a file; target under 3 s;
4. SINGLE: one address through the store's lookup (`check_rows`, what a one-address check asks),
   2,000 times in this process after a warm-up; the median is the figure; target under 1 ms;
5. PROCESS: a whole one-address `suppress check` process, 15 times; the median; target under 0.3 s.

Results are printed and written to `benchmarks/out/lookups-<N>.json`. Exit status 0 when every
target passes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(REPO))

NIGHTLY_ROWS = 100_000
CHECK_ROWS = 1_000_000
SINGLE_REPEATS = 2_000
PROCESS_REPEATS = 15
TARGETS = {"nightly_seconds": 4.0, "check_seconds": 3.0, "single_lookup_ms": 1.0, "one_check_process_seconds": 0.3}
TENANT = "bench"


def address(i: int) -> str:
    return f"user{i}@example{i % 100:03d}.com"


# The file the filled rows name as their creator's (created_file 0 of run 'fill'), both dialects.
FILL_FILE = "INSERT INTO run_files (run_id, path, sha256, file_idx) VALUES ('fill', 'fill.csv', 'fill', 0)"
FILL = {
    "duckdb": [
        # As a first load leaves it: the creating run's lineage on each row (sql/duckdb/006, 007,
        # its file in run_files), and rows in hash order (no row group is narrow in addresses).
        FILL_FILE,
        """INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                                     source_platform, detail, created_run_id, last_run_id, updated_at,
                                     created_file, created_first_line, created_row_count)
           SELECT 'bench', 'email', 'user' || i || '@example' || lpad((i % 100)::VARCHAR, 3, '0') || '.com',
                  'hard_bounce', 'all', TIMESTAMPTZ '2024-01-01' + to_seconds(i % 10000000),
                  TIMESTAMPTZ '2024-01-01' + to_seconds(i % 10000000), 'sendgrid', '550 5.1.1', 'fill', 'fill', now(),
                  0, i + 2, 1
           FROM range(?) t(i)
           ORDER BY hash(i)""",
    ],
    "postgres": [
        FILL_FILE,
        """INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at,
                                     source_platform, detail, created_run_id, last_run_id, updated_at,
                                     created_file, created_first_line, created_row_count)
           SELECT 'bench', 'email', 'user' || i || '@example' || lpad(mod(i, 100)::text, 3, '0') || '.com',
                  'hard_bounce', 'all', timestamptz '2024-01-01' + make_interval(secs => mod(i, 10000000)),
                  timestamptz '2024-01-01' + make_interval(secs => mod(i, 10000000)), 'sendgrid', '550 5.1.1',
                  'fill', 'fill', now(), 0, i + 2, 1
           FROM generate_series(0, %s - 1) AS i
           ORDER BY 1, 2, 3""",
    ],
}


def fill(url: str, n: int) -> float:
    from pipelines.store import open_store

    started = time.perf_counter()
    with open_store(url) as st:
        if st.dialect == "duckdb":
            st._x("drop_lookup_index")  # as a bulk load does (DuckDBStore.load_run)
            for sql in FILL["duckdb"]:
                st.con.execute(sql, [n] if "?" in sql else None)
            st._x("create_lookup_index")
        else:
            with st.con.transaction():
                for sql in FILL["postgres"]:
                    st.con.execute(sql, (n,) if "%s" in sql else None)
            # what autovacuum does to a store that has been in use: the visibility map lets lookups
            # stay in the index
            st.con.execute("VACUUM ANALYZE suppressions")
    return time.perf_counter() - started


def suppress(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SUPPRESSION_STORE", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"suppress {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, done


def nightly_file(path: Path, n: int) -> None:
    """Half known addresses with a newer bounce, half new ones."""
    with path.open("w") as out:
        out.write("address,event,occurred_at,detail\n")
        for k in range(NIGHTLY_ROWS):
            i = (k * 7919) % n if k % 2 == 0 else n + k
            out.write(f"{address(i)},hard_bounce,2026-11-29T02:{k % 60:02d}:00Z,550 5.1.1 user unknown\n")


def check_file(path: Path, n: int) -> None:
    with path.open("w") as out:
        for k in range(CHECK_ROWS):
            out.write(address((k * 104729) % n if k % 2 == 0 else n + NIGHTLY_ROWS + k) + "\n")


def single_lookup_ms(url: str, n: int) -> float:
    """The store's lookup of one address, as a one-address `suppress check` asks it (check_rows)."""
    from pipelines.store import open_store

    with open_store(url) as st:
        inputs = [[(0, "email", address(i))] for i in range(0, n, max(1, n // 50))]
        for one in inputs:  # warm-up
            st.check_rows(TENANT, one)
        times = []
        for k in range(SINGLE_REPEATS):
            one = inputs[k % len(inputs)]
            started = time.perf_counter()
            hits = st.check_rows(TENANT, one)
            times.append((time.perf_counter() - started) * 1000)
            assert len(hits) == 1
    return statistics.median(times)


def one_check_seconds(url: str, n: int) -> float:
    """A whole `suppress check` process for one address (the console script, as a user runs it):
    the median of PROCESS_REPEATS."""
    script = Path(sys.executable).with_name("suppress")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SUPPRESSION_STORE", None)
    times = []
    for k in range(PROCESS_REPEATS):
        started = time.perf_counter()
        done = subprocess.run([*command, "check", "--tenant", TENANT, "--json", "--store", url, address((k * 7) % n)],
                              cwd=REPO, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0 or '"suppressed"' not in done.stdout:
            raise SystemExit(f"suppress check failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return statistics.median(times)


def bench(name: str, url: str, n: int, workdir: Path) -> dict:
    print(f"[{name}] filling {n:,} suppressions ...", flush=True)
    filled = fill(url, n)
    print(f"[{name}]   {filled:.1f} s", flush=True)
    nightly = workdir / "nightly_events.csv"
    checks = workdir / "check_1m.txt"
    if not nightly.exists():
        nightly_file(nightly, n)
        check_file(checks, n)
    nightly_s, done = suppress("ingest", "--tenant", TENANT, "--json", "--store", url, str(nightly))
    summary = json.loads(done.stdout)
    print(f"[{name}] nightly {NIGHTLY_ROWS:,} rows: {nightly_s:.2f} s (added {summary['suppressions_added']:,}, "
          f"strengthened {summary['suppressions_updated']:,})", flush=True)
    out = workdir / f"check-{name}.json"
    check_s, _ = suppress("check", "--tenant", TENANT, "--json", "--store", url, "--file", str(checks))
    print(f"[{name}] check {CHECK_ROWS:,} addresses: {check_s:.2f} s", flush=True)
    single = single_lookup_ms(url, n)
    print(f"[{name}] single lookup: median {single:.3f} ms over {SINGLE_REPEATS:,}", flush=True)
    process = one_check_seconds(url, n)
    print(f"[{name}] one-address suppress check process: median {process:.3f} s over {PROCESS_REPEATS}", flush=True)
    out.unlink(missing_ok=True)
    return {"fill_seconds": round(filled, 1), "nightly_seconds": round(nightly_s, 2),
            "nightly_added": summary["suppressions_added"], "nightly_updated": summary["suppressions_updated"],
            "check_seconds": round(check_s, 2), "single_lookup_ms": round(single, 3),
            "one_check_process_seconds": round(process, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suppressions", type=int, default=10_000_000)
    parser.add_argument("--postgres", metavar="URL", help="also measure this (empty) postgresql:// database")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="lookups-", dir=OUT) as tmp:
        workdir = Path(tmp)
        results["duckdb"] = bench("duckdb", str(workdir / "store.duckdb"), args.suppressions, workdir)
        if args.postgres:
            results["postgres"] = bench("postgres", args.postgres, args.suppressions, workdir)
    verdicts = []
    for name, r in results.items():
        for key, limit in TARGETS.items():
            ok = r[key] <= limit
            verdicts.append(ok)
            print(f"{'PASS' if ok else 'FAIL'}  {name} {key} {r[key]} (limit {limit})")
    doc = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "suppressions": args.suppressions,
           "cpus": os.cpu_count(), "results": results, "targets": TARGETS, "pass": all(verdicts)}
    path = OUT / f"lookups-{args.suppressions}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO)}")
    return 0 if doc["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
