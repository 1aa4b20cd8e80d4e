"""Fault injection for tests: the real store, with chosen calls failing on cue."""

from __future__ import annotations

import nbmlops


class FailingStore:
    """The real store, except that the named methods fail the given number of times."""

    def __init__(self, real, **failures: int) -> None:  # type: ignore[no-untyped-def]
        self._real, self._failures = real, dict(failures)
        self.calls: list[str] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append(name)
            if self._failures.get(name, 0) > 0:
                self._failures[name] -= 1
                raise nbmlops.StoreError(f"injected failure of {name}")
            return attr(*args, **kwargs)

        return call


def failing_workspace(**failures: int) -> FailingStore:
    """Make the process's workspace one whose store fails as ``failures`` say; its store."""
    import dataclasses

    from nbmlops import api, workspace

    ws = api.workspace()
    failing = dataclasses.replace(ws, store=FailingStore(ws.store, **failures))
    workspace._open[(ws.settings.store_url, str(ws.settings.artifacts_root))] = failing
    workspace._replaced.append(ws)  # closed with the rest
    return failing.store  # type: ignore[return-value]
