"""The files each scheduler needs to run a job, written under the job folder::

    jobs/train-churn/
        cron/run.sh, cron/crontab                      a wrapper and the crontab line
        systemd/nbmlops-job-train-churn.{service,timer} a user service and its timer
        github/nbmlops-train-churn.yml                 a GitHub Actions workflow
        airflow/nbmlops_train_churn.py                 an Airflow 2.4+/3 DAG

Every one runs ``PYTHON -m nbmlops jobs run JOB_FOLDER`` from the project root, so the run
is recorded in the project's lineage store and the job's timeout, retries, gates and
on-success actions apply as they do by hand. :func:`render` returns the files' text,
:func:`write` puts them in place and :func:`instructions` says how to install them.

Targets are plugins (:mod:`nbmlops.plugins`): an object following :class:`ExportTarget`,
added with :func:`register` (``nbmlops.export.register_target``) or by an installed
package's entry point in the group ``nbmlops.export_targets``; :func:`names` lists them.

Times: cron and systemd read the schedule in the machine's local time, GitHub Actions in
UTC, Airflow in its ``default_timezone`` (UTC unless configured).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shlex
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

from nbmlops.errors import JobSpecError
from nbmlops.export.spec import REQUIREMENTS, JobSpec, Parameter, check_name
from nbmlops.plugins import Plugins

# Past the job's own timeout (which the runner enforces, retries included), what a
# scheduler allows for starting the interpreter and the kernel and recording the run.
TIMEOUT_MARGIN = 300.0
_HEADER = "Written by `nbmlops export`: export the job again to change it."


@dataclass(frozen=True)
class TargetJob:
    """What every target renders from: the spec and absolute, checked paths."""

    spec: JobSpec
    job_dir: Path
    project_root: Path
    python: str
    verb: tuple[str, ...] = ("jobs", "run")  # what runs the folder: a monitor's is monitor run

    @property
    def name(self) -> str:
        return self.spec.name

    def command(self, *extra: str) -> str:
        """The shell command that runs the job (the interpreter and folder quoted)."""
        words = [self.python, "-m", "nbmlops", *self.verb, str(self.job_dir), *extra]
        return shlex.join(words)

    def time_limit(self) -> int | None:
        """Seconds a scheduler gives one ``jobs run`` (None: no limit)."""
        if self.spec.timeout is None:
            return None
        return math.ceil(self.spec.timeout + TIMEOUT_MARGIN)

    def relative_dir(self) -> str:
        """The job folder relative to the project root (for CI, which checks it out)."""
        try:
            rel = self.job_dir.relative_to(self.project_root)
        except ValueError:
            try:  # one of them given through a symlink
                rel = self.job_dir.resolve().relative_to(self.project_root.resolve())
            except ValueError:
                rel = None
        if rel is None:
            raise JobSpecError(f"the job folder {self.job_dir} is not inside the project root "
                               f"{self.project_root}; a CI workflow only sees the repository: "
                               "export the job into the project (e.g. jobs/NAME)")
        return rel.as_posix()


@runtime_checkable
class ExportTarget(Protocol):
    """A scheduler (or any place a job runs from): the files it needs, and how to install
    them. ``render`` returns paths relative to the job folder, each under a folder named
    after the target (``nomad/job.hcl``), mapped to their text; ``instructions`` gets
    those files as written and says in a line or two how to install them.
    ``needs_schedule``: the target runs jobs only on a schedule (export refuses a job
    without one)."""

    @property
    def needs_schedule(self) -> bool: ...

    def render(self, job: TargetJob) -> dict[str, str]: ...

    def instructions(self, files: list[str]) -> str: ...


def _unknown(name: str, known: Sequence[str]) -> JobSpecError:
    return JobSpecError(f"target {name!r} is not one of {', '.join(known)}", path="targets")


_TARGETS: Plugins[ExportTarget] = Plugins("export target", "nbmlops.export_targets",
                                          ExportTarget, unknown=_unknown)


# --- public API ---------------------------------------------------------------------------

def register(name: str, target: ExportTarget) -> ExportTarget:
    """Add (or replace) the export target ``name``: ``nbmlops export --target NAME``
    then writes its files. Installed packages can instead declare it as an entry point
    in the group ``nbmlops.export_targets``."""
    return _TARGETS.register(name, target)


def names() -> tuple[str, ...]:
    """The export targets' names: the built-ins, then those registered or installed."""
    return _TARGETS.names()


def lookup(name: str) -> ExportTarget:
    """The target ``name``, or a JobSpecError naming the known targets."""
    return _TARGETS.lookup(name)


def render(spec: JobSpec, target: str, *, job_dir: Path, project_root: Path, python: str,
           verb: tuple[str, ...] = ("jobs", "run")) -> dict[str, str]:
    """The files ``target`` needs to run the job: their paths relative to the job folder
    (POSIX, under a folder named after the target) mapped to their text. ``verb``: the
    command that runs the folder (``("monitor", "run")`` for a monitor's)."""
    job = _job(spec, job_dir=job_dir, project_root=project_root, python=python, verb=verb)
    files = lookup(target).render(job)
    for rel in files:
        parts = _relative_path(rel).parts
        if len(parts) < 2 or parts[0] != target:
            raise JobSpecError(f"export target {target!r} wrote {rel!r}: a target's files "
                               f"go under {target}/ in the job folder", path=rel)
    return files


def write(spec: JobSpec, targets: Iterable[str], *, job_dir: Path, project_root: Path,
          python: str, verb: tuple[str, ...] = ("jobs", "run")) -> list[Path]:
    """Render every target's files and write them into ``job_dir`` (each file replaced
    atomically; shell scripts made executable). Returns the paths written."""
    files: dict[str, str] = {}
    for target in targets:
        files.update(render(spec, target, job_dir=job_dir, project_root=project_root,
                            python=python, verb=verb))
    return _write_files(Path(job_dir), files)


def instructions(target: str, files: Iterable[str | os.PathLike[str]]) -> str:
    """One or two lines telling how to install ``target``'s files (as :func:`write`
    returned them) into the scheduler."""
    return lookup(target).instructions([_shown(f) for f in files])


# --- steps ------------------------------------------------------------------------------

def _job(spec: JobSpec, *, job_dir: Path, project_root: Path, python: str,
         verb: tuple[str, ...] = ("jobs", "run")) -> TargetJob:
    check_name(spec.name)
    if not python:
        raise JobSpecError("no interpreter to run the job with (python='')")
    if os.sep in python or (os.altsep and os.altsep in python):
        python = os.path.abspath(python)  # relative to here: meaningless to a scheduler
    job = TargetJob(spec, Path(os.path.abspath(job_dir)), Path(os.path.abspath(project_root)),
                    python, verb)
    for what, text in (("job folder", str(job.job_dir)),
                       ("project root", str(job.project_root)), ("interpreter", python)):
        if any(ord(c) < 32 or c == "\x7f" for c in text):
            raise JobSpecError(f"the {what} {text!r} contains a control character (a "
                               "newline?); schedulers' files cannot name it safely")
    return job


def _relative_path(rel: str) -> PurePosixPath:
    """``rel`` as a path that stays inside the job folder, or a JobSpecError."""
    path = PurePosixPath(rel)
    if (path.is_absolute() or "\\" in rel or rel.startswith("~")
            or any(part in ("", ".", "..") for part in rel.split("/"))):
        raise JobSpecError(f"refusing to write {rel!r}: a scheduler's file must be a "
                           "relative path inside the job folder", path=rel)
    return path


def _write_files(job_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` (relative path -> text) under ``job_dir``; every path is checked
    before anything is written."""
    root = job_dir.resolve()
    planned: list[tuple[Path, str]] = []
    for rel, text in files.items():
        path = job_dir / _relative_path(rel)
        where = path.parent.resolve()  # a symlinked folder must not lead outside
        if where != root and root not in where.parents:
            raise JobSpecError(f"refusing to write {rel!r}: it resolves to {where}, outside "
                               f"the job folder {root}", path=rel)
        planned.append((path, text))
    written = []
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, text, executable=path.suffix == ".sh")
        written.append(path)
    return written


def _replace(path: Path, text: str, *, executable: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        mode = 0o644 | (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH if executable else 0)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _shown(path: str | os.PathLike[str]) -> str:
    """A path as the user would type it from here (relative when it is below here)."""
    text = os.fspath(path)
    if os.path.isabs(text):
        rel = os.path.relpath(text)
        if not rel.startswith(".."):
            text = rel
    return text


def _pick(files: list[str], suffix: str) -> str:
    """The file ending in ``suffix``, quoted for a shell command."""
    for f in files:
        if f.endswith(suffix):
            return shlex.quote(f)
    raise JobSpecError(f"no *{suffix} file among {files}; write the target's files first")


def _need_schedule(job: TargetJob, target: str) -> str:
    if job.spec.schedule is None:
        raise JobSpecError(f"{target} runs jobs on a schedule, and job {job.name!r} has none: "
                           "give --schedule \"MIN HOUR DAY MONTH WEEKDAY\", e.g. "
                           "\"0 3 * * *\" (or set schedule in job.yaml)", path="schedule")
    return job.spec.schedule


# --- cron -------------------------------------------------------------------------------

def _cron(job: TargetJob) -> dict[str, str]:
    schedule = _need_schedule(job, "cron")
    script = job.job_dir / "cron" / "run.sh"
    log_dir = job.job_dir / "cron" / "logs"
    q = shlex.quote
    run_sh = f"""#!/usr/bin/env bash
# nbmlops job {job.name!r} for cron (see crontab beside this file).
# {_HEADER}
# Runs the job from the project root, appends its output to logs/{job.name}.log here, skips
# a run while the previous one still holds the lock, and exits with the job's status (on a
# failure it also prints one line, which cron mails if MAILTO is set). Arguments go to
# `nbmlops jobs run`, e.g.  run.sh -p C=0.5
set -u
cd {q(str(job.project_root))} || exit 1
export PATH={_search_path(job, shell=True)}
log_dir={q(str(log_dir))}
log="$log_dir/{job.name}.log"
mkdir -p "$log_dir" || exit 1
exec 3>&2 >>"$log" 2>&1
echo "== $(date '+%Y-%m-%d %H:%M:%S %z') nbmlops job {job.name}: starting"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$log_dir/{job.name}.lock"
  if ! flock -n 9; then
    echo "== the previous run still holds $log_dir/{job.name}.lock: this one is skipped"
    exit 0
  fi
fi
{job.command()} "$@" 3>&- 9>&-
status=$?
echo "== $(date '+%Y-%m-%d %H:%M:%S %z') nbmlops job {job.name}: exit status $status"
if [ "$status" -ne 0 ]; then
  echo "nbmlops job {job.name} failed (exit status $status); see $log" >&3
fi
exit "$status"
"""
    # cron hands the command to /bin/sh; an unescaped % would end it
    line = f"{schedule} {q(str(script)).replace('%', chr(92) + '%')}"
    crontab = (f"# nbmlops job {job.name!r}: {schedule} (this machine's local time).\n"
               f"# {_HEADER}\n"
               f"# Output: {log_dir}/{job.name}.log\n{line}\n")
    return {"cron/run.sh": run_sh, "cron/crontab": crontab}


def _search_path(job: TargetJob, *, shell: bool) -> str:
    """PATH for a job run by a scheduler (whose own is minimal): the interpreter's folder
    (a virtualenv's tools), then (in a shell script) the PATH given, then the usual system
    folders."""
    first = os.path.dirname(job.python) + ":" if os.path.isabs(job.python) else ""
    if not shell:
        return f"{first}/usr/local/bin:/usr/bin:/bin"
    return f"{shlex.quote(first) if first else ''}${{PATH:+$PATH:}}/usr/local/bin:/usr/bin:/bin"


def _cron_install(files: list[str]) -> str:
    crontab = _pick(files, "/crontab")
    return (f"add it to your crontab: (crontab -l 2>/dev/null; cat {crontab}) | crontab -\n"
            "(check with `crontab -l`; remove an older line for the same job with "
            "`crontab -e`)")


# --- systemd ----------------------------------------------------------------------------

def _unit_name(job: TargetJob) -> str:
    return f"nbmlops-job-{job.name}"


def _systemd_word(text: str, *, variables: bool = True) -> str:
    """One word of a unit's setting, its specifiers (%) and, where the setting expands
    them, variables ($) taken literally: double-quoted unless it is plain. (ExecStart=
    expands variables in its arguments, not in the executable's path; Environment= never.)"""
    escaped = text.replace("%", "%%")
    if variables:
        escaped = escaped.replace("$", "$$")
    if escaped and all(c.isalnum() or c in "/._-+=:,@%$" for c in escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd(job: TargetJob) -> dict[str, str]:
    schedule = _need_schedule(job, "systemd")
    unit = _unit_name(job)
    limit = job.time_limit()
    exec_start = " ".join([_systemd_word(job.python, variables=False), *(
        _systemd_word(w) for w in ("-m", "nbmlops", *job.verb, str(job.job_dir)))])
    service = f"""# nbmlops job {job.name!r}, started by {unit}.timer.
# {_HEADER}
# Its output goes to the journal: journalctl --user -u {unit}.service
[Unit]
Description=nbmlops job {job.name}

[Service]
Type=oneshot
WorkingDirectory={str(job.project_root).replace("%", "%%")}
ExecStart={exec_start}
Environment=PYTHONUNBUFFERED=1 {_systemd_word("PATH=" + _search_path(job, shell=False), variables=False)}
TimeoutStartSec={"infinity" if limit is None else limit}
"""
    calendars = "".join(f"OnCalendar={c}\n" for c in on_calendar(schedule))
    timer = f"""# nbmlops job {job.name!r} on cron schedule {schedule} (local time).
# {_HEADER}
[Unit]
Description=Run nbmlops job {job.name} ({schedule})

[Timer]
{calendars}Persistent=true
Unit={unit}.service

[Install]
WantedBy=timers.target
"""
    return {f"systemd/{unit}.service": service, f"systemd/{unit}.timer": timer}


def _systemd_install(files: list[str]) -> str:
    service, timer = _pick(files, ".service"), _pick(files, ".timer")
    name = os.path.basename(shlex.split(timer)[0])  # a plain name (check_name)
    return (f"mkdir -p ~/.config/systemd/user && cp {service} {timer} "
            f"~/.config/systemd/user/ && systemctl --user daemon-reload && "
            f"systemctl --user enable --now {name}\n"
            "(to run it while you are logged out: loginctl enable-linger \"$USER\")")


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def _cron_values(text: str, lo: int, hi: int, names: tuple[str, ...] = (),
                 first: int = 0) -> set[int]:
    """The values a cron field matches: numbers, ``*``, lists, ranges and steps (and
    names, e.g. ``mon-fri``, where ``names`` are given)."""
    def number(word: str) -> int:
        word = word.lower()
        if word in names:
            return names.index(word) + first
        if not word.isdigit():
            raise JobSpecError(f"cron field {text!r}: {word!r} is not a number")
        return int(word)

    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise JobSpecError(f"cron field {text!r}: the step {step_text!r} must be a "
                               "whole number > 0")
        step = int(step_text) if slash else 1
        if base == "*":
            a, b = lo, hi
        elif "-" in base:
            left, right = base.split("-", 1)
            a, b = number(left), number(right)
        else:
            a = number(base)
            b = hi if slash else a  # 5/15: from 5 on, every 15
        if not lo <= a <= b <= hi:
            raise JobSpecError(f"cron field {text!r}: {part!r} is outside {lo}-{hi} (or its "
                               "range runs backwards)")
        values.update(range(a, b + 1, step))
    return values


def _calendar_values(values: set[int], lo: int, hi: int) -> str:
    """A set of values as one systemd calendar component (``*``, ``00/15``, ``01..05``,
    ``01,15``)."""
    if values == set(range(lo, hi + 1)):
        return "*"
    ordered = sorted(values)
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if step > 1 and ordered[-1] + step > hi and all(
                b - a == step for a, b in itertools.pairwise(ordered)):
            return f"{ordered[0]:02d}/{step}"
    parts = []
    for a, b in _runs(ordered):
        if b - a >= 2:
            parts.append(f"{a:02d}..{b:02d}")
        else:
            parts.extend(f"{v:02d}" for v in range(a, b + 1))
    return ",".join(parts)


def _runs(ordered: list[int]) -> list[tuple[int, int]]:
    """``[1, 2, 3, 7]`` -> ``[(1, 3), (7, 7)]``."""
    runs: list[tuple[int, int]] = []
    for v in ordered:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _calendar_weekdays(days: set[int]) -> str:
    """Days (0 = Sunday) as systemd's weekday list, Monday first (``Mon..Fri,Sun``)."""
    monday_first = sorted((d - 1) % 7 for d in days)  # Mon=0 ... Sun=6
    parts = []
    for a, b in _runs(monday_first):
        name_a, name_b = _SYSTEMD_DAYS[(a + 1) % 7], _SYSTEMD_DAYS[(b + 1) % 7]
        if b - a >= 2:
            parts.append(f"{name_a}..{name_b}")
        else:
            parts.extend(_SYSTEMD_DAYS[(v + 1) % 7] for v in range(a, b + 1))
    return ",".join(parts)


def on_calendar(schedule: str) -> list[str]:
    """A 5-field cron schedule as systemd ``OnCalendar=`` expressions (one, or two when
    cron's rule for day of month *or* day of week applies: when both fields are given and
    neither starts with ``*``, cron runs on a day matching either, as Vixie cron does)."""
    fields = schedule.split()
    if len(fields) != 5:
        raise JobSpecError(f"schedule {schedule!r} must have 5 fields (minute hour day month "
                           "weekday)", path="schedule")
    minute_f, hour_f, dom_f, month_f, dow_f = fields
    minutes = _calendar_values(_cron_values(minute_f, 0, 59), 0, 59)
    hours = _calendar_values(_cron_values(hour_f, 0, 23), 0, 23)
    dom = _cron_values(dom_f, 1, 31)
    month = _calendar_values(_cron_values(month_f, 1, 12, _MONTHS, 1), 1, 12)
    dow = {d % 7 for d in _cron_values(dow_f, 0, 7, _WEEKDAYS)}
    time = f"{hours}:{minutes}:00"
    days = _calendar_values(dom, 1, 31)
    weekdays = "" if len(dow) == 7 else _calendar_weekdays(dow) + " "
    if dom_f.startswith("*") or dow_f.startswith("*"):  # both must match
        return [f"{weekdays}*-{month}-{days} {time}"]
    return [f"*-{month}-{days} {time}", f"{weekdays}*-{month}-* {time}"]


# --- GitHub Actions ---------------------------------------------------------------------

# workflow_dispatch takes at most this many inputs
_GITHUB_MAX_INPUTS = 25
_GITHUB_TYPES = {"int": "number", "float": "number", "bool": "boolean"}


def _yaml(text: str) -> str:
    """A YAML scalar: JSON's double-quoted string, which YAML reads the same."""
    return json.dumps(text, ensure_ascii=False)


def _param_env(p: Parameter) -> str:
    return f"NBMLOPS_PARAM_{p.name}"


def _param_args(spec: JobSpec) -> list[str]:
    """Bash lines that collect ``-p NAME=VALUE`` for each parameter whose variable is not
    empty (an empty one leaves the job's default)."""
    lines = ["args=()"]
    for p in spec.parameters:
        var = _param_env(p)
        lines.append(f'if [ -n "${{{var}:-}}" ]; then args+=(-p "{p.name}=${var}"); fi')
    return lines


def _text_default(p: Parameter) -> str:
    return p.default if isinstance(p.default, str) else json.dumps(p.default)


def _github(job: TargetJob) -> dict[str, str]:
    from nbmlops.export.runner import OUTPUTS

    spec = job.spec
    rel = job.relative_dir()
    workflow = f"nbmlops-{job.name}.yml"
    if len(spec.parameters) > _GITHUB_MAX_INPUTS:
        raise JobSpecError(f"job {job.name!r} has {len(spec.parameters)} parameters; a GitHub "
                           f"workflow takes at most {_GITHUB_MAX_INPUTS} inputs")
    lowered = [p.name.lower() for p in spec.parameters]
    if len(set(lowered)) != len(lowered):
        raise JobSpecError(f"job {job.name!r} has parameters differing only in case; GitHub "
                           "inputs are case-insensitive: rename one")
    on = []
    if spec.schedule is not None:
        on += ["  schedule:", "    # GitHub reads the schedule in UTC",
               f"    - cron: {_yaml(spec.schedule)}"]
    on += ["  push:", "    paths:", f"      - {_yaml(rel + '/**' if rel != '.' else '**')}",
           f"      - {_yaml('.github/workflows/' + workflow)}"]
    if spec.parameters:
        on += ["  workflow_dispatch:", "    inputs:"]
        for p in spec.parameters:
            # a boolean input is never empty: without a default, "false" would replace it
            kind = _GITHUB_TYPES.get(p.type, "string")
            if kind == "boolean" and p.default is None:
                kind = "string"
            on += [f"      {_yaml(p.name)}:",
                   f"        description: {_yaml(_describe(p, 'empty'))}",
                   "        required: false", f"        type: {kind}"]
            if p.default is not None:
                default = ("true" if p.default else "false") if kind == "boolean" else _yaml(
                    _text_default(p))
                on.append(f"        default: {default}")
    else:
        on.append("  workflow_dispatch:")
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    install = ["python -m pip install --upgrade pip"]
    if (job.project_root / "pyproject.toml").is_file() or (
            job.project_root / "setup.py").is_file():
        install.append("pip install -e .")
    if (job.project_root / "requirements.txt").is_file():
        install.append("pip install -r requirements.txt")
    if (job.job_dir / REQUIREMENTS).is_file():  # what the notebook imports, as exported
        install.append(f"pip install -r {shlex.quote(rel + '/' + REQUIREMENTS)}")
    install.append('python -c "import nbmlops" 2>/dev/null || pip install nbmlops')
    env = [f"          {_param_env(p)}: ${{{{ inputs.{p.name} }}}}" for p in spec.parameters]
    run = [*_param_args(spec),
           f'python -m nbmlops {" ".join(job.verb)} {shlex.quote(rel)} "${{args[@]}}"']
    limit = job.time_limit()
    lines = [
        f"# nbmlops job {job.name!r}: copy this file to .github/workflows/{workflow}.",
        f"# {_HEADER}",
        "# Runs on its schedule, on a push that changes the job, and by hand (Run workflow,",
        "# where an empty input keeps the job's default). The executed notebooks are kept",
        "# as the run's artifact.",
        f"name: {_yaml('nbmlops job ' + job.name)}",
        "on:", *on,
        "permissions:", "  contents: read",
        "concurrency:", f"  group: {_yaml('nbmlops-job-' + job.name)}",
        "  cancel-in-progress: false",
        "jobs:", "  run:", "    runs-on: ubuntu-latest",
        *([f"    timeout-minutes: {math.ceil(limit / 60) + 30}"] if limit else []),
        "    steps:",
        "      - uses: actions/checkout@v5",
        "      - uses: actions/setup-python@v6", "        with:",
        f"          python-version: {_yaml(py)}",
        "      - name: Install", "        shell: bash", "        run: |",
        *(f"          {c}" for c in install),
        f"      - name: {_yaml('Run job ' + job.name)}", "        shell: bash",
        *(["        env:", *env] if env else []),
        "        run: |", *(f"          {c}" for c in run),
        "      - name: Keep the executed notebooks", "        if: always()",
        "        uses: actions/upload-artifact@v6", "        with:",
        f"          name: {_yaml('nbmlops-' + job.name + '-${{ github.run_id }}')}",
        f"          path: {_yaml(rel + '/' + OUTPUTS + '/')}",
        "          if-no-files-found: warn",
    ]
    return {f"github/{workflow}": "\n".join(lines) + "\n"}


def _describe(p: Parameter, unset: str) -> str:
    default = "none" if p.default is None else _text_default(p)
    return f"{p.name} ({p.type}, default {default}); {unset}: the job's default"


def _github_install(files: list[str]) -> str:
    workflow = _pick(files, ".yml")
    name = os.path.basename(shlex.split(workflow)[0])
    return (f"from the project root: mkdir -p .github/workflows && cp {workflow} "
            f".github/workflows/{name}, then commit and push it")


# --- Airflow ----------------------------------------------------------------------------

_AIRFLOW_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                  "list": "array", "dict": "object"}


def _airflow_module(job: TargetJob) -> str:
    return "nbmlops_" + job.name.replace("-", "_")


def _jinja_literal(text: str) -> str:
    """``text`` kept as it is by Airflow's Jinja rendering."""
    if not any(m in text for m in ("{{", "{%", "{#")):
        return text
    if "endraw" in text:
        raise JobSpecError(f"{text!r} cannot be passed through Airflow's templates; move the "
                           "project or interpreter to a plainer path")
    return "{% raw %}" + text + "{% endraw %}"


def _airflow_env(p: Parameter) -> str:
    """The Jinja template for a parameter's value: empty when it is None (the job's
    default applies), text as it is, other types as JSON (what ``-p`` reads)."""
    value = f"params[{p.name!r}]"
    shown = value if p.type == "str" else f"{value} | tojson"
    return f"{{{{ '' if {value} is none else {shown} }}}}"


def _no_retries(job: TargetJob) -> tuple[str, ...]:
    return ("--retries", "0") if job.verb == ("jobs", "run") else ()


def _airflow(job: TargetJob) -> dict[str, str]:
    spec = job.spec
    # Airflow retries the task itself (each try visible in its UI, each with the job's
    # timeout), so the runner does not retry as well
    command_lines = [f"cd {shlex.quote(str(job.project_root))} || exit 1",
                     *_param_args(spec),
                     f'exec {job.command(*_no_retries(job))} "${{args[@]}}"']
    command = _jinja_literal("\n".join(command_lines))
    params = []
    for p in spec.parameters:
        kind = _AIRFLOW_TYPES.get(p.type)  # None for "null": any JSON value
        nullable = [kind, "null"] if p.default is None else kind
        typed = f", type={nullable!r}" if kind is not None else ""
        params.append(f"        {p.name!r}: Param({p.default!r}{typed}, "
                      f"description={_describe(p, 'None')!r}),")
    env = [f"            {_param_env(p)!r}: {_airflow_env(p)!r}," for p in spec.parameters]
    limit = job.time_limit()
    timeout = "None" if limit is None else f"datetime.timedelta(seconds={limit})"
    command_text = "\n".join(f"    {line!r}," for line in command.split("\n"))
    text = f'''"""nbmlops job {job.name!r} as an Airflow DAG (Airflow 2.4+ and 3).

Copy this file into your DAGs folder. {_HEADER}
The task runs the job on the worker, which must see the project and its interpreter
(the paths in COMMAND). Trigger it with a config to override the job's parameters.
"""

from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.param import Param
try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator

COMMAND = "\\n".join([
{command_text}
])

with DAG(
    dag_id={"nbmlops-" + job.name!r},
    description={"nbmlops job " + job.name!r},
    schedule={spec.schedule!r},
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["nbmlops"],
    params={{
{chr(10).join(params)}
    }},
) as dag:
    BashOperator(
        task_id={"run_" + job.name!r},
        bash_command=COMMAND,
        env={{
{chr(10).join(env)}
        }},
        append_env=True,
        retries={spec.retries},
        retry_delay=datetime.timedelta(seconds={spec.retry_delay!r}),
        execution_timeout={timeout},
    )
'''
    return {f"airflow/{_airflow_module(job)}.py": text}


def _airflow_install(files: list[str]) -> str:
    dag = _pick(files, ".py")
    return (f"copy {dag} to your DAGs folder (e.g. cp {dag} \"$AIRFLOW_HOME/dags/\"); the "
            "Airflow worker must be able to read the project and run its interpreter")


@dataclass(frozen=True)
class _BuiltIn:
    """A target of nbmlops' own: its two functions."""

    render: Callable[[TargetJob], dict[str, str]]
    instructions: Callable[[list[str]], str]
    needs_schedule: bool


register("cron", _BuiltIn(_cron, _cron_install, needs_schedule=True))
register("systemd", _BuiltIn(_systemd, _systemd_install, needs_schedule=True))
register("github", _BuiltIn(_github, _github_install, needs_schedule=False))
register("airflow", _BuiltIn(_airflow, _airflow_install, needs_schedule=False))

__all__ = ["TIMEOUT_MARGIN", "ExportTarget", "TargetJob", "instructions", "lookup", "names",
           "on_calendar", "register", "render", "write"]
