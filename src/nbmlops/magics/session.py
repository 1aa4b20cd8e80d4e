"""The kernel's nbmlops state: one object, attached to the shell, released on unload."""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.error import InputRejected, UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

from nbmlops._types import Origin
from nbmlops.tracking.notebook import CellLocator, notebook_path

if TYPE_CHECKING:
    from nbmlops.reproduce import Journal

ATTRIBUTE = "_nbmlops_session"
# What IPython's standard input transforms act on: escapes and prompts at the start of a
# line, `x = !cmd` / `x = %magic`, and a trailing `?`. A body with none of these (and no
# transformers of the user's) is plain Python that transform_cell would return unchanged.
_IPYTHON_SYNTAX = re.compile(r"^\s*(?:[%!?,;/]|>>>|\.\.\.|In \[)|=\s*[!%]|\?\s*$", re.M)
_ASYNC = (ast.Await, ast.AsyncFor, ast.AsyncWith)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass(frozen=True, slots=True)
class PreparedCell:
    body: str  # as written
    tree: ast.Module  # transformed, parsed, AST-transformed; line numbers match the cell
    filename: str  # the name IPython's compiler cached the source under (for tracebacks)
    outer: ExecutionResult | None  # the result of the cell that holds the magic
    notebook_path: str | None
    cell_id: str | None
    execution_count: int | None


def _plain_python(shell: InteractiveShell, body: str) -> bool:
    manager = shell.input_transformer_manager
    return (
        "\n" in body.rstrip("\n")  # one-line cells also go through IPython's prefilter
        and not body[:1].isspace()
        and not shell.input_transformers_post
        and len(manager.cleanup_transforms) == 4 and len(manager.line_transforms) == 1
        and _IPYTHON_SYNTAX.search(body) is None
    )


def _has_top_level_await(source: str, tree: ast.Module) -> bool:
    if "await" not in source and "async" not in source:
        return False
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, _ASYNC):
            return True
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))
    return False


class KernelSession:
    """Per-kernel state of the extension: where the notebook is, which cell is running."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.locator = CellLocator()
        self._warmup: threading.Thread | None = None
        self.journal: Journal | None = None

    def start_journal(self) -> None:
        """Journal every executed cell from now on (see nbmlops.reproduce.journal)."""
        from nbmlops import api

        shell = self.shell

        def transform(code: str) -> str:  # plain Python is left as it is (the common case)
            if _plain_python(shell, code):
                return code
            return str(shell.input_transformer_manager.transform_cell(code))

        self.journal = api.start_journal(
            transform=transform, notebook=lambda: notebook_path(shell.user_ns))
        shell.events.register("post_run_cell", self._journal_cell)

    def _journal_cell(self, result: ExecutionResult) -> None:
        """On every cell's path: as little as possible (the journal queues it)."""
        journal = self.journal
        if journal is not None and journal.enabled:
            info = result.info
            if info is not None and info.raw_cell:
                journal.record(info.raw_cell, info.cell_id, result.execution_count,
                               result.error_in_exec is None
                               and result.error_before_exec is None)

    def warm_up(self) -> None:
        """Import the store's machinery and read the environment in the background, so
        the first tracked cell does not pay for it. Nothing is opened or created: the
        store is wherever the settings point when a cell is first tracked."""

        def work() -> None:
            try:
                from nbmlops import api

                api.warm_up()
            except Exception:  # pragma: no cover - the first tracked cell reports it
                pass

        self._warmup = threading.Thread(target=work, name="nbmlops-warmup", daemon=True)
        self._warmup.start()

    def close(self) -> None:
        """Release the kernel's nbmlops state: background threads and store connections."""
        from nbmlops import api

        if self._warmup is not None:
            self._warmup.join(timeout=1)
        if self.journal is not None:
            try:
                self.shell.events.unregister("post_run_cell", self._journal_cell)
            except ValueError:
                pass
            self.journal.close()
        api.close()

    def origin(self) -> Origin:
        """The notebook cell that is running now (for line magics such as %tune)."""
        shell = self.shell
        outer: ExecutionResult | None = getattr(shell.displayhook, "exec_result", None)
        info = outer.info if outer is not None else None
        path = notebook_path(shell.user_ns)
        if info is None:
            return Origin(notebook_path=path)
        return Origin(notebook_path=path,
                      cell_id=info.cell_id or self.locator.find(path, info.raw_cell),
                      execution_count=outer.execution_count if outer is not None else None,
                      code=info.raw_cell)

    def prepare(self, body: str) -> PreparedCell:
        """Transform and parse a tracked cell's body the way IPython would run it."""
        shell = self.shell
        outer: ExecutionResult | None = getattr(shell.displayhook, "exec_result", None)
        count = outer.execution_count if outer is not None else shell.execution_count
        transformed = body if _plain_python(shell, body) else shell.transform_cell(body)
        # one leading newline: the body starts on the cell's second line (after %%track),
        # so tracebacks and AST line numbers match what the user sees
        padded = "\n" + transformed
        filename = shell.compile.cache(padded, count or 0, raw_code="\n" + body)
        try:
            tree = shell.compile.ast_parse(padded, filename=filename)
        except (SyntaxError, ValueError, OverflowError) as exc:
            where = f"line {exc.lineno}: " if isinstance(exc, SyntaxError) and exc.lineno else ""
            msg = exc.msg if isinstance(exc, SyntaxError) else str(exc)
            raise UsageError(f"%%track: the cell does not parse ({where}{msg}); "
                             "nothing was run or recorded") from None
        try:
            tree = shell.transform_ast(tree)
        except InputRejected as exc:
            raise UsageError(f"%%track: the cell was rejected: {exc}") from None
        if _has_top_level_await(transformed, tree):
            raise UsageError("%%track: top-level await is not supported in a tracked cell; "
                             "wrap the async code in a function and call asyncio.run(...) "
                             "or await it in another cell")
        path = notebook_path(shell.user_ns)
        cell_id = None
        info = outer.info if outer is not None else None
        if info is not None:
            cell_id = info.cell_id or self.locator.find(path, info.raw_cell)
        return PreparedCell(body=body, tree=tree, filename=filename, outer=outer,
                            notebook_path=path, cell_id=cell_id, execution_count=count)


def get_session(shell: Any) -> KernelSession | None:
    return getattr(shell, ATTRIBUTE, None)
