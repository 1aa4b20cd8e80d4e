"""The cell journal and run slices (revision 0007).

Journal entries are written in batches by the kernel's background writer, with the slices
of the runs tracked since (in the same transaction, after the entries they point at); an
entry, a source or a slice already stored is left as it is (a batch retried after a lock
error lands once). Reading a run reads its slice with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection, RowMapping

from nbmlops._types import HiddenStateFlag, JournalEntry, RunSlice, SliceCell, SliceWrite
from nbmlops.errors import RunNotFoundError
from nbmlops.store.sql.plumbing import (
    SqlBase,
    chunks,
    journal_sources_t,
    journal_t,
    run_flags_t,
    run_slice_cells_t,
    run_slices_t,
    runs_t,
)


def _entry(row: RowMapping) -> JournalEntry:
    files = json.loads(str(row["files"]))
    return JournalEntry(
        session_id=str(row["session_id"]), seq=int(row["seq"]),
        time=float(row["time"]), source_hash=str(row["source_hash"]),
        cell_id=row["cell_id"], execution_count=row["execution_count"],
        notebook_path=row["notebook_path"],
        reads=tuple(json.loads(str(row["reads"]))), binds=tuple(json.loads(str(row["binds"]))),
        files={k: (int(v[0]), int(v[1])) for k, v in files.items()}, ok=bool(row["ok"]))


def read_slice(conn: Connection, run_id: str) -> RunSlice | None:
    """The slice of ``run_id`` (a full id) inside an open transaction."""
    session = conn.execute(select(run_slices_t.c.session_id)
                           .where(run_slices_t.c.run_id == run_id)).scalar()
    if session is None:
        return None
    cells = conn.execute(
        select(journal_t.c.session_id, journal_t.c.seq, journal_t.c.source_hash,
               journal_t.c.cell_id, journal_t.c.execution_count, journal_sources_t.c.code)
        .select_from(run_slice_cells_t)
        .join(journal_t, (journal_t.c.session_id == run_slice_cells_t.c.session_id)
              & (journal_t.c.seq == run_slice_cells_t.c.seq))
        .join(journal_sources_t, journal_sources_t.c.source_hash == journal_t.c.source_hash)
        .where(run_slice_cells_t.c.run_id == run_id)
        .order_by(run_slice_cells_t.c.position)).all()
    flags = conn.execute(select(run_flags_t.c.kind, run_flags_t.c.name, run_flags_t.c.detail)
                         .where(run_flags_t.c.run_id == run_id)
                         .order_by(run_flags_t.c.position)).all()
    return RunSlice(
        run_id=run_id, session_id=str(session),
        cells=tuple(SliceCell(session_id=s, seq=q, source_hash=h, code=c, cell_id=i,
                              execution_count=n) for s, q, h, i, n, c in cells),
        flags=tuple(HiddenStateFlag(kind=k, name=nm, detail=d) for k, nm, d in flags))


def _insert_slice(conn: Connection, sl: SliceWrite) -> None:
    conn.execute(run_slices_t.insert().values(run_id=sl.run_id, session_id=sl.session_id))
    if sl.cells:
        conn.execute(run_slice_cells_t.insert(), [
            {"run_id": sl.run_id, "position": i, "session_id": s, "seq": q}
            for i, (s, q) in enumerate(sl.cells)])
    if sl.flags:
        conn.execute(run_flags_t.insert(), [
            {"run_id": sl.run_id, "position": i, "kind": f.kind, "name": f.name,
             "detail": f.detail} for i, f in enumerate(sl.flags)])


class SqlJournal(SqlBase):
    """Journaled cells and run slices."""

    def __init__(self, engine: Engine, url: str, revision: str) -> None:
        super().__init__(engine, url, revision)
        self._insert_sources = self._ins(journal_sources_t).on_conflict_do_nothing(
            index_elements=["source_hash"])
        self._insert_entries = self._ins(journal_t).on_conflict_do_nothing(
            index_elements=["session_id", "seq"])

    def record_journal(self, entries: Sequence[JournalEntry], sources: Mapping[str, str],
                       slices: Sequence[SliceWrite] = ()) -> None:
        if not entries and not sources and not slices:
            return
        rows: list[dict[str, Any]] = [{"session_id": e.session_id, "seq": e.seq, "time": e.time,
                 "source_hash": e.source_hash, "cell_id": e.cell_id,
                 "execution_count": e.execution_count, "notebook_path": e.notebook_path,
                 "reads": json.dumps(list(e.reads)), "binds": json.dumps(list(e.binds)),
                 "files": json.dumps({k: list(v) for k, v in e.files.items()}),
                 "ok": e.ok} for e in entries]
        codes: list[dict[str, Any]] = [{"source_hash": h, "code": c} for h, c in sources.items()]

        def work(conn: Connection) -> None:
            for part in chunks(codes):
                conn.execute(self._insert_sources, list(part))
            for part in chunks(rows):
                conn.execute(self._insert_entries, list(part))
            wanted = list(dict.fromkeys(sl.run_id for sl in slices))
            known: set[str] = set()
            for ids in chunks(wanted):
                known.update(conn.execute(select(runs_t.c.id)
                                          .where(runs_t.c.id.in_(ids))).scalars())
            done = set(conn.execute(select(run_slices_t.c.run_id)
                                    .where(run_slices_t.c.run_id.in_(list(known)))).scalars()) \
                if known else set()
            for sl in slices:
                if sl.run_id in known and sl.run_id not in done:  # a retried batch: once
                    _insert_slice(conn, sl)
                    done.add(sl.run_id)

        self._write(work)

    def session_journal(self, session_id: str) -> list[JournalEntry]:
        def work(conn: Connection) -> list[JournalEntry]:
            return [_entry(r) for r in conn.execute(
                select(journal_t).where(journal_t.c.session_id == session_id)
                .order_by(journal_t.c.seq)).mappings()]

        return self._read(work)

    def journal_code(self, source_hashes: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(source_hashes))

        def work(conn: Connection) -> dict[str, str]:
            out: dict[str, str] = {}
            for part in chunks(wanted):
                out.update((h, c) for h, c in conn.execute(
                    select(journal_sources_t.c.source_hash, journal_sources_t.c.code)
                    .where(journal_sources_t.c.source_hash.in_(part))))
            return out

        return self._read(work)

    def record_run_slice(self, run_id: str, session_id: str,
                         cells: Sequence[tuple[str, int]],
                         flags: Sequence[HiddenStateFlag]) -> None:
        def work(conn: Connection) -> None:
            if conn.execute(select(runs_t.c.id).where(runs_t.c.id == run_id)).scalar() is None:
                raise RunNotFoundError(run_id)
            _insert_slice(conn, SliceWrite(run_id, session_id, tuple(cells), tuple(flags)))

        self._write(work)

    def get_run_slice(self, run_id: str) -> RunSlice | None:
        full = self.resolve_run_id(run_id)  # type: ignore[attr-defined]
        return self._read(lambda conn: read_slice(conn, full))
