"""The cell journal, run slices and hidden-state flags, driven through a real IPython shell
the way a user types into it (``tests/shell.py``)."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

import nbmlops
from tests.shell import one_line_error

DATA = "rows = [1.0, 2.0, 3.0]"


def cell(shell, code: str, cell_id: str | None = None):  # type: ignore[no-untyped-def]
    """One cell as a notebook front end sends it (in the history, with its id)."""
    return shell.run_cell(code, store_history=True, cell_id=cell_id)


def track(shell, body: str, cell_id: str = "run", name: str = "r"):  # type: ignore[no-untyped-def]
    result = cell(shell, f"%%track -e e -n {name}\n{body}", cell_id)
    assert result.success, result
    frame = nbmlops.runs("e")
    return nbmlops.get_run(frame[frame.name == name].run_id.iloc[0])


def journal(shell):  # type: ignore[no-untyped-def]
    return shell._nbmlops_session.journal


def test_every_cell_is_journaled_with_its_names_and_code_once(shell) -> None:  # type: ignore[no-untyped-def]
    cell(shell, "a = 1", "c1")
    cell(shell, "b = a + 1\nprint(b)", "c2")
    cell(shell, "a = 1", "c1")  # the same source again: its code is kept once
    cell(shell, "1 / 0", "c3")  # a failing cell is journaled too
    rec = track(shell, "total = float(a + b)")
    ws = nbmlops.api.workspace()
    entries = ws.store.session_journal(journal(shell).session_id)
    by_code = [(ws.store.journal_code([e.source_hash])[e.source_hash], e) for e in entries]
    codes = [c for c, _ in by_code]
    assert codes[codes.index("a = 1"):] == ["a = 1", "b = a + 1\nprint(b)", "a = 1", "1 / 0",
                                            "%%track -e e -n r\ntotal = float(a + b)"]
    second = by_code[codes.index("b = a + 1\nprint(b)")][1]
    assert (second.cell_id, second.reads, second.binds, second.ok) == ("c2", ("a", "print"),
                                                                       ("b",), True)
    assert by_code[-2][1].ok is False
    assert by_code[-1][1].reads == ("float", "a", "b")  # a tracked cell: its body's names
    first, again = [e for c, e in by_code if c == "a = 1"]
    assert first.source_hash == again.source_hash
    assert first.seq < again.seq
    assert [e.execution_count for e in entries] == sorted(e.execution_count for e in entries)
    # the run stands on the last a = 1 and on b
    assert rec.slice is not None
    assert rec.slice.clean
    assert [c.code for c in rec.slice.cells] == ["a = 1", "b = a + 1\nprint(b)", "a = 1"]


def test_untracked_cells_create_no_store_until_a_run_is_tracked(shell, store_env: Path  # type: ignore[no-untyped-def]
                                                                ) -> None:
    cell(shell, "x = 3", "c1")
    cell(shell, "y = x * 2", "c2")
    journal(shell).flush()
    assert not (store_env / "store").exists()  # waiting in memory
    rec = track(shell, "z = float(y)")
    assert [c.code for c in rec.slice.cells] == ["x = 3", "y = x * 2"]


def test_journal_off_and_on(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    cell(shell, "%nbmlops journal off")
    assert "nbmlops journal off" in capsys.readouterr().out
    cell(shell, "k = 5", "c1")
    rec = track(shell, "v = float(k)", name="off")
    assert rec.slice is None  # recorded without the journal
    assert "clean" not in capsys.readouterr().out
    cell(shell, "%nbmlops journal on")
    cell(shell, "k = 6", "c2")
    rec = track(shell, "w = float(k)", name="on")
    assert [c.code for c in rec.slice.cells] == ["k = 6"]
    assert "nbmlops journal on" in one_line_out(shell, capsys, "%nbmlops journal status")
    shown = one_line_error(shell, capsys, "%nbmlops journal sometimes")
    assert "usage: %nbmlops journal on|off|status" in shown


def one_line_out(shell, capsys, code: str) -> str:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert cell(shell, code).success
    return capsys.readouterr().out


def test_a_restart_starts_a_new_chain(shell) -> None:  # type: ignore[no-untyped-def]
    track(shell, "first = 1.0", name="first")  # the store exists from here on
    cell(shell, "q = 1", "c1")
    before = journal(shell).session_id
    cell(shell, "%unload_ext nbmlops")
    cell(shell, "%load_ext nbmlops")
    after = journal(shell).session_id
    assert after != before
    rec = track(shell, "r2 = float(q)")
    # q was bound in the old session: the new chain does not reach back into it
    assert rec.slice.session_id == after
    assert rec.slice.cells == ()
    old = nbmlops.api.workspace().store.session_journal(before)  # written out on unload
    assert [e.binds for e in old][-2:] == [("first",), ("q",)]


def test_a_clean_run_is_marked_clean_in_its_summary_and_runs_show(shell, capsys  # type: ignore[no-untyped-def]
                                                                  ) -> None:
    cell(shell, DATA, "c1")
    cell(shell, "from sklearn.linear_model import LinearRegression", "c2")
    capsys.readouterr()
    rec = track(shell, "m = LinearRegression()\nmean = float(sum(rows) / len(rows))")
    out = capsys.readouterr().out
    assert "clean)" in out
    assert "hidden state" not in out
    assert rec.slice.flags == ()
    assert nbmlops.run_slice(rec.id) == rec.slice
    import io

    from nbmlops.cli import main
    buf = io.StringIO()
    assert main(["runs", "show", rec.id[:8]], out=buf) == 0
    assert "stands on (2 cells" in buf.getvalue()
    assert ": clean" in buf.getvalue()
    assert "  [" in buf.getvalue()
    assert "rows = [1.0, 2.0, 3.0]" in buf.getvalue()
    shown = shell.run_line_magic("runs", f"--show {rec.id[:8]}")._repr_html_()
    assert "stands on" in shown


def kinds(rec) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.kind for f in rec.slice.flags]


def test_a_name_computed_from_a_value_bound_anew_later_is_out_of_order(shell, capsys  # type: ignore[no-untyped-def]
                                                                       ) -> None:
    cell(shell, "scale = 2", "c1")
    cell(shell, "doubled = [r * scale for r in [1, 2]]", "c2")
    cell(shell, "scale = 10", "c3")
    capsys.readouterr()
    rec = track(shell, "result = float(sum(doubled) * scale)")
    assert kinds(rec) == ["out_of_order"]
    assert "bound scale anew" in rec.slice.flags[0].detail
    assert "hidden state: out of order" in capsys.readouterr().out


def test_a_cell_edited_and_run_again_is_flagged(shell) -> None:  # type: ignore[no-untyped-def]
    cell(shell, "threshold = 0.5", "c1")
    cell(shell, "limit = 3", "c1")  # the same cell, edited: threshold is left over
    rec = track(shell, "picked = float(threshold)")
    assert kinds(rec) == ["edited"]
    assert "edited and run again" in rec.slice.flags[0].detail


def test_code_deleted_from_the_notebook_and_an_edit_saved_are_flagged(shell, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                      ) -> None:
    nb = tmp_path / "project" / "analysis.ipynb"
    shell.user_ns["__vsc_ipynb_file__"] = str(nb)

    def save(*cells: tuple[str, str]) -> None:
        nb.write_text(json.dumps({"cells": [
            {"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [],
             "execution_count": None} for cid, src in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))

    cell(shell, "base = 4", "c1")
    cell(shell, "extra = 1", "c2")
    cell(shell, "rate = 0.1", "c3")
    save(("c1", "base = 4"), ("c2", "extra = 1"), ("c3", "rate = 0.1"),
         ("run", "%%track -e e -n clean\nok = float(base + rate)"))
    rec = track(shell, "ok = float(base + rate)", name="clean")
    assert rec.slice.clean
    save(("c1", "base = 5"), ("c3", "rate = 0.1"), ("run", "..."))  # c1 edited, c2 deleted
    rec = track(shell, "both = float(base + extra)", name="after")
    assert sorted(kinds(rec)) == ["deleted", "edited"]
    deleted = next(f for f in rec.slice.flags if f.kind == "deleted")
    assert deleted.name == "extra"
    assert "no longer in the notebook" in deleted.detail


def test_a_cell_below_the_run_that_ran_before_it_is_out_of_order(shell, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                 ) -> None:
    nb = tmp_path / "project" / "order.ipynb"
    shell.user_ns["__vsc_ipynb_file__"] = str(nb)
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [],
         "execution_count": None} for cid, src in (
            ("top", "n = 3"), ("run", "%%track -e e -n r\nm = float(n + later)"),
            ("below", "later = 7"))],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    cell(shell, "n = 3", "top")
    cell(shell, "later = 7", "below")
    rec = track(shell, "m = float(n + later)")
    assert kinds(rec) == ["out_of_order"]
    assert "below the run's cell" in rec.slice.flags[0].detail


def test_an_unseeded_estimator_is_flagged_and_a_seeded_one_is_not(shell) -> None:  # type: ignore[no-untyped-def]
    setup = textwrap.dedent("""\
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
        X = np.arange(40.0).reshape(20, 2)
        y = (X[:, 0] > 20).astype(int)""")
    cell(shell, setup, "c1")
    cell(shell, "forest = RandomForestClassifier(n_estimators=5)", "c2")
    rec = track(shell, "forest.fit(X, y)\nacc = float(forest.score(X, y))", name="loose")
    assert kinds(rec) == ["unseeded"]
    assert rec.slice.flags[0].name == "forest"
    cell(shell, "forest = RandomForestClassifier(n_estimators=5, random_state=0)", "c2")
    rec = track(shell, "forest.fit(X, y)\nacc = float(forest.score(X, y))", name="seeded")
    assert rec.slice.clean


def test_a_data_file_changed_since_it_was_read_is_flagged(shell, store_env: Path) -> None:  # type: ignore[no-untyped-def]
    data = store_env / "project" / "prices.csv"
    data.write_text("price\n1\n2\n")
    cell(shell, "prices = [float(v) for v in open('prices.csv').read().split()[1:]]", "c1")
    journal(shell).flush()
    rec = track(shell, "avg = sum(prices) / len(prices)", name="before")
    assert rec.slice.clean
    data.write_text("price\n1\n2\n30\n")
    rec = track(shell, "avg2 = sum(prices) / len(prices)", name="after")
    assert kinds(rec) == ["data_changed"]
    assert rec.slice.flags[0].name == "prices.csv"


def test_the_journal_store_contract(store) -> None:  # type: ignore[no-untyped-def]
    """Every backend: entries and sources land once, in order; a slice reads back whole."""
    from nbmlops._types import HiddenStateFlag, JournalEntry, NewRun

    entries = [JournalEntry("s1", i, float(i), f"h{i % 2}", cell_id=f"c{i}", execution_count=i,
                            reads=("a",) if i else (), binds=(f"v{i}",),
                            files={"d.csv": (3, 4)} if i == 2 else {}, ok=i != 1)
               for i in range(1, 4)]
    store.record_journal(entries, {"h0": "v = 0", "h1": "v = 1"})
    store.record_journal(entries[:1], {"h1": "v = 1"})  # again: kept as it was
    assert store.session_journal("s1") == entries
    assert store.session_journal("other") == []
    assert store.journal_code(["h1", "h0", "nope"]) == {"h0": "v = 0", "h1": "v = 1"}
    run = NewRun(id="ab" * 16, experiment="e", name=None, kind="cell", start_time=1.0)
    store.start_run(run)
    flag = HiddenStateFlag(kind="data_changed", name="d.csv", detail="d.csv changed")
    store.record_run_slice(run.id, "s1", [("s1", 3), ("s1", 1)], [flag])
    sl = store.get_run_slice(run.id[:8])
    assert [(c.seq, c.code, c.cell_id) for c in sl.cells] == [(3, "v = 1", "c3"),
                                                               (1, "v = 1", "c1")]
    assert sl.flags == (flag,)
    assert not sl.clean
    assert store.get_run(run.id).slice == sl
    with pytest.raises(nbmlops.RunNotFoundError):
        store.record_run_slice("cd" * 16, "s1", [], [])
    # slices written with a journal batch: a run not in the store is left out, a retried
    # batch lands once
    from nbmlops._types import SliceWrite

    other = NewRun(id="ef" * 16, experiment="e", name=None, kind="cell", start_time=2.0)
    store.start_run(other)
    later = JournalEntry("s1", 4, 4.0, "h0", binds=("w",))
    batch = [SliceWrite(other.id, "s1", (("s1", 4), ("s1", 2)), ()),
             SliceWrite("12" * 16, "s1", (("s1", 4),), ())]
    store.record_journal([later], {}, batch)
    store.record_journal([later], {}, batch)
    assert [c.seq for c in store.get_run_slice(other.id).cells] == [4, 2]
    assert store.get_run_slice(other.id).clean
    assert store.get_run_slice(run.id) == sl


def _save(nb: Path, *cells: tuple[str, str]) -> None:
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [],
         "execution_count": None} for cid, src in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_the_saved_notebooks_order_decides_what_is_out_of_order(shell, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                ) -> None:
    """Found by the corpus bench: independent cells run in another order than the
    notebook's, or a name bound anew below the cell that read it, give the same results
    top to bottom (no flag); a cell above it that ran later does not (flagged)."""
    nb = tmp_path / "project" / "order.ipynb"
    shell.user_ns["__vsc_ipynb_file__"] = str(nb)
    cells = [("load", "rows = [1.0, 2.0]"), ("a", "a = 3"), ("a2", "a = 4"),
             ("b", "b = a * len(rows)"), ("a3", "a = 5"),
             ("run", "%%track -e e -n r\nout = float(b + a)")]
    _save(nb, *(c for c in cells if c[0] != "a2"))
    for cid in ("a", "load", "b", "a3"):  # a before load (independent); a3 below b
        cell(shell, dict(cells)[cid], cid)
    assert track(shell, "out = float(b + a)", name="swapped").slice.clean
    _save(nb, *cells)
    cell(shell, "a = 4", "a2")  # a2 added above b, and run after it
    rec = track(shell, "out2 = float(b)", name="above")
    assert kinds(rec) == ["out_of_order"]
    assert "in the notebook's order cell a2, above it, binds a" in rec.slice.flags[0].detail


def test_a_file_changed_right_after_the_cell_read_it_is_flagged(shell, store_env: Path  # type: ignore[no-untyped-def]
                                                                ) -> None:
    data = store_env / "project" / "prices.csv"
    data.write_text("price\n1\n2\n")
    track(shell, "first = 1.0", name="store")  # the store exists from here on
    # the journal's writer looks at the cell only after the file changed (as when the
    # file is changed soon after the cell, while the writer is busy): held back here
    with journal(shell)._write_lock:
        cell(shell, "prices = [float(v) for v in open('prices.csv').read().split()[1:]]",
             "c1")
        time.sleep(0.05)
        data.write_text("price\n1\n2\n30\n")
    rec = track(shell, "avg = sum(prices) / len(prices)", name="after")
    assert kinds(rec) == ["data_changed"]
