"""Live runs: what ``log_*`` writes to, and the per-process services behind them.

A run is written when it starts (status ``running``, with its params and inputs) and
when it ends (status, metrics, outputs, artifacts, environment), each in one
transaction. In between, logged values are buffered in memory and flushed, in one
transaction, by a background thread every ``FLUSH_S`` seconds (sooner when the buffer
grows), so a killed process loses at most the last couple of seconds of metrics and
never the run. The same thread refreshes the heartbeat of every running run.

Writing a run's values is serialised per run: a flush and the run's end never overlap.
If the store fails when a run ends, the run stays in memory with its end pending and the
background thread retries it; the caller's own exception (if any) is never replaced.

The run being tracked is held in a ``ContextVar`` (set and reset around a tracked cell
or ``with track(...)`` block), never in a module global.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops._types import (
    DatasetLink,
    Direction,
    Metric,
    NewRun,
    RunArtifact,
    RunEnd,
    RunKind,
    RunStatus,
)
from nbmlops.artifacts import ArtifactStore, check_name, iter_files
from nbmlops.errors import NbmlopsError, NoActiveRunError, ParamConflictError, StoreError
from nbmlops.store import Store, liveness
from nbmlops.store.base import same_param
from nbmlops.tracking import environment as envmod
from nbmlops.tracking.fingerprint import fingerprint, fingerprint_file
from nbmlops.tracking.sample import SAMPLE_ARTIFACT
from nbmlops.tracking.summary import RunSummary
from nbmlops.tracking.values import is_dataset, to_metric_value, to_param

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

FLUSH_S = 2.0
FLUSH_AT = 5000  # buffered metrics that wake the background flush early
FLUSH_NOW_AT = 20 * FLUSH_AT  # ... and beyond which the logging thread writes them itself
MAX_KEY = 250
MAX_NAME = 255
MAX_TAG_VALUE = 5000
MODEL_MEDIA_TYPE = "application/vnd.nbmlops.model+pickle"
GIT_PROBE_REUSE_S = 2.0
GIT_DIR_RECHECK_S = 30.0  # a repository created (or removed) later is noticed this soon
REPORT_EVERY_S = 60.0

_current: ContextVar[ActiveRun | None] = ContextVar("nbmlops_active_run", default=None)


PARENT_RUN_ENV = "NBMLOPS_PARENT_RUN"  # set by `nbmlops jobs run` for the kernel it starts


def active_run() -> ActiveRun | None:
    """The run being tracked in this context, if any."""
    return _current.get()


def require_active_run(what: str) -> ActiveRun:
    run = _current.get()
    if run is None:
        raise NoActiveRunError(what)
    return run


@contextmanager
def activated(run: ActiveRun) -> Iterator[ActiveRun]:
    """Make ``run`` the active run for the duration of the block."""
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def check_key(kind: str, key: object, limit: int = MAX_KEY) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"{kind} names must be non-empty strings, not {key!r}")
    if len(key) > limit:
        raise ValueError(f"{kind} name {key[:40]!r}… is longer than {limit} characters")
    if any(ord(c) < 32 for c in key):
        raise ValueError(f"{kind} name {key!r} holds control characters")
    return key


def format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def status_for(exc: BaseException) -> RunStatus:
    """How a run ends when ``exc`` leaves it (``sys.exit(0)`` is a normal end)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return "finished"
    return "failed"


class _GitProbe:
    """``git status`` in the background, shared by runs that start close together."""

    def __init__(self, root: Path, pool: ThreadPoolExecutor) -> None:
        self._root, self._pool = root, pool
        self._future: Future[bool | None] | None = None
        self._started = 0.0
        self._lock = threading.Lock()

    def dirty(self) -> Future[bool | None]:
        with self._lock:
            now = time.monotonic()
            if self._future is None or now - self._started > GIT_PROBE_REUSE_S:
                self._future = self._pool.submit(envmod.git_dirty, self._root)
                self._started = now
            return self._future


class _Reporter:
    """Background failures, told on stderr at most once a minute per kind."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __call__(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -REPORT_EVERY_S) >= REPORT_EVERY_S:
            self._last[kind] = now
            print(f"nbmlops: {message}", file=sys.stderr)


class Recorder:
    """Tracking's per-process part of a workspace: live runs, their background writer and
    heartbeat, the git probe, the environment, and which run stored which model object.

    Private to tracking: other code uses the functions below (``start_run(ws, ...)``)."""

    def __init__(self, ws: Workspace) -> None:
        if not ws.writable:
            raise StoreError(f"the workspace at {ws.store.url} was opened for reading; "
                             "recording runs needs open_workspace(mode='write')",
                             url=ws.store.url)
        self.ws = ws
        self.store: Store = ws.store
        self.artifacts: ArtifactStore = ws.artifacts
        self.project_root: Path = ws.project_root
        self._runs: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nbmlops")
        self._env: Future[Any] | None = None
        self._git = _GitProbe(self.project_root, self._pool)
        self._report = _Reporter()
        self._git_dir: tuple[float, Path | None] = (-GIT_DIR_RECHECK_S, None)
        self._models: dict[int, tuple[weakref.ref[Any], str, str]] = {}
        # writes handed over by the cell's path (a run's slice), in order, retried
        self._deferred: deque[tuple[str, Callable[[], None]]] = deque()
        self._deferred_lock = threading.Lock()
        self._deferred_write = threading.Lock()
        self.forked = False
        self.user = ws.actor.user
        self.host = ws.actor.host
        self.pid = os.getpid()
        self.token = liveness.process_token()

    def __repr__(self) -> str:
        return f"Recorder(store={self.store.url!r}, artifacts={self.artifacts.location!r})"

    # -- services -------------------------------------------------------------------
    def prefetch_environment(self) -> None:
        """Start reading the environment in the background (once per process)."""
        if self._env is None:
            self._env = self._pool.submit(envmod.capture_environment)

    def environment(self, timeout: float = 30.0) -> Any:
        self.prefetch_environment()
        assert self._env is not None
        return self._env.result(timeout=timeout)

    def _ensure_thread(self) -> None:
        if self.forked:
            return  # a forked child writes as it logs (see after_fork)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="nbmlops-heartbeat",
                                            daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def defer(self, what: str, write: Callable[[], None]) -> None:
        """Have the background writer call ``write`` on its next turn (in the order given;
        retried on failure; at the latest when the recorder closes, at exit). ``what`` names
        it in the message shown if it keeps failing. A forked child writes it now."""
        with self._deferred_lock:
            self._deferred.append((what, write))
        if self.forked:
            self.write_deferred()
            return
        self._ensure_thread()  # its next tick (FLUSH_S): cells in a row share one turn

    def write_deferred(self) -> bool:
        """Do the deferred writes, oldest first; stop at the first failure (kept for the
        next turn). True when none is left."""
        with self._deferred_write:  # one writer at a time; the queue's lock stays short
            while True:
                with self._deferred_lock:
                    if not self._deferred:
                        return True
                    what, write = self._deferred[0]
                try:
                    write()
                except Exception as exc:
                    self._report("deferred", f"could not write {what} to the store ({exc}); "
                                             "will try again")
                    return False
                with self._deferred_lock:
                    self._deferred.popleft()

    def _loop(self) -> None:
        # A run's heartbeat is its last sign of life: a crashed run ends there. It is
        # written on the first tick after the run starts, whenever the run's values were
        # flushed, and at least every HEARTBEAT_S, so a killed run keeps its duration.
        beats: dict[str, float] = {}  # run id -> when its heartbeat was last written
        while not self._stop.is_set():
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            self.write_deferred()
            with self._lock:
                runs = list(self._runs.values())
            due = []
            for run in runs:
                try:
                    wrote = run.background_write()
                except Exception as exc:  # kept in memory; tried again next time
                    wrote = False
                    self._report("write", f"could not write run {run.id[:8]} to the store "
                                          f"({exc}); will try again")
                last = beats.get(run.id)
                if run.status == "running" and (
                        wrote or last is None or time.time() - last >= liveness.HEARTBEAT_S):
                    due.append(run.id)
            beats = {r.id: beats[r.id] for r in runs if r.id in beats}
            if due:
                now = time.time()
                try:
                    self.store.heartbeat(due, now)
                    beats.update(dict.fromkeys(due, now))
                except Exception as exc:
                    self._report("heartbeat", f"heartbeat failed ({exc}); will try again")

    def close(self) -> None:
        """End background work (used on %unload_ext and at interpreter exit)."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            try:
                if run.status == "running":
                    run.end("interrupted",
                            error="the process shut down while the run was active")
                else:
                    run.background_write()  # a pending end: one last try
            except Exception as exc:
                print(f"nbmlops: run {run.id[:8]} could not be written before exit ({exc}); "
                      "the next process to open the store marks it crashed", file=sys.stderr)
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if not self.write_deferred():  # one last try, after the thread's own
            with self._deferred_lock:
                lost = [what for what, _ in self._deferred]
            print(f"nbmlops: {', '.join(lost)} could not be written before exit",
                  file=sys.stderr)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def after_fork(self) -> None:
        """In a forked child: new connections, no inherited thread, write as you log."""
        self.forked = True
        self._thread = None
        self._lock = threading.Lock()
        self._deferred = deque()  # the parent writes its own
        self._deferred_lock, self._deferred_write = threading.Lock(), threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nbmlops")
        self._git = _GitProbe(self.project_root, self._pool)
        self._env = None  # the workspace resets the store's connections

    # -- runs -----------------------------------------------------------------------
    def start_run(
        self,
        *,
        experiment: str,
        name: str | None = None,
        kind: RunKind = "script",
        parent_run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        inputs: tuple[DatasetLink, ...] = (),
        code: str | None = None,
        notebook_path: str | None = None,
        cell_id: str | None = None,
        execution_count: int | None = None,
    ) -> ActiveRun:
        new = self.new_run(experiment=experiment, name=name, kind=kind,
                           parent_run_id=parent_run_id, params=params, tags=tags,
                           inputs=inputs, code=code, notebook_path=notebook_path,
                           cell_id=cell_id, execution_count=execution_count)
        self.store.start_run(new)
        in_git = new.git_commit is not None
        dirty = self._git.dirty() if in_git and parent_run_id is None else None
        run = ActiveRun(self, new, dirty)
        with self._lock:
            self._runs[run.id] = run
        self._ensure_thread()
        return run

    def new_run(self, *, experiment: str, name: str | None = None, kind: RunKind = "script",
                parent_run_id: str | None = None, params: Mapping[str, Any] | None = None,
                tags: Mapping[str, Any] | None = None, inputs: tuple[DatasetLink, ...] = (),
                code: str | None = None, notebook_path: str | None = None,
                cell_id: str | None = None, execution_count: int | None = None,
                start_time: float | None = None) -> NewRun:
        """A checked :class:`NewRun` of this process (not yet written). In a kernel a job
        started (``NBMLOPS_PARENT_RUN``), top-level runs are the job run's children."""
        self.prefetch_environment()
        if parent_run_id is None:
            parent_run_id = os.environ.get(PARENT_RUN_ENV) or None
        if name is not None:
            check_key("run", name, MAX_NAME)
        if cell_id is not None and len(cell_id) > MAX_NAME:
            cell_id = None  # not an id any front end we know sends; not worth failing for
        return NewRun(
            id=uuid.uuid4().hex, experiment=check_key("experiment", experiment, MAX_NAME),
            name=name, kind=kind, start_time=time.time() if start_time is None else start_time,
            user=self.user, host=self.host, pid=self.pid, process_token=self.token,
            parent_run_id=parent_run_id, notebook_path=notebook_path, cell_id=cell_id,
            execution_count=execution_count, code=code,
            code_hash=hashlib.sha256(code.encode()).hexdigest() if code else None,
            git_commit=self.git_commit(),
            params={check_key("param", k): to_param(k, v) for k, v in (params or {}).items()},
            tags={check_key("tag", k): _tag_value(v) for k, v in (tags or {}).items()},
            inputs=inputs,
        )

    def git_commit(self) -> str | None:
        """HEAD's commit, read on every run; where the repository is, checked now and then."""
        checked, git_dir = self._git_dir
        now = time.monotonic()
        if now - checked > GIT_DIR_RECHECK_S:
            git_dir = envmod.find_git_dir(self.project_root)
            self._git_dir = (now, git_dir)
        return None if git_dir is None else envmod.git_commit(self.project_root, git_dir)

    def remember_model(self, model: Any, run_id: str, artifact: str) -> None:
        """Note which run stored ``model`` (so registering the object links that run)."""
        try:
            ref = weakref.ref(model, lambda _: self._models.pop(key, None))
        except TypeError:  # not weak-referenceable: nothing to remember it by safely
            return
        key = id(model)
        self._models[key] = (ref, run_id, artifact)

    def source_of(self, model: Any) -> tuple[str, str] | None:
        """(run id, artifact name) of the run that stored this very object, if any."""
        found = self._models.get(id(model))
        if found is None or found[0]() is not model:
            return None
        return found[1], found[2]

    def _forget(self, run: ActiveRun) -> None:
        with self._lock:
            self._runs.pop(run.id, None)


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise ValueError(f"tag values are at most {MAX_TAG_VALUE} characters")
    return text


class ActiveRun:
    """A run in progress. Use the ``log_*`` methods, or ``nbmlops.log_*`` inside it."""

    def __init__(self, recorder: Recorder, new: NewRun, git_dirty: Future[bool | None] | None
                 ) -> None:
        self.id = new.id
        self.experiment = new.experiment
        self.name = new.name
        self.kind = new.kind
        self.parent_run_id = new.parent_run_id
        self.start_time = new.start_time
        self.end_time: float | None = None
        self.status: RunStatus = "running"
        self.error: str | None = None
        self._recorder = recorder
        self._git_dirty = git_dirty
        self._params: dict[str, Any] = dict(new.params)
        self._inputs: list[DatasetLink] = list(new.inputs)
        self._pending_params: dict[str, Any] = {}
        self._metrics: list[Metric] = []
        self._next_step: dict[str, int] = {}
        self._latest: dict[str, float] = {}
        self._tags: dict[str, str] = dict(new.tags)
        self._pending_tags: dict[str, str] = {}
        self._outputs: list[DatasetLink] = []
        self._artifacts: list[RunArtifact] = []
        self._pending_links: list[DatasetLink] = []
        self._pending_end: RunEnd | None = None
        self.warnings: list[str] = []
        self._lock = threading.Lock()  # guards the values above
        self._write_lock = threading.Lock()  # one write of this run at a time

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id[:8]} {self.experiment}/{self.name or '-'} {self.status}>"

    # -- params, metrics, tags ----------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log inputs of the run. Re-logging a key with the same value is a no-op."""
        clean = {check_key("param", k): to_param(k, v) for k, v in params.items()}
        with self._lock:
            for key, value in clean.items():
                if key in self._params:
                    if not same_param(self._params[key], value):
                        raise ParamConflictError(self.id, key, self._params[key], value)
                    continue
                self._params[key] = value
                self._pending_params[key] = value
        self._written_as_logged()

    def log_metric(self, key: str, value: Any, *, step: int | None = None,
                   timestamp: float | None = None) -> None:
        """Log one value of a metric. Without ``step``, steps count up from 0 per key."""
        check_key("metric", key)
        number = to_metric_value(key, value)
        ts = time.time() if timestamp is None else float(timestamp)
        with self._lock:
            if step is None:
                step = self._next_step.get(key, 0)
            elif not isinstance(step, int) or isinstance(step, bool):
                raise TypeError(f"metric step must be an int, not {type(step).__name__}")
            self._next_step[key] = max(self._next_step.get(key, 0), step + 1)
            self._metrics.append(Metric(key, number, step, ts))
            self._latest[key] = number
            buffered = len(self._metrics)
        if buffered >= FLUSH_AT:
            self._recorder.wake()
        if buffered >= FLUSH_NOW_AT or self._recorder.forked:
            self._write_now()

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int | None = None,
                    timestamp: float | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step=step, timestamp=timestamp)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = {check_key("tag", k): _tag_value(v) for k, v in tags.items()}
        with self._lock:
            self._tags.update(clean)
            self._pending_tags.update(clean)
        self._written_as_logged()

    # -- data, artifacts, models ------------------------------------------------------
    def log_input(self, data: Any, name: str | None = None) -> DatasetLink:
        """Record a DataFrame/Series/array or a file path as an input of the run."""
        return self._link(data, name, "input")

    def log_output(self, data: Any, name: str | None = None) -> DatasetLink:
        """Record a DataFrame/Series/array or a file path as an output of the run."""
        return self._link(data, name, "output")

    def _link(self, data: Any, name: str | None, direction: Direction) -> DatasetLink:
        if isinstance(data, str | os.PathLike):
            fp = fingerprint_file(Path(data))
            name = name or Path(data).name
        elif is_dataset(data):
            fp = fingerprint(data)
            name = name or f"{fp.kind}-{fp.content_hash[-8:]}"
        else:
            raise TypeError(f"cannot record a {type(data).__name__} as data; give a "
                            "DataFrame, Series, NumPy array or a file path")
        link = DatasetLink(name=check_key("dataset", name), direction=direction, dataset=fp)
        self.add_datasets([link])
        return link

    def add_datasets(self, links: Iterable[DatasetLink]) -> None:
        """Record already-fingerprinted inputs and outputs."""
        with self._lock:
            for link in links:
                (self._inputs if link.direction == "input" else self._outputs).append(link)
                self._pending_links.append(link)
        self._written_as_logged()

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None
                     ) -> list[RunArtifact]:
        """Store a file (or every file under a folder) as artifacts of the run.

        The bytes are copied into the content-addressed store now, so later changes
        to the file do not change what the run recorded.
        """
        src = Path(path)
        given = src.name if name is None else name  # name="" is refused, not replaced
        if src.is_dir():
            prefix = check_name(given)
            items = [(p, check_name(f"{prefix}/{rel}")) for p, rel in iter_files(src)]
        elif src.is_file():
            items = [(src, check_name(given))]
        else:
            raise FileNotFoundError(f"no file or folder at {src}")
        added = []
        for file, art_name in items:
            ref = self._recorder.artifacts.put_file(file)
            added.append(RunArtifact(name=art_name, kind="file", artifact=ref))
        with self._lock:
            self._artifacts.extend(added)
        return added

    def log_model(self, model: Any, name: str = "model") -> RunArtifact:
        """Store a model object (pickled) as an artifact of kind ``model``."""
        art = model_artifact(self._recorder.artifacts, model, name)
        self.add_artifacts([art])
        self._recorder.remember_model(model, self.id, art.name)
        return art

    def add_artifacts(self, artifacts: Iterable[RunArtifact]) -> None:
        """Attach artifacts already in the artifact store (written with the run's end)."""
        with self._lock:
            self._artifacts.extend(artifacts)

    # -- writing ------------------------------------------------------------------------
    def _take_pending(self) -> tuple[dict[str, Any], list[Metric], dict[str, str],
                                     list[DatasetLink]]:
        with self._lock:
            taken = (self._pending_params, self._metrics, self._pending_tags,
                     self._pending_links)
            self._pending_params, self._metrics = {}, []
            self._pending_tags, self._pending_links = {}, []
        return taken

    def _give_back(self, params: dict[str, Any], metrics: list[Metric], tags: dict[str, str],
                   links: list[DatasetLink]) -> None:
        with self._lock:
            self._pending_params = {**params, **self._pending_params}
            self._metrics = metrics + self._metrics
            self._pending_tags = {**tags, **self._pending_tags}
            self._pending_links = links + self._pending_links

    def _flush(self) -> bool:
        """Write what was logged since the last write, in one transaction (call with
        ``_write_lock`` held); on failure everything stays pending. True if it wrote."""
        params, metrics, tags, links = self._take_pending()
        if not (params or metrics or tags or links):
            return False
        try:
            self._recorder.store.log_batch(self.id, params=params, metrics=metrics, tags=tags,
                                          datasets=links)
        except BaseException:
            self._give_back(params, metrics, tags, links)
            raise
        return True

    def _written_as_logged(self) -> None:
        if self._recorder.forked:
            self._write_now()

    def _write_now(self) -> None:
        """Flush from the logging thread; a store failure keeps the values pending."""
        try:
            with self._write_lock:
                self._flush()
        except NbmlopsError as exc:
            self._recorder._report("write", f"could not write run {self.id[:8]} ({exc}); "
                                           "kept in memory, will try again")

    def flush(self) -> None:
        """Write what was logged so far now (raises the store's error if it fails)."""
        with self._write_lock:
            self._flush()

    def background_write(self) -> bool:
        """The background thread's turn: a pending end, else buffered values. True if
        values of a running run were written."""
        with self._write_lock:
            if self._pending_end is not None:
                self._write_end(self._pending_end)
            elif self.status == "running":
                return self._flush()
        return False

    def end(self, status: RunStatus = "finished", *, error: str | None = None) -> RunSummary:
        """Record how the run ended.

        Safe to call more than once: later calls return the summary. If the store fails,
        the end stays pending (retried in the background) and the StoreError is raised.
        """
        with self._write_lock:
            if self.status != "running":
                return self.summary()
            env = None
            try:
                env = self._recorder.environment(timeout=30)
            except Exception as exc:  # never lose a run over the environment
                self.warnings.append(f"environment not recorded: {exc}")
            dirty = None
            if self._git_dirty is not None and self._git_dirty.done():
                dirty = self._git_dirty.result()
            params, metrics, tags, links = self._take_pending()
            with self._lock:
                artifacts = tuple(self._artifacts)
            end = RunEnd(status=status, end_time=time.time(), error=error, params=params,
                         metrics=tuple(metrics), tags=tags, datasets=tuple(links),
                         artifacts=artifacts, environment=env, git_dirty=dirty)
            self.status, self.end_time, self.error = status, end.end_time, error
            self._pending_end = end
            self._write_end(end)
        return self.summary()

    def _write_end(self, end: RunEnd) -> None:
        """Write a pending end (call with ``_write_lock`` held)."""
        self._recorder.store.end_run(self.id, end)
        self._pending_end = None
        self._recorder._forget(self)
        if self._git_dirty is not None and end.git_dirty is None:
            self._git_dirty.add_done_callback(self._record_dirty_later)

    @property
    def end_pending(self) -> bool:
        """The run has ended but the store has not yet recorded it (being retried)."""
        return self._pending_end is not None

    def _record_dirty_later(self, fut: Future[bool | None]) -> None:
        try:
            value = fut.result()
            if value is not None:
                self._recorder.store.set_git_dirty(self.id, value)
        except Exception:  # the run is recorded; a missing dirty flag is not worth noise
            pass

    # -- reading --------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._params)

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value of each metric logged so far."""
        with self._lock:
            return dict(self._latest)

    @property
    def tags(self) -> dict[str, str]:
        with self._lock:
            return dict(self._tags)

    def summary(self) -> RunSummary:
        with self._lock:
            return RunSummary(
                run_id=self.id, experiment=self.experiment, name=self.name,
                status=self.status,
                duration_s=(self.end_time or time.time()) - self.start_time,
                metrics=dict(self._latest), n_params=len(self._params),
                inputs=tuple(ln.name for ln in self._inputs),
                outputs=tuple(ln.name for ln in self._outputs),
                models=tuple(a.name for a in self._artifacts if a.kind == "model"),
                files=tuple(a.name for a in self._artifacts  # not the evidence (sample.py)
                            if a.kind != "model" and a.name != SAMPLE_ARTIFACT),
                error=_last_line(self.error), warnings=tuple(self.warnings))


def model_artifact(artifacts: ArtifactStore, model: Any, name: str) -> RunArtifact:
    """A model object pickled into the artifact store, as a ``model`` artifact."""
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    ref = artifacts.put_bytes(data, media_type=MODEL_MEDIA_TYPE)
    return RunArtifact(name=check_name(name), kind="model", artifact=ref)


def _last_line(error: str | None) -> str | None:
    if not error:
        return None
    lines = [ln for ln in error.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else None


def finish(run: ActiveRun, exc: BaseException | None = None, *,
           traceback_text: str | None = None, failure: str | None = None) -> RunSummary:
    """End ``run`` after its block or cell: finished, or as ``exc`` says, or failed for
    ``failure`` (the block ran, but part of what the run records could not be kept).

    When the block raised, the caller re-raises ``exc``; if the store also failed, the
    failure is attached to ``exc`` as a note instead of replacing it. When the block
    succeeded, a store failure is raised as a StoreError saying the work did happen.
    """
    status: RunStatus
    if exc is not None:
        status = status_for(exc)
        error = None if status == "finished" else (traceback_text or format_error(exc))
    else:
        status, error = ("finished", None) if failure is None else ("failed", failure)
    try:
        return run.end(status, error=error)
    except NbmlopsError as store_exc:
        message = (f"run {run.id[:8]} ran, but could not be recorded as {status} "
                   f"({store_exc}); nbmlops keeps retrying in the background")
        if exc is not None:
            exc.add_note(f"nbmlops: {message}")
            return run.summary()
        raise StoreError(message) from store_exc


def recorder(ws: Workspace) -> Recorder:
    """The workspace's recorder (made on first use; the workspace must be writable)."""
    return ws.service("tracking", Recorder)


def start_run(ws: Workspace, **fields: Any) -> ActiveRun:
    """Start a run in ``ws`` (written now, status ``running``); see :meth:`Recorder.start_run`."""
    return recorder(ws).start_run(**fields)


def new_run(ws: Workspace, **fields: Any) -> NewRun:
    """A checked :class:`NewRun` of this process in ``ws``, not yet written."""
    return recorder(ws).new_run(**fields)


def process_environment(ws: Workspace, timeout: float = 30.0) -> Any:
    """This process's environment record (read once, in the background)."""
    return recorder(ws).environment(timeout=timeout)


def remember_model(ws: Workspace, model: Any, run_id: str, artifact: str) -> None:
    """Note which run stored ``model`` (so registering the object links that run)."""
    recorder(ws).remember_model(model, run_id, artifact)


def source_of(ws: Workspace, model: Any) -> tuple[str, str] | None:
    """(run id, artifact name) of the run in this process that stored this very object."""
    found = ws.service("tracking", Recorder) if ws.writable else None
    return None if found is None else found.source_of(model)


def write_pending(ws: Workspace) -> None:
    """Wake the background writer now (it retries pending writes and beats hearts)."""
    recorder(ws).wake()


def defer_write(ws: Workspace, what: str, write: Callable[[], None]) -> None:
    """Have ``ws``'s background writer call ``write`` off the caller's path, after what
    was deferred before it; at the latest when the workspace closes (at exit)."""
    recorder(ws).defer(what, write)


def write_deferred(ws: Workspace) -> None:
    """Do the writes this process deferred into ``ws`` now (so what it reads next holds
    them); nothing when it deferred none."""
    for part in ws.services():
        if isinstance(part, Recorder):
            part.write_deferred()


@contextmanager
def tracked(ws: Workspace, *, experiment: str, name: str | None = None,
            kind: RunKind = "script", params: Mapping[str, Any] | None = None,
            tags: Mapping[str, Any] | None = None, parent_run_id: str | None = None,
            code: str | None = None, notebook_path: str | None = None) -> Iterator[ActiveRun]:
    """A run around a block: finished on success, failed/interrupted (and re-raised) else."""
    run = start_run(ws, experiment=experiment, name=name, kind=kind, params=params,
                    tags=tags, parent_run_id=parent_run_id, code=code,
                    notebook_path=notebook_path)
    try:
        with activated(run):
            yield run
    except BaseException as exc:
        finish(run, exc)
        raise
    finish(run)


__all__ = [
    "MODEL_MEDIA_TYPE",
    "ActiveRun",
    "Recorder",
    "activated",
    "active_run",
    "defer_write",
    "finish",
    "format_error",
    "model_artifact",
    "new_run",
    "process_environment",
    "recorder",
    "remember_model",
    "require_active_run",
    "source_of",
    "start_run",
    "status_for",
    "tracked",
    "write_deferred",
    "write_pending",
]
