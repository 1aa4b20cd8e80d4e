"""IPython magics: thin front ends over :mod:`nbmlops.api` (parse, call, display).

``register(shell)`` attaches one :class:`~nbmlops.magics.session.KernelSession` to the
shell and registers the magics; ``unregister(shell)`` removes both.
"""

from __future__ import annotations

from typing import Any

from nbmlops.magics.session import ATTRIBUTE, KernelSession, get_session

_MAGICS = {"cell": ("track",), "line": ("runs", "tune", "register", "deploy",
                                              "drift", "export", "nbmlops", "reproduce",
                                              "monitor")}


def register(shell: Any) -> None:
    from nbmlops import widgets
    from nbmlops.magics.deploy import DeployMagics
    from nbmlops.magics.drift import DriftMagics
    from nbmlops.magics.export import ExportMagics
    from nbmlops.magics.monitor import MonitorMagics
    from nbmlops.magics.registry import RegisterMagics
    from nbmlops.magics.reproduce import ReproduceMagics
    from nbmlops.magics.runs import RunsMagics
    from nbmlops.magics.track import TrackMagics
    from nbmlops.magics.tune import TuneMagics

    if get_session(shell) is not None:
        return
    session = KernelSession(shell)
    setattr(shell, ATTRIBUTE, session)
    shell.register_magics(TrackMagics(shell, session), RunsMagics(shell),
                          TuneMagics(shell, session), RegisterMagics(shell),
                          DeployMagics(shell), DriftMagics(shell),
                          ExportMagics(shell), ReproduceMagics(shell, session),
                          MonitorMagics(shell))
    widgets.register(shell)
    session.start_journal()
    session.warm_up()


def unregister(shell: Any) -> None:
    from nbmlops import widgets

    session = get_session(shell)
    if session is None:
        return
    widgets.unregister(shell)
    for kind, names in _MAGICS.items():
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    for cls in ("TrackMagics", "RunsMagics", "TuneMagics", "RegisterMagics", "DeployMagics",
                "DriftMagics", "ExportMagics", "ReproduceMagics", "MonitorMagics"):
        shell.magics_manager.registry.pop(cls, None)
    session.close()
    delattr(shell, ATTRIBUTE)
