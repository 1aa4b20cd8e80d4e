"""A notebook as a batch job runs it: one ``parameters`` cell, no ``nbmlops:skip`` cells,
no outputs, and a content hash that pins it.

The ``parameters`` cell (papermill's convention: the cell tagged ``parameters``) holds one
``name = value`` line per parameter. When the notebook has none, one is created: from the
``--params`` given, else from the scalars the notebook's tracked runs recorded as params
(each found where a cell assigns it a literal, ``C = 1.0``, and moved from there into the
new cell, so the value a job is given is the one the notebook uses). Values are written
with :func:`repr`, and a job's values are injected the same way, so any string (quotes,
backslashes, newlines, unicode) arrives exactly as given.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import JobSpecError
from nbmlops.export.spec import Parameter, check_parameter_name, type_of

if TYPE_CHECKING:
    import nbformat

SKIP_TAG = "nbmlops:skip"
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


@dataclass(frozen=True)
class Prepared:
    """The cleaned notebook, its parameters (from its parameters cell) and what changed."""

    notebook: nbformat.NotebookNode
    parameters: tuple[Parameter, ...]
    notes: tuple[str, ...]

    def text(self) -> str:
        import nbformat

        return str(nbformat.writes(self.notebook))

    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()


def read(path: Path) -> nbformat.NotebookNode:
    import nbformat

    if not path.is_file():
        raise JobSpecError(f"no notebook at {path}")
    try:
        found: nbformat.NotebookNode = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise JobSpecError(f"{path} is not a readable notebook ({exc})") from None
    return found


def tags(cell: Mapping[str, Any]) -> list[str]:
    found = cell.get("metadata", {}).get("tags", [])
    return list(found) if isinstance(found, list) else []


def prepare(nb: nbformat.NotebookNode, *, params: Mapping[str, Any] | None = None,
            tracked: Mapping[str, Any] | None = None) -> Prepared:
    """``nb`` cleaned for batch (a copy; see the module)."""
    import copy

    nb = copy.deepcopy(nb)
    notes: list[str] = []
    kept = [c for c in nb.cells if SKIP_TAG not in tags(c)]
    if len(kept) != len(nb.cells):
        notes.append(f"dropped {len(nb.cells) - len(kept)} cell(s) tagged {SKIP_TAG}")
    kept = [c for c in kept if INJECTED_TAG not in tags(c)]  # an earlier run's values
    nb.cells = kept
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    cell = next((c for c in nb.cells if c.cell_type == "code" and PARAMETERS_TAG in tags(c)),
                None)
    if cell is not None:
        values = assignments(cell.source)
        if params:
            values.update(params)
            cell.source = _source(values)
            notes.append("set the parameters cell's values from --params")
    else:
        values = dict(params or {})
        if not values and tracked:
            values = _move_tracked(nb, tracked)
            if values:
                notes.append(f"made a parameters cell from the tracked params "
                             f"{', '.join(values)}")
        elif values:
            notes.append("made a parameters cell from --params")
        if values:
            import nbformat

            new = nbformat.v4.new_code_cell(_source(values))
            new.metadata["tags"] = [PARAMETERS_TAG]
            new["id"] = "parameters"
            nb.cells.insert(_first_code(nb.cells), new)
        else:
            notes.append("no parameters: give --params NAME=VALUE to make the job take some")
    for name, value in values.items():
        check_parameter_name(name)
        literal(value)  # a value no job could be given: refused now, not at every run
    parameters = tuple(Parameter(name, type_of(value), value) for name, value in values.items())
    return Prepared(nb, parameters, tuple(notes))


def assignments(source: str) -> dict[str, Any]:
    """``name = literal`` lines of a parameters cell (anything else is refused)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise JobSpecError(f"the parameters cell is not valid Python ({exc.msg}, line "
                           f"{exc.lineno})") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            else node.target if isinstance(node, ast.AnnAssign) else None
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not isinstance(target, ast.Name) or value is None:
            raise JobSpecError(f"the parameters cell may hold only `name = value` lines; "
                               f"line {node.lineno} is not one")
        try:
            values[target.id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError):
            raise JobSpecError(f"parameter {target.id} in the parameters cell must be a "
                               "literal (a number, string, bool, None, list or dict)"
                               ) from None
    return values


def _source(values: Mapping[str, Any]) -> str:
    return "\n".join(f"{name} = {literal(value)}" for name, value in values.items())


def literal(value: Any) -> str:
    """Python source that evaluates to ``value`` exactly."""
    text = repr(value)
    try:
        if ast.literal_eval(text) != value:
            raise ValueError
    except (ValueError, SyntaxError, TypeError):
        raise JobSpecError(f"{value!r} cannot be written as a parameter value (use numbers, "
                           "strings, bools, None, lists and dicts)") from None
    return text


def injected_cell(values: Mapping[str, Any]) -> dict[str, Any]:
    """The cell a run's values go in, after the parameters cell (as papermill names it).
    A plain dict: the job runner works on the notebook's JSON, without nbformat (whose
    import costs a job run seconds)."""
    return {"cell_type": "code", "execution_count": None, "id": "injected-parameters",
            "metadata": {"tags": [INJECTED_TAG]}, "outputs": [],
            "source": "# Parameters\n" + _source(values)}


def inject(nb: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the notebook (its JSON, or a NotebookNode) with ``values`` in an injected
    cell after its parameters cell."""
    import copy

    out = copy.deepcopy(dict(nb))
    cells = [c for c in out["cells"] if INJECTED_TAG not in tags(c)]
    at = next((i + 1 for i, c in enumerate(cells) if PARAMETERS_TAG in tags(c)),
              _first_code(cells))
    if values:
        cells.insert(at, injected_cell(values))
    out["cells"] = cells
    return out


def _first_code(cells: Sequence[Mapping[str, Any]]) -> int:
    return next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))


def _move_tracked(nb: nbformat.NotebookNode, tracked: Mapping[str, Any]) -> dict[str, Any]:
    """Tracked params that a cell assigns a literal: taken out of that cell, with their
    values there, in the order the notebook assigns them."""
    found: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue  # magics: not plain Python
        drop: set[int] = set()
        per_line: dict[int, int] = {}
        for node in tree.body:
            per_line[node.lineno] = per_line.get(node.lineno, 0) + 1
        for node in tree.body:
            if per_line[node.lineno] > 1 or node.col_offset:
                continue  # `C = 1; X = f()`: moving the line would lose the rest
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in tracked and node.targets[0].id not in found
                    and node.lineno == node.end_lineno):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                found[node.targets[0].id] = value
                drop.add(node.lineno - 1)
        if drop:
            cell.source = "\n".join(
                f"# {line.strip()}  (now a job parameter: see the parameters cell)"
                if i in drop else line for i, line in enumerate(lines))
    return found


def imported_modules(nb: Mapping[str, Any]) -> list[str]:
    """The top-level modules the notebook's code cells import (``sklearn`` for ``from
    sklearn.linear_model import X``), in the order first seen. IPython's syntax is left
    out: line magics, shell escapes, and a cell magic's first line (its body is read)."""
    found: dict[str, None] = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = source.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            lines = lines[1:]
        plain = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                          for line in lines)
        try:
            tree = ast.parse(plain)
        except SyntaxError:
            continue  # not Python (a cell magic of another language): nothing it imports
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], None)
    return list(found)


def failed_cell(nb: Mapping[str, Any]) -> tuple[int, str | None, str] | None:
    """The first cell with an error output: (its position among the code cells from 1,
    its id, "Error: text"). Works on the notebook's JSON as well as a NotebookNode."""
    position = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or INJECTED_TAG in tags(cell):
            continue
        position += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return position, cell.get("id"), f"{output.get('ename')}: {output.get('evalue')}"
    return None


def scalar_params(params: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Tracked params a job can take: identifiers with scalar values."""
    out: dict[str, Any] = {}
    for name, value in params:
        if (name.isidentifier() and not name.startswith("_")
                and isinstance(value, bool | int | float | str) and name not in out):
            out[name] = value
    return out


__all__ = ["INJECTED_TAG", "PARAMETERS_TAG", "SKIP_TAG", "Prepared", "assignments",
           "failed_cell", "imported_modules", "inject", "injected_cell", "literal", "prepare", "read",
           "scalar_params", "tags"]
