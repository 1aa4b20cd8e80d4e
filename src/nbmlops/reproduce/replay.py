"""``nbmlops reproduce RUN``: the run's slice as a linear notebook, run in a fresh kernel,
compared with the original.

Named steps, in order: :func:`load_original` (the run and its slice), :func:`build_notebook`
(the slice's exact code, then the run's params in a papermill ``parameters`` cell, then the
run's own cell under ``%%track``), :func:`write_notebook` (``--notebook-only`` stops here),
:func:`execute` (papermill, in the run's folder, or a copy of it with the run's data
snapshot put back (:mod:`~nbmlops.reproduce.snapshot`), the kernel told the reproduction's run
id so the run it records is its child), :func:`compare` (every metric, exactly or within
``rtol``; input and output data fingerprints; package versions) and :func:`explain` (the
likely causes: the original's hidden-state flags, changed data files, package versions).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops._types import DatasetLink, RunRecord, RunSlice
from nbmlops.config import settings_env
from nbmlops.errors import ReproduceError
from nbmlops.reproduce.snapshot import in_memory_frames, restore

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

KERNEL = "python3"
FOLDER = Path(".nbmlops") / "reproduce"
_TRACK = "%%track"


@dataclass(frozen=True)
class Reproduction:
    """What reproducing a run found. ``status``: ``reproduced``, ``differs``, ``failed``
    (the notebook raised) or ``written`` (``notebook_only``)."""

    run_id: str
    status: str
    notebook: Path
    reproduction_run_id: str | None = None
    reproduced_run_id: str | None = None
    differences: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    compared: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    packages: tuple[str, ...] = ()  # package versions that differ from the original's
    # frames built in memory, loaded from the run's snapshot rather than rebuilt
    frames_loaded: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in ("reproduced", "written")

    def __str__(self) -> str:
        rid = self.run_id[:8]
        loaded = ("\n  frames built in memory, loaded from the run's snapshot: "
                  + ", ".join(self.frames_loaded)) if self.frames_loaded else ""
        if self.status == "written":
            return f"run {rid}: linear notebook written to {self.notebook} (not run){loaded}"
        rec = f" (recorded as run {self.reproduction_run_id[:8]})" \
            if self.reproduction_run_id else ""
        if self.status == "reproduced":
            what = ", ".join(f"{n} {k}" for k, n in self.compared.items() if n)
            head = f"reproduced: run {rid}{' (' + what + ' equal)' if what else ''}{rec}"
            if self.packages:
                head += "\n  though package versions differ: " + ", ".join(self.packages)
            return head + loaded
        head = (f"NOT reproduced: run {rid}{rec}" if self.status == "differs" else
                f"reproduction of run {rid} failed{rec}: {self.error}")
        lines = [head]
        lines += [f"  differs: {d}" for d in self.differences]
        lines += [f"  likely cause: {c}" for c in self.causes]
        lines.append(f"  notebook: {self.notebook}")
        return "\n".join(lines) + loaded

    def __repr__(self) -> str:
        return str(self)


# -- steps ------------------------------------------------------------------------------

def load_original(ws: Workspace, run_id: str) -> tuple[RunRecord, RunSlice]:
    run = ws.store.get_run(run_id)
    if run.slice is None:
        raise ReproduceError(
            f"run {run.id[:8]} has no slice: it was recorded without the cell journal (a "
            "script, a job, or %nbmlops journal off); track it again in a notebook with "
            "%load_ext nbmlops to reproduce it", run_id=run.id)
    if not run.code:
        raise ReproduceError(f"run {run.id[:8]} recorded no code to run again",
                             run_id=run.id)
    return run, run.slice


def _strip_track(code: str) -> str:
    """A slice cell that was a tracked cell runs as plain code (one reproduced run)."""
    first, _, rest = code.lstrip().partition("\n")
    return rest if first.split()[:1] == [_TRACK] else code


def _cell(kind: str, source: str, index: int, tags: Sequence[str] = ()) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": f"reproduce-{index}",
                            "metadata": {"tags": list(tags)} if tags else {},
                            "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _parameters(params: Mapping[str, Any]) -> str:
    lines = ["# the run's params (papermill injects overrides after this cell)"]
    # an estimator's params are recorded as name -> its class name, name.x -> x: the
    # estimator itself comes from the slice, and must not become that string
    estimators = {key.split(".", 1)[0] for key in params if "." in key}
    for key, value in params.items():
        if key.isidentifier() and not key.startswith("_") and key not in estimators:
            lines.append(f"{key} = {value!r}")
    return "\n".join(lines)


def _track_line(run: RunRecord) -> str:
    files = [ln.name for ln in run.inputs if not ln.name.isidentifier()]
    parts = [_TRACK, "--experiment", json.dumps(run.experiment), "--name",
             json.dumps(f"reproduce {run.id[:8]}")]
    if files:
        names = [ln.name for ln in run.inputs if ln.name.isidentifier()]
        parts += ["--data", *map(json.dumps, names + files)]
    return " ".join(parts)


def _frames_cell(run: RunRecord, frames: Sequence[str]) -> str:
    targets = ", ".join(frames) + ("," if len(frames) == 1 else "")
    return (f"# built in memory when run {run.id[:8]} was recorded (no data file behind them):\n"
            "# loaded from its snapshot, checked against the sha256 it recorded\n"
            "from nbmlops.api import snapshot_frames as _nbmlops_snapshot_frames\n"
            f"{targets} = _nbmlops_snapshot_frames({run.id!r}, {list(frames)!r})")


def build_notebook(run: RunRecord, sl: RunSlice, frames: Sequence[str] = ()
                   ) -> dict[str, Any]:
    """The slice's exact code, then the ``frames`` built in memory loaded from the run's
    snapshot, the run's params, the run's cell: a linear notebook."""
    cells = [_cell("markdown", f"Reproduction of run `{run.id}` ({run.experiment}"
                   f"{'/' + run.name if run.name else ''}), built from the cells it stood on "
                   f"in kernel session `{sl.session_id[:8]}`, in the order they ran.", 0),
             _cell("code", "%load_ext nbmlops", 1)]
    for cell in sl.cells:
        count = "?" if cell.execution_count is None else cell.execution_count
        cells.append(_cell("code", f"# executed as [{count}]\n" + _strip_track(cell.code)
                           if not cell.code.lstrip().startswith("%%")
                           else _strip_track(cell.code), len(cells)))
    if frames:
        cells.append(_cell("code", _frames_cell(run, frames), len(cells)))
    cells.append(_cell("code", _parameters(run.params), len(cells), tags=("parameters",)))
    cells.append(_cell("code", f"{_track_line(run)}\n{run.code}", len(cells)))
    return {"cells": cells, "metadata": {
        "kernelspec": {"name": KERNEL, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}, "nbmlops": {"reproduces": run.id}},
        "nbformat": 4, "nbformat_minor": 5}


def write_notebook(nb: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def execute(ws: Workspace, source: Path, output: Path, *, cwd: Path, parent: str,
            experiment: str, timeout: float | None, sample: Path | None = None
            ) -> str | None:
    """Run ``source`` with papermill in a fresh kernel; None on success, else why not.
    ``sample``: the original's prediction sample, for the reproduced run's models."""
    env = {**os.environ, **settings_env(ws.settings), tracking.PARENT_RUN_ENV: parent,
           "NBMLOPS_NOTEBOOK": str(source),
           "NBMLOPS_EXPERIMENT": experiment, "PYTHONUNBUFFERED": "1"}
    env.pop(tracking.SAMPLE_ENV, None)
    if sample is not None:
        env[tracking.SAMPLE_ENV] = str(sample)
    cmd = [sys.executable, "-m", "papermill", str(source), str(output), "-k", KERNEL,
           "--no-progress-bar", "--cwd", str(cwd)]
    try:
        proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g} s"
    if proc.returncode == 0:
        return None
    tail = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
    return next((ln.strip() for ln in reversed(lines) if "Error" in ln or "Exception" in ln),
                lines[-1] if lines else f"papermill exit status {proc.returncode}")


def _close(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or (rtol > 0 and abs(a - b) <= rtol * max(abs(a), abs(b)))


def _by_name(links: Sequence[DatasetLink]) -> dict[str, str]:
    return {ln.name: ln.dataset.content_hash for ln in links}


def prediction_sample(ws: Workspace, run: RunRecord) -> dict[str, Any] | None:
    """The run's prediction sample (``tracking.SAMPLE_ARTIFACT``), if it recorded one."""
    art = next((a for a in run.artifacts if a.name == tracking.SAMPLE_ARTIFACT), None)
    if art is None:
        return None
    doc: dict[str, Any] = json.loads(ws.artifacts.read_bytes(art.artifact.sha256))
    return doc


def compare(original: RunRecord, again: RunRecord, rtol: float,
            samples: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None] = (None, None)
            ) -> tuple[list[str], list[str], dict[str, int]]:
    """(differences, data that changed, counts compared) of two runs; ``samples``: their
    prediction samples (the original's models' predictions are compared with those of
    the reproduced run's models on the same rows)."""
    diffs: list[str] = []
    changed: list[str] = []
    for key, value in original.metrics.items():
        new = again.metrics.get(key)
        if new is None:
            diffs.append(f"metric {key}: {value:g} then, not logged now")
        elif not _close(value, new, rtol):
            diffs.append(f"metric {key}: {value!r} then, {new!r} now")
    for what, then, now in (("input", original.inputs, again.inputs),
                            ("output", original.outputs, again.outputs)):
        before, after = _by_name(then), _by_name(now)
        for name, digest in before.items():
            if name in after and after[name] != digest:
                diffs.append(f"{what} {name}: content {digest[:12]} then, "
                             f"{after[name][:12]} now")
                changed.append(name)
    models = 0
    if samples[0] is not None:
        wrong, models = tracking.compare_predictions(samples[0], samples[1], rtol)
        diffs += wrong
    counts = {"metrics": len(original.metrics),
              "inputs": len(_by_name(original.inputs)),
              "outputs": len(_by_name(original.outputs)),
              "model predictions": models}
    return diffs, changed, counts


def package_changes(original: RunRecord, again: RunRecord) -> list[str]:
    if original.environment is None or again.environment is None:
        return []
    old = original.environment.package_versions()
    new = again.environment.package_versions()
    out = [f"{n} {old[n]} -> {new.get(n, 'not installed')}" for n in sorted(old)
           if old[n] != new.get(n)]
    if original.environment.python != again.environment.python:
        out.insert(0, f"python {original.environment.python} -> {again.environment.python}")
    return out


def explain(sl: RunSlice, changed_data: Sequence[str], packages: Sequence[str]) -> list[str]:
    causes = [f"hidden state in the original run: {flag}" for flag in sl.flags]
    causes += [f"data {name} changed since the run (its fingerprint differs)"
               for name in changed_data if not name.isidentifier()]
    if packages:
        causes.append("package versions differ: " + ", ".join(packages))
    return causes


def _reproduced_run(ws: Workspace, parent: str) -> RunRecord | None:
    ws.store.reap_orphans(time.time())
    table = ws.store.search_runs(parent_run_id=parent, kinds=["cell"])
    runs = [ws.store.get_run(row[0]) for row in table.rows]
    return max(runs, key=lambda r: r.start_time) if runs else None


def _workdir(ws: Workspace, run: RunRecord) -> Path:
    if run.notebook_path and "://" not in run.notebook_path:
        folder = Path(run.notebook_path).parent
        if folder.is_dir():
            return folder
    return ws.settings.project_root


# -- the whole -------------------------------------------------------------------------

def reproduce(ws: Workspace, run_id: str, *, rtol: float = 0.0, notebook_only: bool = False,
              output: Path | None = None, timeout: float | None = None) -> Reproduction:
    """Reproduce run ``run_id`` (see the module)."""
    original, sl = load_original(ws, run_id)
    path = output or ws.settings.project_root / FOLDER / f"{original.id[:8]}.ipynb"
    workdir = _workdir(ws, original)
    frames = tuple(in_memory_frames(original, [c.code for c in sl.cells], workdir))
    write_notebook(build_notebook(original, sl, frames), path)
    if notebook_only:
        return Reproduction(run_id=original.id, status="written", notebook=path,
                            frames_loaded=frames)
    rep = tracking.start_run(ws, experiment=original.experiment,
                             name=f"reproduce {original.id[:8]}", kind="reproduce",
                             params={"run": original.id, "rtol": rtol},
                             tags={"reproduces": original.id}, notebook_path=str(path))
    try:
        executed = path.with_name(f"{path.stem}.executed.ipynb")
        cwd, _ = restore(ws, original, workdir, path.with_name(f"{path.stem}.data"))
        then_sample = prediction_sample(ws, original)
        sample = None
        if then_sample is not None:
            sample = path.with_name(f"{path.stem}.sample.json")
            sample.write_text(json.dumps(then_sample), encoding="utf-8")
        error = execute(ws, path, executed, cwd=cwd, parent=rep.id,
                        experiment=original.experiment,
                        timeout=timeout, sample=sample)
        again = _reproduced_run(ws, rep.id)
        if error is not None or again is None:
            why = error or "the notebook recorded no run"
            rep.set_tags({"reproduced": "false"})
            rep.end("failed", error=why)
            return Reproduction(run_id=original.id, status="failed", notebook=path,
                                reproduction_run_id=rep.id,
                                reproduced_run_id=None if again is None else again.id,
                                causes=tuple(explain(sl, [], [])), error=why,
                                frames_loaded=frames)
        diffs, changed, counts = compare(original, again, rtol,
                                         (then_sample, prediction_sample(ws, again)))
        packages = package_changes(original, again)
        causes = explain(sl, changed, packages) if diffs else []
        if again.metrics:
            rep.log_metrics(dict(again.metrics))
        rep.set_tags({"reproduced": "false" if diffs else "true",
                      "reproduced_run": again.id})
        tracking.finish(rep)
    except BaseException as exc:
        tracking.finish(rep, exc)
        raise
    return Reproduction(run_id=original.id, status="differs" if diffs else "reproduced",
                        notebook=path, reproduction_run_id=rep.id, reproduced_run_id=again.id,
                        differences=tuple(diffs), causes=tuple(causes), compared=counts,
                        packages=tuple(packages), frames_loaded=frames)
