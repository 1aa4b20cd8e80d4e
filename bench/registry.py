"""What the model registry costs: nbmlops side by side with MLflow's model registry.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/registry.py              # full run, about 3 minutes on 2 cores
    .venv/bin/python bench/registry.py --quick      # fewer repetitions
    .venv/bin/python bench/registry.py --reps 9     # more repetitions

The model, the same for both: ``RandomForestClassifier(n_estimators=50, random_state=0)``
fitted on 75% of ``make_classification(5000, 20, random_state=0)`` as a DataFrame with
named columns (``f0`` ... ``f19``); the other 25% is held out for the model card and the
predictions. Both tools store it in skops' format (MLflow's default; it is told to trust
the forest's ``Tree`` type, as nbmlops records at registration, or it refuses the model).

Sections (each prints its details; a summary table closes the run):

1. Registering a new version with its signature from the training data:
   ``nbmlops.register(model, name="churn", data=X)`` vs MLflow's idiom, a run around
   ``mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X,
   model.predict(X)), registered_model_name="churn")``; and nbmlops with a model card
   (``evaluate=(X_test, y_test)``), which MLflow has no counterpart for.
2. Loading by alias: ``nbmlops.load_model("churn@production")`` vs
   ``mlflow.sklearn.load_model`` and ``mlflow.pyfunc.load_model`` (the signature-checking
   wrapper, as nbmlops' ``LoadedModel`` is) of ``models:/churn@production``.
3. Predicting 1 and 1,000 rows through the signature-checking wrappers:
   ``LoadedModel.predict`` vs ``PyFuncModel.predict``, next to the bare forest's
   ``predict``; and a check, not timed, that every loaded model predicts exactly what the
   original model does.
4. Promoting: moving an alias between two versions, ``nbmlops.promote`` vs
   ``MlflowClient.set_registered_model_alias``.
5. Listing a model's 20 versions: ``nbmlops.models("churn")`` vs
   ``MlflowClient.search_model_versions("name='churn'")``.

Every figure is a median over repetitions after an untimed warm-up, with nbmlops' and
MLflow's calls interleaved (the order reversed every other round, so drift in machine load
hits both alike). Both stores (nbmlops' SQLite store and artifacts, MLflow's
``sqlite:///`` backend and artifact root) and Python's temporary files live in a fresh
temporary directory, which is also the working directory; it is deleted at the end unless
``--keep`` is given. Timings are wall-clock and indicative: other work on the machine shows
up in them (the load average is printed at the top and the end).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    MLFLOW_QUIET_ENV,
    BenchContext,
    bench_parser,
    fmt_cell,
    fmt_s,
    interleaved,
    load_average,
    median,
    mlflow_uri,
    open_mlflow,
    p90,
    parse_bench_args,
    print_table,
    quiet,
    run_in_workspace,
    run_sections,
    say,
    say_header,
    say_summary,
    temp_dir_field,
    timed,
    version_of,
)

N_SAMPLES, N_FEATURES = 5000, 20
N_TREES = 50
N_VERSIONS = 20  # versions of the model when section 5 lists them
MODEL, ALIAS = "churn", "production"
NO_EQUIVALENT = "—"


def stats_line(label: str, xs: list[float], note: str = "", width: int = 54) -> str:
    return (f"    {label:<{width}} median {fmt_s(median(xs)):>9}  p90 {fmt_s(p90(xs)):>9}"
            + (f"  {note}" if note else ""))


# -- results ----------------------------------------------------------------------------------

Cell = float | str | None  # seconds; a text shown as is (NO_EQUIVALENT, "identical"); n/a


@dataclass
class Row:
    """One line of the summary table."""

    measure: str
    nb: Cell
    ml: Cell

    @property
    def ratio(self) -> float | None:
        if not isinstance(self.nb, float) or not isinstance(self.ml, float):
            return None
        return float("inf") if self.nb <= 0 else self.ml / self.nb


def print_summary(rows: list[Row]) -> None:
    print_table(("measure", "nbmlops", "MLflow", "ratio"),
                [(row.measure, fmt_cell(row.nb), fmt_cell(row.ml),
                  "-" if row.ratio is None else f"{row.ratio:,.2f}x") for row in rows],
                right={1, 2, 3},
                notes=["ratio = MLflow / nbmlops (above 1: nbmlops is faster; below 1: MLflow "
                       f"is). {NO_EQUIVALENT} = no MLflow equivalent."])


# -- the benchmark context ----------------------------------------------------------------

class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        import pandas as pd
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import train_test_split

        super().__init__(args, root)
        self.reps: int = args.reps or (3 if self.quick else 5)
        self.fast_reps = 10 * self.reps  # for the calls that take milliseconds
        self.rows: list[Row] = []
        X, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES,
                                   random_state=0)
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            frame, y, test_size=0.25, random_state=0)
        self.fit_seconds, self.model = timed(lambda: RandomForestClassifier(
            n_estimators=N_TREES, random_state=0).fit(self.X_train, self.y_train))
        # filled in as the sections go
        self.nb_versions: list[int] = []  # plain (no card) nbmlops versions, section 1
        self.ml_versions: list[int] = []
        self.ml_model_uri: str | None = None  # the last model MLflow logged
        self.nb_loaded: Any = None
        self.ml_pyfunc: Any = None
        self.ml_sklearn: Any = None
        self._mlflow_ready = False
        self._trusted: list[str] | None = None

    # -- MLflow ------------------------------------------------------------------------------
    @property
    def mlflow_uri(self) -> str:
        return mlflow_uri(self.root)

    def mlflow(self) -> Any:
        """MLflow on its SQLite backend in the temp dir, with an experiment whose artifacts
        go there too (tables created, untimed)."""
        import mlflow

        if not self._mlflow_ready:
            open_mlflow(self.root)
            with quiet():
                location = (self.root / "mlflow" / "artifacts").as_uri()
                experiment = mlflow.create_experiment("bench-registry",
                                                      artifact_location=location)
                mlflow.set_experiment(experiment_id=experiment)
            self._mlflow_ready = True
        return mlflow

    def client(self) -> Any:
        from mlflow import MlflowClient

        self.mlflow()
        return MlflowClient()

    @property
    def trusted_types(self) -> list[str]:
        """The types skops does not trust by default in the forest's file (the Tree):
        what nbmlops records at registration, and MLflow must be told."""
        if self._trusted is None:
            import skops.io as sio

            self._trusted = sorted(sio.get_untrusted_types(data=sio.dumps(self.model)))
        return self._trusted


# -- 1. registering ----------------------------------------------------------------------------

def bench_register(b: Bench) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    import nbmlops

    b.mlflow()  # set up first, untimed

    say(f"[1] registering a new version of {MODEL!r} with its signature from the training "
        f"data ({b.reps} interleaved reps of each after an untimed warm-up)")
    plain: list[Any] = []  # the ModelVersions of the plain registrations

    def nb() -> None:
        plain.append(nbmlops.register(b.model, name=MODEL, data=b.X_train))

    def nb_card() -> None:
        nbmlops.register(b.model, name=MODEL, data=b.X_train, evaluate=(b.X_test, b.y_test))

    def ml() -> None:
        with quiet(), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                b.model, name="model",
                signature=infer_signature(b.X_train, b.model.predict(b.X_train)),
                registered_model_name=MODEL, skops_trusted_types=b.trusted_types)
        b.ml_versions.append(int(info.registered_model_version))
        b.ml_model_uri = info.model_uri

    calls = {"nb": nb, "card": nb_card, "ml": ml}
    first = {key: timed(fn)[0] for key, fn in calls.items()}
    say(f"    first calls (the warm-up, untimed): nbmlops {fmt_s(first['nb'])}, with a card "
        f"{fmt_s(first['card'])}, MLflow {fmt_s(first['ml'])}")
    names = {"nb": "nbmlops", "card": "card", "ml": "MLflow"}

    def progress(rep: int, order: list[str], times: dict[str, list[float]]) -> None:
        say(f"    rep {rep + 1}/{b.reps} ({', '.join(names[k] for k in order)}): nbmlops "
            f"{fmt_s(times['nb'][-1])}, with a card {fmt_s(times['card'][-1])}, MLflow "
            f"{fmt_s(times['ml'][-1])}  (load {load_average()})")

    times = interleaved(calls, b.reps, warmup=0, progress=progress)
    b.nb_versions = [v.version for v in plain]
    say(stats_line("nbmlops.register(model, data=X_train)", times["nb"],
                   "(skops file, signature, reference profile and sample)"))
    say(stats_line("nbmlops.register(..., evaluate=(X_test, y_test))", times["card"],
                   "(the same + a model card: metrics, permutation importances, figures)"))
    say(stats_line("mlflow.sklearn.log_model(registered_model_name=)", times["ml"],
                   "(in a run; skops, trusting the Tree; includes infer_signature and "
                   "MLflow's default pip requirements inference)"))
    say(f"    checked: nbmlops wrote {len({v.sha256 for v in plain})} distinct model files for "
        f"its {len(plain)} plain versions (skops files differ each time: no version is "
        f"cheaper for storing bytes already there); versions now: nbmlops "
        f"{len(nbmlops.models(MODEL))}, MLflow {len(b.ml_versions)}")
    b.rows.append(Row("register a version, signature from the training data",
                      median(times["nb"]), median(times["ml"])))
    b.rows.append(Row("register a version + model card (evaluate=)", median(times["card"]),
                      NO_EQUIVALENT))


# -- 2. loading by alias -----------------------------------------------------------------------

def bench_load(b: Bench) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn

    import nbmlops

    b.mlflow()

    reference, uri = f"{MODEL}@{ALIAS}", f"models:/{MODEL}@{ALIAS}"
    nbmlops.promote(MODEL, b.nb_versions[-1], ALIAS)
    b.client().set_registered_model_alias(MODEL, ALIAS, str(b.ml_versions[-1]))
    say(f"[2] loading {reference} (nbmlops {MODEL}/{b.nb_versions[-1]}, MLflow version "
        f"{b.ml_versions[-1]}; {b.fast_reps} interleaved reps after an untimed warm-up)")

    def nb() -> None:
        b.nb_loaded = nbmlops.load_model(reference)

    def ml_sklearn() -> None:
        with quiet():
            b.ml_sklearn = mlflow.sklearn.load_model(uri)

    def ml_pyfunc() -> None:
        with quiet():
            b.ml_pyfunc = mlflow.pyfunc.load_model(uri)

    times = interleaved({"nb": nb, "sklearn": ml_sklearn, "pyfunc": ml_pyfunc}, b.fast_reps)
    say(stats_line(f'nbmlops.load_model("{reference}")', times["nb"],
                   "(sha256 checked, skops with the recorded types; a LoadedModel)"))
    say(stats_line(f'mlflow.sklearn.load_model("{uri}")', times["sklearn"],
                   "(the bare forest)"))
    say(stats_line(f'mlflow.pyfunc.load_model("{uri}")', times["pyfunc"],
                   "(a PyFuncModel, checking the signature)"))
    say("    (MLflow 3.17 loads a model file, skops too, only with "
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true, set here; nbmlops trusts the types and "
        "sha256 it recorded at registration)")
    nb_t = median(times["nb"])
    b.rows.append(Row("load by alias vs mlflow.sklearn.load_model", nb_t,
                      median(times["sklearn"])))
    b.rows.append(Row("load by alias vs mlflow.pyfunc.load_model", nb_t,
                      median(times["pyfunc"])))


# -- 3. predicting -------------------------------------------------------------------------

def predict_calls(b: Bench, frame: Any) -> dict[str, Callable[[], Any]]:
    return {"nb": lambda: b.nb_loaded.predict(frame), "ml": lambda: b.ml_pyfunc.predict(frame),
            "bare": lambda: b.model.predict(frame)}


def bench_predict(b: Bench) -> None:
    import numpy as np

    from nbmlops.errors import SignatureError

    say(f"[3] predicting through the signature-checking wrappers ({b.fast_reps} interleaved "
        "reps after an untimed warm-up; the bare forest's predict for reference)")
    for rows in (1, 1000):
        frame = b.X_test.iloc[:rows]
        times = interleaved(predict_calls(b, frame), b.fast_reps)
        bare = median(times["bare"])
        label = f"{rows:,} row{'s' if rows > 1 else ''}"
        say(f"    {label}")
        for key, text in (("nb", "LoadedModel.predict(df)"), ("ml", "PyFuncModel.predict(df)"),
                          ("bare", "RandomForestClassifier.predict(df)")):
            note = "" if key == "bare" else \
                f"(the check: {fmt_s(median(times[key]) - bare)} over the bare predict)"
            say(stats_line(f"  {text}", times[key], note))
        b.rows.append(Row(f"predict {label}, signature checked", median(times["nb"]),
                          median(times["ml"])))

    # not timed: both check the schema, and predict what the original model does
    missing = b.X_test.iloc[:5].drop(columns="f0")
    refused = []
    for name, model, error in (("nbmlops", b.nb_loaded, SignatureError),
                               ("MLflow", b.ml_pyfunc, Exception)):
        try:
            with quiet():
                model.predict(missing)
        except error as exc:
            refused.append(f"{name} refuses it ({type(exc).__name__})")
        else:
            refused.append(f"{name} DOES NOT refuse it")
    say(f"    checked: input lacking column f0: {'; '.join(refused)}")
    X = b.X_test
    expected, proba = b.model.predict(X), b.model.predict_proba(X)
    nb_same = bool(np.array_equal(b.nb_loaded.predict(X), expected)
                   and np.array_equal(b.nb_loaded.predict_proba(X), proba))
    with quiet():
        ml_same = bool(np.array_equal(np.asarray(b.ml_pyfunc.predict(X)), expected)
                       and np.array_equal(b.ml_sklearn.predict(X), expected)
                       and np.array_equal(b.ml_sklearn.predict_proba(X), proba))
    say(f"    checked: on the {len(X):,} held-out rows, predict and predict_proba of "
        f"nbmlops' LoadedModel are {'identical' if nb_same else 'NOT IDENTICAL'} to the "
        f"original model's; MLflow's pyfunc predict and sklearn predict/predict_proba are "
        f"{'identical' if ml_same else 'NOT IDENTICAL'}")
    b.rows.append(Row(f"same predictions as the original ({len(X):,} rows; not timed)",
                      "identical" if nb_same else "DIFFER", "identical" if ml_same
                      else "DIFFER"))


# -- 4. promoting ------------------------------------------------------------------------------

def bench_promote(b: Bench) -> None:
    import nbmlops

    client = b.client()
    nb_pair, ml_pair = b.nb_versions[-2:], b.ml_versions[-2:]
    # from a known start, so that every call (the warm-up's too) moves the alias
    nbmlops.promote(MODEL, nb_pair[0], ALIAS)
    client.set_registered_model_alias(MODEL, ALIAS, str(ml_pair[0]))
    events_before = len(nbmlops.model_history(f"{MODEL}@{ALIAS}"))
    say(f"[4] moving @{ALIAS} back and forth between two versions (nbmlops {nb_pair}, "
        f"MLflow {ml_pair}; {b.fast_reps} interleaved reps after an untimed warm-up)")
    nb_next = itertools.cycle(reversed(nb_pair))
    ml_next = itertools.cycle(reversed(ml_pair))

    def nb() -> None:
        if nbmlops.promote(MODEL, next(nb_next), ALIAS) is None:
            raise RuntimeError("nbmlops.promote did not move the alias")

    def ml() -> None:
        client.set_registered_model_alias(MODEL, ALIAS, str(next(ml_next)))

    times = interleaved({"nb": nb, "ml": ml}, b.fast_reps)
    say(stats_line(f"nbmlops.promote({MODEL!r}, version, {ALIAS!r})", times["nb"],
                   "(checks the version, writes the alias and an audit event)"))
    say(stats_line("MlflowClient().set_registered_model_alias(...)", times["ml"]))
    events = len(nbmlops.model_history(f"{MODEL}@{ALIAS}")) - events_before
    say(f"    checked: every nbmlops call moved the alias ({events} audit events: who, where, "
        f"when, from which version to which); MLflow keeps only where it points now")
    b.rows.append(Row("promote: move an alias to another version", median(times["nb"]),
                      median(times["ml"])))


# -- 5. listing versions -----------------------------------------------------------------------

def bench_list(b: Bench) -> None:
    import nbmlops

    mlflow = b.mlflow()
    client = b.client()
    query = f"name='{MODEL}'"
    nb_count = len(nbmlops.models(MODEL))
    ml_count = len(client.search_model_versions(query))
    target = max(N_VERSIONS, nb_count, ml_count)
    t0 = time.perf_counter()
    for _ in range(target - nb_count):
        nbmlops.register(b.model, name=MODEL, data=b.X_train)
    t1 = time.perf_counter()
    with quiet():
        for _ in range(target - ml_count):
            mlflow.register_model(b.ml_model_uri, MODEL)
    t2 = time.perf_counter()
    say(f"[5] listing the {target} versions of {MODEL!r} ({b.fast_reps} interleaved reps after "
        "an untimed warm-up)")
    say(f"    (untimed: {target - nb_count} more nbmlops versions registered in "
        f"{fmt_s(t1 - t0)}; {target - ml_count} more MLflow versions in {fmt_s(t2 - t1)} "
        f"with mlflow.register_model of the model it logged last, rows of the same kind "
        f"without logging it again)")

    def nb() -> Any:
        return nbmlops.models(MODEL)

    def ml() -> Any:
        return client.search_model_versions(query)

    times = interleaved({"nb": nb, "ml": ml}, b.fast_reps)
    say(stats_line(f'nbmlops.models("{MODEL}")', times["nb"],
                   "(a DataFrame: aliases, run, format, metrics per version)"))
    say(stats_line(f'MlflowClient().search_model_versions("{query}")', times["ml"],
                   "(a list of ModelVersion objects)"))
    listed = (len(nb()), len(ml()))
    say(f"    checked: nbmlops lists {listed[0]} versions, MLflow {listed[1]}"
        + ("" if listed == (target, target) else f"  (WARNING: expected {target} each)"))
    b.rows.append(Row(f"list a model's {target} versions", median(times["nb"]),
                      median(times["ml"])))


# -- main ---------------------------------------------------------------------------------------

SECTIONS: list[tuple[int, Callable[[Bench], None]]] = [
    (1, bench_register), (2, bench_load), (3, bench_predict), (4, bench_promote),
    (5, bench_list)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("The model registry: nbmlops side by side with MLflow's (SQLite).",
                          "fewer repetitions (3 registrations of each, 30 of the rest)")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="timed registrations of each kind (default 5, 3 with --quick); "
                             "the calls that take milliseconds are repeated 10 x N times")
    args = parse_bench_args(parser, argv)
    if args.reps is not None and args.reps < 2:
        parser.error("--reps takes a number from 2 (section 4 needs two versions)")
    return args


def print_header(b: Bench) -> None:
    say_header("nbmlops model registry benchmark", b.quick, [
        ("MLflow", version_of("mlflow")),
        ("scikit-learn", f"{version_of('scikit-learn')}  (skops {version_of('skops')})"),
        ("pandas", f"{version_of('pandas')}  (NumPy {version_of('numpy')}, "
                   f"SQLAlchemy {version_of('sqlalchemy')})"),
    ], [
        ("model", f"RandomForestClassifier(n_estimators={N_TREES}, random_state=0), "
                  f"fitted in {fmt_s(b.fit_seconds)} on {len(b.X_train):,} of "
                  f"make_classification({N_SAMPLES}, {N_FEATURES}, random_state=0); "
                  f"{len(b.X_test):,} held out"),
        ("repetitions", f"{b.reps} registrations of each kind, {b.fast_reps} of the other "
                        "calls"),
        temp_dir_field(b.root, b.args.keep),
    ])
    say()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body(b: Bench) -> int:
        print_header(b)
        run = run_sections(SECTIONS, b)
        say_summary(b.quick, run.started)
        print_summary(b.rows)
        return run.status

    # set before nbmlops or MLflow is imported (every import of theirs is inside a function);
    # MLflow's downloads and requirement inference write temporary files: kept inside too
    env = {**MLFLOW_QUIET_ENV,
           # MLflow 3.17 loads no model file, skops included, without it
           "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
           "PYTHONWARNINGS": "ignore"}
    return run_in_workspace("nbmlops-bench-registry-", lambda root: Bench(args, root), body,
                            keep=args.keep, env=env)


if __name__ == "__main__":
    sys.exit(main())
