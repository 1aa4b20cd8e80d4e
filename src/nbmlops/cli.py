"""The ``nbmlops`` command line: a thin front end over :mod:`nbmlops.api`.

    nbmlops runs list [--experiment E] [--where EXPR] [--sort KEYS] [--limit N]
                      [--format table|json|csv]
    nbmlops runs show RUN_ID [--format text|json]
    nbmlops models list|show|promote|rollback|history ...
    nbmlops deploy REFERENCE [--port P] ... | --list | --stop NAME | --logs NAME
                   | --batch IN --out OUT | --export DIR
    nbmlops predictions NAME [--since 24h] [--format table|json|csv]
    nbmlops serve REFERENCE|BUNDLE [--host H] [--port P] [--workers N] ...
    nbmlops drift [REFERENCE] [CURRENT] [--deployment NAME --since 24h] [--test T] ...
    nbmlops export NOTEBOOK --job NAME [--params K=V ...] [--schedule CRON] [--target T ...]
    nbmlops jobs run FOLDER [-p K=V ...] | --all [DIR];  jobs list|show|history
    nbmlops ci [NOTEBOOK|FOLDER ...]
    nbmlops db info [--format text|json]
    nbmlops db upgrade

Exit status: 0 on success, 1 when nbmlops reports an error (the message says what to
do), 2 for a malformed command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from nbmlops.errors import NbmlopsError
from nbmlops.export import target_names

_SORT_FLAGS = ("--sort", "-s")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what the store holds
MAX_LIMIT = 2**53  # the store adds to a limit and multiplies it: it stays inside 64 bits


def attach_sort_values(argv: list[str], flags: Iterable[str]) -> list[str]:
    """Command lines (here and in %runs): ``--sort -metrics.x`` is a value, not a flag."""
    wanted = set(flags)
    out: list[str] = []
    i = 0
    while i < len(argv):
        item = argv[i]
        if item in wanted and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            glue = "=" if item.startswith("--") else ""  # -s-x is argparse's short form
            out.append(f"{item}{glue}{argv[i + 1]}")
            i += 2
            continue
        out.append(item)
        i += 1
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def _dump_json(obj: Any, out: TextIO) -> None:
    json.dump(obj, out, indent=2, default=_json_default, ensure_ascii=False, allow_nan=False)
    out.write("\n")


def _clean_floats(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null / strings."""
    if isinstance(obj, float):
        if obj != obj:
            return None
        if obj in (float("inf"), float("-inf")):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_floats(v) for v in obj]
    return obj


# -- runs ----------------------------------------------------------------------------------

def _runs_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)  # reading: a store that isn't there is an error, not created
    if not 0 <= args.limit <= MAX_LIMIT:
        raise ValueError(f"--limit must be 0 (all runs) or a positive number up to {MAX_LIMIT}")
    frame = api.runs(args.experiment, where=args.where, sort=args.sort,
                     limit=args.limit or None,
                     kind=args.kind or (None if args.all else api.LISTED_KINDS))
    if args.format == "csv":
        frame.to_csv(out, index=False)
        return 0
    if args.format == "json":
        records = frame.assign(start=frame["start"].map(lambda t: t.isoformat()))
        _dump_json(_clean_floats(records.to_dict(orient="records")), out)
        return 0
    if frame.empty:
        out.write("no runs recorded" + (" that match" if args.where or args.experiment
                                        else " yet"))
        note = None if args.kind or args.all else hidden_candidates(args.experiment, args.where)
        out.write(f"; {note}\n" if note else "\n")
        return 0
    view = frame.copy()
    view["run_id"] = view["run_id"].str[:8]
    view["start"] = view["start"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    view["duration_s"] = view["duration_s"].round(3)
    keep = [c for c in view.columns if not c.startswith("params.")] if not args.wide \
        else list(view.columns)
    out.write(view[keep].to_string(index=False, na_rep="") + "\n")
    return 0


def hidden_candidates(experiment: str | None, where: str | None) -> str | None:
    """What to say when a listing comes out empty but candidate runs of searches, left
    out unless asked for, match (%runs says the same)."""
    from nbmlops import api

    n = int(api.runs(experiment, where=where, kind="candidate", limit=1).attrs["total"])
    if not n:
        return None
    return (f"{n} hidden candidate run{'s' if n > 1 else ''} of searches "
            f"match{'es' if n == 1 else ''}: add --all (or --kind candidate) to list them")


def _run_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.tracking.summary import RunDetailView

    api.workspace(create=False)
    run = api.get_run(args.run_id)
    if args.format == "json":
        _dump_json(_clean_floats(dataclasses.asdict(run)), out)
    else:
        out.write(str(RunDetailView(run)) + "\n")
    return 0


def _runs_compare(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    comparison = api.compare(args.run_ids, metric=args.metric)
    if args.format == "csv":
        comparison.frame.to_csv(out, index=False)
    elif args.format == "json":
        frame = comparison.frame.assign(start=comparison.frame["start"].map(
            lambda t: t.isoformat()))
        _dump_json(_clean_floats({"differing": list(comparison.differing()),
                                  "runs": frame.to_dict(orient="records")}), out)
    else:
        out.write(repr(comparison) + "\n")
    return 0


# -- tune ------------------------------------------------------------------------------------

def _load_frame(path: str) -> Any:
    import pandas as pd

    suffix = path.rsplit(".", 1)[-1].lower()
    try:
        if suffix in ("parquet", "pq"):
            return pd.read_parquet(path)
        if suffix in ("csv", "txt", "gz"):
            return pd.read_csv(path)
    except FileNotFoundError:
        raise ValueError(f"--data {path}: no such file") from None
    except ImportError as exc:
        raise ValueError(f"--data {path}: reading it needs {exc.name}; pip install "
                         f"{exc.name}") from None
    raise ValueError(f"--data {path}: give a .csv or .parquet file")


def _estimator(spec: str, init: dict[str, Any]) -> Any:
    import importlib

    module_name, _, class_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"--model {spec!r}: give the class's full path, e.g. "
                         "sklearn.ensemble.RandomForestClassifier")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--model {spec!r}: cannot import it ({exc})") from None
    try:
        return cls(**init)
    except TypeError as exc:
        raise ValueError(f"--model {spec!r}: {exc}") from None


def _json_arg(flag: str, text: str) -> Any:
    if text.startswith("@"):
        try:
            text = open(text[1:], encoding="utf-8").read()  # noqa: SIM115
        except OSError as exc:
            raise ValueError(f"{flag} {text}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag}: not valid JSON ({exc.msg} at position {exc.pos})") from None


def _tune(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.tuning.progress import NoProgress, TextProgress

    frame = _load_frame(args.data)
    if args.target not in frame.columns:
        raise ValueError(f"--target {args.target!r} is not a column of {args.data} (its "
                         f"columns: {', '.join(map(str, frame.columns))})")
    features = ([c.strip() for c in args.features.split(",")] if args.features
                else [c for c in frame.columns if c != args.target])
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"--features: no such column(s) {', '.join(missing)} in {args.data}")
    inits: dict[str, dict[str, Any]] = {}
    for item in args.init:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--init {item!r}: write NAME='{{\"param\": value}}'")
        inits[name] = _json_arg("--init", text)
    models: dict[str, Any] = {}
    for item in args.model:
        name, sep, spec = item.partition("=")
        if not sep:
            name, spec = item.rpartition(".")[2], item
        models[name] = _estimator(spec, inits.get(name, {}))
    unknown_init = set(inits) - set(models)
    if unknown_init:
        raise ValueError(f"--init for unknown model(s): {', '.join(sorted(unknown_init))}")
    space = _json_arg("--space", args.space) if args.space else None
    estimator: Any = models
    if len(models) == 1:
        (name, only), = models.items()
        estimator = only
        if isinstance(space, dict) and set(space) == {name}:
            space = space[name]
    scoring = None
    if args.scoring:
        scoring = args.scoring[0] if len(args.scoring) == 1 else list(args.scoring)
    progress = NoProgress() if args.format == "json" else TextProgress(stream=sys.stderr)
    result = api.tune(estimator, space, frame[features], frame[args.target], cv=args.cv,
                      scoring=scoring, refit=args.refit or True, strategy=args.strategy,
                      n_iter=args.n_iter, n_jobs=args.n_jobs, backend=args.backend,
                      scheduler=args.scheduler, random_state=args.random_state,
                      experiment=args.experiment, name=args.name, progress=progress,
                      data_names=(f"{args.data}[features]", f"{args.data}[{args.target}]"))
    if args.format == "json":
        _dump_json(_clean_floats({
            "run_id": result.run_id, "status": result.status, "metric": result.metric,
            "best_score": result.best_score, "best_model": result.best_model,
            "best_params": result.best_params,
            "candidates": result.candidates.to_dict(orient="records")}), out)
    else:
        out.write(repr(result) + "\n")
    return 0


# -- models ----------------------------------------------------------------------------------

def _write_frame(frame: Any, fmt: str, out: TextIO, empty: str) -> None:
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "json":
        records = frame.assign(**{c: frame[c].map(lambda t: t.isoformat())
                                  for c in frame.columns if c in ("time", "created_at")})
        _dump_json(_clean_floats(records.to_dict(orient="records")), out)
    elif frame.empty:
        out.write(empty + "\n")
    else:
        out.write(frame.to_string(index=False, na_rep="") + "\n")


def _models_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    frame = api.models(args.name)
    _write_frame(frame, args.format, out, "no models registered yet" if args.name is None
                 else f"{args.name} has no versions")
    return 0


def _models_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.registry.registry import resolve

    t = api.workspace(create=False)
    version = resolve(t, args.reference)
    if args.format == "json":
        _dump_json(_clean_floats(dataclasses.asdict(version)), out)
        return 0
    w = out.write
    w(f"{version.model} version {version.version}"
      + (f" (@{', @'.join(version.aliases)})" if version.aliases else "") + "\n")
    for label, value in (("registered", f"{version.created_at.isoformat(timespec='seconds')} "
                                        f"by {version.created_by or '?'}"),
                         ("source run", version.run_id or ""), ("flavor", version.flavor),
                         ("format", version.format), ("sha256", version.sha256),
                         ("description", version.description or "")):
        if value:
            w(f"  {label:<12} {value}\n")
    if version.signature:
        inputs = ", ".join(f"{n} {t}" for n, t in version.signature.get("inputs", []))
        w(f"  {'inputs':<12} {inputs}\n")
        if version.signature.get("output"):
            w(f"  {'output':<12} {version.signature['output']}\n")
    if version.metrics:
        w("metrics:\n" + "".join(f"  {k} = {v:.4g}\n" for k, v in version.metrics.items()))
    if version.files:
        w("files:\n" + "".join(f"  {k} ({v[:12]}…)\n" for k, v in version.files.items()))
    return 0


def _models_promote(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    event = api.promote(args.name, args.version, args.alias, reason=args.reason,
                        require=args.require)
    if event is None:
        out.write(f"{args.name}@{args.alias} already points at version {args.version}\n")
    else:
        was = f"version {event.from_version}" if event.from_version else "nothing"
        out.write(f"{args.name}@{args.alias}: {was} -> version {event.to_version}\n")
    return 0


def _models_rollback(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    event = api.rollback(args.reference, reason=args.reason)
    out.write(f"{args.reference}: version {event.from_version} -> {event.to_version} "
              "(rolled back)\n")
    return 0


def _models_history(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    frame = api.model_history(args.reference)
    if args.format == "table" and not frame.empty:
        frame = frame.assign(time=frame["time"].map(lambda t: t.isoformat(timespec="seconds")))
        frame = frame.astype({c: "Int64" for c in ("version", "from_version", "to_version")})
    _write_frame(frame, args.format, out, "no events")
    return 0


# -- deploy and serve ------------------------------------------------------------------------

# `nbmlops deploy` and `%deploy` take the same arguments and do the same things
DEPLOY_ARGUMENTS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("reference",), {"nargs": "?", "help": "the model: churn@production, churn/3, churn"}),
    (("--name",), {"help": "the deployment's name (default: the model's)"}),
    (("--host",), {"default": "127.0.0.1",
                   "help": "the address to listen on (default 127.0.0.1; 0.0.0.0: all)"}),
    (("--port",), {"type": int, "default": 8000, "help": "default 8000; 0 picks a free port"}),
    (("--workers",), {"type": int, "default": 1, "help": "worker processes (default 1)"}),
    (("--token-env",), {"metavar": "VAR", "help": "require a bearer token, read from the "
                        "environment variable VAR"}),
    (("--trusted",), {"action": "store_true", "help": "allow a version stored as a pickle"}),
    (("--no-log",), {"action": "store_true", "help": "do not log predictions"}),
    (("--log-sample",), {"type": float, "default": 1.0, "metavar": "SHARE",
                         "help": "log this share of requests (0 to 1, default 1)"}),
    (("--log-max-rows",), {"type": int, "default": 1_000_000, "metavar": "N",
                           "help": "keep at most N logged rows, the oldest dropped first "
                           "(default 1,000,000)"}),
    (("--max-body",), {"type": int, "default": 10 * 1024 * 1024, "metavar": "BYTES",
                       "help": "the largest request body accepted (default 10 MiB)"}),
    (("--poll",), {"type": float, "default": 2.0, "metavar": "SECONDS",
                   "help": "how often to check whether the served alias moved (default 2)"}),
    (("--list",), {"action": "store_true", "help": "deployments, newest first"}),
    (("--stop",), {"metavar": "NAME", "help": "stop a deployment"}),
    (("--logs",), {"metavar": "NAME", "help": "the end of a deployment's server log"}),
    (("--lines",), {"type": int, "default": 40, "help": "with --logs: how many lines"}),
    (("--batch",), {"metavar": "INPUT", "help": "score a .parquet or .csv file instead"}),
    (("--out",), {"metavar": "OUTPUT", "help": "with --batch: where to write the scores"}),
    (("--engine",), {"choices": ("pandas", "dask"), "default": "pandas",
                     "help": "with --batch: dask for files larger than memory"}),
    (("--chunk-size",), {"type": int, "default": 100_000, "metavar": "ROWS",
                         "help": "with --batch: rows per chunk (default 100,000)"}),
    (("--proba",), {"action": "store_true", "help": "with --batch: class probabilities"}),
    (("--export",), {"metavar": "DIR", "help": "write a self-contained folder that serves "
                     "the model without the store"}),
)


def run_deploy(args: argparse.Namespace, out: TextIO) -> Any:
    """What ``%deploy`` and ``nbmlops deploy`` do; a DataFrame to show for ``--list``."""
    from nbmlops import api

    modes = [m for m in ("stop", "logs", "batch", "export") if getattr(args, m)]
    modes += ["list"] if args.list else []
    if len(modes) > 1:
        raise ValueError(f"use one of --{', --'.join(modes)} at a time")
    if not args.reference and not (args.list or args.stop or args.logs):
        raise ValueError("name the model to serve, e.g. churn@production (or --list, "
                         "--stop NAME, --logs NAME)")
    if args.out and not args.batch:
        raise ValueError("--out goes with --batch INPUT")
    if args.list:
        return api.deployments()
    if args.stop:
        stopped = api.stop_deployment(args.stop)
        out.write(f"stopped {stopped.name} (it served {stopped.model}/{stopped.version} at "
                  f"{stopped.url})\n")
        return None
    if args.logs:
        out.write(api.deployment_logs(args.logs, args.lines) + "\n")
        return None
    if args.batch:
        if not args.out:
            raise ValueError("--batch INPUT needs --out OUTPUT (a .parquet or .csv file)")
        result = api.score_batch(args.reference, args.batch, args.out, engine=args.engine,
                                 chunk_size=args.chunk_size, proba=args.proba,
                                 trusted=args.trusted)
        out.write(f"{result}\n")
        return None
    if args.export:
        folder = api.export_bundle(args.reference, args.export, trusted=args.trusted,
                                   port=args.port)
        out.write(f"exported {args.reference} to {folder}: serve it with "
                  f"{folder / 'start.sh'} (or python -m nbmlops.serving {folder}); a "
                  "Dockerfile is beside it\n")
        return None
    deployment = api.deploy(
        args.reference, name=args.name, host=args.host, port=args.port, workers=args.workers,
        token_env=args.token_env, trusted=args.trusted, log_predictions=not args.no_log,
        log_sample=args.log_sample, log_max_rows=args.log_max_rows, max_body=args.max_body,
        poll=args.poll)
    follows = " (follows the alias)" if deployment.alias else ""
    out.write(f"deployed {deployment.name}: {deployment.model}/{deployment.version}{follows} "
              f"at {deployment.url}\n  POST {deployment.url}/predict · docs "
              f"{deployment.url}/docs · stop with `%deploy --stop {deployment.name}` or "
              f"`nbmlops deploy --stop {deployment.name}`\n")
    return None


def _deploy(args: argparse.Namespace, out: TextIO) -> int:
    shown = run_deploy(args, out)
    if shown is not None:
        if args.format == "table":
            shown = shown.drop(columns=["id", "options"])
        _write_frame(shown, args.format, out, "no deployments yet")
    return 0


def _predictions(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    if args.limit < 0:
        raise ValueError("--limit must be 0 (all rows) or a positive number")
    frame = api.predictions(args.name, since=args.since)
    if args.limit:
        frame = frame.tail(args.limit)
    if args.format == "json":
        _dump_json(_clean_floats(frame.assign(_time=frame["_time"].map(
            lambda t: t.isoformat())).to_dict(orient="records")), out)
    else:
        _write_frame(frame, args.format, out, "no predictions logged in that window")
    return 0


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops.serving.__main__ import main as serve_main

    return serve_main(args.rest, prog="nbmlops serve")


# -- drift -----------------------------------------------------------------------------------

# `nbmlops drift` and `%drift` take the same arguments
DRIFT_ARGUMENTS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("reference",), {"nargs": "?", "help": "the reference: a registered model "
                      "(churn@production: its training sample), a .parquet/.csv file (or, "
                      "in a notebook, a DataFrame variable); with --deployment, default: "
                      "the version it serves"}),
    (("current",), {"nargs": "?", "help": "the current data: a .parquet/.csv file (or a "
                    "DataFrame variable)"}),
    (("--deployment",), {"metavar": "NAME", "help": "check what this deployment served "
                         "(its prediction log) instead of CURRENT"}),
    (("--since",), {"help": "with --deployment: a window such as 30m, 24h or 7d "
                    "(default: everything logged)"}),
    (("--columns",), {"nargs": "+", "metavar": "COLUMN", "help": "only these columns "
                      "(space or comma separated)"}),
    (("--test",), {"action": "append", "default": [], "metavar": "TEST|COLUMN=TEST",
                   "help": "ks, wasserstein, psi, jensenshannon or chi2 for every column, or "
                   "for one (repeatable); default: chosen by type and size"}),
    (("--threshold",), {"action": "append", "default": [], "metavar": "X|COLUMN=X",
                        "help": "the test's threshold for every column, or for one "
                        "(repeatable); p-value tests drift below it, distances above"}),
    (("--share",), {"type": float, "default": 0.5, "help": "the share of drifted columns "
                    "that makes the dataset drifted (default 0.5)"}),
    (("--fail-on-drift",), {"action": "store_true", "help": "raise an error when the data "
                            "drifted (the report is recorded first); for notebook jobs"}),
    (("--no-record",), {"action": "store_true", "help": "do not record the report as a run"}),
    (("--experiment", "-e"), {"default": "drift", "help": "the run's experiment (default "
                              "drift)"}),
    (("--name", "-n"), {"help": "the run's name"}),
    (("--top",), {"type": int, "default": 6, "help": "plot the N most drifted columns "
                  "(default 6)"}),
    (("--trusted",), {"action": "store_true", "help": "allow loading a model stored as a "
                      "pickle (for prediction drift)"}),
)


def _pairs(values: Sequence[str], flag: str, convert: Any) -> Any:
    """``--test psi`` -> "psi"; ``--test age=ks`` (repeatable) -> {"age": "ks"}."""
    every = [v for v in values if "=" not in v]
    per = dict(v.split("=", 1) for v in values if "=" in v)
    if len(every) > 1 or (every and per):
        raise ValueError(f"{flag}: give one value for every column, or COLUMN=VALUE pairs")
    try:
        if every:
            return convert(every[0])
        return {k.strip(): convert(v.strip()) for k, v in per.items()} or None
    except ValueError:
        raise ValueError(f"{flag} {' '.join(values)}: not a valid value") from None


def run_drift(args: argparse.Namespace, resolve: Any = None) -> Any:
    """What ``%drift`` and ``nbmlops drift`` do: the report. ``resolve`` turns a name
    into the object it stands for (a notebook's DataFrame variables)."""
    from nbmlops import api

    resolve = resolve or (lambda name: name)
    columns = None
    if args.columns:
        columns = [c.strip() for raw in args.columns for c in raw.split(",") if c.strip()]
    return api.drift(
        None if args.reference is None else resolve(args.reference),
        None if args.current is None else resolve(args.current),
        deployment=args.deployment, since=args.since, columns=columns,
        tests=_pairs(args.test, "--test", str), threshold=_pairs(args.threshold,
                                                                 "--threshold", float),
        share=args.share, record=not args.no_record, experiment=args.experiment,
        name=args.name, fail_on_drift=False, trusted=args.trusted)


def _drift(args: argparse.Namespace, out: TextIO) -> int:
    try:
        report = run_drift(args)
    except (NbmlopsError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"nbmlops: error: {exc}", file=sys.stderr)
        return 2
    if args.html:
        Path(args.html).write_text(report.to_html(top=args.top))
    if args.format == "json":
        _dump_json(report.to_dict(), out)
    else:
        out.write(report.summary() + "\n")
        out.write(f"reference: {report.reference}\ncurrent:   {report.current}\n")
        if report.run_id:
            out.write(f"recorded as run {report.run_id}\n")
        out.write("\n")
        table = report.table()
        _write_frame(table.drop(columns=["kind"]), "table", out, "no columns")
    drifted = report.dataset_drift or bool(report.prediction_drift)
    return 1 if drifted else 0



# -- export and jobs -------------------------------------------------------------------------

# `nbmlops export NOTEBOOK` and `%export` take the same options
EXPORT_ARGUMENTS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--job",), {"required": True, "metavar": "NAME",
                  "help": "the job's name (letters, digits, - and _); its folder is "
                  "jobs/NAME unless --folder"}),
    (("--params",), {"nargs": "+", "default": [], "metavar": "NAME=VALUE",
                     "help": "the job's parameters and their defaults (Python literals; "
                     "default: the notebook's parameters cell, else the scalars its tracked "
                     "cells recorded as params)"}),
    (("--schedule",), {"metavar": "CRON", "help": "when to run it: a cron expression, "
                       "e.g. \"0 3 * * *\""}),
    (("--target",), {"nargs": "+", "default": [], "choices": target_names(),
                     "metavar": "TARGET", "help": "write these schedulers' files too "
                     "(%(choices)s)"}),
    (("--gate",), {"action": "append", "default": [], "metavar": "\"METRIC OP VALUE\"",
                   "help": "a condition on the job's runs' metrics, e.g. "
                   "\"metrics.accuracy>=0.8\" (repeatable); a failed gate fails the job"}),
    (("--on-success",), {"action": "append", "default": [], "metavar": "ACTION",
                         "help": "\"register NAME [--alias A]\" or \"promote NAME[/V] "
                         "ALIAS\", done when the job and its gates passed (repeatable)"}),
    (("--folder",), {"metavar": "DIR", "help": "the job folder (default: jobs/NAME)"}),
    (("--timeout",), {"type": float, "metavar": "SECONDS", "help": "stop a run after this "
                      "long"}),
    (("--retries",), {"type": int, "default": 0, "help": "run again after a failure, this "
                      "many times"}),
    (("--experiment", "-e"), {"help": "where the job's runs go (default: the job's name)"}),
)


def run_export(args: argparse.Namespace, notebook: str, out: TextIO) -> Any:
    from nbmlops import api
    from nbmlops.export.jobs import parse_params

    exported = api.export_job(
        notebook, job=args.job, params=parse_params(args.params) or None,
        schedule=args.schedule, targets=args.target, gates=args.gate,
        on_success=args.on_success, folder=args.folder, timeout=args.timeout,
        retries=args.retries, experiment=args.experiment)
    out.write(f"{exported}\n")
    return exported


def _export(args: argparse.Namespace, out: TextIO) -> int:
    run_export(args, args.notebook, out)
    return 0


def _jobs_run(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.export.jobs import find_jobs
    from nbmlops.export.runner import parse_overrides

    if args.all:
        if args.p:
            raise ValueError("-p goes with one job, not --all")
        folders = [info.folder for info in find_jobs(Path(args.folder or "jobs"))]
        if not folders:
            raise ValueError(f"no job folders under {args.folder or 'jobs'}")
    else:
        if not args.folder:
            raise ValueError("name the job folder to run (or --all [DIR])")
        folders = [Path(args.folder)]
    failed = 0
    for folder in folders:
        from nbmlops.export.spec import load

        if not args.all:
            spec = load(folder)
            result = api.run_job(folder, params=parse_overrides(spec, args.p),
                                 timeout=args.timeout, retries=args.retries)
        else:
            try:  # one broken job must not keep the others from running
                result = api.run_job(folder, timeout=args.timeout, retries=args.retries)
            except NbmlopsError as exc:
                out.write(f"job {folder.name} could not run: {exc}\n")
                failed += 1
                continue
        out.write(f"{result}\n")
        out.flush()
        failed += not result.ok
    if args.all:
        out.write(f"{len(folders) - failed} of {len(folders)} jobs passed\n")
    return 1 if failed else 0


def _jobs_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    frame = api.jobs(args.root)
    if args.format == "table":
        frame = frame.drop(columns=["last_run"] + ([] if frame["error"].notna().any()
                                                   else ["error"]))
    _write_frame(frame, args.format, out, f"no jobs under {args.root or 'jobs'}")
    return 0


def _jobs_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.export.spec import load

    spec = load(Path(args.folder))
    if args.format == "json":
        _dump_json({"job": spec.to_dict(), "runs": _clean_floats(
            api.job_history(args.folder).head(10).astype(object).to_dict(orient="records"))},
            out)
        return 0
    out.write(spec.to_yaml())
    history = api.job_history(args.folder)
    out.write(f"\n# last runs ({len(history)} in all)\n")
    _write_frame(_history_columns(history).head(10), "table", out, "never run")
    return 0


def _history_columns(frame: Any) -> Any:
    keep = [c for c in ("run_id", "status", "start", "duration_s", "tags.failure",
                        "tags.gate_failed", "tags.runs") if c in frame.columns]
    keep += [c for c in frame.columns if c.startswith("params.")]
    return frame[keep]


def _jobs_history(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    frame = api.job_history(args.job)
    _write_frame(_history_columns(frame) if args.format == "table" else frame, args.format,
                 out, f"job {args.job} has not run yet")
    return 0


def _ci(args: argparse.Namespace, out: TextIO) -> int:
    """Run the project's notebooks and job folders headless (never executed outputs);
    exit 1 if any fails or misses a gate."""
    from nbmlops import api
    from nbmlops.export.jobs import ci_plan

    plan = ci_plan([Path(p) for p in args.paths] or [Path("jobs")], work=Path(args.work))
    for note in plan.skipped:
        out.write(f"skipped {note}: executed outputs are not run\n")
    folders = [_ci_job(nb, Path(args.work)) for nb in plan.notebooks] + list(plan.jobs)
    if not folders:
        raise ValueError("nothing to run: give notebooks, job folders or folders of them")
    failed = []
    for folder in folders:
        try:
            result = api.run_job(folder)
        except NbmlopsError as exc:  # a broken job.yaml: reported, the others still run
            out.write(f"job {folder.name} could not run: {exc}\n")
            failed.append(folder.name)
            continue
        out.write(f"{result}\n")
        out.flush()
        if not result.ok:
            failed.append(result.job)
    out.write(f"nbmlops ci: {len(folders) - len(failed)} of {len(folders)} passed"
              + (f"; failed: {', '.join(failed)}" if failed else "") + "\n")
    return 1 if failed else 0


def _ci_job(notebook: Path, work: Path) -> Path:
    """A throwaway job for a plain notebook: its own parameters cell, no schedule."""
    import hashlib
    import re

    from nbmlops import api

    stem = re.sub(r"[^A-Za-z0-9_-]", "-", notebook.stem).strip("-")[:48] or "notebook"
    # two notebooks of one name in different folders must not share a job folder
    where = hashlib.sha256(str(notebook.resolve().parent).encode()).hexdigest()[:8]
    name = f"{stem}-{where}"
    return api.export_job(notebook, job=name, folder=work / name).folder


# -- db --------------------------------------------------------------------------------------

def _db_info(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.tracking.summary import format_size

    settings, info = api.store_info()
    data = {
        "store": info.url, "configured_by": settings.source,
        "artifacts": str(settings.artifacts_root), "project_root": str(settings.project_root),
        "schema_revision": info.revision, "head_revision": info.head_revision,
        "experiments": info.experiments, "runs": dict(info.runs_by_status),
        "datasets": info.datasets, "artifact_blobs": info.artifacts,
        "artifact_bytes": info.artifact_bytes,
    }
    if args.format == "json":
        _dump_json(data, out)
        return 0
    total = sum(info.runs_by_status.values())
    by_status = ", ".join(f"{n} {s}" for s, n in info.runs_by_status.items() if n)
    out.write(
        f"store        {info.url}  (from {settings.source})\n"
        f"artifacts    {settings.artifacts_root}\n"
        f"schema       {info.revision} (this nbmlops: {info.head_revision})\n"
        f"experiments  {info.experiments}\n"
        f"runs         {total}" + (f" ({by_status})" if by_status else "") + "\n"
        f"datasets     {info.datasets}\n"
        f"artifacts    {info.artifacts} blobs, {format_size(info.artifact_bytes)}\n")
    return 0


def _db_upgrade(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    before, after = api.upgrade_store()
    if before == after:
        out.write(f"the store is already at schema revision {after}\n")
    else:
        out.write(f"upgraded the store from schema revision {before or '(new)'} to {after}\n")
    return 0


# -- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from nbmlops import __version__

    parser = argparse.ArgumentParser(
        prog="nbmlops", description="Jupyter-native MLOps: runs, searches and the store.")
    parser.add_argument("--version", action="version", version=f"nbmlops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    runs = sub.add_parser("runs", help="list and show recorded runs")
    runs_sub = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = runs_sub.add_parser("list", help="list runs, newest first")
    ls.add_argument("-e", "--experiment", help="only runs of this experiment")
    ls.add_argument("-w", "--where", help='filter, e.g. "metrics.accuracy > 0.8"')
    ls.add_argument("-s", "--sort", help="sort keys, e.g. -metrics.accuracy,start")
    ls.add_argument("-n", "--limit", type=int, default=0, help="at most N runs (0 = all)")
    ls.add_argument("--kind", help="only runs of this kind (cell, script, tune, candidate, ...)")
    ls.add_argument("--all", action="store_true",
                    help="include the candidate runs of searches (hidden by default)")
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ls.add_argument("--wide", action="store_true", help="table: include params.* columns")
    ls.set_defaults(func=_runs_list)
    show = runs_sub.add_parser("show", help="show one run with its lineage")
    show.add_argument("run_id", help="the run id, or a unique prefix of it (4+ characters)")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=_run_show)
    cmp = runs_sub.add_parser("compare", help="runs side by side: params, metrics, differences")
    cmp.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    cmp.add_argument("--metric", help="the metric that ranks the runs")
    cmp.add_argument("--format", choices=("table", "json", "csv"), default="table")
    cmp.set_defaults(func=_runs_compare)

    tune = sub.add_parser(
        "tune", help="search hyperparameters on a data file; every candidate is a run",
        description="Search hyperparameters with scikit-learn's search classes (or Optuna) "
                    "on a CSV/Parquet file, recording a parent run and one run per "
                    "candidate. Example: nbmlops tune --data train.csv --target churned "
                    "--model sklearn.ensemble.RandomForestClassifier "
                    "--space '{\"max_depth\": [4, 8]}' --cv 5 --scoring accuracy")
    tune.add_argument("--data", required=True, help="a .csv or .parquet file")
    tune.add_argument("--target", required=True, help="the column to predict")
    tune.add_argument("--features", help="comma-separated feature columns (default: all "
                      "other columns)")
    tune.add_argument("--model", action="append", required=True, metavar="[NAME=]CLASS",
                      help="an estimator class by its full path; repeat to compare models")
    tune.add_argument("--init", action="append", default=[], metavar="NAME=JSON",
                      help="constructor arguments of a model, e.g. forest='{\"random_state\": 0}'")
    tune.add_argument("--space", metavar="JSON|@FILE", help="the search space: "
                      "{param: values}, or {name: {param: values}} for several models")
    tune.add_argument("--cv", type=int, default=5, help="number of folds (default 5)")
    tune.add_argument("--scoring", nargs="+", metavar="METRIC")
    tune.add_argument("--refit", metavar="METRIC")
    tune.add_argument("--strategy", default="grid", choices=("grid", "random", "halving",
                                                             "optuna"))
    tune.add_argument("--n-iter", type=int, default=10)
    tune.add_argument("--n-jobs", type=int, default=None)
    tune.add_argument("--backend", default="loky", choices=("loky", "threading", "dask"))
    tune.add_argument("--scheduler", metavar="ADDRESS")
    tune.add_argument("--random-state", type=int, default=None)
    tune.add_argument("-e", "--experiment")
    tune.add_argument("-n", "--name")
    tune.add_argument("--format", choices=("text", "json"), default="text")
    tune.set_defaults(func=_tune)

    models = sub.add_parser("models", help="the model registry: versions, aliases, history")
    models_sub = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    mlist = models_sub.add_parser("list", help="registered models, or one model's versions")
    mlist.add_argument("name", nargs="?")
    mlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    mlist.set_defaults(func=_models_list)
    mshow = models_sub.add_parser("show", help="one version: its run, signature, metrics, files")
    mshow.add_argument("reference", help="NAME, NAME/VERSION or NAME@ALIAS")
    mshow.add_argument("--format", choices=("text", "json"), default="text")
    mshow.set_defaults(func=_models_show)
    mprom = models_sub.add_parser("promote", help="point NAME@ALIAS at VERSION")
    mprom.add_argument("name")
    mprom.add_argument("version", type=int)
    mprom.add_argument("alias")
    mprom.add_argument("--reason")
    mprom.add_argument("--require", action="append", default=[], metavar="GATE",
                       help='e.g. "accuracy>=0.8" (repeatable)')
    mprom.set_defaults(func=_models_promote)
    mroll = models_sub.add_parser("rollback",
                                  help="point NAME@ALIAS back at the version before")
    mroll.add_argument("reference", metavar="NAME@ALIAS")
    mroll.add_argument("--reason")
    mroll.set_defaults(func=_models_rollback)
    mhist = models_sub.add_parser("history", help="who moved what, when and why")
    mhist.add_argument("reference", metavar="NAME[@ALIAS]")
    mhist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    mhist.set_defaults(func=_models_history)

    deploy = sub.add_parser(
        "deploy", help="serve a registered model in the background, list/stop/inspect "
        "deployments, score a file, export a bundle (what %%deploy does)")
    for names, options in DEPLOY_ARGUMENTS:
        deploy.add_argument(*names, **options)
    deploy.add_argument("--format", choices=("table", "json", "csv"), default="table",
                        help="with --list")
    deploy.set_defaults(func=_deploy)
    preds = sub.add_parser("predictions", help="what a deployment was asked and answered")
    preds.add_argument("name", help="the deployment")
    preds.add_argument("--since", help="a window such as 30m, 24h or 7d (default: all)")
    preds.add_argument("--limit", type=int, default=0, metavar="N",
                       help="only the last N rows (0 = all, the default)")
    preds.add_argument("--format", choices=("table", "json", "csv"), default="table")
    preds.set_defaults(func=_predictions)
    serve = sub.add_parser("serve", add_help=False, help="serve a model reference or a "
                           "bundle folder in the foreground, for production (--help: options)")
    serve.add_argument("rest", nargs=argparse.REMAINDER)
    serve.set_defaults(func=_serve)
    drift = sub.add_parser(
        "drift", help="test data (a file, or what a deployment served) for drift against a "
        "reference; exits 1 on drift, 0 if none, 2 on errors (what %%drift does)")
    for names, options in DRIFT_ARGUMENTS:
        if names[0] != "--fail-on-drift":  # the exit status is the alert here
            drift.add_argument(*names, **options)
    drift.add_argument("--format", choices=("text", "json"), default="text")
    drift.add_argument("--html", metavar="FILE", help="also write the report as HTML")
    drift.set_defaults(func=_drift)
    export = sub.add_parser("export", help="turn a notebook into a job folder (what "
                            "%%export does)")
    export.add_argument("notebook", help="the .ipynb file")
    for names, options in EXPORT_ARGUMENTS:
        export.add_argument(*names, **options)
    export.set_defaults(func=_export)
    jobs = sub.add_parser("jobs", help="run, list and inspect exported jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    jrun = jobs_sub.add_parser("run", help="run a job folder with papermill (exit 0 on "
                               "success, 1 on a failed cell, gate or action)")
    jrun.add_argument("folder", nargs="?", help="the job folder (with --all: a folder of "
                      "jobs, default jobs/)")
    jrun.add_argument("-p", action="append", default=[], metavar="NAME=VALUE",
                      help="a parameter's value (repeatable)")
    jrun.add_argument("--all", action="store_true", help="run every job under the folder")
    jrun.add_argument("--timeout", type=float, help="override the job's timeout (seconds)")
    jrun.add_argument("--retries", type=int, help="override the job's retries")
    jrun.set_defaults(func=_jobs_run)
    jlist = jobs_sub.add_parser("list", help="the project's jobs and their last run")
    jlist.add_argument("root", nargs="?", help="a folder of jobs (default jobs/)")
    jlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    jlist.set_defaults(func=_jobs_list)
    jshow = jobs_sub.add_parser("show", help="a job's spec and its last runs")
    jshow.add_argument("folder")
    jshow.add_argument("--format", choices=("text", "json"), default="text")
    jshow.set_defaults(func=_jobs_show)
    jhist = jobs_sub.add_parser("history", help="a job's runs, newest first")
    jhist.add_argument("job", help="its name or folder")
    jhist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    jhist.set_defaults(func=_jobs_history)
    ci = sub.add_parser("ci", help="run the project's notebooks and job folders headless "
                        "for CI (never executed outputs); exit 1 if any fails or misses a gate")
    ci.add_argument("paths", nargs="*", help="notebooks, job folders, or folders searched "
                    "for both, to any depth (not build/, .nbmlops/, checkpoints, hidden "
                    "folders, or a job's runs/); default jobs/")
    ci.add_argument("--work", default="build/ci", help="where plain notebooks' throwaway "
                    "jobs go (default build/ci)")
    ci.set_defaults(func=_ci)
    db = sub.add_parser("db", help="the lineage store itself")
    db_sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = db_sub.add_parser("info", help="where the store is, its schema revision and counts")
    info.add_argument("--format", choices=("text", "json"), default="text")
    info.set_defaults(func=_db_info)
    up = db_sub.add_parser("upgrade", help="upgrade the store's schema to this version's")
    up.set_defaults(func=_db_upgrade)
    return parser


def _names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each argument's destination -> how the command line spells it (``--limit``,
    ``VERSION``), over every subcommand."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(_names(sub))
        else:
            longest = max(action.option_strings, key=len, default=None)
            names.setdefault(action.dest, longest or str(action.metavar or action.dest.upper()))
    return names


def _check_integers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every whole number on the command line fits the store's 64-bit integers (Python's
    own have no bound: 10**23 would reach the database and fail there)."""
    for dest, value in vars(args).items():
        if isinstance(value, int) and not isinstance(value, bool) and not (
                INT64_MIN <= value <= INT64_MAX):
            shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}…"
            bound = f"at most {INT64_MAX}" if value > 0 else f"at least {INT64_MIN}"
            raise ValueError(f"{_names(parser).get(dest, dest)} {shown} is out of range: "
                             f"give a whole number {bound}")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["serve"]:  # its own parser: `nbmlops serve --help` shows its options
        from nbmlops.serving.__main__ import main as serve_main

        return serve_main(raw[1:], prog="nbmlops serve")
    parser = build_parser()
    args = parser.parse_args(attach_sort_values(raw, _SORT_FLAGS))
    try:
        _check_integers(parser, args)
        return int(args.func(args, out))
    except (NbmlopsError, ValueError, OverflowError) as exc:  # bad input: one line, exit 1
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"nbmlops: error: {message or type(exc).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `nbmlops runs list | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
