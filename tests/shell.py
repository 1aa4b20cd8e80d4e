"""Driving the real IPython shell the way a user types into it."""

from __future__ import annotations


def run(shell, code: str):  # type: ignore[no-untyped-def]
    """Run one cell, kept in the history as a notebook's cells are."""
    return shell.run_cell(code, store_history=True)


def one_line_error(shell, capsys, code: str) -> str:  # type: ignore[no-untyped-def]
    """Run a cell that must fail with a one-line message and no traceback; what it showed."""
    capsys.readouterr()
    result = run(shell, code)
    shown = "".join(capsys.readouterr())
    assert not result.success, shown
    assert "Traceback" not in shown
    assert len([line for line in shown.splitlines() if line.strip()]) == 1, shown
    return shown
