"""Reproductions started from the panel: ``POST /runs/{id}/reproduce`` starts one,
``GET /runs/{id}/reproduce`` reports its progress and result.

A reproduction runs :func:`nbmlops.api.reproduce` in a subprocess of the Jupyter server
(``python -m nbmlops.server.reproducing RUN --rtol R --out RESULT.json``): it starts a
kernel (papermill) and records a run of kind ``reproduce``, which the server itself, only
looking at the store (``api.look_only()``), never does. The subprocess opens the store for
writing, as the models' promote route does for its change. A thread of the server waits
for it and keeps its result; one reproduction at a time per run (a second is a 409 while
the first runs). What is kept lives as long as the server process: after a restart the
state is ``idle`` again (the reproduction's run stays in the store).

No tornado here (see :mod:`nbmlops.server.reads`): the handlers map the errors.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbmlops import api
from nbmlops.server import payloads as p

MAX_RUNNING = 4  # reproductions running at once in one server (each starts a kernel)


class AlreadyRunning(Exception):
    """A reproduction of this run is running (409), or too many are (429)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Job:
    run_id: str
    rtol: float
    started: float
    folder: Path
    proc: subprocess.Popen[bytes]
    finished: float | None = None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.finished is None


_lock = threading.Lock()
_jobs: dict[str, _Job] = {}


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, tz=UTC).isoformat()


def _idle(run_id: str) -> p.Reproduction:
    return p.Reproduction(run_id=run_id, state="idle", rtol=None, started=None, finished=None,
                          elapsed_s=None, summary=None, differences=[], causes=[],
                          packages=[], error=None, reproduction_run_id=None,
                          reproduced_run_id=None, notebook=None, frames_loaded=[])


def _payload(job: _Job) -> p.Reproduction:
    r = job.result
    end = job.finished if job.finished is not None else time.time()
    found = r.get("status")
    state: p.ReproductionState = ("running" if job.running else
                                  found if found in ("reproduced", "differs") else "failed")
    return p.Reproduction(
        run_id=job.run_id, state=state, rtol=job.rtol, started=_iso(job.started),
        finished=_iso(job.finished), elapsed_s=round(end - job.started, 1),
        summary=r.get("summary"), differences=list(r.get("differences", [])),
        causes=list(r.get("causes", [])), packages=list(r.get("packages", [])),
        error=r.get("error"), reproduction_run_id=r.get("reproduction_run_id"),
        reproduced_run_id=r.get("reproduced_run_id"), notebook=r.get("notebook"),
        frames_loaded=list(r.get("frames_loaded", [])))


def status(run_id: str) -> p.Reproduction:
    """The reproduction of run ``run_id`` (an id or a unique prefix) started here, if any."""
    full = api.get_run(run_id).id  # RunNotFoundError: 404
    with _lock:
        job = _jobs.get(full)
        return _idle(full) if job is None else _payload(job)


def start(run_id: str, body: p.ReproduceRequest) -> p.Reproduction:
    """Start reproducing run ``run_id`` in the background; its state (``running``)."""
    from nbmlops.errors import ReproduceError

    rtol = float(body.get("rtol", 0.0))
    if not rtol >= 0 or rtol != rtol or rtol == float("inf"):
        raise ValueError(f"rtol must be a relative tolerance of 0 or more, not {rtol}")
    api.workspace("read")  # NoStoreError (503) where nothing was recorded yet
    run = api.get_run(run_id)  # RunNotFoundError (404)
    if run.slice is None:
        raise ReproduceError(
            f"run {run.id[:8]} has no slice: it was recorded without the cell journal (a "
            "script, a job, a search, or %nbmlops journal off), so it cannot be reproduced; "
            "track it again in a notebook with %load_ext nbmlops", run_id=run.id)
    if run.status == "running":
        raise ReproduceError(f"run {run.id[:8]} is still running: reproduce it once it has "
                             "finished", run_id=run.id)
    with _lock:
        job = _jobs.get(run.id)
        if job is not None and job.running:
            raise AlreadyRunning(
                f"run {run.id[:8]} is being reproduced already (for "
                f"{time.time() - job.started:.0f} s): wait for that reproduction's result "
                f"(GET runs/{run.id[:8]}/reproduce)")
        busy = sum(j.running for j in _jobs.values())
        if busy >= MAX_RUNNING:
            raise AlreadyRunning(f"{busy} reproductions are running in this server already: "
                                 "start this one when one of them has finished", status=429)
        folder = Path(tempfile.mkdtemp(prefix="nbmlops-reproduce-"))
        log = (folder / "log.txt").open("wb")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nbmlops.server.reproducing", run.id, "--rtol",
                 repr(rtol), "--out", str(folder / "result.json")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            log.close()
        job = _Job(run_id=run.id, rtol=rtol, started=time.time(), folder=folder, proc=proc)
        _jobs[run.id] = job
        threading.Thread(target=_wait, args=(job,), name=f"nbmlops-reproduce-{run.id[:8]}",
                         daemon=True).start()
        return _payload(job)


def _wait(job: _Job) -> None:
    code = job.proc.wait()
    try:
        result: dict[str, Any] = json.loads(
            (job.folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        lines = [ln.strip() for ln in (job.folder / "log.txt").read_text(
            encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if "Error" in ln or "Exception" in ln),
                   lines[-1] if lines else "no output")
        result = {"status": "failed",
                  "error": f"the reproduction stopped (exit status {code}): {why}"}
    shutil.rmtree(job.folder, ignore_errors=True)
    with _lock:
        job.result = result
        job.finished = time.time()


@atexit.register
def _stop_all() -> None:
    """The server is exiting: a reproduction it started does not outlive it."""
    with _lock:
        running = [j for j in _jobs.values() if j.running]
    for job in running:
        job.proc.terminate()


# -- the subprocess ------------------------------------------------------------------------------

def _reproduce(run_id: str, rtol: float) -> dict[str, Any]:
    from nbmlops.errors import NbmlopsError

    try:
        r = api.reproduce(run_id, rtol=rtol)
    except NbmlopsError as exc:
        return {"status": "failed", "error": str(exc), "summary": str(exc)}
    return {"status": r.status, "summary": str(r), "differences": list(r.differences),
            "causes": list(r.causes), "packages": list(r.packages), "error": r.error,
            "reproduction_run_id": r.reproduction_run_id,
            "reproduced_run_id": r.reproduced_run_id, "notebook": str(r.notebook),
            "frames_loaded": list(r.frames_loaded)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbmlops.server.reproducing")
    parser.add_argument("run_id")
    parser.add_argument("--rtol", type=float, default=0.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        result = _reproduce(args.run_id, args.rtol)
    finally:
        api.close()
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
