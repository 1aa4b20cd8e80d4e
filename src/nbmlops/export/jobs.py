"""Exporting a notebook to a job folder, and finding the jobs a project has.

``export`` writes ``jobs/<name>/`` (or the folder given)::

    job.yaml            the spec (see :mod:`nbmlops.export.spec`)
    notebook.ipynb      the notebook cleaned for batch, its sha256 pinned in job.yaml
    requirements.txt    the packages the notebook imports, pinned to the versions installed
                        where it was exported (what a CI runner installs to run it)
    cron/ systemd/ github/ airflow/   the schedulers' files asked for (--target)
    runs/               executed notebooks, one per job run (made by `jobs run`)

Exporting again replaces the notebook, the spec and the schedulers' files asked for, and
keeps ``runs/`` and the files of schedulers not asked for again (they may still be
installed). Every path written stays inside the job folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import JobSpecError
from nbmlops.export import notebook as nbmod
from nbmlops.export import targets as target_files
from nbmlops.export.actions import parse_action
from nbmlops.export.spec import (
    REQUIREMENTS,
    SPEC_FILE,
    JobSpec,
    check_name,
    check_schedule,
    load,
    parse_gate,
)

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

JOBS_DIR = "jobs"
NOTEBOOK = "notebook.ipynb"


@dataclass(frozen=True)
class Exported:
    folder: Path
    spec: JobSpec
    files: tuple[Path, ...]
    notes: tuple[str, ...]
    instructions: tuple[str, ...]

    def __str__(self) -> str:
        params = ", ".join(f"{p.name}={p.default!r}" for p in self.spec.parameters) or "none"
        lines = [f"exported job {self.spec.name} to {self.folder}",
                 f"  parameters: {params}"]
        if self.spec.schedule:
            lines.append(f"  schedule: {self.spec.schedule}")
        lines += [f"  gate: {g}" for g in self.spec.gates]
        lines += [f"  on success: {a}" for a in self.spec.on_success]
        lines += [f"  {n}" for n in self.notes]
        lines += [f"  {line}" for i in self.instructions for line in i.splitlines()]
        lines.append(f"  run it: nbmlops jobs run {self.folder}")
        return "\n".join(lines)


def export(ws: Workspace | None, notebook: Path, *, job: str,
           params: Mapping[str, Any] | None = None, schedule: str | None = None,
           targets: Sequence[str] = (), gates: Sequence[str] = (),
           on_success: Sequence[str] = (), folder: Path | None = None,
           project_root: Path, kernel: str | None = None, timeout: float | None = None,
           retries: int = 0, experiment: str | None = None) -> Exported:
    """Write the job folder for ``notebook`` (see the module)."""
    check_name(job)
    scheduled = [t for t in targets if target_files.lookup(t).needs_schedule]
    schedule = check_schedule(schedule)
    if scheduled and schedule is None:
        runs = "runs" if len(scheduled) == 1 else "run"
        raise JobSpecError(f"{' and '.join(scheduled)} {runs} jobs on a schedule: give "
                           "--schedule \"MIN HOUR DAY MONTH WEEKDAY\", e.g. \"0 3 * * *\"")
    parsed_gates = tuple(parse_gate(g) for g in gates)
    actions = tuple(str(parse_action(a)) for a in on_success)
    notebook = Path(notebook).resolve()
    source = nbmod.read(notebook)
    tracked = _tracked_params(ws, notebook) if not params else None
    prepared = nbmod.prepare(source, params=params, tracked=tracked)
    folder = (folder or project_root / JOBS_DIR / job).resolve()
    _claim(folder)
    kernel = kernel or source.metadata.get("kernelspec", {}).get("name") or "python3"
    spec = JobSpec(name=job, notebook=NOTEBOOK, notebook_sha256=prepared.sha256(),
                   kernel=kernel, experiment=experiment, parameters=prepared.parameters,
                   timeout=timeout, retries=retries, schedule=schedule,
                   targets=tuple(targets), gates=parsed_gates, on_success=actions,
                   source=_relative(notebook, project_root))
    needs, missing = requirements(nbmod.imported_modules(prepared.notebook),
                                  places=(notebook.parent, project_root))
    written = [_write(folder, NOTEBOOK, prepared.text()), _write(folder, SPEC_FILE,
                                                                   spec.to_yaml()),
               _write(folder, REQUIREMENTS, needs)]
    notes = list(prepared.notes)
    if missing:
        notes.append(f"no installed package provides {', '.join(missing)} (imported by the "
                     f"notebook): add what provides it to {REQUIREMENTS}")
    # an earlier export's scheduler files may still be installed: kept
    for t in target_files.names():
        if t not in targets and (folder / t).is_dir():
            notes.append(f"kept {t}/ from an earlier export (its logs too); remove it once "
                         "that scheduler no longer runs the job")
    help_lines = []
    if targets:
        python = sys.executable  # schedulers run the job with the interpreter exporting it
        files = target_files.write(spec, list(targets), job_dir=folder,
                                   project_root=project_root, python=python)
        written += files
        for t in targets:
            mine = [f for f in files if f.relative_to(folder).parts[0] == t]
            help_lines.append(target_files.instructions(t, mine))
    # the spec as it reads back: what `jobs run` will see
    return Exported(folder, load(folder), tuple(written), tuple(notes), tuple(help_lines))


def requirements(modules: Sequence[str], *, places: Sequence[Path]) -> tuple[str, list[str]]:
    """``requirements.txt`` for a notebook importing ``modules``: the distributions that
    provide them in this environment, pinned to the versions installed here (what the
    notebook ran with). Left out: the standard library, nbmlops (installed on its own),
    modules that are files of the project (``places``: the notebook's folder and the
    project root) and packages installed from a folder or a VCS (a comment says so: the
    project installs them, e.g. ``pip install -e .``). Also the modules nothing provides."""
    import importlib.metadata as metadata

    providers = metadata.packages_distributions()
    lines = [f"# {_HEADER_REQUIREMENTS}", "# The packages the notebook imports, at the "
             "versions it was exported with."]
    missing: list[str] = []
    seen: set[str] = set()
    for module in modules:
        if module in sys.stdlib_module_names or module in ("nbmlops", "__future__"):
            continue
        if any((place / f"{module}.py").is_file() or (place / module / "__init__.py").is_file()
               for place in places):
            continue  # the project's own module
        dists = providers.get(module)
        if not dists:
            missing.append(module)
            continue
        for name in dists:
            dist = metadata.distribution(name)
            key = dist.metadata["Name"].lower().replace("_", "-")
            if key in seen or key == "nbmlops":
                continue
            seen.add(key)
            if _installed_from_folder(dist.read_text("direct_url.json")):
                lines.append(f"# {dist.metadata['Name']} (module {module}) is installed from "
                             "a local folder: install it with the project")
            else:
                lines.append(f"{dist.metadata['Name']}=={dist.version}")
    return "\n".join(lines) + "\n", missing


def _installed_from_folder(direct_url: str | None) -> bool:
    """Whether a distribution's ``direct_url.json`` (PEP 610) says it came from a folder
    or a VCS checkout, not an index (so no ``name==version`` finds it)."""
    import json

    if not direct_url:
        return False
    try:
        origin = json.loads(direct_url)
    except ValueError:
        return False
    return isinstance(origin, dict) and ("dir_info" in origin or "vcs_info" in origin
                                         or str(origin.get("url", "")).startswith("file:"))


_HEADER_REQUIREMENTS = ("Written by `nbmlops export` from the notebook's imports; edit it "
                        "freely, export again to refresh it.")


def _claim(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()) and not (folder / SPEC_FILE).is_file():
        raise JobSpecError(f"{folder} exists and is not a job folder; choose another --job "
                           "name or folder")
    folder.mkdir(parents=True, exist_ok=True)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _tracked_params(ws: Workspace | None, notebook: Path) -> dict[str, Any] | None:
    """Scalars the notebook's tracked cells recorded as params (newest runs first)."""
    if ws is None:
        return None
    from nbmlops.store.query import parse_filter

    try:
        table = ws.store.search_runs(
            where=parse_filter(f"notebook == {str(notebook)!r}"), kinds=["cell"], limit=50)
    except Exception:
        return None
    pairs: list[tuple[str, Any]] = []
    for row in table.rows:
        run = ws.store.get_run(row[0])
        pairs += list(run.params.items())
    return nbmod.scalar_params(pairs) or None


@dataclass(frozen=True)
class JobInfo:
    folder: Path
    spec: JobSpec | None
    error: str | None = None


def find_jobs(root: Path) -> list[JobInfo]:
    """Job folders under ``root`` (a jobs folder, or one job folder), by name."""
    root = Path(root)
    if (root / SPEC_FILE).is_file():
        folders = [root]
    elif root.is_dir():
        folders = sorted(p.parent for p in root.glob(f"*/{SPEC_FILE}"))
    else:
        raise JobSpecError(f"no job folder or jobs folder at {root}")
    found = []
    for folder in folders:
        try:
            found.append(JobInfo(folder, load(folder)))
        except JobSpecError as exc:
            found.append(JobInfo(folder, None, str(exc)))
    return found


# folders CI never looks in: what runs produce (build output, the store, checkpoints),
# and other tools' (hidden folders such as .git and .venv are left out too)
_NOT_SOURCES = frozenset({"build", ".nbmlops", ".ipynb_checkpoints", "__pycache__",
                          "node_modules", "site-packages"})


@dataclass(frozen=True)
class CiPlan:
    """What ``nbmlops ci`` runs: the project's notebooks (each as a throwaway job) and its
    job folders (each as it is; its notebook is what runs in production), and the
    executed notebooks it left out."""

    notebooks: tuple[Path, ...]
    jobs: tuple[Path, ...]
    skipped: tuple[str, ...]


def ci_plan(paths: Sequence[Path], *, work: Path) -> CiPlan:
    """The notebooks and job folders under ``paths`` (notebooks, job folders, or folders
    searched to any depth). A folder with a ``job.yaml`` is a job and is not searched
    further (its ``runs/`` hold executed outputs); ``build/``, ``.nbmlops/``, checkpoints,
    hidden folders, virtualenvs and ``work`` are not searched; a notebook papermill wrote
    (its metadata says so) is an executed output, left out with a note. A notebook named
    on its own that is an executed output is refused."""
    notebooks: dict[Path, None] = {}
    jobs: dict[Path, None] = {}
    skipped: list[str] = []
    work = Path(work).resolve()
    for path in paths:
        path = Path(path)
        if path.suffix == ".ipynb" and not path.is_dir():
            if not path.is_file():
                raise JobSpecError(f"no notebook at {path}")
            made = executed_from(path)
            if made is not None:
                raise JobSpecError(f"{path} is an executed notebook ({made}); give the "
                                   "notebook it was run from, or its job folder")
            notebooks[path.resolve()] = None
        elif (path / SPEC_FILE).is_file():
            jobs[path.resolve()] = None
        elif path.is_dir():
            for folder, dirs, files in os.walk(path):
                here = Path(folder)
                if SPEC_FILE in files:
                    jobs[here.resolve()] = None
                    dirs[:] = []
                    continue
                dirs[:] = sorted(d for d in dirs if not _not_source(here / d, work))
                for name in sorted(files):
                    if not name.endswith(".ipynb") or name.startswith("."):
                        continue
                    made = executed_from(here / name)
                    if made is not None:
                        skipped.append(f"{here / name} ({made})")
                    else:
                        notebooks[(here / name).resolve()] = None
        else:
            raise JobSpecError(f"{path}: not a notebook, a job folder or a folder of either")
    return CiPlan(tuple(notebooks), tuple(jobs), tuple(skipped))


def _not_source(folder: Path, work: Path) -> bool:
    name = folder.name
    return (name in _NOT_SOURCES or name.startswith(".") or (folder / "pyvenv.cfg").is_file()
            or folder.resolve() == work)


def executed_from(path: Path) -> str | None:
    """Why ``path`` is an executed notebook (papermill's output records its input), or
    None for a notebook of the project's own."""
    import json

    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not readable here: running it will say why
    meta = nb.get("metadata") if isinstance(nb, dict) else None
    papermill = meta.get("papermill") if isinstance(meta, dict) else None
    if not isinstance(papermill, dict):
        return None
    source = papermill.get("input_path")
    return f"papermill's output of {source}" if source else "papermill's output"


__all__ = ["JOBS_DIR", "REQUIREMENTS", "CiPlan", "Exported", "JobInfo", "ci_plan",
           "executed_from", "export", "find_jobs", "requirements"]
