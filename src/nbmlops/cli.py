"""The ``nbmlops`` command line: a thin front end over :mod:`nbmlops.api`.

    nbmlops runs list [--experiment E] [--where EXPR] [--sort KEYS] [--limit N]
                      [--format table|json|csv]
    nbmlops runs show RUN_ID [--format text|json]
    nbmlops models list|show|promote|rollback|history ...
    nbmlops deploy REFERENCE [--port P] ... | --list | --stop NAME | --logs NAME
                   | --batch IN --out OUT | --export DIR
    nbmlops predictions NAME [--since 24h] [--format table|json|csv]
    nbmlops serve REFERENCE|BUNDLE [--host H] [--port P] [--workers N] ...
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
from typing import Any, TextIO

from nbmlops.errors import NbmlopsError

_SORT_FLAGS = ("--sort", "-s")


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

    api.tracker(create=False)  # reading: a store that isn't there is an error, not created
    if args.limit < 0:
        raise ValueError("--limit must be 0 (all runs) or a positive number")
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
        out.write("no runs recorded" + (" that match\n" if args.where or args.experiment
                                        else " yet\n"))
        return 0
    view = frame.copy()
    view["run_id"] = view["run_id"].str[:8]
    view["start"] = view["start"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    view["duration_s"] = view["duration_s"].round(3)
    keep = [c for c in view.columns if not c.startswith("params.")] if not args.wide \
        else list(view.columns)
    out.write(view[keep].to_string(index=False, na_rep="") + "\n")
    return 0


def _run_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.tracking.summary import RunDetailView

    api.tracker(create=False)
    run = api.get_run(args.run_id)
    if args.format == "json":
        _dump_json(_clean_floats(dataclasses.asdict(run)), out)
    else:
        out.write(str(RunDetailView(run)) + "\n")
    return 0


def _runs_compare(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.tracker(create=False)
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

    api.tracker(create=False)
    frame = api.models(args.name)
    _write_frame(frame, args.format, out, "no models registered yet" if args.name is None
                 else f"{args.name} has no versions")
    return 0


def _models_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    from nbmlops.registry.registry import resolve

    t = api.tracker(create=False)
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

    api.tracker(create=False)
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

    api.tracker(create=False)
    event = api.rollback(args.reference, reason=args.reason)
    out.write(f"{args.reference}: version {event.from_version} -> {event.to_version} "
              "(rolled back)\n")
    return 0


def _models_history(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.tracker(create=False)
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

    frame = api.predictions(args.name, since=args.since)
    if args.limit is not None:
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
    preds.add_argument("--limit", type=int, help="only the last N rows")
    preds.add_argument("--format", choices=("table", "json", "csv"), default="table")
    preds.set_defaults(func=_predictions)
    serve = sub.add_parser("serve", add_help=False, help="serve a model reference or a "
                           "bundle folder in the foreground, for production (--help: options)")
    serve.add_argument("rest", nargs=argparse.REMAINDER)
    serve.set_defaults(func=_serve)
    db = sub.add_parser("db", help="the lineage store itself")
    db_sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = db_sub.add_parser("info", help="where the store is, its schema revision and counts")
    info.add_argument("--format", choices=("text", "json"), default="text")
    info.set_defaults(func=_db_info)
    up = db_sub.add_parser("upgrade", help="upgrade the store's schema to this version's")
    up.set_defaults(func=_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["serve"]:  # its own parser: `nbmlops serve --help` shows its options
        from nbmlops.serving.__main__ import main as serve_main

        return serve_main(raw[1:], prog="nbmlops serve")
    args = build_parser().parse_args(attach_sort_values(raw, _SORT_FLAGS))
    try:
        return int(args.func(args, out))
    except (NbmlopsError, ValueError) as exc:
        print(f"nbmlops: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `nbmlops runs list | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
