"""What the cell journal costs a cell, and what a tracked run pays to find its slice.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/reproduce.py            # about half a minute
    .venv/bin/python bench/reproduce.py --quick    # fewer cells

Sections:

1. The journal on the cell's path: the ``post_run_cell`` hook (what every cell pays, tracked
   or not), timed around the hook itself over realistic cells; then ``run_cell`` of the same
   cells with the journal on and off, interleaved (the difference, noisier).
2. Off the cell's path: the background writer's work per cell (hash, AST names, file stats,
   the write), timed through ``flush``.
3. ``%%track`` over a long session with the journal on and off, interleaved, each after a
   plain cell of a new source: the slice and flags are found from the journal in memory on
   the cell's path; the journal and the slice are written later by the background writers.

Not measured here (issue 18, not done yet): the corpus of 200 generated sessions with the
precision and recall of the flags, and ipyflow beside it.

The store lives in a fresh temporary directory, also the working directory; timings are
wall-clock and indicative (the load average is printed at the top).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _harness import load_average, median, p90, say, version_of

TARGET_MS = 0.3
CELLS = [
    "import math",
    "values = [math.sqrt(i) for i in range(50)]",
    "total = sum(values)\nmean = total / len(values)",
    "def scale(xs, k):\n    return [x * k for x in xs]\nscaled = scale(values, 2.0)",
    "label = f'mean={mean:.3f}'",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cells")
    args = parser.parse_args()
    n = 400 if args.quick else 2000
    root = Path(tempfile.mkdtemp(prefix="nbmlops-bench-reproduce-"))
    os.environ["NBMLOPS_STORE"] = str(root / "lineage.db")
    os.environ["NBMLOPS_ARTIFACTS"] = str(root / "artifacts")
    os.environ["IPYTHONDIR"] = str(root / "ipython")
    os.chdir(root)
    from IPython.core.interactiveshell import InteractiveShell

    import nbmlops

    say(f"nbmlops journal bench  python {sys.version.split()[0]}  IPython "
        f"{version_of('ipython')}  load average {load_average()}")
    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext nbmlops")
    session = shell._nbmlops_session
    shell.run_cell("%%track -e bench -q\nready = 1.0")  # the store exists from here on

    # 1a: the hook itself, as IPython calls it after each cell
    hook = session._journal_cell
    results = [shell.run_cell(c, store_history=True) for c in CELLS]
    hook_times = []
    for i in range(n):
        result = results[i % len(results)]
        t0 = time.perf_counter()
        hook(result)
        hook_times.append(time.perf_counter() - t0)
    session.journal.flush()
    say(f"1. post_run_cell hook: median {median(hook_times) * 1e3:.4f} ms, p90 "
        f"{p90(hook_times) * 1e3:.4f} ms per cell over {n} cells (target <= {TARGET_MS} ms)")

    # 1b: run_cell with the journal on and off, interleaved
    on, off = [], []
    for i in range(n // 2):
        code = CELLS[i % len(CELLS)]
        for state, bucket in ((True, on), (False, off)) if i % 2 == 0 else \
                ((False, off), (True, on)):
            session.journal.enabled = state
            t0 = time.perf_counter()
            shell.run_cell(code, store_history=True)
            bucket.append(time.perf_counter() - t0)
    session.journal.enabled = True
    say(f"   run_cell: median {median(on) * 1e3:.3f} ms with the journal, "
        f"{median(off) * 1e3:.3f} ms without (difference "
        f"{(median(on) - median(off)) * 1e3:+.3f} ms)")

    # 2: the background writer's work, on this thread (no writer running meanwhile)
    from nbmlops.reproduce import analyze_code
    from nbmlops.reproduce.journal import source_hash

    transform = session.journal._transform  # as the journal analyses (plain Python as is)
    t0 = time.perf_counter()
    for i in range(n):
        code = CELLS[i % len(CELLS)] + f"\nrow_{i} = {i}"  # distinct sources
        source_hash(code)
        analyze_code(code, transform)
    analyse_s = (time.perf_counter() - t0) / n
    session.journal.enabled = False
    journal = session.journal
    for i in range(n):
        journal._queue.append((10**6 + i, time.time(), CELLS[i % len(CELLS)], None, i, True))
    t0 = time.perf_counter()
    journal.flush()
    flush_s = (time.perf_counter() - t0) / n
    session.journal.enabled = True
    say(f"2. background writer: {analyse_s * 1e3:.3f} ms per cell to hash and read its "
        f"names; {flush_s * 1e3:.3f} ms per cell to analyse and write a batch of {n}")

    # 3: a tracked run over the long session, journal on and off interleaved; before each,
    # a plain cell of a new source (so the journal has something new to analyse)
    reps = 20 if args.quick else 60
    times: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    body = "%%track -e bench -q\nresult = float(mean + len(scaled))"
    for i in range(2 * reps):
        state = (i % 4) in (0, 3)  # on, off, off, on, ...
        session.journal.enabled = state
        shell.run_cell(f"step_{i} = {i}\nmean = total / len(values)", store_history=True)
        t0, c0 = time.perf_counter(), time.thread_time()
        shell.run_cell(body, store_history=True)
        times[state].append(time.perf_counter() - t0)
        cpu[state].append(time.thread_time() - c0)
    session.journal.enabled = True
    cells = session.journal.state()["cells"]
    on_ms, off_ms = median(times[True]) * 1e3, median(times[False]) * 1e3
    on_cpu, off_cpu = median(cpu[True]) * 1e3, median(cpu[False]) * 1e3
    say(f"3. %%track over a session of {cells} cells: median {on_ms:.2f} ms per run with its "
        f"slice and flags, {off_ms:.2f} ms with the journal off (difference "
        f"{on_ms - off_ms:+.2f} ms); CPU time of the cell's thread {on_cpu:.2f} vs "
        f"{off_cpu:.2f} ms ({on_cpu - off_cpu:+.2f} ms)")
    from nbmlops.tracking import write_deferred

    t0 = time.perf_counter()
    session.journal.flush()
    write_deferred(nbmlops.api.workspace())
    say(f"   off the cell's path, writing what waited (journal entries and the runs' slices, "
        f"one transaction) took {(time.perf_counter() - t0) * 1e3:.1f} ms")
    met = median(hook_times) * 1e3 <= TARGET_MS
    say(f"\nsummary: journal overhead per cell {median(hook_times) * 1e3:.4f} ms median "
        f"(target <= {TARGET_MS} ms: {'met' if met else 'NOT met'})")
    shell.run_cell("%unload_ext nbmlops")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
