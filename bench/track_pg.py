"""Where a tracked run's time goes on PostgreSQL: statements, transactions, connections and
round trips per run, lock waits while many processes track at once, and time per run.

    NBMLOPS_STORE=postgresql+psycopg://writer@host/db .venv/bin/python bench/track_pg.py
    ... bench/track_pg.py --quick        # 25 runs in one process, 4 processes x 10 runs

Part 1 tracks runs (one param each way the 16 x 25 test does, one metric) in this process
and counts, with SQLAlchemy's events, every statement, transaction and new connection
after a warm-up run. Part 2 starts worker processes that track runs at once and samples
``pg_stat_activity`` meanwhile (as the store's owner, ``--owner-url``, when the workers'
login cannot see other sessions): what the sessions were waiting on. It splits each
worker's time into its first run (imports, opening the store) and the rest.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

WORKER = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import nbmlops
    worker, runs = int(sys.argv[1]), int(sys.argv[2])
    for i in range(runs):
        with nbmlops.track("bench-pg", f"w{worker}-{i}", params={"worker": worker, "i": i}):
            nbmlops.log_metric("loss", 1.0 / (i + 1))
        if i == 0:
            t1 = time.perf_counter()
    t2 = time.perf_counter()
    print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
""")


def in_process(runs: int) -> None:
    import sqlalchemy as sa
    from sqlalchemy import event

    import nbmlops

    statements: collections.Counter[str] = collections.Counter()
    counts = {"transactions": 0, "connections": 0}

    @event.listens_for(sa.engine.Engine, "after_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements[" ".join(statement.split())[:70]] += 1

    @event.listens_for(sa.engine.Engine, "begin")
    def _begin(conn: Any) -> None:
        counts["transactions"] += 1

    @event.listens_for(sa.pool.Pool, "connect")
    def _connect(*args: Any) -> None:
        counts["connections"] += 1

    with nbmlops.track("bench-pg", "warm-up"):
        nbmlops.log_metric("loss", 1.0)
    statements.clear()
    counts.update(transactions=0, connections=0)
    start = time.perf_counter()
    for i in range(runs):
        with nbmlops.track("bench-pg", f"p-{i}", params={"worker": 0, "i": i}):
            nbmlops.log_metric("loss", 1.0 / (i + 1))
    took = time.perf_counter() - start
    total = sum(statements.values())
    # psycopg sends BEGIN and COMMIT as round trips of their own
    trips = (total + 2 * counts["transactions"]) / runs
    print(f"[1] one process, {runs} runs after a warm-up: {1000 * took / runs:.1f} ms/run; "
          f"{total / runs:.1f} statements, {counts['transactions'] / runs:.1f} transactions, "
          f"~{trips:.1f} round trips per run; {counts['connections']} new connections")
    for statement, n in statements.most_common():
        print(f"    {n / runs:4.1f} x {statement}")


def processes(n: int, runs: int, owner_url: str) -> None:
    import sqlalchemy as sa

    waits: collections.Counter[tuple[Any, ...]] = collections.Counter()
    done = threading.Event()

    def sample() -> None:
        engine = sa.create_engine(owner_url)
        with engine.connect() as conn:
            while not done.is_set():
                for row in conn.execute(sa.text(
                        "SELECT wait_event_type, wait_event, state FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend'")):
                    waits[tuple(row)] += 1
                conn.commit()
                time.sleep(0.05)
        engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, str(script), str(w), str(runs)],
                                  stdout=subprocess.PIPE, text=True) for w in range(n)]
        outs = [p.communicate()[0].split() for p in procs]
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    if any(p.returncode for p in procs):
        sys.exit("a worker failed")
    first = [float(o[0]) for o in outs]
    rest = [float(o[1]) for o in outs]
    print(f"[2] {n} processes x {runs} runs: {wall:.1f} s wall; per worker: first run "
          f"(imports, opening the store) {min(first):.1f}-{max(first):.1f} s, the other "
          f"{runs - 1} runs {min(rest):.1f}-{max(rest):.1f} s "
          f"({1000 * sum(rest) / len(rest) / (runs - 1):.0f} ms/run with {n} at once)")
    total = sum(waits.values()) or 1
    print("    sessions sampled in pg_stat_activity (wait type, event, state):")
    for key, count in waits.most_common(8):
        print(f"    {100 * count / total:5.1f}%  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--owner-url", help="a login that sees every session (default: "
                        "NBMLOPS_STORE)")
    args = parser.parse_args()
    url = os.environ.get("NBMLOPS_STORE", "")
    if not url.startswith("postgresql"):
        sys.exit("set NBMLOPS_STORE to a PostgreSQL store (postgresql+psycopg://...)")
    print(f"load: {os.getloadavg()[0]:.1f} (1 min average) on {os.cpu_count()} cores")
    in_process(25 if args.quick else 200)
    processes(4 if args.quick else 16, 10 if args.quick else 25, args.owner_url or url)


if __name__ == "__main__":
    main()
