"""A tracked run's slice and its hidden-state flags, from the journal of its session.

The slice: for each name the run reads, the journaled execution that last bound it
(or changed it in place) before the run; then, for each of those, the executions that
last bound what *it* read before it ran; and so on. The slice lists them in the order they
really ran, so replaying it linearly rebuilds the state the run stood on.

Flags, each a way the notebook as it reads may not give the run again:

* ``edited``: a cell in the slice was edited since it ran (run again with other code, or
  its source in the saved notebook differs);
* ``deleted``: the code that bound a name is no longer in the saved notebook;
* ``out_of_order``: a value in the slice was computed from a name that a later cell
  bound anew with other code; a cell that updates what it reads (``x = x + 1``) ran more
  than once in the slice; a cell below the run's cell ran before it; a cell read a name
  from another execution than the saved notebook, run top to bottom, would give it (the
  notebook's order decides when the notebook is known; else any later rebinding counts);
* ``unseeded``: an estimator bound in the slice (or by the run) has no fixed
  ``random_state``;
* ``data_changed``: a data file a cell of the slice named changed since that cell ran
  (or was modified after the cell ran, before the journal looked at it).
"""

from __future__ import annotations

import ast
import bisect
import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops import tracking
from nbmlops._types import HiddenStateFlag, JournalEntry

ESTIMATOR_SEED = "random_state"
# solvers that use no random numbers: an estimator using one needs no seed
_CLOCK_SLACK_NS = 10_000_000  # a file's mtime and the clock may differ by a tick
_DETERMINISTIC_SOLVERS = frozenset({"lbfgs", "newton-cg", "newton-cholesky", "cholesky",
                                    "svd", "lsqr", "sparse_cg"})


@dataclass(frozen=True, slots=True)
class Use:
    """``reader`` (an index into the entries; None for the run) read ``name`` as bound by
    ``binder`` (an index)."""

    reader: int | None
    name: str
    binder: int


@dataclass(frozen=True)
class SlicePlan:
    """What a tracked run stands on, decided before its cell runs."""

    session_id: str
    entries: tuple[JournalEntry, ...]  # the slice, in run order
    reads: tuple[str, ...]  # what the run's cell reads
    flags: tuple[HiddenStateFlag, ...]
    names: tuple[str, ...] = ()  # every name the run's cell reads, binds or changes


def _label(entry: JournalEntry) -> str:
    where = f"[{entry.execution_count}]" if entry.execution_count is not None \
        else f"#{entry.seq}"
    return f"cell {where}" + (f" ({entry.cell_id})" if entry.cell_id else "")


def find_slice(entries: Sequence[JournalEntry], reads: Iterable[str],
               binders: Mapping[str, Sequence[int]] | None = None
               ) -> tuple[list[int], list[Use]]:
    """Indices (into ``entries``, which are in run order) of the slice, in run order, and
    every read that led there. ``binders`` (name -> ascending indices of the entries that
    bind it, possibly past ``entries``' end) saves indexing the whole session again."""
    if binders is None:
        index: dict[str, list[int]] = {}
        for i, entry in enumerate(entries):
            for name in entry.binds:
                index.setdefault(name, []).append(i)
        binders = index
    chosen: set[int] = set()
    uses: list[Use] = []
    todo: list[tuple[int | None, str, int]] = [(None, n, len(entries)) for n in reads]
    seen: set[tuple[str, int]] = set()
    while todo:
        reader, name, before = todo.pop()
        found = binders.get(name)
        if not found:
            continue
        k = bisect.bisect_left(found, before) - 1
        if k < 0:
            continue
        binder = found[k]
        uses.append(Use(reader, name, binder))
        if (name, before) in seen or binder in chosen:
            continue
        seen.add((name, before))
        chosen.add(binder)
        todo.extend((binder, n, binder) for n in entries[binder].reads)
    return sorted(chosen), uses


def read_notebook_cells(path: str | None) -> list[tuple[str | None, str]] | None:
    """(cell id, source) of each code cell of the saved notebook, or None (read again only
    when the file changed: a notebook with its outputs can be megabytes)."""
    if not path or "://" in path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _notebook_cells(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _notebook_cells(path: str, mtime_ns: int, size: int
                    ) -> list[tuple[str | None, str]] | None:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cells = []
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        cells.append((cell.get("id"), "".join(source) if isinstance(source, list) else source))
    return cells


def _injected_parameters(cell_id: str | None, code: str) -> bool:
    """The cell papermill (or ``nbmlops jobs run``) adds with the run's parameters: it is
    in the executed notebook only, never in the one saved."""
    return cell_id == "injected-parameters" or code.lstrip().startswith("# Parameters\n")


def _same_code(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _saved_binds(source: str) -> frozenset[str]:
    """Names a saved cell's source binds (its magic and shell lines left out)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] != "%%track":
            return frozenset()
        lines = lines[1:]
    body = "\n".join(ln for ln in lines if not ln.lstrip().startswith(("%", "!")))
    try:
        names = tracking.cell_names(ast.parse(body))
    except (SyntaxError, ValueError, RecursionError):
        return frozenset()
    return frozenset((*names.binds, *names.mutated))


def _implied_binder(notebook: Sequence[tuple[str | None, str]], position: int, name: str
                    ) -> str | None:
    """The id of the last cell above ``position`` in the saved notebook that binds
    ``name``: where a reader there gets it when the notebook runs top to bottom."""
    for cid, source in reversed(notebook[:position]):
        if cid and name in _saved_binds(source):
            return cid
    return None


def journal_flags(entries: Sequence[JournalEntry], chosen: Sequence[int], uses: Sequence[Use],
                  *, codes: Mapping[str, str], notebook: Sequence[tuple[str | None, str]] | None,
                  run_cell_id: str | None) -> list[HiddenStateFlag]:
    """The flags the journal alone can tell (all but ``unseeded``), one per cause."""
    flags: dict[tuple[str, str], HiddenStateFlag] = {}

    def flag(kind: str, name: str, detail: str) -> None:
        flags.setdefault((kind, name), HiddenStateFlag(kind=kind, name=name,  # type: ignore[arg-type]
                                                       detail=detail))

    bound_by: dict[int, list[str]] = {}
    for use in uses:
        bound_by.setdefault(use.binder, []).append(use.name)

    def names_of(i: int) -> str:
        return ", ".join(dict.fromkeys(bound_by.get(i, ()))) or "its names"

    # a value computed from a name a later cell of the slice bound anew (when the saved
    # notebook is not known: with it, what its reading order implies decides, below)
    for use in uses if notebook is None else ():
        if use.reader is None:
            continue
        for later in chosen:
            if use.reader < later and use.name in entries[later].binds \
                    and use.name not in entries[later].reads \
                    and entries[later].source_hash != entries[use.binder].source_hash:
                reader = entries[use.reader]
                flag("out_of_order", use.name,
                     f"{_label(reader)} computed {names_of(use.reader)} from {use.name} as "
                     f"{_label(entries[use.binder])} bound it, but {_label(entries[later])} "
                     f"bound {use.name} anew after that")
                break
    # the same cell more than once in the slice
    runs_of: dict[str, list[int]] = {}
    for i in chosen:
        runs_of.setdefault(entries[i].cell_id or entries[i].source_hash, []).append(i)
    for ids in runs_of.values():
        accumulates = any(set(entries[i].reads) & set(entries[i].binds) for i in ids)
        if len(ids) > 1 and accumulates:
            first = entries[ids[0]]
            flag("out_of_order", names_of(ids[-1]),
                 f"{_label(first)} ran {len(ids)} times in what the run stands on "
                 f"(executions {', '.join(_label(entries[i]).split(' ')[1] for i in ids)})")
    # edited: the same cell ran again later with other code
    for i in chosen:
        entry = entries[i]
        if entry.cell_id is None:
            continue
        for rerun in entries[i + 1:]:
            if rerun.cell_id == entry.cell_id and rerun.source_hash != entry.source_hash:
                flag("edited", names_of(i),
                     f"{_label(entry)} bound {names_of(i)}, then was edited and run again "
                     f"as {_label(rerun)} (the value read is the old code's)")
                break
    # against the saved notebook
    if notebook is not None:
        positions = {cid: k for k, (cid, _) in enumerate(notebook) if cid}
        sources = {cid: src for cid, src in notebook if cid}
        run_pos = positions.get(run_cell_id) if run_cell_id else None
        for use in uses:
            by = None if use.reader is None else entries[use.reader]
            where = run_pos if by is None else positions.get(by.cell_id or "")
            binder = entries[use.binder]
            if where is None or binder.cell_id not in positions:
                continue
            implied = _implied_binder(notebook, where, use.name)
            if implied is None or implied == binder.cell_id \
                    or _same_code(sources[implied], codes.get(binder.source_hash, "")):
                continue
            who = "the run" if by is None else _label(by)
            flag("out_of_order", use.name,
                 f"{who} read {use.name} as {_label(binder)} bound it, but in the "
                 f"notebook's order cell {implied}, above it, binds {use.name} with other "
                 "code")
        for i in chosen:
            entry = entries[i]
            code = codes.get(entry.source_hash, "")
            if entry.cell_id is not None and entry.cell_id in sources:
                if not _same_code(sources[entry.cell_id], code):
                    flag("edited", names_of(i),
                         f"{_label(entry)} bound {names_of(i)}, and its code in the notebook "
                         "has been edited since it ran")
                pos = positions[entry.cell_id]
                if run_pos is not None and pos > run_pos:
                    flag("out_of_order", names_of(i),
                         f"{_label(entry)}, below the run's cell, ran before it and bound "
                         f"{names_of(i)}")
            elif _injected_parameters(entry.cell_id, code):
                continue  # papermill's: the run's params, never in the saved notebook
            elif entry.cell_id is not None or not any(_same_code(src, code)
                                                      for _, src in notebook):
                flag("deleted", names_of(i),
                     f"the code of {_label(entry)}, which bound {names_of(i)}, is no longer "
                     "in the notebook")
    # data files named in the slice that changed since
    for i in chosen:
        entry = entries[i]
        for path, (size, mtime) in entry.files.items():
            try:
                st = os.stat(path)
            except OSError:
                flag("data_changed", path, f"{path}, read by {_label(entry)}, is gone")
                continue
            # the journal stats a file off the cell's path, after the cell ran: a file
            # modified after the cell ran was read in an older version
            if (st.st_size, st.st_mtime_ns) != (size, mtime) \
                    or mtime > entry.time * 1e9 + _CLOCK_SLACK_NS:
                flag("data_changed", path,
                     f"{path} changed after {_label(entry)} read it")
    return list(flags.values())


def unseeded(names: Iterable[str], namespace: Mapping[str, Any]) -> list[HiddenStateFlag]:
    """Estimators among ``names`` whose ``random_state`` (at any depth) is not fixed."""
    out = []
    for name in dict.fromkeys(names):
        value = namespace.get(name)
        if value is None or isinstance(value, type) or not tracking.is_estimator(value):
            continue
        try:
            params = value.get_params(deep=True)
        except Exception:
            continue
        loose = [k for k, v in params.items()
                 if (k == ESTIMATOR_SEED or k.endswith("__" + ESTIMATOR_SEED)) and v is None
                 and params.get(k[:-len(ESTIMATOR_SEED)] + "solver")
                 not in _DETERMINISTIC_SOLVERS]
        if loose:
            out.append(HiddenStateFlag(
                kind="unseeded", name=name,
                detail=f"estimator {name} has no fixed random_state "
                       f"({', '.join(loose)} = None): set one to get the same model again"))
    return out
