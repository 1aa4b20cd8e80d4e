"""Team mode: nbmlops and MLflow side by side against one PostgreSQL server and one S3 server.

Run by hand from the repository root (it is not a test), in an environment with MLflow
(``pip install -e '.[bench,postgres,s3]'``; keep MLflow out of the test environment)::

    NBMLOPS_BENCH_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
    NBMLOPS_BENCH_S3_URL=http://127.0.0.1:9000 \\
        .venv-bench/bin/python bench/team.py [--quick]

Without those two variables it starts a throwaway PostgreSQL (``scripts/postgres``) and
moto's S3 server (``scripts/s3``) itself, as the test suite does. Each tool gets a database
of its own on the one PostgreSQL server and a bucket of its own on the one S3 server: MLflow
with its PostgreSQL backend store and its S3 artifact store, nbmlops with
``NBMLOPS_STORE=postgresql+psycopg://…`` and ``NBMLOPS_ARTIFACTS=s3://…``.

Sections (each prints its details; a summary table closes the run):

1. Registering a fitted 50-tree random forest with its signature from the training data:
   ``nbmlops.register(model, name=, data=X)`` vs a run around ``mlflow.sklearn.log_model(…,
   signature=infer_signature(…), registered_model_name=)`` (both skops files), interleaved.
2. Loading it by alias: ``nbmlops.load_model("forest@production")`` with its local cache
   emptied before every load (cold: the blob comes from S3) and with it warm, vs
   ``mlflow.sklearn.load_model("models:/forest@production")`` (which downloads every time).
3. Bytes stored by a 100-candidate search whose candidates share one training frame:
   ``nbmlops.tune`` vs ``GridSearchCV`` under ``mlflow.sklearn.autolog(max_tuning_runs=100)``
   (one child run per candidate, as nbmlops records): the objects added to each bucket and
   the growth of each database.
4. ``%%track`` overhead through a real IPython shell (a cell reading 10 scalars and binding
   10 floats; the cell journal off, as in ``track_overhead.py``) on PostgreSQL + S3 vs on
   the default SQLite file + local folder.

Timings are wall-clock medians and indicative: other work on the machine shows up in them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    MLFLOW_QUIET_ENV,
    bench_parser,
    fmt_s,
    interleaved,
    load_average,
    median,
    parse_bench_args,
    print_table,
    quiet,
    say,
    say_header,
    silence_loggers,
    version_of,
)

REPO = Path(__file__).resolve().parents[1]
N_TREES, N_CANDIDATES = 50, 100
MODEL, ALIAS = "forest", "production"
# moto accepts any key; a real S3 takes the usual AWS chain (these are only defaults)
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
             "AWS_DEFAULT_REGION": "us-east-1"}
CELL = "\n".join([*(f"p{i} = a{i} * 2.0" for i in range(10))])
CELL_SETUP = "\n".join(f"a{i} = {i}.5" for i in range(10))


@dataclass
class Row:
    measure: str
    nbmlops: float
    other: float
    unit: str  # "s" or "B"
    target: str
    met: bool | None = None


@dataclass
class Bench:
    quick: bool
    root: Path
    pg_admin: str
    s3_endpoint: str
    nb_store: str = ""
    ml_store: str = ""
    nb_bucket: str = ""
    ml_bucket: str = ""
    rows: list[Row] = field(default_factory=list)
    started: list[tuple[str, Path]] = field(default_factory=list)  # servers we started
    model: Any = None
    X: Any = None
    y: Any = None
    trusted: list[str] = field(default_factory=list)

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(endpoint_url=self.s3_endpoint, skip_instance_cache=True,
                                 use_listings_cache=False)


# -- servers, databases and buckets --------------------------------------------------------------

def _start(script: str, folder: Path) -> str:
    out = subprocess.run([str(REPO / "scripts" / script), "start", str(folder)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def servers(b: Bench) -> None:
    """The PostgreSQL and S3 servers (started here when not given), a database and a
    bucket for each tool."""
    import sqlalchemy as sa

    tag = uuid.uuid4().hex[:8]
    admin = sa.create_engine(b.pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for who in ("nb", "ml"):
            conn.execute(sa.text(f'CREATE DATABASE "bench_{who}_{tag}"'))
    admin.dispose()
    base = b.pg_admin.rsplit("/", 1)[0]
    b.nb_store, b.ml_store = f"{base}/bench_nb_{tag}", f"{base}/bench_ml_{tag}"
    fs = b.fs()
    b.nb_bucket, b.ml_bucket = f"bench-nb-{tag}", f"bench-ml-{tag}"
    fs.mkdir(b.nb_bucket)
    fs.mkdir(b.ml_bucket)
    os.environ.update({
        "NBMLOPS_STORE": b.nb_store, "NBMLOPS_ARTIFACTS": f"s3://{b.nb_bucket}/nbmlops",
        "NBMLOPS_ARTIFACTS_OPTIONS": json.dumps({"endpoint_url": b.s3_endpoint}),
        "MLFLOW_S3_ENDPOINT_URL": b.s3_endpoint, "MLFLOW_TRACKING_URI": b.ml_store,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"})


def drop(b: Bench) -> None:
    import sqlalchemy as sa

    from nbmlops import api

    api.close()
    if "mlflow" in sys.modules:
        with quiet():
            sys.modules["mlflow"].end_run()
    admin = sa.create_engine(b.pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for url in (b.nb_store, b.ml_store):
            if url:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}" '
                                     "WITH (FORCE)"))
    admin.dispose()
    fs = b.fs()
    for bucket in (b.nb_bucket, b.ml_bucket):
        if bucket:
            fs.rm(bucket, recursive=True)


def db_bytes(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        size = int(conn.execute(sa.text("SELECT pg_database_size(current_database())"))
                   .scalar_one())
    engine.dispose()
    return size


def bucket_bytes(b: Bench, prefix: str) -> tuple[int, int]:
    """Bytes and objects under ``prefix`` (``bucket/path``)."""
    fs = b.fs()
    try:
        found = fs.find(prefix, detail=True)
    except FileNotFoundError:
        return 0, 0
    return sum(int(v["size"]) for v in found.values()), len(found)


def mlflow_experiment(name: str, b: Bench) -> Any:
    import mlflow

    with quiet():
        exp = mlflow.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else mlflow.create_experiment(
            name, artifact_location=f"s3://{b.ml_bucket}/{name}")
        mlflow.set_experiment(experiment_id=exp_id)
    return mlflow


# -- the sections --------------------------------------------------------------------------------

def data(b: Bench) -> None:
    import pandas as pd
    import skops.io as sio
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(5000, 20, random_state=0)
    b.X = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    b.y = pd.Series(y, name="y")
    b.model = RandomForestClassifier(n_estimators=N_TREES, random_state=0).fit(b.X, b.y)
    b.trusted = sorted(sio.get_untrusted_types(data=sio.dumps(b.model)))


def bench_register(b: Bench) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    import nbmlops

    mlflow_experiment("register", b)
    reps = 1 if b.quick else 5
    say(f"[1] registering a {N_TREES}-tree forest with its signature ({reps} interleaved reps "
        "after an untimed warm-up)")

    def nb() -> None:
        nbmlops.register(b.model, name=MODEL, data=b.X, alias=ALIAS)

    def ml() -> None:
        with quiet(), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                b.model, name="model", signature=infer_signature(b.X, b.model.predict(b.X)),
                registered_model_name=MODEL, skops_trusted_types=b.trusted)
        mlflow.MlflowClient().set_registered_model_alias(
            MODEL, ALIAS, str(info.registered_model_version))

    times = interleaved({"nb": nb, "ml": ml}, reps)
    nb_t, ml_t = median(times["nb"]), median(times["ml"])
    say(f"    nbmlops.register(model, data=X)           median {fmt_s(nb_t):>9}  "
        f"({', '.join(fmt_s(t) for t in times['nb'])})")
    say(f"    mlflow.sklearn.log_model(registered_…=)   median {fmt_s(ml_t):>9}  "
        f"({', '.join(fmt_s(t) for t in times['ml'])})")
    b.rows.append(Row("register a 50-tree forest (PostgreSQL + S3)", nb_t, ml_t, "s",
                      "≥ 20×", ml_t / nb_t >= 20))


def bench_load(b: Bench) -> None:
    import mlflow.sklearn

    import nbmlops
    from nbmlops import api

    reps = 3 if b.quick else 7
    cache = api.workspace().settings.artifacts_root
    say(f"[2] loading {MODEL}@{ALIAS} ({reps} interleaved reps after an untimed warm-up); "
        f"nbmlops' cache: {cache}")
    expected = b.model.predict(b.X.head(100)).tolist()

    def nb_cold() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        assert nbmlops.load_model(f"{MODEL}@{ALIAS}").predict(b.X.head(100)).tolist() \
            == expected

    def nb_warm() -> None:
        nbmlops.load_model(f"{MODEL}@{ALIAS}")

    def ml() -> None:
        with quiet():
            loaded = mlflow.sklearn.load_model(f"models:/{MODEL}@{ALIAS}")
        assert loaded.predict(b.X.head(100)).tolist() == expected

    times = interleaved({"cold": nb_cold, "warm": nb_warm, "ml": ml}, reps)
    cold, warm, ml_t = (median(times[k]) for k in ("cold", "warm", "ml"))
    say(f"    nbmlops.load_model, cache emptied first   median {fmt_s(cold):>9}")
    say(f"    nbmlops.load_model, blob in the cache     median {fmt_s(warm):>9}")
    say(f"    mlflow.sklearn.load_model(models:/…)      median {fmt_s(ml_t):>9}")
    b.rows.append(Row("load by alias, cold cache (blob from S3)", cold, ml_t, "s",
                      "no slower", ml_t / cold >= 1.0))
    b.rows.append(Row("load by alias, warm cache", warm, ml_t, "s", "", None))


def bench_tune_bytes(b: Bench) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    import nbmlops

    grid = {"C": np.logspace(-3, 3, N_CANDIDATES).tolist()}
    rows = 300 if b.quick else 2000
    X, y = b.X.head(rows), b.y.head(rows)
    say(f"[3] bytes stored by a {N_CANDIDATES}-candidate search (LogisticRegression, C over "
        f"{N_CANDIDATES} values, 3 folds, {len(X):,}×{X.shape[1]} training frame)")
    nb_prefix, ml_prefix = f"{b.nb_bucket}/nbmlops", f"{b.ml_bucket}/tune"
    nb_db0, (nb_s3_0, nb_n0) = db_bytes(b.nb_store), bucket_bytes(b, nb_prefix)
    ml_db0, (ml_s3_0, ml_n0) = db_bytes(b.ml_store), bucket_bytes(b, ml_prefix)

    t0 = time.perf_counter()
    result = nbmlops.tune(LogisticRegression(max_iter=2000), grid, X, y, cv=3, n_jobs=1,
                          experiment="tune", progress=False)
    nb_t = time.perf_counter() - t0
    mlflow = mlflow_experiment("tune", b)
    t0 = time.perf_counter()
    with quiet():
        mlflow.sklearn.autolog(max_tuning_runs=N_CANDIDATES, silent=True)
        with mlflow.start_run():
            GridSearchCV(LogisticRegression(max_iter=2000), grid, cv=3, n_jobs=1).fit(X, y)
        mlflow.sklearn.autolog(disable=True)
    ml_t = time.perf_counter() - t0
    nb_s3, nb_n = bucket_bytes(b, nb_prefix)
    ml_s3, ml_n = bucket_bytes(b, ml_prefix)
    nb_db, ml_db = db_bytes(b.nb_store) - nb_db0, db_bytes(b.ml_store) - ml_db0
    nb_s3, nb_n, ml_s3, ml_n = nb_s3 - nb_s3_0, nb_n - nb_n0, ml_s3 - ml_s3_0, ml_n - ml_n0
    say(f"    nbmlops.tune        {fmt_s(nb_t):>9}: S3 +{nb_s3:,} B in {nb_n} objects, "
        f"PostgreSQL +{nb_db:,} B; best {result.best_params}")
    say(f"    MLflow autolog      {fmt_s(ml_t):>9}: S3 +{ml_s3:,} B in {ml_n} objects, "
        f"PostgreSQL +{ml_db:,} B")
    b.rows.append(Row("100-candidate search: bytes added to S3", nb_s3, ml_s3, "B",
                      "≤ 1/10", nb_s3 * 10 <= ml_s3))
    b.rows.append(Row("100-candidate search: bytes added to PostgreSQL", nb_db, ml_db, "B",
                      "", None))
    b.rows.append(Row("100-candidate search: S3 + PostgreSQL", nb_s3 + nb_db, ml_s3 + ml_db,
                      "B", "", None))


def bench_track(b: Bench) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from nbmlops import api

    reps = 30 if b.quick else 100
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.colors = "nocolor"
    for code in ("%load_ext nbmlops", "%nbmlops journal off", CELL_SETUP):
        if not shell.run_cell(code).success:
            raise RuntimeError(f"cell failed: {code}")
    say(f"[4] %%track overhead per cell, PostgreSQL + S3 vs SQLite + a local folder ({reps} "
        "interleaved runs of each after 5 warm-up; overhead = tracked - untracked median)")
    pg_env = {k: os.environ[k] for k in ("NBMLOPS_STORE", "NBMLOPS_ARTIFACTS",
                                         "NBMLOPS_ARTIFACTS_OPTIONS")}
    sqlite_env = {"NBMLOPS_STORE": str(b.root / "sqlite" / "lineage.db"),
                  "NBMLOPS_ARTIFACTS": str(b.root / "sqlite" / "artifacts"),
                  "NBMLOPS_ARTIFACTS_OPTIONS": "{}"}
    overhead: dict[str, float] = {}
    for label, env in (("sqlite", sqlite_env), ("pg", pg_env)):
        os.environ.update(env)
        api.close()
        plain, tracked = [], []
        for i in range(reps + 5):
            t0 = time.perf_counter()
            shell.run_cell(CELL)
            t1 = time.perf_counter()
            if not shell.run_cell("%%track -q\n" + CELL).success:
                raise RuntimeError("the tracked cell failed")
            t2 = time.perf_counter()
            if i >= 5:
                plain.append(t1 - t0)
                tracked.append(t2 - t1)
        overhead[label] = median(tracked) - median(plain)
        say(f"    {label:<7} tracked median {fmt_s(median(tracked)):>9}, untracked "
            f"{fmt_s(median(plain)):>9}: overhead {fmt_s(overhead[label])}")
    os.environ.update(pg_env)
    api.close()
    shell.run_cell("%unload_ext nbmlops")
    b.rows.append(Row("%%track overhead per cell: PostgreSQL vs SQLite", overhead["pg"],
                      overhead["sqlite"], "s", "", None))


# -- the run -------------------------------------------------------------------------------------

def cell(value: float, unit: str) -> str:
    return fmt_s(value) if unit == "s" else f"{value:,.0f} B"


def summary(b: Bench) -> None:
    say("Summary (nbmlops vs MLflow; the last row compares nbmlops on PostgreSQL with "
        f"nbmlops on SQLite; load average now {load_average()})")
    lines = []
    for r in b.rows:
        ratio = (r.other / r.nbmlops) if r.nbmlops else float("inf")
        lines.append([r.measure, cell(r.nbmlops, r.unit), cell(r.other, r.unit),
                      f"{ratio:.1f}×" if ratio < 100 else f"{ratio:.0f}×", r.target or "—",
                      "" if r.met is None else ("yes" if r.met else "NO")])
    print_table(["measure", "nbmlops", "MLflow / SQLite", "ratio", "target", "met"], lines,
                right={1, 2, 3}, targets=[(r.target or None, r.met) for r in b.rows])


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__.splitlines()[0], "one timed registration of each, a "
                          "300-row search frame (about 4 minutes on a busy 2-core machine: "
                          "MLflow's registrations take half a minute each there)")
    args = parse_bench_args(parser, argv)
    os.environ.update(MLFLOW_QUIET_ENV)
    for key, value in DUMMY_AWS.items():
        os.environ.setdefault(key, value)
    root = Path(tempfile.mkdtemp(prefix="nbmlops-bench-team-"))
    b = Bench(quick=args.quick, root=root, pg_admin=os.environ.get("NBMLOPS_BENCH_PG_URL", ""),
              s3_endpoint=os.environ.get("NBMLOPS_BENCH_S3_URL", ""))
    old_cwd = Path.cwd()
    status = 0
    try:
        if not b.pg_admin:
            b.pg_admin = _start("postgres", root / "pg")
            b.started.append(("postgres", root / "pg"))
        if not b.s3_endpoint:
            b.s3_endpoint = _start("s3", root / "s3")
            b.started.append(("s3", root / "s3"))
        project = root / "project"
        project.mkdir()
        os.chdir(project)
        servers(b)
        silence_loggers()
        say_header("bench/team.py: nbmlops vs MLflow on one PostgreSQL and one S3 server",
                   args.quick, [("MLflow", version_of("mlflow")), ("s3fs", version_of("s3fs"))],
                   [("PostgreSQL", b.pg_admin.rsplit("@", 1)[-1]), ("S3", b.s3_endpoint)])
        say()
        data(b)
        for section in (bench_register, bench_load, bench_tune_bytes, bench_track):
            t0 = time.perf_counter()
            try:
                section(b)
            except Exception:
                import traceback

                say("    SECTION FAILED:\n" + traceback.format_exc())
                status = 1
            say(f"    (took {fmt_s(time.perf_counter() - t0)})\n")
        summary(b)
    finally:
        os.chdir(old_cwd)
        try:
            drop(b)
        finally:
            for script, folder in b.started:
                subprocess.run([str(REPO / "scripts" / script), "stop", str(folder)],
                               check=False)
            if args.keep:
                say(f"kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
