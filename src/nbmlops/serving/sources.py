"""Where a server's model comes from, and how it follows an alias.

:class:`StoreSource` loads a version from the lineage store through the registry (sha256
checked, skops' trusted types); for an alias (``churn@production``) or a bare name (the
latest version) it polls the store and, when the alias has moved, loads the new version
in the background and swaps it in whole. A request holds the model it started with, so
requests in flight finish on the old version and none is dropped; the switch is recorded
against the deployment (by the one worker whose update lands first).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nbmlops._types import Actor
from nbmlops.serving.model import ServedModel

if TYPE_CHECKING:
    from nbmlops.config import Settings
    from nbmlops.references import Reference
    from nbmlops.registry import LoadedModel
    from nbmlops.workspace import Workspace


class Holder:
    """The model being served right now (replaced whole, never changed in place)."""

    def __init__(self, served: ServedModel) -> None:
        self.current = served


def served(loaded: LoadedModel) -> ServedModel:
    v = loaded.version
    return ServedModel(
        name=v.model, version=v.version, model=loaded.model, signature=loaded.signature,
        sha256=v.sha256, details={
            "run_id": v.run_id, "format": v.format, "flavor": v.flavor,
            "created_at": v.created_at.isoformat(), "description": v.description})


def open_existing(settings: Settings) -> Workspace:
    """The workspace of an existing store (a server never creates one)."""
    from nbmlops.workspace import open_workspace

    return open_workspace(settings, mode="write", create=False)


class StoreSource:
    """A registered version, and (for an alias or a bare name) the versions it moves to."""

    def __init__(self, ws: Workspace, reference: Reference, *,
                 trusted: bool | Sequence[str] = False,
                 deployment_id: str | None = None, poll_s: float = 2.0,
                 on_switch: Callable[[int, int], None] | None = None) -> None:
        self.ws = ws
        self.reference = reference
        self.trusted = trusted
        self.deployment_id = deployment_id
        self.poll_s = poll_s
        self.on_switch = on_switch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    @property
    def follows(self) -> bool:
        return self.reference.version is None

    def load(self, version: int | None = None) -> ServedModel:
        from nbmlops.references import Reference
        from nbmlops.registry import load

        ref = self.reference if version is None else Reference(self.reference.model,
                                                               version=version)
        return served(load(self.ws, ref, trusted=self.trusted))

    def start(self, holder: Holder) -> None:
        """Poll the alias in the background (nothing to do for a fixed version)."""
        if not self.follows or self.poll_s <= 0:
            return
        self._thread = threading.Thread(target=self._loop, args=(holder,), daemon=True,
                                        name="nbmlops-follow")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self, holder: Holder) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check(holder)
                self._last_error = ""
            except Exception as exc:  # keep serving what we have; say so once per cause
                message = f"could not follow {self.reference}: {exc}; still serving version " \
                          f"{holder.current.version}"
                if message != self._last_error:
                    print(f"nbmlops: {message}", file=sys.stderr, flush=True)
                    self._last_error = message

    def check(self, holder: Holder) -> bool:
        """Switch to where the alias points now, if it moved; True if it switched."""
        ref = self.reference
        target = self.ws.store.get_model_version(ref.model, alias=ref.alias).version
        old = holder.current
        if target == old.version:
            return False
        new = self.load(target)
        holder.current = new  # requests that already hold the old model finish with it
        if self.deployment_id is not None:
            self.ws.store.switch_deployment(
                self.deployment_id, old.version, new.version,
                actor=Actor(user=self.ws.actor.user, host=self.ws.actor.host))
        print(f"nbmlops: {ref} moved: now serving version {new.version} (was "
              f"{old.version})", file=sys.stderr, flush=True)
        if self.on_switch is not None:
            self.on_switch(old.version, new.version)
        return True


def heartbeat_loop(ws: Workspace, deployment_id: str, stop: threading.Event,
                   every_s: float) -> None:
    """Keep a deployment's heartbeat fresh until ``stop`` is set (a server's main process)."""
    while not stop.wait(every_s):
        try:
            ws.store.deployment_heartbeat(deployment_id, time.time())
        except Exception as exc:  # the next beat tries again
            print(f"nbmlops: heartbeat failed ({exc}); will try again", file=sys.stderr,
                  flush=True)
