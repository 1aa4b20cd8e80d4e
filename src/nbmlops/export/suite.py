"""Several jobs in one go: ``nbmlops jobs run --all`` and ``nbmlops ci``.

Named steps: find what to run (:func:`job_folders`, or :func:`ci_folders` for CI, which
exports each plain notebook as a throwaway job first), then :func:`run_each` runs the
folders one after another. A job that cannot start (a broken ``job.yaml``) is reported
and the others still run; the :class:`JobsRun` says which passed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbmlops.errors import JobSpecError, NbmlopsError
from nbmlops.export.jobs import ci_plan, find_jobs
from nbmlops.export.runner import JobResult

Report = Callable[[str], None]  # one line of progress (a result, a note) as it happens


@dataclass(frozen=True)
class JobNotRun:
    """A job that could not start (its error says why); ``ok`` is False."""

    folder: Path
    error: str

    @property
    def job(self) -> str:
        return self.folder.name

    @property
    def ok(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"job {self.folder.name} could not run: {self.error}"


Outcome = JobResult | JobNotRun


@dataclass(frozen=True)
class JobsRun:
    """What running several jobs did, in the order they ran."""

    outcomes: tuple[Outcome, ...]
    skipped: tuple[str, ...] = ()  # executed notebooks CI left out, with why

    @property
    def failed(self) -> tuple[str, ...]:
        """The jobs that failed or could not run, by name."""
        return tuple(o.job for o in self.outcomes if not o.ok)

    @property
    def passed(self) -> int:
        return len(self.outcomes) - len(self.failed)

    @property
    def ok(self) -> bool:
        return not self.failed


def job_folders(root: Path) -> list[Path]:
    """The job folders under ``root`` (a jobs folder, or one job folder), by name."""
    folders = [info.folder for info in find_jobs(Path(root))]
    if not folders:
        raise JobSpecError(f"no job folders under {root}")
    return folders


def ci_folders(paths: Sequence[Path], *, work: Path, export: Callable[[Path, str, Path], Path],
               report: Report | None = None) -> tuple[list[Path], tuple[str, ...]]:
    """What CI runs under ``paths``: each plain notebook exported by ``export(notebook,
    job, folder)`` as a throwaway job under ``work``, then the job folders as they are;
    and the executed notebooks left out (each reported as it is found)."""
    plan = ci_plan(paths, work=work)
    for note in plan.skipped:
        if report is not None:
            report(f"skipped {note}: executed outputs are not run")
    made = []
    for notebook in plan.notebooks:
        name = ci_job_name(notebook)
        made.append(export(notebook, name, work / name))
    folders = made + list(plan.jobs)
    if not folders:
        raise JobSpecError("nothing to run: give notebooks, job folders or folders of them")
    return folders, plan.skipped


def ci_job_name(notebook: Path) -> str:
    """A throwaway job's name for a plain notebook: its stem and where it lives (two
    notebooks of one name in different folders must not share a job folder)."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", notebook.stem).strip("-")[:48] or "notebook"
    where = hashlib.sha256(str(notebook.resolve().parent).encode()).hexdigest()[:8]
    return f"{stem}-{where}"


def run_each(folders: Sequence[Path], run: Callable[[Path], JobResult], *,
             report: Report | None = None, skipped: tuple[str, ...] = ()) -> JobsRun:
    """Run ``folders`` one after another with ``run``; one that cannot start is a
    :class:`JobNotRun`, and the others still run."""
    outcomes: list[Outcome] = []
    for folder in folders:
        outcome: Outcome
        try:
            outcome = run(folder)
        except NbmlopsError as exc:  # a broken job.yaml: reported, the others still run
            outcome = JobNotRun(folder, str(exc))
        outcomes.append(outcome)
        if report is not None:
            report(str(outcome))
    return JobsRun(tuple(outcomes), skipped)


__all__ = ["JobNotRun", "JobsRun", "Outcome", "Report", "ci_folders", "ci_job_name",
           "job_folders", "run_each"]
