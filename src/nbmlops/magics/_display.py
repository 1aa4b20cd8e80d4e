"""Showing what a line magic returns exactly once, whether or not the cell assigns it.

IPython shows a line magic's return value as the cell's ``Out[]`` only when the call is
the expression it displays (by default, the cell's last statement, without a trailing
``;``); ``x = %tune ...`` shows nothing. A magic whose result the user should always see
(a search's comparison, a registered version) calls :func:`shown` and displays the
result itself when IPython will not, and returns it either way.
"""

from __future__ import annotations

import ast
from typing import Any


def _calls(node: ast.AST | None, magic: str) -> bool:
    """Whether ``node`` is ``get_ipython().run_line_magic('<magic>', ...)``."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run_line_magic" and bool(node.args)
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == magic)


def _tracked_body(body: list[ast.stmt]) -> str | None:
    """The body of a ``%%track`` cell (``run_cell_magic('track', line, body)``)."""
    if len(body) != 1 or not isinstance(body[0], ast.Expr):
        return None
    call = body[0].value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "run_cell_magic" and len(call.args) == 3
            and isinstance(call.args[0], ast.Constant) and call.args[0].value == "track"
            and isinstance(call.args[2], ast.Constant) and isinstance(call.args[2].value, str)):
        return call.args[2].value
    return None


def displayed_by_ipython(shell: Any, magic: str) -> bool | None:
    """Whether IPython will show what line magic ``magic`` returns in the running cell as
    its ``Out[]``: True, False, or None when it would but a trailing ``;`` silences it."""
    result = getattr(shell.displayhook, "exec_result", None)
    info = getattr(result, "info", None)
    raw = getattr(info, "raw_cell", None)
    if not raw:  # called from code (run_line_magic), not typed in a cell
        return False
    try:
        code = shell.transform_cell(raw)
        body = ast.parse(code).body
        tracked = _tracked_body(body)
        if tracked is not None:  # %%track runs its body as a cell of its own
            code = shell.transform_cell(tracked)
            body = ast.parse(code).body
    except (SyntaxError, ValueError):
        return False
    if not body:
        return False
    mode = shell.ast_node_interactivity
    last = body[-1]
    if mode == "all":
        out = any(isinstance(n, ast.Expr) and _calls(n.value, magic) for n in body)
    elif mode in ("last_expr", "last"):
        out = isinstance(last, ast.Expr) and _calls(last.value, magic)
    elif mode == "last_expr_or_assign":
        out = isinstance(last, ast.Expr | ast.Assign | ast.AnnAssign) and _calls(
            last.value, magic)
    else:
        out = False
    if out and shell.displayhook.semicolon_at_end_of_expression(code):
        return None
    return out


def shown(shell: Any, magic: str, value: Any) -> Any:
    """``value``, displayed here unless IPython will show it as the cell's ``Out[]`` (or
    the user silenced it with a trailing ``;``)."""
    if value is not None and displayed_by_ipython(shell, magic) is False:
        from IPython.display import display

        display(value)
    return value
