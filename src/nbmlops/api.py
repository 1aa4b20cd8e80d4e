"""The public Python API: everything the magics and the CLI do, as plain functions.

The store and artifact locations come from :mod:`nbmlops.config` (``NBMLOPS_STORE``,
``NBMLOPS_ARTIFACTS``, ``[tool.nbmlops]``, else ``.nbmlops/`` at the project root); one
:class:`~nbmlops.workspace.Workspace` (store, artifacts, settings, who acts) is opened per
location per process: to record in *write* mode, to look in *read* mode where the process
only looks (the Jupyter server), and never created by a read. The run being tracked lives in a context variable, set only inside a tracked
cell or a ``with nbmlops.track(...)`` block.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from nbmlops._types import (
    AliasProtection,
    ApprovalRequest,
    AuditEvent,
    AuditVerification,
    Deployment,
    DriftCheck,
    Experiment,
    JobRun,
    Lineage,
    Metric,
    MetricChart,
    ModelVersion,
    MonitorCheck,
    Origin,
    RecordPage,
    RegisteredModel,
    RunKind,
    RunRecord,
    RunSlice,
    RunTable,
    StoreInfo,
    TeamMember,
)
from nbmlops.config import Settings, settings_env
from nbmlops.workspace import Mode, Workspace, current_settings

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    import pandas as pd

    from nbmlops.export.jobs import Exported as Exported  # named for nbmlops.commands
    from nbmlops.export.runner import JobResult
    from nbmlops.export.spec import JobSpec
    from nbmlops.export.suite import JobsRun
    from nbmlops.monitoring.drift import DriftReport as DriftReport  # as Exported
    from nbmlops.monitoring.feedback import FeedbackResult as FeedbackResult  # as Exported
    from nbmlops.monitoring.monitors import CheckResult
    from nbmlops.monitoring.monitors import CreatedMonitor as CreatedMonitor  # for commands/
    from nbmlops.monitoring.performance import PerformanceReport as PerformanceReport
    from nbmlops.progress import Progress
    from nbmlops.registry.card import ModelCard
    from nbmlops.registry.registry import LoadedModel
    from nbmlops.reproduce import Journal, Reproduction
    from nbmlops.serving.batch import BatchResult
    from nbmlops.serving.rollout import RolloutReport
    from nbmlops.serving.server import ServeOptions
    from nbmlops.store import Store
    from nbmlops.tracking.cell import CellOptions, CellSource, Outcome
    from nbmlops.tracking.compare import Comparison
    from nbmlops.tracking.run import ActiveRun
    from nbmlops.tracking.summary import RunSummary
    from nbmlops.tuning.tune import TuneResult

# what run listings (%runs, `nbmlops runs list`) show unless asked: a search's candidates
# are many and are reached through their search's run
LISTED_KINDS: tuple[RunKind, ...] = ("cell", "script", "tune", "job", "deploy", "drift",
                                     "reproduce", "monitor")

def workspace(mode: Mode = "write", settings: Settings | None = None, *,
              create: bool = True) -> Workspace:
    """The process's workspace for the configured store (opened once per location).

    ``mode="read"`` creates, upgrades and reaps nothing: a missing store is a
    NoStoreError. ``mode="write"`` creates the store if needed (unless ``create=False``:
    a NoStoreError then too), upgrades its schema and marks crashed runs.
    """
    from nbmlops.workspace import open_workspace

    return open_workspace(settings, mode=mode, create=create)


# How this process's reads open the store. A process that may record (a kernel, a script,
# the CLI) opens an existing store for writing, so a crashed run is marked and an old schema
# upgraded as it is read; the Jupyter server only looks (``look_only()``).
_read_mode: ContextVar[Mode] = ContextVar("nbmlops_read_mode", default="write")


def look_only() -> None:
    """From now on, in this context (a request being answered, a thread, a task), reads open
    the store in read mode: nothing is created, upgraded or marked crashed by looking. The
    JupyterLab panel's server does this for each request it answers."""
    _read_mode.set("read")


# Who a front end acts for, when that is not this process's user: the JupyterLab panel's
# server answers each request for Jupyter's logged-in user (``act_for()``).
_acting_user: ContextVar[str | None] = ContextVar("nbmlops_acting_user", default=None)


def act_for(user: str | None) -> None:
    """From now on, in this context (a request being answered), what is recorded names
    ``user`` (e.g. Jupyter's logged-in user, under JupyterHub the hub user) instead of this
    process's user. In team mode (PostgreSQL) it changes nothing: the database names who
    acts, from the role the session logged in as. None: this process's user again."""
    _acting_user.set(user.strip() if user and user.strip() else None)


def _acting(ws: Workspace) -> Workspace:
    return ws.acting_for(_acting_user.get())


def _existing() -> Workspace:
    """The workspace to read from. Where nothing was recorded yet it is an empty stand-in
    (lists are empty, lookups say not found): looking creates no store."""
    from nbmlops.errors import NoStoreError
    from nbmlops.workspace import empty_workspace

    try:
        found = workspace(_read_mode.get(), create=False)
    except NoStoreError:
        return empty_workspace()
    if found.services():  # this process recorded here: what it deferred is read too
        from nbmlops.tracking import write_deferred

        write_deferred(found)
    return found


def _changing() -> Workspace:
    """For changes to what exists (promote, rollback): the existing store, opened for
    writing; where there is none, the empty stand-in, whose lookups say not found."""
    found = _existing()
    return _acting(found if found.empty or found.writable else workspace())


def _reading() -> Workspace | None:
    """The workspace to read from, or None when nothing was recorded here yet."""
    found = _existing()
    return None if found.empty else found


def close() -> None:
    """End background work and close every store this process opened."""
    from nbmlops.workspace import close_workspaces

    close_workspaces()


# -- tracking --------------------------------------------------------------------------

_source_cache: dict[tuple[str, int], str | None] = {}


def _read_source(path: Path) -> str | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns)
    if key not in _source_cache:
        text = None
        if stat.st_size <= 1_000_000:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
        _source_cache[key] = text
    return _source_cache[key]


def _caller_frame() -> Any:
    """The frame of the code that called into nbmlops (a script, or a notebook cell)."""
    import contextlib
    import sys

    # skip nbmlops itself and the machinery between a notebook cell and a magic
    skip = [str(Path(__file__).parent), contextlib.__file__]
    for name in ("IPython", "ipykernel"):
        module = sys.modules.get(name)
        if module is not None and module.__file__:
            skip.append(str(Path(module.__file__).parent))
    prefixes = tuple(skip)
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(prefixes):
        frame = frame.f_back
    return frame


def _caller_source() -> tuple[str | None, str | None]:
    """(path, source) of the code that called track().

    A script: its file and source. A notebook cell (a kernel names cell code after a
    temporary file that does not exist): the notebook, and the cell's source.
    """
    import linecache
    import sys

    from nbmlops.tracking.notebook import notebook_path

    frame = _caller_frame()
    filename = frame.f_code.co_filename if frame is not None else None
    del frame
    if not filename:
        return None, None
    path = Path(filename)
    if path.is_file():
        return str(path.resolve()), _read_source(path)
    main = sys.modules.get("__main__")
    lines = linecache.getlines(filename)
    notebook = notebook_path(vars(main)) if main is not None else None
    return notebook, "".join(lines) or None


@contextmanager
def track(
    experiment: str | None = None,
    name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    kind: RunKind = "script",
) -> Iterator[ActiveRun]:
    """Record the block as a run (the script form of ``%%track``).

    ::

        with nbmlops.track("churn", "baseline", params={"C": 1.0}) as run:
            model = LogisticRegression(C=1.0).fit(X, y)
            nbmlops.log_metric("accuracy", model.score(X_test, y_test))
            run.log_model(model)

    The run ends ``finished``; or ``failed`` (``interrupted`` on Ctrl-C) with the
    traceback, and the exception propagates. Inside another tracked run it becomes that
    run's child. The calling script's path and source are recorded as its code. A model
    the block fits is remembered: ``register(model, ...)`` links the version to this run.
    """
    from nbmlops.tracking.notebook import experiment_for
    from nbmlops.tracking.run import active_run, remember_model, source_of, tracked
    from nbmlops.tracking.values import is_estimator, is_fitted

    def fitted_models(frame: Any) -> dict[int, Any]:  # the caller's fitted estimators
        found = list(frame.f_locals.values()) if frame is not None else []
        return {id(v): v for v in found if is_estimator(v) and is_fitted(v)}

    path, source = _caller_source()
    caller = _caller_frame()
    parent = active_run()
    ws = workspace()
    try:
        before = fitted_models(caller)
        with tracked(
            ws, experiment=experiment or (parent.experiment if parent else
                                         experiment_for(path)),
            name=name, kind=kind, params=params, tags=tags,
            parent_run_id=parent.id if parent else None, code=source, notebook_path=path,
        ) as run:
            yield run
        # the models the block fitted: registering one later links this run
        for key, model in fitted_models(caller).items():
            if key not in before and source_of(ws, model) is None:
                remember_model(ws, model, run.id, "")
    finally:
        del caller


def track_cell(
    source: CellSource,
    namespace: MutableMapping[str, Any],
    execute: Callable[[], Outcome],
    *,
    options: CellOptions,
    journal: Journal | None = None,
) -> tuple[RunSummary, Outcome]:
    """Run a notebook cell as a tracked run (what ``%%track`` calls).

    With the kernel's ``journal`` (on), the run records its slice and hidden-state flags,
    shown in its summary. With ``options.snapshot`` (or the settings'
    ``snapshot_max_bytes``), it keeps a copy of the data files and frames it reads. The
    cell's own exception is not raised: it is in the returned outcome.
    """
    from nbmlops.errors import StoreError
    from nbmlops.reproduce import plan_run, record_slice, take_snapshot
    from nbmlops.tracking import cell_names
    from nbmlops.tracking.cell import track_cell as _track_cell

    try:
        ws = workspace()
    except StoreError as exc:
        raise StoreError(f"could not open the store, so the cell was NOT run: {exc}",
                         url=exc.url) from exc
    plan = None
    names = cell_names(source.tree)
    if journal is not None and journal.enabled:
        plan = plan_run(ws, journal, names, cell_id=source.cell_id,
                        notebook_path=source.notebook_path)
    kept: list[str] = []
    if options.snapshot or ws.settings.snapshot_max_bytes:
        attach, kept = take_snapshot(ws, source.tree, names.reads, namespace, plan,
                                     data=options.data or (), asked=options.snapshot)
        options = dataclasses.replace(options, attach=(*options.attach, *attach))
    summary, outcome = _track_cell(ws, source, namespace, execute, options, names)
    if kept:  # what the snapshot could not keep
        summary = dataclasses.replace(summary, warnings=(*summary.warnings, *kept))
    if plan is not None and journal is not None:
        try:
            summary = record_slice(ws, journal, summary, plan, namespace)
        except StoreError as exc:  # the cell ran and its run is recorded: say what is missing
            summary = dataclasses.replace(summary, warnings=(
                *summary.warnings, f"the run's slice was not recorded ({exc}), so it cannot "
                "be reproduced"))
    return summary, outcome


def start_journal(*, transform: Callable[[str], str],
                  notebook: Callable[[], str | None]) -> Journal:
    """A journal of every executed cell for this kernel session (what the extension keeps
    on its kernel state); it writes into the store once one exists here."""
    from nbmlops.reproduce import Journal as _Journal

    return _Journal(transform=transform, notebook=notebook,
                    existing_workspace=_journal_workspace)


def _journal_workspace() -> Workspace | None:
    from nbmlops.errors import NoStoreError

    try:
        return workspace("write", create=False)
    except NoStoreError:
        return None


def run_slice(run_id: str) -> RunSlice | None:
    """What a run stood on: the journaled cells (with their exact code) that last bound
    each name it read, followed back, in the order they ran, and its hidden-state flags;
    None when the run was recorded without the journal."""
    return _existing().store.get_run_slice(run_id)


def reproduce(run_id: str, *, rtol: float = 0.0, notebook_only: bool = False,
              output: str | Path | None = None, timeout: float | None = None
              ) -> Reproduction:
    """Rebuild run ``run_id`` from its slice as a linear notebook, run it with papermill in
    a fresh kernel in the project folder, and compare its metrics (exactly, or within
    ``rtol``) and data fingerprints with the original's; recorded as a run of kind
    ``reproduce``. ``notebook_only`` writes the notebook (to ``output``) without running it.
    """
    from nbmlops.reproduce import reproduce as _reproduce

    if rtol < 0:
        raise ValueError(f"rtol {rtol}: give a relative tolerance of 0 or more")
    ws = _existing() if notebook_only else workspace()
    if not notebook_only:
        from nbmlops.tracking import write_deferred

        write_deferred(ws)  # a run this process just tracked has its slice written
    return _reproduce(ws, run_id, rtol=rtol, notebook_only=notebook_only,
                      output=None if output is None else Path(output), timeout=timeout)


def snapshot_frames(run_id: str, names: Sequence[str]) -> tuple[Any, ...]:
    """The frames ``names`` that run ``run_id`` kept in its data snapshot (``%%track
    --snapshot``), as they were when it ran: what a reproduction loads for a frame that was
    built in memory. Only the run's own frame artifacts, each checked against the sha256 it
    recorded and unpickled only if it holds nothing but data types."""
    from nbmlops.reproduce import load_frames

    ws = _existing()
    return load_frames(ws, ws.store.get_run(run_id), names)


def _active(what: str) -> ActiveRun:
    from nbmlops.tracking.run import require_active_run

    return require_active_run(what)


def active_run() -> ActiveRun | None:
    """The run being tracked here (inside ``%%track`` or ``with track()``), else None."""
    from nbmlops.tracking.run import active_run as _active_run

    return _active_run()


def log_param(key: str, value: Any) -> None:
    """Log an input of the active run. The same value again is a no-op; another is an error."""
    _active("log_param").log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several params of the active run."""
    _active("log_params").log_params(params)


def log_metric(key: str, value: float, *, step: int | None = None,
               timestamp: float | None = None) -> None:
    """Log a metric value; without ``step``, each key's steps count 0, 1, 2, ..."""
    _active("log_metric").log_metric(key, value, step=step, timestamp=timestamp)


def log_metrics(metrics: Mapping[str, float], *, step: int | None = None,
                timestamp: float | None = None) -> None:
    """Log several metric values (sharing ``step`` when given)."""
    _active("log_metrics").log_metrics(metrics, step=step, timestamp=timestamp)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags (free-form labels; unlike params they may change) on the active run."""
    _active("set_tags").set_tags(tags)


def log_artifact(path: str | Path, name: str | None = None) -> list[str]:
    """Copy a file, or every file under a folder, into the run's artifacts.

    Returns the artifact names. ``name`` (a relative path such as ``plots/roc.png``)
    defaults to the file or folder name.
    """
    return [a.name for a in _active("log_artifact").log_artifact(path, name)]


def log_model(model: Any, name: str = "model") -> str:
    """Store a model object as an artifact of kind ``model``; returns its sha256."""
    return _active("log_model").log_model(model, name).artifact.sha256


def log_input(data: Any, name: str | None = None) -> str:
    """Fingerprint a DataFrame/Series/array or file as an input of the active run."""
    return _active("log_input").log_input(data, name).dataset.digest


# -- tuning -----------------------------------------------------------------------------

def tune(
    estimator: Any,
    space: Any = None,
    X: Any = None,
    y: Any = None,
    *,
    cv: Any = 5,
    scoring: Any = None,
    refit: Any = True,
    strategy: str = "grid",
    n_iter: int = 10,
    n_jobs: int | None = None,
    backend: str = "loky",
    scheduler: str | None = None,
    random_state: Any = None,
    error_score: Any = float("nan"),
    experiment: str | None = None,
    name: str | None = None,
    progress: bool | Progress = True,
    data_names: tuple[str, str] = ("X", "y"),
    origin: Origin | None = None,
) -> TuneResult:
    """Search hyperparameters with scikit-learn's search classes (or Optuna), recording
    one parent run (kind ``tune``) and one child run per candidate.

    ``estimator`` is an estimator or Pipeline with ``space`` a dict ``{param: values}``
    (or a list of them), or a dict ``{name: estimator}`` with ``space`` a dict
    ``{name: {param: values}}``: the models compete in one search. ``strategy``:
    ``grid``, ``random`` (``n_iter`` candidates; values may be scipy.stats
    distributions), ``halving`` (successive halving) or ``optuna`` (TPE, ``n_iter``
    trials; ``pip install "nbmlops[optuna]"``). ``cv`` is a number of folds or any
    scikit-learn splitter; ``scoring`` one metric name or several, with ``refit`` naming
    the one that picks the winner. ``backend`` is ``loky``, ``threading`` or ``dask``
    (at ``scheduler``'s address, or a local cluster started for the search).

    Interrupting keeps every finished candidate recorded (the parent ends
    ``interrupted``); a candidate whose fit fails is recorded as failed and the search
    goes on. ``origin`` says which notebook cell (or script) ran the search; by default,
    the caller's. ``progress``: True shows it (a widget in a live notebook, else text lines),
    False hides it, or pass a :class:`~nbmlops.progress.Progress`. Returns a
    :class:`~nbmlops.tuning.tune.TuneResult`.
    """
    from nbmlops import progress as progress_mod
    from nbmlops.errors import TuneError
    from nbmlops.tracking.notebook import experiment_for
    from nbmlops.tracking.run import active_run
    from nbmlops.tuning.tune import tune as _tune

    if X is None or y is None:
        raise TuneError("tune() needs the training data: X and y", argument="X")
    parent = active_run()
    if origin is None:
        path, source = _caller_source()
        origin = Origin(notebook_path=path, code=source)
    if experiment is None:
        experiment = parent.experiment if parent else experiment_for(origin.notebook_path)
    shown: Progress
    if progress is True:
        shown = progress_mod.default()
    elif progress is False:
        shown = progress_mod.NoProgress()
    else:
        shown = progress
    return _tune(workspace(), estimator, space, X, y, progress=shown,
                 cv=cv, scoring=scoring, refit=refit, strategy=strategy, n_iter=n_iter,
                 n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                 random_state=random_state, error_score=error_score, experiment=experiment,
                 name=name, parent_run_id=parent.id if parent else None,
                 data_names=data_names, origin=origin)


# -- the model registry -------------------------------------------------------------------

def evaluate(model: Any, X: Any, y: Any, *, sensitive: Any = None,
             task: Literal["classification", "regression"] | None = None,
             explain: bool = True, shap: bool = False, random_state: int = 0) -> ModelCard:
    """A model card from held-out data: metrics, explanations (permutation and impurity
    importances; SHAP with ``shap=True``, ``pip install "nbmlops[shap]"``) and, with
    ``sensitive`` (a column of ``X`` or an array), fairness per group: per-group metrics,
    demographic parity difference and equalized odds difference. ``task`` is
    ``classification`` or ``regression`` (found from the model when not given)."""
    from nbmlops.registry.card import evaluate as _evaluate

    return _evaluate(model, X, y, sensitive=sensitive, task=task, explain=explain, shap=shap,
                     random_state=random_state)


def register(
    model: Any = None,
    *,
    name: str,
    run: str | None = None,
    artifact: str = "model",
    alias: str | None = None,
    description: str | None = None,
    reason: str | None = None,
    data: Any = None,
    evaluate: tuple[Any, Any] | None = None,
    sensitive: Any = None,
    card: ModelCard | None = None,
    require: Sequence[str] = (),
    onnx: bool = False,
    format: str = "skops",
    trusted: bool = False,
) -> ModelVersion:
    """Register ``model`` (or ``run``'s model artifact) as the next version of ``name``.

    The version links its source run (found automatically for a model a tracked cell or
    search stored), and records metrics: the model card's held-out scores, else the run's. ``data`` (the training frame) gives
    the input signature and a reference profile and sample for drift; without it the
    signature comes from the run's training-data fingerprint. ``evaluate=(X_test, y_test)``
    (with ``sensitive``) computes a model card stored with the version, and the baseline
    production performance is judged by (held-out metrics with 95% bootstrap intervals;
    for a binary classifier with probabilities, the calibration map CBPE estimates
    with; see ``nbmlops.performance``). ``require``
    gates (``"accuracy>=0.8"``) refuse the registration with a GateError naming the gate.
    The file is saved in skops' secure format; ``format="pickle"`` needs ``trusted=True``
    (and so does registering a run's artifact, which %%track saved as a pickle).
    ``alias`` points an alias (e.g. ``staging``) at the new version. Every change is an
    audit event.
    """
    from nbmlops.registry import registry

    ws = workspace()
    source = None
    baseline = None
    if run is not None:
        source = ws.store.get_run(run)
        if model is None:
            model = registry.run_model(ws, source, artifact, trusted=trusted)
    if evaluate is not None:
        if card is not None:
            raise ValueError("give evaluate=(X_test, y_test) or card=, not both")
        from nbmlops.evaluation import held_out_baseline
        from nbmlops.registry.card import evaluate as _evaluate

        X_test, y_test = evaluate
        card = _evaluate(model, X_test, y_test, sensitive=sensitive)
        baseline = held_out_baseline(model, X_test, y_test)
    how = registry.Registration(description=description, alias=alias, reason=reason,
                                data=data, card=card, baseline=baseline,
                                require=tuple(require), onnx=onnx,
                                format=format, trusted=trusted)
    return registry.register(ws, model, name=name, run_id=source.id if source else None,
                             artifact=artifact, how=how)


def training_data(model: Any, candidates: Mapping[str, Any]) -> Any:
    """Among ``candidates`` (e.g. a notebook's variables), the frame ``model`` was trained
    on: one its tracked run read or made, still unchanged (checked by fingerprint); else
    None. ``%register`` uses it when no ``--data`` is given."""
    from nbmlops.registry import registry

    found = _reading()
    return None if found is None else registry.training_data(found, model, candidates)


def model_card_html(version: ModelVersion) -> str | None:
    """A registered version's model card as an HTML page, or None when it has none."""
    from nbmlops.registry import registry

    return registry.card_html(_existing(), version)


def warm_up() -> None:
    """Import the store's machinery and read the environment, opening nothing: what the
    notebook extension does in the background so the first tracked cell is quick."""
    import nbmlops.store.sql.store  # noqa: F401  (SQLAlchemy: the slow import)
    from nbmlops.tracking.environment import capture_environment

    capture_environment()


def load_model(reference: str, *, trusted: bool | Sequence[str] = False) -> LoadedModel:
    """Load ``churn@production``, ``churn/3`` or ``churn`` (the latest version).

    The file's sha256 is checked against the one recorded at registration, and only
    well-known types (scikit-learn, NumPy, SciPy, the standard library, skops' own list)
    are loaded: a model holding another type is refused with an UnsafeModelError naming
    it, unless ``trusted=["mypackage.MyTransformer", ...]`` names it (or ``trusted=True``
    trusts every type in the file). A pickle needs ``trusted=True``. The returned
    model's ``predict`` checks its input against the version's signature.
    """
    from nbmlops.registry import registry

    return registry.load(_existing(), reference, trusted=trusted)


def promote(name: str, version: int, alias: str, *, reason: str | None = None,
            require: Sequence[str] = ()) -> AuditEvent | ApprovalRequest | None:
    """Point ``name@alias`` at ``version`` (returns the audit event; None if it already
    pointed there). ``require`` gates are checked on the version's metrics. A protected
    alias does not move: the approval request opened instead is returned."""
    from nbmlops.registry import registry

    return registry.promote(_changing(), name, version, alias, reason=reason, require=require)


def rollback(reference: str, *, reason: str | None = None) -> AuditEvent | ApprovalRequest:
    """Point ``name@alias`` back at the version it pointed at before its last move (a
    protected alias: the approval request opened instead)."""
    from nbmlops.registry import registry

    return registry.rollback(_changing(), reference, reason=reason)


def protect_alias(name: str, alias: str, *, approvals: int = 1, require: Sequence[str] = (),
                  role: str | None = None) -> AliasProtection:
    """Protect ``name@alias``: promoting or rolling it back opens an approval request, and
    it moves once ``approvals`` people other than the requester approve and the version
    passes ``require`` (checked again at approval). ``role`` (e.g. ``approver``) is
    recorded for PostgreSQL's roles to enforce in team mode; SQLite does not enforce it."""
    from nbmlops.registry import approvals as _approvals

    return _approvals.protect(_changing(), name, alias, approvals=approvals, require=require,
                              role=role)


def unprotect_alias(name: str, alias: str) -> AuditEvent:
    """Let ``name@alias`` move directly again (audited)."""
    from nbmlops.registry import approvals as _approvals

    return _approvals.unprotect(_changing(), name, alias)


def approve(name: str, alias: str, *, request: int | None = None,
            reason: str | None = None) -> ApprovalRequest:
    """Approve the open request to move ``name@alias`` (``request``: which one, when
    several are open). The gates are checked again; the alias moves when the request has
    its approvals. A requester cannot approve their own request (ApprovalError)."""
    from nbmlops.registry import approvals as _approvals

    return _approvals.approve(_changing(), name, alias, request=request, reason=reason)


def reject(name: str, alias: str, *, request: int | None = None,
           reason: str | None = None) -> ApprovalRequest:
    """Reject the open request to move ``name@alias``: it closes and the alias stays."""
    from nbmlops.registry import approvals as _approvals

    return _approvals.reject(_changing(), name, alias, request=request, reason=reason)


def approval_requests(name: str | None = None, *, alias: str | None = None,
                      status: str | None = "open") -> list[ApprovalRequest]:
    """Approval requests (of one model or alias), oldest first; ``status=None``: all."""
    from nbmlops.registry import approvals as _approvals

    ws = _reading()
    return [] if ws is None else _approvals.requests(ws, name, alias=alias, status=status)


def failing_gates(request: ApprovalRequest) -> list[str]:
    """The gates of the request's protected alias that its version fails now, one line
    each (an approval would be refused with the first); empty when it passes them all."""
    from nbmlops.registry import approvals as _approvals

    ws = _reading()
    return [] if ws is None else _approvals.failing_gates(ws, request)


def protections(name: str | None = None) -> list[AliasProtection]:
    """The protected aliases (of one model)."""
    from nbmlops.registry import approvals as _approvals

    ws = _reading()
    return [] if ws is None else _approvals.protections(ws, name)


def team_init() -> list[str]:
    """Team mode (PostgreSQL; the database owner, once): make PostgreSQL enforce who may
    do what. Creates the group roles nbmlops_reader, _writer, _approver and _admin with
    their grants, row-level policies and the audit triggers; returns the roles."""
    from nbmlops import team

    return team.init(workspace())


def team_add(name: str, role: str = "writer", *, password_env: str | None = None
             ) -> TeamMember:
    """Add ``name`` (a new PostgreSQL login role) to the team as ``role``: reader, writer,
    approver or admin. ``password_env``: the environment variable holding its password.
    Admins only (PermissionDeniedError otherwise)."""
    from nbmlops import team

    return team.add(_changing(), name, role, password_env=password_env)


def team_remove(name: str) -> TeamMember:
    """Remove ``name`` from the team (its login role is dropped). Admins only."""
    from nbmlops import team

    return team.remove(_changing(), name)


def team_list() -> list[TeamMember]:
    """The team: each login role and its group, by name."""
    from nbmlops import team

    return team.members(_existing())


def whoami() -> str | None:
    """Who the store says you are: in team mode the PostgreSQL role this session logged in
    as (what every record names); else the user a front end acts for (``act_for()``: the
    panel's Jupyter user), or the OS user or ``NBMLOPS_USER``."""
    return _acting(_existing()).actor.user


def audit_events(model: str | None = None, *, user: str | None = None,
                 since: str | datetime | timedelta | None = None,
                 limit: int | None = None) -> list[AuditEvent]:
    """The audit trail, oldest first: registrations, alias moves, protections, requests,
    approvals, rejections, deployments. ``since``: ``"24h"``, ``"7d"``, a timedelta or a
    datetime; ``limit``: the newest that many."""
    from nbmlops.serving import predlog

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ValueError(f"limit {limit!r}: give a whole number from 1")
    start = predlog.window_start(since)
    ws = _reading()
    return [] if ws is None else ws.store.audit_events(model, user=user, since=start,
                                                       limit=limit)


def verify_audit(*, anchor: str | None = None) -> AuditVerification:
    """Re-compute the audit trail's hash chain: ``ok``, or the first event changed or
    removed (``first_bad``, ``problem``). ``anchor``: a head hash recorded earlier
    (``audit_head()``), which must still be in the chain (catches events cut off its
    end)."""
    if anchor is not None and (not isinstance(anchor, str) or len(anchor) != 64
                               or any(c not in "0123456789abcdef" for c in anchor)):
        raise ValueError(f"anchor {anchor!r}: give a head hash as `nbmlops audit head` prints "
                         "it (64 hex digits)")
    ws = _reading()
    if ws is None:
        return AuditVerification(ok=anchor is None, events=0, head=None, problem=None
                                 if anchor is None else "there is no audit trail here")
    return ws.store.verify_audit(anchor=anchor)


def audit_head() -> str | None:
    """The hash of the last audit event (record it elsewhere to anchor the trail), or
    None before the first event."""
    ws = _reading()
    head = None if ws is None else ws.store.audit_head()
    return None if head is None else head[1]


def models(name: str | None = None) -> pd.DataFrame:
    """Registered models (one row each), or with ``name`` that model's versions. A model's
    description is that of the version ``production`` points at, else of the latest."""
    import pandas as pd

    store = _existing().store
    if name is None:
        listed = []
        for m in store.list_models():
            current = m.aliases.get("production", m.latest_version)
            described = (m.description if current is None else
                         store.get_model_version(m.name, version=current).description)
            listed.append({
                "name": m.name, "latest_version": m.latest_version, "versions": m.versions,
                "aliases": ", ".join(f"{a}={v}" for a, v in m.aliases.items()),
                "description": described, "created_at": m.created_at,
                "created_by": m.created_by})
        return pd.DataFrame(listed, columns=["name", "latest_version", "versions", "aliases",
                                             "description", "created_at", "created_by"])
    rows = []
    for v in store.list_versions(name):
        row: dict[str, Any] = {
            "version": v.version, "aliases": ", ".join(v.aliases), "created_at": v.created_at,
            "created_by": v.created_by, "run_id": v.run_id, "format": v.format,
            "flavor": v.flavor, "description": v.description}
        row.update({f"metrics.{k}": value for k, value in sorted(v.metrics.items())})
        rows.append(row)
    return pd.DataFrame(rows)


def model_history(reference: str) -> pd.DataFrame:
    """The audit events of a model (``churn``) or of one alias (``churn@production``)."""
    import pandas as pd

    from nbmlops.references import parse_reference

    ref = parse_reference(reference)
    store = _existing().store
    store.get_model_version(ref.model, alias=ref.alias)  # a clear error for unknown names
    events = store.audit_events(ref.model, alias=ref.alias)
    return pd.DataFrame([{
        "time": e.time, "action": e.action, "model": e.model, "alias": e.alias,
        "version": e.version, "from_version": e.from_version, "to_version": e.to_version,
        "user": e.user, "host": e.host, "reason": e.reason} for e in events],
        columns=["time", "action", "model", "alias", "version", "from_version", "to_version",
                 "user", "host", "reason"]).astype(
        {"version": "Int64", "from_version": "Int64", "to_version": "Int64"})


# -- serving ---------------------------------------------------------------------------

def _serve_options(target: str, **kw: Any) -> ServeOptions:
    from nbmlops.serving.server import ServeOptions

    return ServeOptions(target=str(target), **kw)


def deploy(reference: str, *, name: str | None = None, host: str = "127.0.0.1",
           port: int = 8000, workers: int = 1, token_env: str | None = None,
           trusted: bool | Sequence[str] = False, log_predictions: bool = True,
           log_sample: float = 1.0,
           log_max_rows: int = 1_000_000, max_body: int = 10 * 1024 * 1024,
           poll: float = 2.0, timeout: float = 90.0, canary: str | None = None,
           shadow: str | None = None, share: float | None = None, key: str | None = None,
           promote_when: str | None = None, rollback_when: str | None = None) -> Deployment:
    """Serve ``churn@production`` (or ``churn/3``) over HTTP in a background process.

    Returns once the server answers ``/health``: the deployment, with its ``url``. A
    deployment of an alias follows it: when the alias moves, the server switches to the
    new version without dropping requests. Requests and predictions are logged as Parquet
    (``predictions(name)``). ``token_env`` names an environment variable holding a bearer
    token clients must send. ``port=0`` picks a free port. Stop it with
    ``stop_deployment(name)``; it keeps running if this process ends.

    ``canary="candidate"`` (an alias or version of the same model) answers a ``share`` of
    requests with it (per row, sticky, when ``key`` names a column); ``shadow="candidate"``
    scores every request with it too and answers with the champion. ``promote_when`` and
    ``rollback_when`` are rules over the live figures (``"requests>=2000 and
    errors<=champion and p99<=1.2*champion"``), evaluated as traffic comes; see
    :func:`rollout`.
    """
    from nbmlops.serving import manage
    from nbmlops.serving.rollout import spec_from

    settings = current_settings()
    options = _serve_options(
        reference, name=name, host=host, port=port, workers=workers, token_env=token_env,
        trusted=trusted, log_predictions=log_predictions, log_sample=log_sample,
        log_max_rows=log_max_rows, max_body=max_body, poll_s=poll,
        rollout=spec_from(canary=canary, shadow=shadow, share=share, key=key,
                          promote_when=promote_when, rollback_when=rollback_when))
    return manage.start(workspace(settings=settings, create=False), options,
                        store_url=settings.store_url, timeout=timeout)


def serve(target: str, *, name: str | None = None, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 1, token_env: str | None = None,
          trusted: bool | Sequence[str] = False,
          log_predictions: bool = True, log_sample: float = 1.0,
          log_max_rows: int = 1_000_000, log_dir: str | None = None,
          max_body: int = 10 * 1024 * 1024, poll: float = 2.0) -> int:
    """Serve a model reference or an exported bundle folder in this process, until
    SIGTERM/Ctrl-C (what ``nbmlops serve`` runs); the exit status."""
    from nbmlops.serving.server import serve as run

    return run(_serve_options(
        target, name=name, host=host, port=port, workers=workers, token_env=token_env,
        trusted=trusted, log_predictions=log_predictions, log_sample=log_sample,
        log_max_rows=log_max_rows, log_dir=log_dir, max_body=max_body, poll_s=poll))


def stop_deployment(name: str, *, timeout: float = 20.0) -> Deployment:
    """Stop a running deployment: it finishes the requests in flight, then exits."""
    from nbmlops.serving import manage

    return manage.stop(_acting(workspace(create=False)), name, timeout=timeout)


def deployments(*, running: bool = False) -> pd.DataFrame:
    """Deployments, newest first (only the live ones with ``running=True``)."""
    import pandas as pd

    from nbmlops.serving import manage

    rows = manage.rows(_existing().store.list_deployments(running=running))
    return pd.DataFrame(rows, columns=["name", "status", "url", "model", "alias", "version",
                                       "workers", "started_at", "stopped_at", "pid", "host",
                                       "id", "options"])


def get_deployment(name: str) -> Deployment:
    """The latest deployment by that name (or id)."""
    return _existing().store.get_deployment(name)


def rollout(name: str, *, timeout: float = 10.0) -> RolloutReport:
    """A canary's or shadow's live comparison: per version (champion, challenger) the
    requests, error rate, p50/p99 scoring time, agreement with the champion, and the
    performance of its rows since the deployment started: realized on the labelled ones
    (``log_feedback``), or estimated (CBPE) while none is labelled; the rules,
    the state (running, requested, promoted, rolled back) and the decisions taken, each an
    audit event with its figures. ``str()`` of it is the text ``nbmlops rollout`` prints."""
    import json
    import os
    import urllib.error
    import urllib.request

    from nbmlops.errors import DeploymentError
    from nbmlops.serving.rollout import report

    ws = _existing()
    found = ws.store.get_deployment(name)
    if "rollout" not in found.options:
        raise ValueError(f"deployment {found.name!r} has no canary or shadow (deploy with "
                         "--canary or --shadow CHALLENGER)")
    decisions = ws.store.audit_events(deployment=found.id)
    live: dict[str, Any] = {"status": found.options["rollout"].get("status", "running")}
    if found.status == "running" and found.url:
        headers = {}
        if found.token_env and os.environ.get(found.token_env):
            headers["Authorization"] = f"Bearer {os.environ[found.token_env]}"
        request = urllib.request.Request(f"{found.url}/rollout", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                live = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DeploymentError(f"deployment {found.name!r} did not answer at "
                                  f"{found.url}/rollout ({exc})", name=found.name) from None
        if live.get("status") in ("running", "requested"):
            live["status"] = found.options["rollout"].get("status", live["status"])
    from nbmlops.monitoring.performance import by_version

    shown = [int(v["version"]) for v in live.get("versions", [])]
    return report(found, live, decisions, performance=by_version(
        ws, found.name, since=found.started_at.timestamp(), versions=shown) if shown else None)


def deployment_logs(name: str, lines: int = 50) -> str:
    """The last lines of a background deployment's server log."""
    from nbmlops.serving import manage

    return manage.logs(_existing(), name, lines)


def deployment_traffic(name: str) -> dict[str, Any]:
    """A running deployment's ``/predict`` traffic as its server's ``/metrics`` counts it:
    requests, client and server errors, rows, mean/p50/p99 latency (ms); ``reachable``
    False and ``detail`` saying why when it cannot be read."""
    from nbmlops.serving import manage

    return manage.traffic(_existing(), name)


def deployment_history(name: str) -> list[Deployment]:
    """Every record of one deployment (by name, or by any of its records' ids): its start
    and each restart under the same name, newest first."""
    from nbmlops.serving import manage

    return manage.history(_existing(), name)


def get_drift_check(run_id: str) -> DriftCheck:
    """The drift check recorded by run ``run_id`` (a full id or a unique prefix)."""
    return _read_store().get_drift_check(get_run(run_id).id)


def predictions(deployment: str, *, since: str | datetime | timedelta | None = None,
                until: datetime | None = None, labels: bool = False) -> pd.DataFrame:
    """What a deployment was asked and answered: one row per scored row, with the input
    columns, ``prediction`` (or ``proba_<class>``), ``_time``, ``_version``, ``_request``,
    ``_id`` (the row's id, as its answer gave it; a shadow challenger's rows have
    ``_shadow`` true, an id of their own, and in ``_answered`` the id of the answered row
    each shadows). ``since``: ``"24h"``, ``"30m"``, a
    timedelta or a datetime. ``labels=True``: only the rows whose label came back
    (``log_feedback``), with it as ``_label``: a retraining job's data of the window."""
    from nbmlops.serving import predlog

    ws = _existing()
    found = ws.store.get_deployment(deployment)
    if not found.log_dir:
        raise ValueError(f"deployment {found.name!r} does not log predictions")
    start = predlog.window_start(since)
    log = predlog.read(found.log_dir, since=start, until=until,
                       options=ws.settings.artifacts_options)
    if not labels:
        return log
    import pandas as pd

    got = ws.store.list_feedback(found.name,
                                 since=None if start is None else start.timestamp() - 1.0,
                                 until=None if until is None else until.timestamp() + 1.0)
    by_id = pd.Series({lb.row_id: lb.label for lb in got}, dtype=object, name="_label")
    kept = log[log["_id"].isin(by_id.index)] if "_id" in log.columns else log.iloc[:0]
    return kept.assign(_label=kept["_id"].map(by_id).to_numpy()).reset_index(drop=True)


def score_batch(reference: str, source: str | Path, dest: str | Path, *,
                engine: Literal["pandas", "dask"] = "pandas", chunk_size: int = 100_000,
                proba: bool = False, trusted: bool | Sequence[str] = False,
                experiment: str = "batch",
                progress: bool = True) -> BatchResult:
    """Score a .parquet or .csv file with a registered model, chunk by chunk, into
    ``dest``: the input's columns plus ``prediction`` (or ``proba_<class>`` columns).
    ``engine="dask"`` (``pip install "nbmlops[dask]"``) handles files larger than memory.
    Recorded as a run of kind ``deploy`` with the input and output fingerprints."""
    from nbmlops.progress import default as default_progress
    from nbmlops.serving import batch

    return batch.score(workspace(create=False), reference, source, dest, engine=engine,
                       chunk_size=chunk_size, proba=proba, trusted=trusted,
                       experiment=experiment, progress=default_progress() if progress
                       else None)


def export_bundle(reference: str, folder: str | Path, *, trusted: bool = False,
                  port: int = 8000) -> Path:
    """Write a folder that serves this version without the store: the model file, its
    manifest (signature, sha256), pinned requirements, a Dockerfile and ``start.sh``;
    ``python -m nbmlops.serving FOLDER`` serves it."""
    from nbmlops.registry import formats
    from nbmlops.registry.registry import model_file, resolve
    from nbmlops.serving.bundle import export_bundle as export

    ws = _existing()
    version = resolve(ws, reference)
    if version.format == "pickle" and not trusted:
        raise formats.refuse_pickle(version.reference)
    return export(version, model_file(ws, version), Path(folder), exported_by=ws.actor.user,
                  port=port)


# -- monitoring --------------------------------------------------------------------------

def log_feedback(deployment: str, frame: Any = None, *, id_column: str = "id",
                 label_column: str = "label", ids: Sequence[Any] | None = None,
                 labels: Sequence[Any] | None = None) -> FeedbackResult:
    """Attach labels that arrived later to the rows ``deployment`` served, by row id (the
    ``ids`` every ``/predict`` answer gives, also in its prediction log's ``_id``).

    ``frame``: a DataFrame (or a .csv/.parquet file) with ``id_column`` and
    ``label_column``; or ``ids=`` and ``labels=`` as two lists. Ids not in the prediction
    log are returned in ``unknown`` (not attached, never dropped silently); a label sent
    again replaces the earlier one (the latest is kept) and its id is in ``replaced``."""
    from nbmlops.monitoring import log_feedback as attach

    ids, labels = _ids_and_labels(frame, id_column, label_column, ids, labels)
    return attach(workspace(create=False), deployment, ids, labels)


def _ids_and_labels(frame: Any, id_column: str, label_column: str,
                    ids: Sequence[Any] | None, labels: Sequence[Any] | None
                    ) -> tuple[list[Any], list[Any]]:
    if frame is None:
        if ids is None or labels is None:
            raise ValueError("give the labels: a DataFrame or file with an id and a label "
                             "column, or ids= and labels=")
        return list(ids), list(labels)
    if ids is not None or labels is not None:
        raise ValueError("give a DataFrame (or file) or ids= and labels=, not both")
    if isinstance(frame, str | Path):
        from nbmlops.datafiles import read

        frame = read(Path(frame))
    columns = getattr(frame, "columns", None)
    if columns is None:
        raise TypeError(f"labels come as a DataFrame or a .csv/.parquet file, not a "
                        f"{type(frame).__name__}")
    for column, flag in ((id_column, "id_column (--id)"), (label_column,
                                                           "label_column (--label)")):
        if column not in columns:
            raise ValueError(f"the labels have no column {column!r} (they have "
                             f"{', '.join(map(str, columns))}); name it with {flag}")
    return frame[id_column].tolist(), frame[label_column].tolist()


def performance(deployment: str, *, since: str | datetime | timedelta = "30d",
                window: str | timedelta = "1d", until: datetime | None = None,
                min_labels: int = 30) -> PerformanceReport:
    """Per ``window`` since ``since``, each version's metrics on the rows whose labels
    came back (``log_feedback``) beside its held-out figures and their 95% interval (kept
    when registered with ``evaluate=(X_test, y_test)``); a window is degraded when a
    metric falls below the interval (with at least ``min_labels`` labels). For a binary
    classifier whose requests asked for probabilities, the estimated accuracy and ROC AUC
    (CBPE) of each window, labelled or not."""
    # the module, not the package attribute (named like the module once it is imported)
    from nbmlops.monitoring.performance import performance as measure

    return measure(_existing(), deployment, since=since, window=window, until=until,
                   min_labels=min_labels)


def drift(reference: Any = None, current: Any = None, *, deployment: str | None = None,
          since: str | datetime | timedelta | None = None, until: datetime | None = None,
          columns: list[str] | None = None, tests: str | dict[str, str] | None = None,
          threshold: float | dict[str, float] | None = None, share: float = 0.5,
          prediction: str | None = None, record: bool = True, experiment: str = "drift",
          name: str | None = None, fail_on_drift: bool = False,
          trusted: bool = False) -> DriftReport:
    """Test each column of ``current`` against ``reference`` for drift; the report.

    ``reference``: a DataFrame, a ``.parquet``/``.csv`` file, or a registered model
    (``"churn@production"``: its training sample). ``current``: a DataFrame or a file; or
    ``deployment="churn", since="24h"``: what that deployment served (the reference is
    then, by default, the version it serves, and its predictions are checked too).
    ``tests``: ``"ks"``, ``"wasserstein"``, ``"psi"``, ``"jensenshannon"`` or ``"chi2"``
    for every column, or a dict per column (default: chosen by type and size);
    ``threshold``: one number or a dict per column; ``share``: the share of drifted
    columns that makes the dataset drifted. Recorded as a run (kind ``drift``) unless
    ``record=False``; ``fail_on_drift=True`` raises DriftDetected (after recording).
    """
    from nbmlops.monitoring.run import run_drift

    return run_drift(lambda: workspace() if record else _existing(), reference, current, deployment=deployment,
                     since=since, until=until, columns=columns, tests=tests,
                     threshold=threshold, share=share, prediction=prediction, record=record,
                     experiment=experiment, name=name, fail_on_drift=fail_on_drift,
                     trusted=trusted)


def create_monitor(model: str, *, name: str | None = None, deployment: str | None = None,
                   schedule: str | None = None, targets: Sequence[str] = (),
                   drift: bool = True, min_rows: int = 100, significance: float = 0.05,
                   share: float | None = None,
                   max_error_rate: float | None = 0.05, max_p99_ms: float | None = None,
                   alerts: Sequence[str] = (), on_alert: Sequence[str] = (),
                   first_window: str = "24h", performance: bool = False,
                   performance_since: str = "7d", performance_window: str = "1d",
                   min_labels: int = 30, retries: int = 3, retry_delay: float = 2.0,
                   folder: str | Path | None = None) -> CreatedMonitor:
    """Write a monitor folder (default ``monitors/<name>/``, ``name`` defaulting to the
    model's; ``performance=True`` also judges realized and estimated performance, see
    :func:`performance`): ``monitor.yaml`` (hand-editable) and each target's files (``"cron"``,
    ``"systemd"``, ``"github"``, ``"airflow"``), which run ``nbmlops monitor run`` on the
    schedule. ``alerts``: ``"webhook=URL"``, ``"command=..."``; ``on_alert``: ``"run
    jobs/train-churn"``. Returns what was written (``str()`` of it says how to install it)."""
    from nbmlops.monitoring.monitors import create, from_dict

    settings = current_settings()
    base = model.split("@")[0].split("/")[0]
    spec = from_dict({
        "name": name or base, "model": model, "deployment": deployment,
        "schedule": schedule, "targets": list(targets), "drift": drift,
        "min_rows": min_rows, "significance": significance, "share": share,
        "max_error_rate": max_error_rate,
        "max_p99_ms": max_p99_ms, "alerts": list(alerts), "on_alert": list(on_alert),
        "first_window": first_window, "performance": performance,
        "performance_since": performance_since, "performance_window": performance_window,
        "min_labels": min_labels, "retries": retries, "retry_delay": retry_delay})
    where = Path(folder) if folder is not None else \
        settings.project_root / "monitors" / spec.name
    import sys

    return create(spec, where, project_root=settings.project_root, python=sys.executable)


@overload
def run_monitor(folder: str | Path, *, now: datetime | None = None,
                due: Literal[False] = False) -> CheckResult: ...


@overload
def run_monitor(folder: str | Path, *, now: datetime | None = None,
                due: bool) -> CheckResult | None: ...


def run_monitor(folder: str | Path, *, now: datetime | None = None,
                due: bool = False) -> CheckResult | None:
    """One check of the monitor in ``folder`` (``nbmlops monitor run``): drift of the rows
    served since the previous check by the version judged, the server's health, alerts
    delivered once per incident, ``on_alert`` jobs run with the window as parameters
    (those of ``window_start``, ``window_end``, ``model``, ``monitor`` the job declares).
    ``now``: the end of the window (default: now). ``due=True``: only if the monitor's
    schedule fired since its previous check (else None), as a scheduler that wakes more
    often than the schedule runs it."""
    from nbmlops.monitoring.monitors import run_check, run_due

    def run_alert_job(job_folder: Path, window: Mapping[str, Any]) -> tuple[str, str]:
        spec = job_spec(job_folder)
        declared = {p.name for p in spec.parameters}
        params = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                  for k, v in window.items() if k in declared}
        result = run_job(job_folder, params=params)
        return result.run_id, result.status + (f": {result.message}" if result.message else "")

    if due:
        return run_due(workspace(), Path(folder), now=now, run_job=run_alert_job)
    return run_check(workspace(), Path(folder), now=now, run_job=run_alert_job)


def monitor_checks(monitor: str | None = None, *, limit: int | None = 50,
                   offset: int = 0) -> RecordPage[MonitorCheck]:
    """Monitor checks (``nbmlops monitor history``), newest first: the version judged, the
    window, rows, status (ok, alert, skipped), reasons, incident, whether it alerted, and
    the figures (drift, health, deliveries) in ``details``."""
    return _read_store().list_monitor_checks(monitor=monitor, limit=limit, offset=offset)


# -- jobs ----------------------------------------------------------------------------------

def export_job(notebook: str | Path, *, job: str, params: Mapping[str, Any] | None = None,
               schedule: str | None = None, targets: Sequence[str] = (),
               gates: Sequence[str] = (), on_success: Sequence[str] = (),
               folder: str | Path | None = None, timeout: float | None = None,
               retries: int = 0, kernel: str | None = None,
               experiment: str | None = None) -> Exported:
    """Turn a saved notebook into a job folder (default ``jobs/<job>/``): the notebook
    cleaned for batch with a ``parameters`` cell (from ``params``, else from the scalars
    its tracked runs recorded), ``job.yaml``, and each target's files (``"cron"``,
    ``"systemd"``, ``"github"``, ``"airflow"``). ``gates`` (``"metrics.accuracy>=0.8"``)
    and ``on_success`` (``"register churn --alias staging"``) apply when it runs."""
    from nbmlops.export.jobs import export

    settings = current_settings()
    return export(_reading(), Path(notebook), job=job, params=params,
                  schedule=schedule, targets=targets, gates=gates, on_success=on_success,
                  folder=None if folder is None else Path(folder),
                  project_root=settings.project_root, kernel=kernel, timeout=timeout,
                  retries=retries, experiment=experiment)


def export_targets() -> Sequence[str]:
    """The export targets' names (built-ins first, then plugins'), read when used."""
    from nbmlops.export import target_names

    return target_names()


def run_job(folder: str | Path, *, params: Mapping[str, Any] | None = None,
            timeout: float | None = None, retries: int | None = None) -> JobResult:
    """Run a job folder with papermill in a real kernel: recorded as a run of kind
    ``job``, the parent of the runs its cells record; gates checked, on-success actions
    done. A failure is a result with ``status == "failed"`` and a message naming the
    cell or gate (``nbmlops jobs run`` exits 1 then)."""
    from nbmlops.export.runner import run_job as run

    settings = current_settings()
    env = settings_env(settings)
    return run(workspace(settings=settings), Path(folder), overrides=params, timeout=timeout,
               retries=retries, settings_env=env, project_root=settings.project_root)


def job_params(folder: str | Path, pairs: Sequence[str]) -> dict[str, Any]:
    """``["C=0.5", "label=a b"]`` (``nbmlops jobs run -p``) as typed values of the
    parameters of the job in ``folder``, for :func:`run_job`."""
    from nbmlops.export.runner import parse_overrides
    from nbmlops.export.spec import load

    return parse_overrides(load(Path(folder)), pairs)


def job_spec(folder: str | Path) -> JobSpec:
    """The job in ``folder``: its ``job.yaml``, read and checked."""
    from nbmlops.export.spec import load

    return load(Path(folder))


def run_jobs(root: str | Path | None = None, *, timeout: float | None = None,
             retries: int | None = None, report: Callable[[str], None] | None = None
             ) -> JobsRun:
    """Run every job under ``root`` (a folder of job folders, or one job folder; default:
    the project's ``jobs/``) one after another, as :func:`run_job` does; a job that
    cannot start is reported and the others still run. ``report`` gets each job's
    outcome as a line as it ends."""
    from nbmlops.export.jobs import JOBS_DIR
    from nbmlops.export.suite import job_folders, run_each

    folder = Path(root) if root is not None else current_settings().project_root / JOBS_DIR
    return run_each(job_folders(folder),
                    lambda job: run_job(job, timeout=timeout, retries=retries),
                    report=report)


def run_ci(paths: Sequence[str | Path] = (), *, work: str | Path | None = None,
           report: Callable[[str], None] | None = None) -> JobsRun:
    """What ``nbmlops ci`` does: the notebooks and job folders under ``paths`` (default:
    the project's ``jobs/``) run headless, each plain notebook as a throwaway job under
    ``work`` (default: the project's ``build/ci``); executed notebooks are left out
    (``report`` says so, and gets each job's outcome as it ends). The result says which
    failed."""
    from nbmlops.export.jobs import JOBS_DIR
    from nbmlops.export.suite import ci_folders, run_each

    def export(notebook: Path, job: str, folder: Path) -> Path:
        return export_job(notebook, job=job, folder=folder).folder

    root = current_settings().project_root
    folders, skipped = ci_folders([Path(p) for p in paths] or [root / JOBS_DIR],
                                  work=Path(work) if work is not None else root / "build" / "ci",
                                  export=export, report=report)
    return run_each(folders, run_job, report=report, skipped=skipped)


def jobs(root: str | Path | None = None) -> pd.DataFrame:
    """The jobs under ``root`` (default: the project's ``jobs/``), with their last run."""
    import pandas as pd

    from nbmlops.export.jobs import JOBS_DIR, find_jobs

    folder = Path(root) if root is not None else current_settings().project_root / JOBS_DIR
    found = find_jobs(folder) if folder.exists() else []
    last = _last_job_runs()
    rows = []
    for info in found:
        spec = info.spec
        name = spec.name if spec is not None else info.folder.name
        run = last.get(name)
        rows.append({
            "job": name, "schedule": spec.schedule if spec else None,
            "targets": ", ".join(spec.targets) if spec else "",
            "parameters": ", ".join(f"{p.name}={p.default!r}" for p in spec.parameters)
            if spec else "",
            "last_status": run["status"] if run else None,
            "last_start": run["start"] if run else None,
            "last_run": run["run_id"] if run else None,
            "folder": str(info.folder), "error": info.error})
    return pd.DataFrame(rows, columns=["job", "schedule", "targets", "parameters",
                                       "last_status", "last_start", "last_run", "folder",
                                       "error"])


def _last_job_runs() -> dict[str, dict[str, Any]]:
    if _reading() is None:
        return {}
    frame = runs(kind="job", sort="-start")
    out: dict[str, dict[str, Any]] = {}
    if "tags.job" in frame.columns:
        for row in frame.to_dict(orient="records"):
            out.setdefault(row["tags.job"], row)
    return out


def _job_name(job: str | Path) -> str:
    """A job's name, given its name or its folder."""
    from nbmlops.export.spec import SPEC_FILE, load

    return load(Path(job)).name if (Path(job) / SPEC_FILE).is_file() else str(job)


def job_history(job: str) -> pd.DataFrame:
    """A job's runs, newest first (``job``: its name or folder)."""
    name = _job_name(job)
    frame = runs(kind="job", sort="-start")
    if "tags.job" not in frame.columns:
        return frame.iloc[0:0]
    return frame[frame["tags.job"] == name].reset_index(drop=True)


# -- reading ---------------------------------------------------------------------------

def runs(
    experiment: str | None = None,
    *,
    where: str | None = None,
    sort: str | Sequence[str] | None = None,
    limit: int | None = None,
    kind: RunKind | Sequence[RunKind] | None = None,
) -> pd.DataFrame:
    """Runs as a DataFrame, newest first unless ``sort`` says otherwise.

    Columns: ``run_id``, ``experiment``, ``name``, ``status``, ``start`` (UTC),
    ``duration_s``, then ``params.<key>``, ``metrics.<key>`` (latest value) and
    ``tags.<key>``. ``where`` filters (``"metrics.accuracy > 0.8 and params.C < 1"``),
    ``sort`` orders (``"-metrics.accuracy"``).
    """
    from nbmlops._types import RUN_KINDS
    from nbmlops.tracking.search import search, to_frame

    kinds = (kind,) if isinstance(kind, str) else kind
    for k in kinds or ():
        if k not in RUN_KINDS:
            raise ValueError(f"unknown run kind {k!r}; kinds are: {', '.join(RUN_KINDS)}")
    from nbmlops.store.query import MAX_ROWS

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or not 1 <= limit <= MAX_ROWS):
        raise ValueError(f"limit must be a positive number of runs up to {MAX_ROWS:,} (or "
                         f"None for all), not {limit!r}")
    return to_frame(search(_existing().store, experiment=experiment, where=where, sort=sort,
                           kinds=kinds, limit=limit))


def compare(run_ids: Sequence[str], *, metric: str | None = None) -> Comparison:
    """Runs side by side (params and metrics, what differs); in a notebook with the
    extension loaded it shows as the comparison widget. ``metric`` ranks them."""
    from nbmlops.tracking.compare import Comparison
    from nbmlops.tracking.search import to_frame

    if not run_ids:
        raise ValueError("compare() needs at least one run id")
    frame = to_frame(_runs_by_id(_existing().store, run_ids))
    return Comparison.of(frame, primary=metric, title="runs compared")


def get_run(run_id: str) -> RunRecord:
    """One run with its params, metrics, tags, datasets, artifacts and environment.

    ``run_id`` may be a unique prefix (at least 4 characters) of the id.
    """
    return _existing().store.get_run(run_id)


def metric_history(run_id: str, key: str) -> list[Metric]:
    """Every value of a metric of a run, in order of step then time."""
    return _existing().store.metric_history(run_id, key)


def metric_series(run_id: str, key: str, *, offset: int = 0, limit: int | None = None
                  ) -> tuple[int, list[int], list[float], list[float]]:
    """A page of a metric's history as columns, in order of step then time: (how many
    values it has in all, steps, values, timestamps). What a chart reads: no object per
    value."""
    return _existing().store.metric_series(run_id, key, offset=offset, limit=limit)


def metric_chart(run_id: str, key: str, *, points: int, x: str = "step",
                 low: float | None = None, high: float | None = None,
                 limit: int | None = None) -> MetricChart | None:
    """What a chart of ``points`` points draws of a metric's values whose ``x`` (``step``
    or ``time``) lies from ``low`` to ``high``, chosen in the store (all of them when they
    are that few); None where the store leaves the choice to the caller (see
    :meth:`nbmlops.store.base.RunStore.metric_chart`)."""
    return _existing().store.metric_chart(run_id, key, points=points, x=x, low=low,
                                          high=high, limit=limit)


def metric_keys(experiment: str | None = None, *, newest: int = 1000
                ) -> tuple[int, list[tuple[str, int]]]:
    """The metric names of an experiment's newest ``newest`` runs (of every experiment's
    without one) and how many of those runs have each, the most common first: how many
    runs were looked at, and the (name, runs) pairs."""
    return _read_store().metric_keys(experiment, newest=newest)


def read_artifact(run_id: str, name: str) -> tuple[bytes, str]:
    """A run's artifact as bytes (verified against its sha256) and its media type."""
    from nbmlops.errors import ArtifactError

    ws = _existing()
    run = ws.store.get_run(run_id)
    found = next((a for a in run.artifacts if a.name == name), None)
    if found is None:
        known = ", ".join(a.name for a in run.artifacts) or "none"
        raise ArtifactError(f"run {run.id[:8]} has no artifact {name!r} (it has: {known})",
                            name=name)
    return ws.artifacts.read_bytes(found.artifact.sha256), found.artifact.media_type


def download_artifact(run_id: str, name: str, dest: str | Path = ".") -> Path:
    """Write a run's artifact (or every artifact under a folder name) into ``dest``.

    Returns the written file (or folder). Every blob is verified against its sha256.
    """
    from nbmlops.errors import ArtifactError

    ws = _existing()
    run = ws.store.get_run(run_id)
    exact = [a for a in run.artifacts if a.name == name]
    under = [a for a in run.artifacts if a.name.startswith(name.rstrip("/") + "/")]
    if not exact and not under:
        known = ", ".join(a.name for a in run.artifacts) or "none"
        raise ArtifactError(f"run {run.id[:8]} has no artifact {name!r} (it has: {known})",
                            name=name)
    for art in exact or under:
        ws.artifacts.export(art.artifact.sha256, Path(dest), art.name)
    return Path(dest) / name


def store_info() -> tuple[Settings, StoreInfo]:
    """Where the store and artifacts are, the schema revision, and what the store holds.

    Looking changes nothing: a missing store is not created, an older one not upgraded
    (a SchemaVersionError says so), and no crashed runs are marked.
    """
    from nbmlops.store import open_store

    settings = current_settings()
    store = open_store(settings.store_url, create=False, auto_upgrade=False, reap=False)
    try:
        return settings, store.info()
    finally:
        store.close()


def upgrade_store() -> tuple[str | None, str]:
    """Upgrade the configured store's schema to this version's; returns (before, after)."""
    from nbmlops.store import upgrade_store as _upgrade

    return _upgrade(current_settings().store_url)


# -- typed reads: lineage, drift checks, job runs, and the pages front ends list -------------

COUNT_STEP = 1000  # a filtered run_page() counts in steps of this many (see run_page)


def _read_store() -> Store:
    """The store the typed reads below look at: the existing one, opened as this process
    reads (see look_only()); where nothing was recorded yet, the empty stand-in, so looking
    creates nothing (lists are empty, lookups say not found)."""
    return _existing().store


def lineage(*, run: str | None = None, model: str | None = None,
            deployment: str | None = None) -> Lineage:
    """The lineage graph around one run, model version or deployment (give exactly one):
    the datasets each run read and wrote, the versions registered from those runs, and the
    deployments serving those versions; what the JupyterLab panel draws.

    ``run``: a run id (or a unique prefix); ``model``: ``NAME/VERSION``, ``NAME@ALIAS`` or
    ``NAME`` (its latest version); ``deployment``: a deployment's name or id. ::

        graph = nbmlops.lineage(model="churn@production")
        graph.root                                   # 'model_version:churn/2'
        [n.label for n in graph.of_type("dataset")]  # what its run was trained on
        for edge in graph.edges:                     # dataset -input-> run -registered->
            print(edge.source, edge.relation, edge.target)  # version -deployed-> deployment
        graph.node(graph.root).record                # the ModelVersion itself

    Each node carries its record (a DatasetFingerprint, RunRecord, ModelVersion or
    Deployment). ValueError unless exactly one is given; RunNotFoundError,
    ModelNotFoundError or DeploymentError for what does not exist.
    """
    from nbmlops.lineage_graph import lineage as build

    return build(_read_store(), run=run, model=model, deployment=deployment)


def drift_checks(*, model: str | None = None, deployment: str | None = None,
                 limit: int | None = None, offset: int = 0) -> RecordPage[DriftCheck]:
    """The recorded drift checks (``nbmlops.drift()``, ``%drift``), newest first, as
    :class:`~nbmlops.types.DriftCheck` records: the verdict, what was compared, and each
    column's test, statistic, p-value, threshold and verdict.

    ``model``: a model name (checks against any of its versions) or a version
    (``churn/2``); an alias is refused, as it moves. ``deployment``: the checks of that
    deployment's traffic. ``limit`` (None: every match) and ``offset`` page them; the page
    iterates over its checks and ``total`` counts every match. ::

        for check in nbmlops.drift_checks(model="churn", limit=10):
            print(check.time, check.model, check.dataset_drift, check.drifted)
        latest = nbmlops.drift_checks(deployment="churn-api", limit=1).items[0]
        latest.column("age").p_value
    """
    if model is not None:
        from nbmlops.references import parse_reference

        parse_reference(model)  # the one rule: a bad reference is said the same everywhere
    return _read_store().list_drift_checks(model=model, deployment=deployment, limit=limit,
                                           offset=offset)


def job_runs(job: str | Path | None = None, *, limit: int | None = None,
             offset: int = 0) -> RecordPage[JobRun]:
    """The executions of jobs (``nbmlops.run_job()``, ``nbmlops jobs run``), newest first,
    as :class:`~nbmlops.types.JobRun` records: status and times (the run's, so a runner
    killed outright reads ``crashed``), parameters, the runs the notebook recorded, the
    gate that failed and why it failed, the executed notebook.

    ``job``: one job's, by name or folder. ``limit`` (None: every match) and ``offset``
    page them; the page iterates over its job runs and ``total`` counts every match. ::

        for r in nbmlops.job_runs("train-churn", limit=5):
            print(r.start_time, r.status, r.parameters, r.gate_failed or "")
        failed = [r for r in nbmlops.job_runs() if not r.ok]
    """
    return _read_store().list_job_runs(job=None if job is None else _job_name(job),
                                       limit=limit, offset=offset)


def run_page(*, experiment: str | None = None, where: str | None = None,
             status: str | None = None, name: str | None = None, sort: str | None = None,
             kinds: Sequence[RunKind] | None = LISTED_KINDS, parent: str | None = None,
             limit: int = 50, offset: int = 0) -> RunTable:
    """One page of runs as the store lists them (columnar, no DataFrame: the panel's
    first page of 100,000 runs is one query), newest first unless ``sort`` says otherwise.

    ``where`` and ``sort`` are the filter and sort languages of ``nbmlops.runs()``;
    ``status`` and ``name`` match exactly; ``kinds`` defaults to those listings show (not
    a search's candidates). With a filter, ``total`` counts matches only up to the first
    multiple of COUNT_STEP past the page's end (an exact count reads every match: 0.9 s for
    50,000 of 100,000 runs); then ``total_exact`` is False and ``total`` is a lower bound.
    ValueError for an unknown status, QueryError for a filter or sort that cannot hold.
    """
    from nbmlops._types import RUN_STATUSES
    from nbmlops.store.query import And, Compare, Field, parse_filter, parse_sort

    if status is not None and status not in RUN_STATUSES:
        raise ValueError(f"unknown status {status!r}; statuses are: {', '.join(RUN_STATUSES)}")
    found = [f for f in (parse_filter(where),
                         None if status is None else Compare(Field("attr", "status"), "==",
                                                             status),
                         None if name is None else Compare(Field("attr", "name"), "==", name))
             if f is not None]
    store = _read_store()
    parent_id = None if parent is None else store.resolve_run_id(parent)
    return store.search_runs(
        experiment=experiment, where=And(tuple(found)) if len(found) > 1 else
        next(iter(found), None), order_by=parse_sort(sort),
        kinds=None if parent_id is not None else kinds, parent_run_id=parent_id, limit=limit,
        offset=offset, count_limit=((offset + limit) // COUNT_STEP + 1) * COUNT_STEP)


def runs_by_id(run_ids: Sequence[str]) -> RunTable:
    """Runs as the store lists them, in the order asked (each once); an id may be a unique
    prefix. RunNotFoundError names an id that matches no run (or several)."""
    return _runs_by_id(_read_store(), run_ids)


def _runs_by_id(store: Store, run_ids: Sequence[str]) -> RunTable:
    """Whole ids are read in one query; only prefixes, and ids not found, are resolved one
    by one (which says why an id is not found)."""
    from nbmlops.store.query import Compare, Field

    def table_of(ids: Sequence[str]) -> RunTable:
        return store.search_runs(where=Compare(Field("attr", "run_id"), "in", tuple(ids)))

    asked = [i.strip().lower() for i in run_ids]
    if not asked:
        return RunTable(rows=[], params={}, metrics={}, tags={}, total=0)
    table = table_of(asked)
    have = {row[0] for row in table.rows}
    wanted = list(dict.fromkeys(i if i in have else store.resolve_run_id(i) for i in asked))
    if any(i not in have for i in wanted):
        table = table_of(wanted)
    index = {row[0]: n for n, row in enumerate(table.rows)}
    order = [index[i] for i in wanted]

    def take(column: Any) -> Any:  # NumPy columns in one call, lists item by item
        return column.take(order) if hasattr(column, "take") else [column[n] for n in order]

    return RunTable(rows=[table.rows[n] for n in order],
                    params={k: take(v) for k, v in table.params.items()},
                    metrics={k: take(v) for k, v in table.metrics.items()},
                    tags={k: take(v) for k, v in table.tags.items()}, total=len(order))


def list_experiments() -> list[Experiment]:
    """Every experiment, as the store lists them."""
    return _read_store().list_experiments()


def list_models() -> list[RegisteredModel]:
    """Every registered model (aliases, latest version, how many versions)."""
    return _read_store().list_models()


def get_model(name: str) -> RegisteredModel:
    """One registered model; ModelNotFoundError when no model has that name."""
    from nbmlops.errors import ModelNotFoundError

    for m in list_models():
        if m.name == name:
            return m
    raise ModelNotFoundError(name, reason="no registered model has that name")


def model_version(reference: str) -> ModelVersion:
    """The version ``churn@production``, ``churn/3`` or ``churn`` (the latest) points at."""
    from nbmlops.registry import parse_reference, resolve

    ref = parse_reference(reference)  # a malformed reference is refused before any look
    return resolve(_existing(), ref)


def list_versions(name: str) -> list[ModelVersion]:
    """A registered model's versions, newest first."""
    return sorted(_read_store().list_versions(name), key=lambda v: -v.version)


def list_deployments(*, running: bool = False) -> list[Deployment]:
    """Deployments as records, newest first (only the live ones with ``running=True``)."""
    return _read_store().list_deployments(running=running)
