"""Upgrading an older store: explicitly, safely, once, however many processes open it.

A store written at the current head is "old" to a future nbmlops: these tests build a
test-only revision on top of a copy of the real migrations (it adds a column with SQLite
batch mode and a table) and point the schema module at that copy in each worker process.
(Upgrading a store saved at the first revision, through the real migrations, is
tests/test_schema.py's fixture test.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from nbmlops._types import Metric, NewRun, RunEnd
from nbmlops.errors import SchemaVersionError
from nbmlops.store import open_store
from nbmlops.store.sql import schema

REVISION_NEXT = textwrap.dedent('''
    """test-only: a column added in batch mode and a new table"""
    import sqlalchemy as sa
    from alembic import op

    revision = "t999"
    down_revision = "{head}"
    branch_labels = None
    depends_on = None

    def upgrade() -> None:
        with op.batch_alter_table("runs") as batch:
            batch.add_column(sa.Column("probe", sa.String(8), nullable=True))
        op.create_table("upgrade_probe", sa.Column("id", sa.Integer(), primary_key=True))
''')

WORKER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from nbmlops.store.sql import schema
    schema.REVISIONS = (*schema.REVISIONS, "t999")
    schema.HEAD = "t999"
    schema.migrations_location = lambda: sys.argv[2]
    from nbmlops.store import open_store
    go = Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    store = open_store(sys.argv[1], auto_upgrade=True)
    print(store.revision, store.get_run(sys.argv[4]).metrics["acc"])
''')


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """A copy of the real migrations plus the test-only revision 0002."""
    where = tmp_path / "migrations"
    shutil.copytree(schema.migrations_location(), where,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (where / "versions" / "t999_test_only.py").write_text(
        REVISION_NEXT.replace("{head}", schema.HEAD))
    return where


def _old_store(url: str) -> str:
    store = open_store(url)
    assert store.revision == schema.HEAD
    run_id = "a" * 32
    store.start_run(NewRun(id=run_id, experiment="e", name="before-upgrade", kind="cell",
                           start_time=time.time(), params={"C": 1.0}))
    store.end_run(run_id, RunEnd(status="finished", end_time=time.time(),
                                 metrics=(Metric("acc", 0.875, 0, 1.0),)))
    store.close()
    return run_id


def _race(url: str, chain: Path, run_id: str, tmp_path: Path, n: int = 4
          ) -> list[subprocess.CompletedProcess[str]]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), url, str(chain), str(go), run_id],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    time.sleep(1.5)  # let every worker import and wait at the line
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def _check_race(results: list[subprocess.CompletedProcess[str]], url: str) -> None:
    for r in results:
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["t999", "0.875"]  # everyone sees the upgraded store
    announced = [r for r in results
                 if f"upgraded the lineage store schema {schema.HEAD} -> t999" in r.stderr]
    assert len(announced) == 1  # migrated exactly once
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
            == "t999"
        columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
        assert "probe" in columns
        assert "upgrade_probe" in sa.inspect(conn).get_table_names()
    engine.dispose()


def test_processes_racing_to_open_an_old_sqlite_store_migrate_it_once(
        tmp_path: Path, chain: Path) -> None:
    db = tmp_path / "store" / "lineage.db"
    url = f"sqlite:///{db}"
    run_id = _old_store(url)
    _check_race(_race(url, chain, run_id, tmp_path), url)
    backups = list(db.parent.glob(f"lineage.db.pre-{schema.HEAD}.bak"))
    assert len(backups) == 1  # the file was copied aside once, before migrating
    with sa.create_engine(f"sqlite:///{backups[0]}").connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
            == schema.HEAD
        assert conn.execute(sa.text("SELECT name FROM runs")).scalar() == "before-upgrade"


@pytest.mark.postgres
def test_processes_racing_to_open_an_old_postgres_store_migrate_it_once(
        tmp_path: Path, chain: Path, pg_url: str) -> None:
    run_id = _old_store(pg_url)
    _check_race(_race(pg_url, chain, run_id, tmp_path), pg_url)


def test_without_auto_upgrade_an_old_store_is_refused_with_what_to_do(
        tmp_path: Path, chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    run_id = _old_store(url)
    head = schema.HEAD
    monkeypatch.setattr(schema, "REVISIONS", (*schema.REVISIONS, "t999"))
    monkeypatch.setattr(schema, "HEAD", "t999")
    monkeypatch.setattr(schema, "migrations_location", lambda: str(chain))
    with pytest.raises(SchemaVersionError, match="Run `nbmlops db upgrade`") as info:
        open_store(url, auto_upgrade=False)
    assert (info.value.found, info.value.expected) == (head, "t999")
    from nbmlops.store import upgrade_store

    assert upgrade_store(url) == (head, "t999")
    store = open_store(url, auto_upgrade=False)
    assert store.revision == "t999"
    assert store.get_run(run_id).metrics == {"acc": 0.875}
    store.close()
