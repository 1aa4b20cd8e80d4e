"""What the benchmark scripts share: printing, formatting, timing, the header, the sections,
the summary table and the temporary workspace they run in.

Not a benchmark: each script in this folder is run by hand as ``python bench/<name>.py``,
which puts this folder first on ``sys.path``, so ``from _harness import ...`` finds this
module. What a script measures, and how it words its results, stays in the script.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import logging
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
B = TypeVar("B")

# the environment that keeps MLflow from printing, phoning home and logging in the
# background (set before it is imported)
MLFLOW_QUIET_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "TQDM_DISABLE": "1",
}
NOISY_LOGGERS = ("mlflow", "alembic", "sqlalchemy", "urllib3", "git")


# -- printing and formatting --------------------------------------------------------------

def say(text: str = "") -> None:
    print(text, flush=True)


def fmt_s(seconds: float | None, *, micro: bool = True) -> str:
    """A duration with a unit that keeps 2-3 significant digits (``micro=False``: never in
    µs, milliseconds below 10 ms)."""
    if seconds is None:
        return "n/a"
    if micro and abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if abs(seconds) < 0.01:
        return f"{seconds * 1e3:.2f} ms"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_cell(value: float | str | None, *, none: str = "n/a") -> str:
    """A table cell: a text as is, seconds formatted, ``none`` for no value."""
    if isinstance(value, str):
        return value
    return none if value is None else fmt_s(value)


def fmt_met(met: bool | None) -> str:
    """Whether a target was met: yes, NO, or n/a when it could not be told."""
    return "n/a" if met is None else "yes" if met else "NO"


def has_target(target: str | None) -> bool:
    """Whether a summary row has a target (``-``, empty or None: it has none)."""
    return target not in (None, "", "-")


def met_cell(target: str | None, met: bool | None) -> str:
    """The ``met?`` cell of a summary row: ``-`` when the row has no target."""
    return fmt_met(met) if has_target(target) else "-"


# -- statistics and timing ----------------------------------------------------------------

def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def p90(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[-1]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall time of one call of ``fn``, and what it returned."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def repeat(fn: Callable[[], Any], reps: int, warmup: int = 0) -> list[float]:
    """Wall times of ``reps`` calls of ``fn`` (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(reps)]


def alternate(keys: Iterable[T], rep: int) -> list[T]:
    """The order of round ``rep``: ``keys`` as given, reversed every other round (so drift
    in machine load hits every side alike)."""
    order = list(keys)
    return order if rep % 2 == 0 else order[::-1]


def interleaved(calls: Mapping[str, Callable[[], Any]], reps: int, *, warmup: int = 1,
                progress: Callable[[int, list[str], dict[str, list[float]]], None] | None
                = None) -> dict[str, list[float]]:
    """Wall times of ``reps`` rounds in which every call runs once, after ``warmup``
    untimed rounds; the order is reversed every other round. ``progress`` is told each
    round's number, order and the times so far."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {key: [] for key in calls}
    for rep in range(reps):
        order = alternate(calls, rep)
        for key in order:
            times[key].append(timed(calls[key])[0])
        if progress is not None:
            progress(rep, order, times)
    return times


# -- the machine ----------------------------------------------------------------------------

def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    return (", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg")
            else "n/a")


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def quiet(*, stderr: bool = True) -> Iterator[io.StringIO]:
    """Swallow warnings and what is printed through sys.stdout (and sys.stderr, unless
    ``stderr=False``): MLflow's chatter, a search's progress. Yields what stdout got."""
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
            (contextlib.redirect_stderr(io.StringIO()) if stderr else contextlib.nullcontext()):
        warnings.simplefilter("ignore")
        yield out


# -- processes -----------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def stop_group(pid: int, grace: float = 15.0) -> None:
    """SIGTERM to a process group (a server and what it started, e.g. ``mlflow server`` and
    its uvicorn), SIGKILL to whatever of it is left after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# -- MLflow ---------------------------------------------------------------------------------

def mlflow_uri(root: Path) -> str:
    """MLflow's SQLite backend in the workspace."""
    return f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"


def silence_loggers() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def open_mlflow(root: Path) -> Any:
    """MLflow pointed at its SQLite backend in the workspace, its tables created (the
    migrations take seconds: call it untimed). Returns the ``mlflow`` module."""
    import mlflow

    (root / "mlflow").mkdir(exist_ok=True)
    silence_loggers()
    with quiet():
        mlflow.set_tracking_uri(mlflow_uri(root))
        mlflow.search_experiments()  # creates the tables
    return mlflow


# -- the command line ----------------------------------------------------------------------

def bench_parser(description: str, quick: str) -> argparse.ArgumentParser:
    """A benchmark's argument parser, with its ``--quick`` option (``quick`` is its help)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def parse_bench_args(parser: argparse.ArgumentParser,
                     argv: list[str] | None) -> argparse.Namespace:
    """Add ``--keep``, the last option of every benchmark, and parse ``argv``."""
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (its path is printed)")
    return parser.parse_args(argv)


# -- the header -----------------------------------------------------------------------------

def field_line(label: str, text: str) -> str:
    """One line of a header: ``  label         text``."""
    return f"  {label:<13} {text}"


def temp_dir_field(root: Path, keep: bool) -> tuple[str, str]:
    return "temp dir", f"{root}" + ("  (kept)" if keep else "  (deleted at the end)")


def say_header(title: str, quick: bool, versions: Iterable[tuple[str, str]],
               details: Iterable[tuple[str, str]]) -> None:
    """The title, Python's and nbmlops' versions, then ``versions`` (label, text), the CPUs
    and the load average, then ``details``."""
    cpus = os.cpu_count()
    say(title + (" (--quick)" if quick else ""))
    say(field_line("Python", f"{platform.python_version()} "
                             f"({platform.python_implementation()}) on {platform.platform()}"))
    say(field_line("nbmlops", version_of("nbmlops")))
    for label, text in versions:
        say(field_line(label, text))
    say(field_line("CPUs", f"{cpus} ({usable_cpus()} usable by this process); load average "
                           f"{load_average()}"))
    for label, text in details:
        say(field_line(label, text))


# -- sections and the summary ---------------------------------------------------------------

@dataclass
class SectionsRun:
    """What :func:`run_sections` did."""

    started: float = field(default_factory=time.perf_counter)  # for say_summary
    status: int = 0  # 1 when a section failed
    stopped: bool = False  # a fatal section failed: the ones after it did not run
    results: dict[int, Any] = field(default_factory=dict)  # what each section returned


def run_sections(sections: Iterable[tuple[int, Callable[[B], Any]]], b: B, *,
                 fatal: Collection[int] = ()) -> SectionsRun:
    """Run each numbered section on ``b``, timed. A failure is reported (``SECTION n
    FAILED`` and its traceback) and the others still run, unless ``n`` is in ``fatal``."""
    run = SectionsRun()
    for n, fn in sections:
        t0 = time.perf_counter()
        try:
            run.results[n] = fn(b)
        except Exception:  # report it and go on with the other sections
            say(f"    SECTION {n} FAILED:")
            say(textwrap.indent(traceback.format_exc().rstrip(), "      "))
            run.status = 1
            if n in fatal:
                run.stopped = True
                break
        say(f"    (section {n} took {fmt_s(time.perf_counter() - t0)})")
        say()
    return run


def say_summary(quick: bool, started: float, *, detail: str = "", load: bool = True) -> None:
    """``Summary (quick run, <detail>, 1.23 s in all; load average now ...)``."""
    say(f"Summary ({'quick' if quick else 'full'} run, {detail}"
        f"{fmt_s(time.perf_counter() - started)} in all"
        + (f"; load average now {load_average()})" if load else ")"))


def print_table(header: Sequence[str], lines: Iterable[Sequence[str]], *,
                right: Collection[int], notes: Iterable[str] = (),
                targets: Iterable[tuple[str | None, bool | None]] | None = None) -> None:
    """The summary table: a header, a rule and ``lines``, the columns in ``right`` aligned
    right; after a blank line, with ``targets`` (the rows' (target, met) pairs) how many
    of the targets were met, then the ``notes``."""
    body = list(lines)
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]

    def render(cells: Sequence[str]) -> str:
        return " | ".join(c.rjust(w) if i in right else c.ljust(w)
                          for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    say(render(header).rstrip())
    say("-+-".join("-" * w for w in widths))
    for line in body:
        say(render(line).rstrip())
    say()
    if targets is not None:
        results = [met for target, met in targets if has_target(target) and met is not None]
        say(f"targets met: {sum(results)} of {len(results)}"
            + ("" if all(results) else "   (NO = missed)"))
    for note in notes:
        say(note)


# -- the workspace ----------------------------------------------------------------------------

class BenchContext:
    """What every benchmark's sections share, to build on: the parsed arguments, the
    temporary directory, and in it the project folder (created here; run_in_workspace makes
    it the working directory, so that nbmlops finds no git repository)."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.root = root
        self.project = root / "project"
        self.project.mkdir()


C = TypeVar("C", bound=BenchContext)


def run_in_workspace(prefix: str, context: Callable[[Path], C], body: Callable[[C], int], *,
                     keep: bool,
                     env: Mapping[str, str] | Callable[[Path], Mapping[str, str]] | None = None,
                     nbmlops_store: bool = True, tmp: bool = True,
                     on_exit: Callable[[C | None], None] | None = None) -> int:
    """Make a fresh temporary directory ``root``, the benchmark's context ``context(root)``
    and its project folder the working directory, then run ``body`` on the context; return
    its exit status (130 on ^C).

    Before the context is made: ``env`` (or ``env(root)``) is set, and with
    ``nbmlops_store`` nbmlops' store and artifacts point into the directory
    (``NBMLOPS_STORE``, ``NBMLOPS_ARTIFACTS``), as with ``tmp`` Python's temporary files do
    (``TMPDIR``, ``tempfile.tempdir``). After the body, whatever happened: ``on_exit`` is
    given the context (None if it was not made), nbmlops' store is closed, an MLflow run
    left open ended, the working directory, the environment and ``tempfile.tempdir``
    restored, and the directory deleted unless ``keep``."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    old_cwd = Path.cwd()
    saved_env = dict(os.environ)
    saved_tempdir = tempfile.tempdir
    settings: dict[str, str] = {}
    if nbmlops_store:
        settings["NBMLOPS_STORE"] = str(root / "nbmlops" / "lineage.db")
        settings["NBMLOPS_ARTIFACTS"] = str(root / "nbmlops" / "artifacts")
    if tmp:
        (root / "tmp").mkdir()
        tempfile.tempdir = settings["TMPDIR"] = str(root / "tmp")
    if env is not None:
        settings.update(env(root) if callable(env) else env)
    os.environ.update(settings)
    status = 0
    b: C | None = None
    try:
        b = context(root)
        os.chdir(b.project)  # a project folder of its own: nbmlops finds no git repo
        status = body(b)
    except KeyboardInterrupt:
        say("\ninterrupted")
        status = 130
    finally:
        if on_exit is not None:
            on_exit(b)
        with contextlib.suppress(Exception):
            from nbmlops import api

            api.close()
        if "mlflow" in sys.modules:
            with contextlib.suppress(Exception), quiet():
                sys.modules["mlflow"].end_run()
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        tempfile.tempdir = saved_tempdir
        if keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return status
