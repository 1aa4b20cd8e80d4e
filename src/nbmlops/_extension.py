"""The IPython extension entry point (``%load_ext nbmlops``)."""

from __future__ import annotations

from typing import Any


def load(shell: Any) -> None:
    from nbmlops.magics import register

    register(shell)


def unload(shell: Any) -> None:
    from nbmlops.magics import unregister

    unregister(shell)
