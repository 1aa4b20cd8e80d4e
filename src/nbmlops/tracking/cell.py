"""A notebook cell as a run: capture inputs, run the cell, capture outputs.

The front end (the ``%%track`` magic) parses the cell and knows how to execute it; this
module decides what to record. It never imports IPython: the cell is executed through
the ``execute`` callback, which reports the exception the cell raised, if any.

Automatic capture (switched off per kind by the explicit options, or wholly by
``auto=False``):

* params: JSON-able scalars and small containers the cell reads, and the
  ``get_params()`` of estimators it reads (``model.C``, ...);
* inputs: DataFrames, Series and arrays the cell reads (fingerprinted);
* metrics: float values the cell binds;
* models: fitted scikit-learn estimators the cell binds or fits in place (pickled as
  artifacts, their ``get_params()`` recorded as params);
* outputs: DataFrames, Series and arrays the cell binds or changes in place.

A bound name counts only if it holds a new object after the cell (or the cell changed
it in place), so a value left over from an earlier cell is never mistaken for a result.
Outputs are captured only when the cell succeeds.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops._types import DatasetLink, RunArtifact
from nbmlops.errors import ParamValueError, StoreError
from nbmlops.tracking.capture import CellNames, analyze
from nbmlops.tracking.fingerprint import fingerprint, fingerprint_file
from nbmlops.tracking.notebook import experiment_for
from nbmlops.tracking.run import activated, finish, start_run
from nbmlops.tracking.sample import SAMPLE_ARTIFACT, prediction_sample
from nbmlops.tracking.summary import RunSummary
from nbmlops.tracking.values import (
    as_metric,
    as_param,
    estimator_params,
    ignorable_name,
    is_capturable,
    is_dataset,
    is_estimator,
    is_fitted,
    to_metric_value,
    to_param,
)

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace


@dataclass(frozen=True, slots=True)
class CellOptions:
    """What to record; ``None`` for a kind means "decide automatically".

    ``experiment`` defaults to the notebook's name.
    """

    experiment: str | None = None
    name: str | None = None
    params: tuple[str, ...] | None = None
    metrics: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    data: tuple[str, ...] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    auto: bool = True
    snapshot: bool = False  # keep a copy of the data the cell reads (see reproduce.snapshot)
    attach: tuple[RunArtifact, ...] = ()  # artifacts already stored, recorded with the run


@dataclass(frozen=True, slots=True)
class CellSource:
    code: str  # the cell's code as the user wrote it (without the magic line)
    tree: ast.Module  # the code after IPython's transforms, parsed
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running the cell did: the exception it raised (if any) and its traceback
    as the front end wants it recorded (defaults to Python's own formatting)."""

    error: BaseException | None = None
    traceback: str | None = None


_MISSING = object()


def _auto(option: tuple[str, ...] | None, auto: bool) -> bool:
    return option is None and auto


class _Capture:
    """Inputs and outputs of one cell, decided from its names and the namespace."""

    def __init__(self, names: CellNames, ns: Mapping[str, Any], opts: CellOptions) -> None:
        self.names, self.ns, self.opts = names, ns, opts
        self.warnings: list[str] = []
        self.unsaved: dict[str, str] = {}  # model name -> why it could not be saved
        explicit = (*(opts.params or ()), *(opts.metrics or ()), *(opts.models or ()),
                    *(opts.data or ()))
        watch = {*names.binds, *names.mutated, *explicit}
        # the objects themselves, not their ids: a freed object's address is soon reused
        self.before: dict[str, Any] = {n: ns.get(n, _MISSING) for n in watch}
        self.existing = set(ns)  # names bound by magics or exec() show up as new keys

    @property
    def unsaved_reason(self) -> str | None:
        """Why the run is incomplete (models bound but not saved), if it is."""
        if not self.unsaved:
            return None
        return "; ".join(f"model {n!r} was not saved ({why})" for n, why in self.unsaved.items())

    def _warn(self, text: str) -> None:
        self.warnings.append(text)

    def changed(self, name: str) -> bool:
        if name not in self.ns:
            return False
        if name not in self.existing or name in self.names.mutated:
            return True
        return self.before.get(name, _MISSING) is not self.ns[name]

    # -- before the cell ------------------------------------------------------------------
    def inputs(self) -> tuple[dict[str, Any], list[DatasetLink]]:
        opts, ns = self.opts, self.ns
        params: dict[str, Any] = {}
        links: list[DatasetLink] = []
        if opts.params is not None:
            params.update(self._explicit_params([n for n in opts.params if n in ns]))
        auto_params = _auto(opts.params, opts.auto)
        auto_data = _auto(opts.data, opts.auto)
        for n in self.names.reads:
            if ignorable_name(n) or n not in ns:
                continue
            value = ns[n]
            if not is_capturable(value):
                continue
            if auto_params:
                ok, plain = as_param(value)
                if ok:
                    params[n] = plain
                    continue
                if is_estimator(value):
                    params.update(estimator_params(n, value))
                    continue
            if auto_data and is_dataset(value):
                links.extend(self._fingerprint(n, value, "input"))
        for item in opts.data or ():
            if item in ns and item not in self.names.binds:
                links.extend(self._fingerprint(item, ns[item], "input"))
            elif item not in ns and not item.isidentifier():
                links.extend(self._file(item))
        return params, links

    def _fingerprint(self, name: str, value: Any, direction: str) -> list[DatasetLink]:
        try:
            return [DatasetLink(name=name, direction=direction,  # type: ignore[arg-type]
                                dataset=fingerprint(value))]
        except Exception as exc:
            self._warn(f"could not fingerprint {name!r}: {exc}")
            return []

    def _file(self, path: str) -> list[DatasetLink]:
        try:
            return [DatasetLink(name=path, direction="input",
                                dataset=fingerprint_file(Path(path)))]
        except OSError as exc:
            self._warn(f"could not fingerprint file {path!r}: {exc}")
            return []

    # -- after the cell -------------------------------------------------------------------
    def outputs(self, run: Any) -> None:
        opts, ns = self.opts, self.ns
        fresh = [n for n in ns if n not in self.existing]
        candidates = [n for n in (*self.names.binds, *self.names.mutated, *fresh)
                      if not ignorable_name(n) and self.changed(n)]
        candidates = list(dict.fromkeys(candidates))

        if opts.params is not None:
            late = self._explicit_params([n for n in opts.params
                                          if n in ns and n in self.names.binds])
            missing = [n for n in opts.params if n not in ns]
            self._missing("--params", missing)
            self._log(run.log_params, late)

        metrics: dict[str, float] = {}
        if opts.metrics is not None:
            self._missing("--metrics", [n for n in opts.metrics if n not in ns])
            for n in opts.metrics:
                if n in ns:
                    try:
                        metrics[n] = to_metric_value(n, ns[n])
                    except TypeError as exc:
                        self._warn(str(exc))
        elif opts.auto:
            for n in candidates:
                value = as_metric(ns[n])
                if value is not None:
                    metrics[n] = value
        self._log(run.log_metrics, metrics)

        models: list[str] = []
        if opts.models is not None:
            self._missing("--model", [n for n in opts.models if n not in ns])
            models = [n for n in opts.models if n in ns]
        elif opts.auto:
            models = [n for n in candidates if is_estimator(ns[n]) and is_fitted(ns[n])]
        for n in models:
            try:
                run.log_model(ns[n], name=n)
            except Exception as exc:  # the run must say so: see track_cell
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                self.unsaved[n] = f"{type(exc).__name__}: {reason}" if reason else \
                    type(exc).__name__
                continue
            if is_estimator(ns[n]):
                self._log(run.log_params, estimator_params(n, ns[n]))
        self._prediction_sample(run, [n for n in models if n not in self.unsaved])

        outputs: list[DatasetLink] = []
        if opts.data is not None:
            names = [d for d in opts.data if d in ns and self.changed(d)]
            self._missing("--data", [d for d in opts.data if d.isidentifier() and d not in ns])
        elif opts.auto:
            names = [n for n in candidates if is_dataset(ns[n])]
        else:
            names = []
        for n in names:
            outputs.extend(self._fingerprint(n, ns[n], "output"))
        run.add_datasets(outputs)

    def _prediction_sample(self, run: Any, models: list[str]) -> None:
        """The saved models' predictions on a few rows of what the cell read (sample.py)."""
        if not models:
            return
        inputs = [(n, self.ns[n]) for n in self.names.reads
                  if n in self.ns and not ignorable_name(n) and is_dataset(self.ns[n])]
        try:
            data = prediction_sample({n: self.ns[n] for n in models}, inputs)
            if data is None:
                return
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / SAMPLE_ARTIFACT
                path.write_bytes(data)
                run.log_artifact(path, name=SAMPLE_ARTIFACT)
        except Exception as exc:  # evidence for a reproduction, never the run's failure
            self._warn(f"could not record the prediction sample: {exc}")

    def _explicit_params(self, names: list[str]) -> dict[str, Any]:
        """``--params`` names as stored exactly (an estimator as its ``get_params()``);
        a value that cannot be is left out with a warning, never stored as a repr."""
        params: dict[str, Any] = {}
        for n in names:
            value = self.ns[n]
            if is_estimator(value):
                params.update(estimator_params(n, value))
                continue
            try:
                params[n] = to_param(n, value)
            except ParamValueError as exc:
                self._warn(f"--params {n} not recorded: {exc}")
        return params

    def _missing(self, flag: str, names: list[str]) -> None:
        if names:
            self._warn(f"{flag} {', '.join(names)}: no such variable after the cell")

    def _log(self, fn: Callable[[Any], None], values: Mapping[str, Any]) -> None:
        if not values:
            return
        try:
            fn(values)
        except Exception as exc:
            self._warn(str(exc))


def track_cell(
    ws: Workspace,
    source: CellSource,
    namespace: MutableMapping[str, Any],
    execute: Callable[[], Outcome],
    options: CellOptions,
    names: CellNames | None = None,
) -> tuple[RunSummary, Outcome]:
    """Run a cell through ``execute`` as a tracked run; return its summary and outcome.

    The cell's own exception is *not* raised here: it is in the outcome, so the front
    end can let it surface exactly as an untracked cell's would. ``names``: the cell's
    names, when the caller has read them from ``source.tree`` already.
    """
    capture = _Capture(names or analyze(source.tree), namespace, options)
    params, inputs = capture.inputs()
    try:
        run = start_run(ws,
            experiment=options.experiment or experiment_for(source.notebook_path),
            name=options.name, kind="cell", params=params, tags=options.tags,
            inputs=tuple(inputs), code=source.code, notebook_path=source.notebook_path,
            cell_id=source.cell_id, execution_count=source.execution_count,
        )
    except StoreError as exc:
        raise StoreError(f"could not start a run, so the cell was NOT run: {exc}",
                         url=exc.url) from exc
    run.add_artifacts(options.attach)
    try:
        with activated(run):
            outcome = execute()
        if outcome.error is None:
            capture.outputs(run)
    except BaseException as exc:  # our own code was interrupted or failed: keep the run
        run.warnings.extend(capture.warnings)
        finish(run, exc)
        raise
    run.warnings.extend(capture.warnings)
    unsaved = capture.unsaved_reason
    if outcome.error is None and unsaved is not None:
        # the cell's work stands and it behaves as without the magic (no exception of
        # ours); the run must not look complete, and the summary line says why
        run.warnings.append(
            f"the cell ran (its variables are set), but {unsaved}, so run {run.id[:8]} is "
            "recorded as failed; fix that and run the cell again, or name the models to "
            "save with --model")
        return finish(run, failure=f"the cell ran, but {unsaved}"), outcome
    return finish(run, outcome.error, traceback_text=outcome.traceback), outcome
