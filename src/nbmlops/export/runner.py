"""``nbmlops jobs run``: a job folder executed headless, recorded, gated, acted upon.

A job run is a run of kind ``job`` with the job's parameters. Its notebook is executed by
papermill in a real kernel (a process of its own, in its own process group), with the
values injected in a cell after the ``parameters`` cell; the kernel is told the job run's
id, so every run its tracked cells record has the job run as its parent. The executed
notebook is kept in the job folder's ``runs/`` and as an artifact of the job run.

The job's own record of the execution (a job run: the job, its folder and parameters; when
it is over, the runs it recorded, the gate that failed, why it failed, the executed
notebook) is kept beside the run, for ``nbmlops.job_runs()``.

Then, in order: a cell that raised fails the job (the message names the cell and the
error); each gate is checked on the metrics of the job's runs (the newest finished run
that logged the metric); the on-success actions are carried out. ``timeout`` bounds the
whole run (the kernel is killed past it); ``retries`` runs the notebook again after a
failure of the notebook itself (not after a failed gate). SIGTERM stops the kernel and
records the job as failed; a runner killed outright (SIGKILL) takes papermill and its kernel
with it (on Linux: papermill has a parent-death signal, and the kernel exits when papermill
is gone), and is marked ``crashed`` by the next process that opens the store, like any run
whose process died.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops import keyvalue, tracking
from nbmlops._types import JobRunEnd, NewJobRun
from nbmlops.errors import JobFailed, JobSpecError
from nbmlops.export import notebook as nbmod
from nbmlops.export.actions import carry_out, parse_action
from nbmlops.export.spec import JobSpec, load
from nbmlops.tracking import PARENT_RUN_ENV as PARENT_ENV
from nbmlops.tracking import finish

if TYPE_CHECKING:
    from nbmlops._types import RunRecord
    from nbmlops.tracking import ActiveRun
    from nbmlops.workspace import Workspace

OUTPUTS = "runs"


@dataclass(frozen=True)
class GateResult:
    gate: str
    value: float | None
    passed: bool
    run_id: str | None


@dataclass(frozen=True)
class JobResult:
    """What a job run did."""

    job: str
    run_id: str
    status: str  # finished | failed
    message: str
    output: Path | None
    attempts: int
    seconds: float
    runs: tuple[str, ...] = ()  # the runs the notebook recorded
    gates: tuple[GateResult, ...] = ()
    actions: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "finished"

    def __str__(self) -> str:
        head = (f"job {self.job} {self.status} in {self.seconds:.1f} s (run "
                f"{self.run_id[:8]}, {len(self.runs)} run(s) recorded"
                + (f", {self.attempts} attempts" if self.attempts > 1 else "") + ")")
        lines = [head]
        lines += [f"  gate {g.gate}: {'passed' if g.passed else 'FAILED'} "
                  f"({'no value' if g.value is None else f'{g.value:g}'})" for g in self.gates]
        lines += [f"  {a}" for a in self.actions]
        if not self.ok:
            lines.append(f"  {self.message}")
        if self.output is not None:
            lines.append(f"  executed notebook: {self.output}")
        return "\n".join(lines)


class _Stopped(BaseException):
    """SIGTERM while the job ran."""


def parse_overrides(spec: JobSpec, pairs: Sequence[str]) -> dict[str, Any]:
    """``["C=0.5", "label=a b"]`` as typed values of the job's parameters."""
    return keyvalue.parse(pairs, flag="-p", hint="write parameters as NAME=VALUE",
                          convert=lambda name, text: spec.parameter(name).convert(text),
                          error=JobSpecError, key_required=False)


def run_job(ws: Workspace, folder: Path, *, overrides: Mapping[str, Any] | None = None,
            timeout: float | None = None, retries: int | None = None,
            settings_env: Mapping[str, str] | None = None,
            project_root: Path | None = None) -> JobResult:
    """Run the job in ``folder`` (see the module); a failed job is a result with status
    ``failed``, not an exception (the exit status comes from it)."""
    folder = Path(folder).resolve()
    spec = load(folder)
    path = folder / spec.notebook
    nb = _read_json(path)
    if spec.notebook_sha256 is not None:
        import hashlib

        if hashlib.sha256(path.read_bytes()).hexdigest() != spec.notebook_sha256:
            raise JobSpecError(
                f"{path} changed since the job was exported (its sha256 is not the one in "
                "job.yaml); export the job again, or set notebook_sha256 to null to run "
                "whatever the notebook holds")
    values = {p.name: p.default for p in spec.parameters}
    for name, value in (overrides or {}).items():
        spec.parameter(name)  # a clear error for a name the job does not have
        values[name] = value
    actions = [parse_action(a) for a in spec.on_success]
    timeout = spec.timeout if timeout is None else timeout
    retries = spec.retries if retries is None else retries
    started = time.monotonic()
    job = tracking.start_run(ws, experiment=spec.run_experiment, name=f"job {spec.name}",
                            kind="job", params=values,
                            tags={"job": spec.name, "job_dir": str(folder)},
                            notebook_path=str(path))
    try:
        ws.store.start_job_run(NewJobRun(run_id=job.id, job=spec.name,
                                              job_dir=str(folder), parameters=values))
    except BaseException as exc:
        finish(job, exc)
        raise
    out_dir = folder / OUTPUTS
    out_dir.mkdir(exist_ok=True)
    output: Path | None = None
    attempts = 0
    gate_failed: str | None = None
    try:
        with _sigterm_raises():
            while True:
                attempts += 1
                output = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{job.id[:8]}" \
                    f"{'' if attempts == 1 else f'-{attempts}'}.ipynb"
                left = None if timeout is None else timeout - (time.monotonic() - started)
                error = _execute(spec, nb, values, path, output, job.id, left,
                                 settings_env or {}, budget=timeout, cwd=_cwd(folder, spec, project_root))
                if error is None or attempts > retries or error.startswith("timed out"):
                    break
                job.log_metric("failed_attempts", float(attempts))
                time.sleep(spec.retry_delay)
        if output.is_file():
            job.log_artifact(output, name="executed.ipynb")
        runs = _job_runs(ws, job.id)
        job.set_tags({"runs": len(runs)})
        if error is not None:
            raise JobFailed(error, run_id=job.id, reason="cell")
        gates = _check_gates(spec, runs)
        failed = [g for g in gates if not g.passed]
        if failed:
            gate_failed = failed[0].gate
            job.set_tags({"gate_failed": gate_failed})
            raise JobFailed(
                "gate failed: " + "; ".join(
                    f"{g.gate} (found {'no value' if g.value is None else f'{g.value:g}'})"
                    for g in failed), run_id=job.id, reason="gate")
        try:
            done = carry_out(ws, actions, job_run=job.id, runs=runs) if actions else []
        except Exception as exc:  # the registry refused (no model, a gate, a bad alias)
            raise JobFailed(f"on-success action failed: {exc}", run_id=job.id,
                            reason="action") from exc
    except JobFailed as exc:
        return _failed(job, spec, exc, output, attempts, started, values, ws,
                       gate_failed=gate_failed)
    except _Stopped:
        stopped = JobFailed("stopped by SIGTERM", run_id=job.id, reason="stopped")
        return _failed(job, spec, stopped, output, attempts, started, values, ws)
    except BaseException as exc:
        finish(job, exc)
        raise
    finish(job)
    _end_job_run(ws, job.id, runs, output)
    return JobResult(job=spec.name, run_id=job.id, status="finished", message="",
                     output=output, attempts=attempts, seconds=time.monotonic() - started,
                     runs=tuple(r.id for r in runs), gates=tuple(gates), actions=tuple(done),
                     parameters=values)


def _failed(job: ActiveRun, spec: JobSpec, exc: JobFailed, output: Path | None,
            attempts: int, started: float, values: Mapping[str, Any], ws: Workspace, *,
            gate_failed: str | None = None) -> JobResult:
    job.set_tags({"failure": exc.reason})
    job.end("failed", error=str(exc))
    runs = _job_runs(ws, job.id)
    _end_job_run(ws, job.id, runs, output, gate_failed=gate_failed, failure=exc.reason)
    return JobResult(job=spec.name, run_id=job.id, status="failed", message=str(exc),
                     output=output if output is not None and output.is_file() else None,
                     attempts=attempts, seconds=time.monotonic() - started,
                     runs=tuple(r.id for r in runs), parameters=values)


def _end_job_run(ws: Workspace, run_id: str, runs: Sequence[RunRecord],
                 output: Path | None, *, gate_failed: str | None = None,
                 failure: str | None = None) -> None:
    """What the job came to, on its job run (its status and end are its run's)."""
    ws.store.end_job_run(run_id, JobRunEnd(
        child_runs=len(runs), gate_failed=gate_failed, failure=failure,
        executed=str(output) if output is not None and output.is_file() else None))


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the job) becomes an exception the run records."""
    def stop(signum: int, frame: Any) -> None:
        raise _Stopped()

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cwd(folder: Path, spec: JobSpec, project_root: Path | None) -> Path:
    """Where the notebook runs: the folder of the notebook it was exported from, when
    that is still there (relative paths in it work as they did interactively), else the
    job folder."""
    if spec.source:
        source = Path(spec.source)
        if not source.is_absolute():
            if project_root is None:
                return folder
            source = project_root / source
        if source.parent.is_dir():
            return source.parent
    return folder


def _execute(spec: JobSpec, nb: Any, values: Mapping[str, Any], path: Path, output: Path,
             job_id: str, timeout: float | None, settings_env: Mapping[str, str], *,
             budget: float | None, cwd: Path) -> str | None:
    """Run the notebook with papermill; None on success, else why it failed."""
    source = output.with_name(f".{output.stem}.input.ipynb")
    source.write_text(json.dumps(nbmod.inject(nb, values), ensure_ascii=False))
    cmd = [*_dies_with_me(), sys.executable, "-m", "papermill", str(source), str(output),
           "-k", spec.kernel, "--no-progress-bar", "--cwd", str(cwd)]
    if spec.cell_timeout is not None:
        cmd += ["--execution-timeout", str(int(spec.cell_timeout))]
    env = {**os.environ, **settings_env, PARENT_ENV: job_id, "NBMLOPS_NOTEBOOK": str(path),
           "NBMLOPS_EXPERIMENT": spec.run_experiment, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout if timeout is None else max(timeout, 0.0))
    except subprocess.TimeoutExpired:
        _kill(proc)
        return f"timed out after {budget if budget is not None else timeout:g} s (the " \
               "kernel was stopped)"
    except BaseException:
        _kill(proc)
        raise
    finally:
        source.unlink(missing_ok=True)
    if proc.returncode == 0:
        return None
    if output.is_file():
        try:
            failed = nbmod.failed_cell(_read_json(output))
        except Exception:
            failed = None
        if failed is not None:
            position, cell_id, error = failed
            named = f"cell {position}" + (f" (id {cell_id!r})" if cell_id else "")
            return f"{named} raised {error}"
    tail = "\n".join(log.decode(errors="replace").strip().splitlines()[-8:])
    return f"papermill failed (exit status {proc.returncode}):\n{tail}"


# Run before papermill, in its process (then exec'd into papermill, same pid): on Linux,
# ask the OS to SIGKILL it when the runner that started it dies, whatever kills the
# runner (SIGKILL included); if the runner is already gone, stop at once.
_PARENT_DEATH = (
    "import ctypes, os, signal, sys\n"
    "parent = int(sys.argv[1])\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)\n"  # PR_SET_PDEATHSIG = 1
    "if os.getppid() != parent:\n"
    "    sys.exit('nbmlops: the job runner stopped before papermill started')\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n")


def _dies_with_me() -> list[str]:
    """The command prefix that makes papermill die with this process. papermill's kernel
    follows papermill: jupyter_client starts it with ``JPY_PARENT_PID``, and the kernel
    exits within a second of papermill's death. So a runner killed outright leaves no
    kernel finishing the job behind its back (where no prctl exists, the prefix is empty
    and SIGTERM is the way to stop a job)."""
    if not sys.platform.startswith("linux"):
        return []
    return [sys.executable, "-I", "-S", "-c", _PARENT_DEATH, str(os.getpid())]


def _read_json(path: Path) -> dict[str, Any]:
    """A notebook's JSON (nbformat stays out of the runner: importing it takes seconds)."""
    if not path.is_file():
        raise JobSpecError(f"no notebook at {path}")
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise JobSpecError(f"{path} is not a readable notebook ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise JobSpecError(f"{path} is not a notebook (no cells)")
    return nb


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop papermill and its kernel. papermill leads its own process group, but
    jupyter_client starts the kernel in a session of its own: its processes are found
    (as papermill's descendants) before papermill goes, and signalled too."""
    family = _descendants(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        for pid in family:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        if not any(_alive(pid) for pid in family):
            return


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job_runs(ws: Workspace, job_id: str) -> list[RunRecord]:
    """The runs the job's notebook recorded (its children; a search's candidates are
    grandchildren and not counted), with runs its dead kernel left running reaped."""
    ws.store.reap_orphans(time.time())
    table = ws.store.search_runs(parent_run_id=job_id)
    return [ws.store.get_run(row[0]) for row in table.rows]


def _check_gates(spec: JobSpec, runs: Sequence[RunRecord]) -> list[GateResult]:
    results = []
    ordered = sorted((r for r in runs if r.status == "finished"), key=lambda r: r.start_time,
                     reverse=True)
    for gate in spec.gates:
        source = next((r for r in ordered if gate.metric in r.metrics), None)
        value = None if source is None else source.metrics[gate.metric]
        results.append(GateResult(str(gate), value,
                                  value is not None and gate.passes(value),
                                  None if source is None else source.id))
    return results


__all__ = ["OUTPUTS", "PARENT_ENV", "GateResult", "JobResult", "parse_overrides", "run_job"]
