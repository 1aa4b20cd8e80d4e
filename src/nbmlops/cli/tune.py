"""``nbmlops tune``: a hyperparameter search on a data file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from nbmlops import keyvalue
from nbmlops.cli._output import clean_floats, dump_json


def _load_frame(path: str) -> Any:
    from nbmlops import datafiles

    try:
        return datafiles.read(path, "--data file")
    except (FileNotFoundError, ImportError) as exc:  # said in one line, as bad input
        raise ValueError(str(exc)) from None


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
    from nbmlops.progress import NoProgress, TextProgress

    frame = _load_frame(args.data)
    if args.target not in frame.columns:
        raise ValueError(f"--target {args.target!r} is not a column of {args.data} (its "
                         f"columns: {', '.join(map(str, frame.columns))})")
    features = ([c.strip() for c in args.features.split(",")] if args.features
                else [c for c in frame.columns if c != args.target])
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"--features: no such column(s) {', '.join(missing)} in {args.data}")
    inits: dict[str, dict[str, Any]] = keyvalue.parse(
        args.init, flag="--init", hint="write NAME='{\"param\": value}'",
        convert=lambda name, text: _json_arg("--init", text))
    models: dict[str, Any] = {}
    for item in args.model:
        name, spec = keyvalue.split_optional(item)
        if name is None:
            name = item.rpartition(".")[2]
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
        dump_json(clean_floats({
            "run_id": result.run_id, "status": result.status, "metric": result.metric,
            "best_score": result.best_score, "best_model": result.best_model,
            "best_params": result.best_params,
            "candidates": result.candidates.to_dict(orient="records")}), out)
    else:
        out.write(repr(result) + "\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


__all__ = ["add_parsers"]
