"""The tamper-evident audit trail: every event hash-chained, `nbmlops audit verify` naming
the first event changed or removed, concurrent writers never forking the chain, and a store
from before the chain upgraded with its events chained."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from itertools import pairwise
from pathlib import Path

import pytest

import nbmlops
from nbmlops._types import Actor
from nbmlops.store import Store, open_store
from nbmlops.store.audit_chain import GENESIS, event_hash
from tests.test_cli import NBMLOPS
from tests.test_registry_store import ADA, BOB, new_version

FIXTURES = Path(__file__).parent / "fixtures"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NBMLOPS, *args], capture_output=True, text=True, timeout=120,
                          env=os.environ)


@pytest.fixture
def trail(store_env: Path) -> Path:
    """A SQLite store (where NBMLOPS_STORE points) holding six audit events:
    1 register, 2 promote, 3 register, 4 promote, 5 protect, 6 request."""
    path = store_env / "store" / "lineage.db"
    store = open_store(f"sqlite:///{path}")
    store.create_model_version(new_version(n=1), actor=ADA, alias="production")
    store.create_model_version(new_version(n=2), actor=ADA)
    store.set_alias("churn", "production", 2, actor=BOB, reason="better")
    store.protect_alias("churn", "production", approvals=1, actor=ADA)
    store.set_alias("churn", "production", 1, actor=BOB)
    store.close()
    return path


def _sql(path: Path, *statements: str) -> None:
    """Change the database file behind nbmlops' back, as someone with the file could."""
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def test_an_untouched_trail_verifies_and_lists(trail: Path) -> None:
    out = cli("audit", "verify")
    assert out.returncode == 0, out.stderr
    head = cli("audit", "head").stdout.strip()
    assert len(head) == 64
    assert out.stdout == f"audit trail ok: 6 events, chain intact; head {head}\n"
    assert nbmlops.audit_head() == head
    assert cli("audit", "verify", "--anchor", head).returncode == 0
    listed = cli("audit", "list", "--user", "bob", "--format", "json")
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["action"], r["target"]) for r in rows] == [
        (4, "promote", "churn@production"), (6, "request", "churn@production")]
    assert rows[1]["request"] == 1
    table = cli("audit", "list", "--since", "1h").stdout.splitlines()
    assert len(table) == 7  # a header and six events
    assert "register" in table[1]
    assert "bob" in table[4]
    assert cli("audit", "list", "--model", "other").stdout == "no audit events\n"
    bad = cli("audit", "list", "--since", "yesterday")
    assert bad.returncode == 1
    assert "since 'yesterday': write a duration such as 30m, 24h or 7d" in bad.stderr
    events = nbmlops.audit_events(since="1h")
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(events))


@pytest.mark.parametrize(("tamper", "named"), [
    # an edited event no longer matches its hash
    (["UPDATE audit_events SET to_version = 1 WHERE id = 4"],
     r"audit event #4 \(promote churn@production by bob, .*\) was changed: its content no "
     r"longer matches its hash"),
    (["UPDATE audit_events SET user = 'mallory' WHERE id = 2"],
     r"audit event #2 \(promote churn@production by mallory, .*\) was changed"),
    # a removed event breaks the link from the next one
    (["DELETE FROM audit_events WHERE id = 3"],
     r"the audit chain breaks at event #4 \(promote churn@production by bob, .*\): an event "
     r"before it was removed or events were reordered \(it should follow #2 "),
    (["DELETE FROM audit_events WHERE id = 1"],
     r"the audit chain breaks at event #2 .* \(it should be the first event\)"),
    # a reordered pair: rows 3 and 4 swap places
    (["UPDATE audit_events SET id = -3 WHERE id = 3",
      "UPDATE audit_events SET id = 3 WHERE id = 4",
      "UPDATE audit_events SET id = 4 WHERE id = -3"],
     r"the audit chain breaks at event #3 \(promote churn@production by bob"),
    # an event slipped in without going through nbmlops
    (["INSERT INTO audit_events (id, time, user, host, action, model, details) VALUES "
      "(7, 1.0, 'mallory', 'x', 'promote', 'churn', '{}')"],
     r"audit event #7 \(promote churn by mallory, .*\) has no hash: it was written outside "
     r"nbmlops"),
])
def test_verify_names_the_first_event_changed_or_removed(trail: Path, tamper: list[str],
                                                         named: str) -> None:
    _sql(trail, *tamper)
    out = cli("audit", "verify")
    assert out.returncode == 1
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("nbmlops: audit trail TAMPERED: ")
    import re

    assert re.search(named, out.stderr), out.stderr
    found = nbmlops.verify_audit()
    assert not found.ok
    assert found.problem is not None
    assert re.search(named, found.problem)


def test_events_cut_off_the_end_are_caught_against_an_anchored_head(trail: Path) -> None:
    head = cli("audit", "head").stdout.strip()
    _sql(trail, "DELETE FROM audit_events WHERE id = 6")
    assert cli("audit", "verify").returncode == 0  # the rest still chains
    out = cli("audit", "verify", "--anchor", head)
    assert out.returncode == 1
    assert f"the anchored head {head[:16]}… is not in the audit chain: events were removed " \
           "from its end, or the chain was rewritten" in out.stderr
    bad = cli("audit", "verify", "--anchor", "abc")
    assert bad.returncode == 1
    assert "anchor 'abc': give a head hash as `nbmlops audit head` prints it" in bad.stderr


def test_a_store_from_before_the_chain_is_upgraded_with_its_events_chained(
        tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    shutil.copy(FIXTURES / "lineage-0005.db", path)
    store = open_store(f"sqlite:///{path}")
    try:
        [old] = store.audit_events()
        assert old.prev_hash == GENESIS
        conn = sqlite3.connect(path)
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM audit_events WHERE id = 1").fetchone())
        conn.close()
        assert old.hash == event_hash(row, GENESIS)  # the migration's hash is the live one
        store.create_model_version(new_version(n=7), actor=ADA, alias="staging")
        events = store.audit_events()
        assert [e.action for e in events] == ["register", "register", "promote"]
        assert events[1].prev_hash == old.hash
        assert store.verify_audit().ok
    finally:
        store.close()


WRITER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from nbmlops._types import Actor
    from nbmlops.store import open_store
    url, name, go, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    store = open_store(url)
    Path(sys.argv[5]).touch()  # ready
    while not go.exists():
        time.sleep(0.002)
    for i in range(n):
        store.set_alias("churn", f"alias-{name}", 1 + i % 2, actor=Actor(user=name, host="h"))
        time.sleep(0.01)  # room for the other writer, even on a loaded machine
    store.close()
''')


def _users_interleaved(store: Store) -> int:
    users = [e.user for e in store.audit_events() if e.action == "promote"]
    return sum(1 for a, b in pairwise(users) if a != b)


def test_concurrent_writers_never_fork_the_chain(store_url: str, tmp_path: Path) -> None:
    """Two processes appending at once (SQLite file and PostgreSQL): every event lands, the
    chain is one line, and the writers really overlapped (their events interleave)."""
    store = open_store(store_url)
    for n in (1, 2):
        store.create_model_version(new_version(n=n), actor=ADA)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    n = 40
    env = {**os.environ, "PYTHONPATH": str(Path(nbmlops.__file__).parents[1])}
    names = ("w1", "w2")
    procs = [subprocess.Popen([sys.executable, str(script), store_url, name, str(go), str(n),
                               str(tmp_path / f"ready-{name}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for name in names]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{name}").exists() for name in names):
        assert time.monotonic() < deadline, "the writers never opened the store"
        assert all(p.poll() is None for p in procs), procs[0].communicate()
        time.sleep(0.01)
    go.touch()  # both have the store open and start appending at once
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    try:
        events = store.audit_events()
        assert len(events) == 2 + 2 * n
        assert len({e.prev_hash for e in events}) == len(events)  # no two share a parent
        assert _users_interleaved(store) >= 2, "the writers did not overlap"
        found = store.verify_audit()
        assert (found.ok, found.events, found.head) == (True, 2 + 2 * n, events[-1].hash)
    finally:
        store.close()


def test_audit_api_on_a_folder_with_no_store(store_env: Path) -> None:
    assert nbmlops.audit_events() == []
    assert nbmlops.audit_head() is None
    assert nbmlops.verify_audit().ok
    assert not (store_env / "store" / "lineage.db").exists()  # reading created nothing
    with pytest.raises(ValueError, match="limit 0: give a whole number from 1"):
        nbmlops.audit_events(limit=0)


def test_deployment_events_join_the_chain(store: Store) -> None:
    from nbmlops._types import NewDeployment

    store.create_model_version(new_version(n=1), actor=ADA, alias="production")
    dep = store.start_deployment(NewDeployment(
        id="d" * 32, name="churn", model="churn", alias="production", version=1,
        url="http://127.0.0.1:1", workers=1, pid=os.getpid(), process_token="t", user="ops",
        host="srv", started_at=time.time()), actor=Actor(user="ops", host="srv"))
    store.end_deployment(dep.id, "stopped", actor=Actor(user="ops", host="srv"))
    assert [e.action for e in store.audit_events()] == [
        "register", "promote", "deploy", "undeploy"]
    assert store.verify_audit().ok
