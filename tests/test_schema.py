"""Schema revisions: creating, checking, refusing and migrating lineage stores."""

from __future__ import annotations

import ast
import itertools
import math
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from nbmlops._types import Actor
from nbmlops.errors import SchemaVersionError, StoreError
from nbmlops.store import Store, open_store, upgrade_store
from nbmlops.store.query import parse_filter, parse_sort
from nbmlops.store.sql import schema
from nbmlops.store.sql.engine import make_engine, redact
from nbmlops.store.sql.models import metadata
from tests.test_registry_store import new_version

FIXTURES = Path(__file__).parent / "fixtures"
NBMLOPS_TABLES = set(metadata.tables)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", schema.migrations_location())
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def stamped(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


# -- revisions -------------------------------------------------------------------------

def test_fresh_store_is_created_at_head(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert store.revision == schema.HEAD
        assert store.info().revision == schema.HEAD
    finally:
        store.close()
    assert stamped(store_url) == [schema.HEAD]
    assert table_names(store_url) == NBMLOPS_TABLES | {"alembic_version"}
    assert upgrade_store(store_url) == (schema.HEAD, schema.HEAD)  # nothing to do


def test_revisions_match_alembic_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    history = list(reversed(list(script.walk_revisions())))  # oldest first
    assert tuple(r.revision for r in history) == schema.REVISIONS
    assert script.get_heads() == [schema.HEAD]
    assert history[0].down_revision is None
    for before, after in itertools.pairwise(history):
        assert after.down_revision == before.revision


def test_migrations_are_frozen() -> None:
    """A revision never imports nbmlops (its live models change; a revision must not)."""
    versions = Path(schema.migrations_location()) / "versions"
    files = sorted(versions.glob("*.py"))
    assert [f.name.split("_", 1)[0] for f in files] == list(schema.REVISIONS)
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "nbmlops" for n in names), (file.name, names)


def test_migrating_an_empty_database_yields_the_live_schema(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True})
            differences = compare_metadata(context, metadata)
            assert context.get_current_revision() == schema.HEAD
    finally:
        engine.dispose()
    assert differences == []
    assert table_names(store_url) == NBMLOPS_TABLES | {"alembic_version"}
    store = open_store(store_url)  # and nbmlops takes it as current
    try:
        assert store.revision == schema.HEAD
    finally:
        store.close()


def test_a_fresh_store_has_the_live_schema(store_url: str) -> None:
    open_store(store_url).close()
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


# -- refusing what is not ours ---------------------------------------------------------

def test_a_newer_revision_is_refused_with_what_to_do(store_url: str) -> None:
    open_store(store_url).close()
    execute(store_url, "UPDATE alembic_version SET version_num = 'ffff'")
    for attempt in (lambda: open_store(store_url), lambda: open_store(store_url,
                                                                      auto_upgrade=False),
                    lambda: upgrade_store(store_url)):
        with pytest.raises(SchemaVersionError) as info:
            attempt()
        err = info.value
        assert (err.found, err.expected) == ("ffff", schema.HEAD)
        assert "'ffff', which this nbmlops does not know" in str(err)
        assert "pip install -U nbmlops" in str(err)
        assert "NBMLOPS_STORE" in str(err)
        assert err.url == redact(store_url)
    assert stamped(store_url) == ["ffff"]  # left as it was


def test_a_database_of_something_else_is_refused(store_url: str) -> None:
    execute(store_url, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
            "INSERT INTO customers (id, name) VALUES (1, 'ada')")
    with pytest.raises(SchemaVersionError) as info:
        open_store(store_url)
    assert info.value.found is None
    assert "not an nbmlops store" in str(info.value)
    assert "point NBMLOPS_STORE at another database" in str(info.value)
    assert table_names(store_url) == {"customers"}  # nothing was created next to it


# -- opening ---------------------------------------------------------------------------

OPEN_AT_ONCE = textwrap.dedent("""
    import sys, time, uuid
    import nbmlops.store.sql.schema, nbmlops.store.sql.store  # import before the race
    from nbmlops._types import NewRun
    from nbmlops.store import open_store

    print("ready", flush=True)
    sys.stdin.readline()  # every process is ready: go
    store = open_store(sys.argv[1])
    store.start_run(NewRun(id=uuid.uuid4().hex, experiment="race", name=None, kind="script",
                           start_time=time.time()))
    print(store.revision)
    store.close()
""")


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'new-folder' / 'lineage.db'}"
    n = 4
    children = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, store_url],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.communicate()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [(child.wait(timeout=60), *child.communicate()) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [(code, out.strip()) for code, out, _ in results] == [(0, schema.HEAD)] * n, results
    assert stamped(store_url) == [schema.HEAD]
    assert table_names(store_url) == NBMLOPS_TABLES | {"alembic_version"}
    store = open_store(store_url)
    try:
        assert store.search_runs(experiment="race").total == n
        assert [e.name for e in store.list_experiments()] == ["race"]
    finally:
        store.close()


def test_a_folder_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite:///{blocker / 'store' / 'lineage.db'}")
    assert "cannot create the folder for the store" in str(info.value)
    assert "NBMLOPS_STORE" in str(info.value)


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    url = "postgresql+psycopg://ada:s3cret-pw@127.0.0.1:1/lineage"
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "s3cret" not in str(info.value)
    assert "ada:***@127.0.0.1:1/lineage" in str(info.value)
    assert info.value.url == "postgresql+psycopg://ada:***@127.0.0.1:1/lineage"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://ada:secret@db.example.com:5432/lineage",
     "postgresql+psycopg://ada:***@db.example.com:5432/lineage"),
    ("postgresql://ada:p@ss:w0rd@db/lineage", "postgresql://ada:***@db/lineage"),
    ("postgresql://ada:secret@db/lineage?sslmode=require",
     "postgresql://ada:***@db/lineage?sslmode=require"),
    ("postgresql://ada@db/lineage", "postgresql://ada@db/lineage"),
    ("postgresql://db/lineage", "postgresql://db/lineage"),
    ("sqlite:////home/ada/.nbmlops/lineage.db", "sqlite:////home/ada/.nbmlops/lineage.db"),
    ("sqlite://", "sqlite://"),
])
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.postgres
def test_store_url_is_shown_redacted(pg_url: str) -> None:
    user = pg_url.split("://", 1)[1].split("@", 1)[0]
    with_password = pg_url.replace(f"://{user}@", f"://{user}:not-needed@", 1)
    store = open_store(with_password)  # trust authentication ignores the password
    try:
        assert "not-needed" not in store.url
        assert store.url == pg_url.replace(f"://{user}@", f"://{user}:***@", 1)
        assert "not-needed" not in repr(store)
        assert store.info().url == store.url
    finally:
        store.close()


# -- a store written by revision 0001 --------------------------------------------------

def test_a_store_written_at_revision_0001_reads_back_intact(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    shutil.copyfile(FIXTURES / "lineage-0001.db", path)
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.revision == schema.HEAD
        check_fixture_runs(store)
        # the listing reads each ended run's summary, written by the step after upgrading
        baseline_id = f"0001{'0' * 26}01"
        listed = store.search_runs(experiment="churn")
        assert listed.metrics_of(baseline_id) == {"loss": 0.25, "rmse": 1.5,
                                                  "margin": -math.inf, "accuracy": 0.91}
        assert listed.params_of(baseline_id)["max_iter"] == 200
        assert listed.params_of(baseline_id)["grid"] == {"alpha": [0.1, 1.0], "name": "ridge"}
        assert listed.tags_of(baseline_id) == {"team": "growth", "stage": "eval"}
        with sa.create_engine(f"sqlite:///{path}").connect() as conn:
            missing = conn.execute(sa.text(
                "SELECT count(*) FROM runs WHERE summary IS NULL AND status != 'running'"))
            assert missing.scalar() == 0
        # the registry tables (revision 0003) work on the upgraded store, linked to old runs
        version = store.create_model_version(
            new_version(run_id=baseline_id), actor=Actor("ada", "laptop"), alias="production")
        assert (version.version, version.run_id, version.aliases) == (1, baseline_id,
                                                                      ("production",))
    finally:
        store.close()
    # an upgrade (once there are later revisions) keeps a backup of the 0001 file
    assert bool(list(tmp_path.glob("lineage.db.pre-0001.bak"))) == (schema.HEAD != "0001")
    assert stamped(f"sqlite:///{path}") == [schema.HEAD]


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(1_767_225_600.0 + seconds, tz=UTC)


def check_fixture_runs(store: Store) -> None:
    baseline_id, broken_id, search_id, trial_id = (f"0001{'0' * 26}{i:02x}" for i in range(1, 5))
    info = store.info()
    assert (info.experiments, info.datasets, info.artifacts, info.artifact_bytes) == (
        2, 3, 1, 4096)
    assert dict(info.runs_by_status) == {"running": 0, "finished": 3, "failed": 1,
                                         "interrupted": 0, "crashed": 0}
    assert [e.name for e in store.list_experiments()] == ["churn", "churn-tuning"]

    env = (("numpy", "1.26.4"), ("pandas", "2.2.2"), ("scikit-learn", "1.4.2"))
    run = store.get_run(baseline_id)
    assert (run.experiment, run.name, run.kind, run.status, run.error) == (
        "churn", "baseline", "cell", "finished", None)
    assert (run.start_time, run.end_time, run.duration_s) == (ts(0), ts(30), 30.0)
    assert (run.user, run.host, run.notebook_path, run.git_commit, run.git_dirty) == (
        "ada", "laptop", "/home/ada/churn.ipynb", "3f" * 20, False)
    assert (run.cell_id, run.execution_count, run.code, run.code_hash, run.parent_run_id) == (
        "cell-1", 3, "model = fit(X_train, y_train)\n", "a1" * 32, None)
    assert run.params == {"C": 0.5, "max_iter": 200, "solver": "lbfgs", "fit_intercept": True,
                          "class_weight": None, "layers": [64, 32],
                          "grid": {"alpha": [0.1, 1.0], "name": "ridge"},
                          "note": "ünïcode ✓", "threshold": 0.3}
    assert type(run.params["max_iter"]) is int
    assert run.params["fit_intercept"] is True
    assert run.tags == {"team": "growth", "stage": "eval"}
    assert dict(run.metrics) == {
        "loss": 0.25, "rmse": 1.5, "margin": -math.inf, "accuracy": 0.91}
    loss = store.metric_history(baseline_id, "loss")
    assert [(m.step, m.timestamp) for m in loss] == [(i, ts(i + 1).timestamp())
                                                     for i in range(4)]
    assert math.isnan(loss[0].value)
    assert [m.value for m in loss[1:]] == [0.9, 0.5, 0.25]
    assert [(m.step, m.value) for m in store.metric_history(baseline_id, "rmse")] == [
        (0, math.inf), (1, 1.5)]
    assert [(d.name, d.dataset.kind, d.dataset.shape, d.dataset.schema, d.dataset.size_bytes,
             d.dataset.source) for d in run.inputs] == [
        ("X_train", "dataframe", (120, 3),
         (("tenure", "float64"), ("spend", "float64"), ("plan", "object")), 2880, None),
        ("raw", "file", (), (), 10_240, "data/raw.csv")]
    assert [(d.name, d.dataset.digest, d.dataset.content_hash, d.dataset.shape)
            for d in run.outputs] == [("predictions", "9b" * 32, "d2" * 16, (40,))]
    assert [(a.name, a.kind, a.artifact.sha256, a.artifact.size, a.artifact.media_type)
            for a in run.artifacts] == [
        ("model", "model", "e3" * 32, 4096, "application/x-nbmlops-pickle")]
    assert run.environment is not None
    assert (run.environment.digest, run.environment.python, run.environment.implementation,
            run.environment.platform, run.environment.packages) == (
        "4e" * 32, "3.11.9", "CPython", "Linux-6.1.0-x86_64-with-glibc2.36", env)

    broken = store.get_run(broken_id)
    assert (broken.status, broken.name, broken.git_dirty, broken.duration_s) == (
        "failed", None, True, 1.5)
    assert broken.error == ('Traceback (most recent call last):\n  File "<cell>", line 1\n'
                            "ValueError: y contains 3 classes, expected 2")
    assert broken.params == {"C": 10, "solver": "saga"}
    assert math.isnan(broken.metrics["loss"])
    assert broken.environment == run.environment

    trial = store.get_run(trial_id)
    assert (trial.parent_run_id, trial.params, trial.tags, trial.metrics) == (
        search_id, {"C": 1.0, "depth": 3}, {"trial": "0"}, {"accuracy": 0.88})
    assert store.get_run(search_id).metrics == {"best_accuracy": 0.88}

    # the old rows answer today's queries
    table = store.search_runs(where=parse_filter("params.C >= 1"),
                              order_by=parse_sort("-metrics.accuracy"))
    assert [r[0] for r in table.rows] == [trial_id, broken_id]
    assert [r[0] for r in store.search_runs(parent_run_id=search_id).rows] == [trial_id]
