"""On-success actions: what a job does with its results once its gates passed.

Two kinds, written the way ``%register`` reads:

* ``register NAME [--alias ALIAS] [--artifact ARTIFACT]``: register the model the job's
  runs stored (the newest finished run of the job with a model artifact, named
  ``ARTIFACT`` if given) as the next version of ``NAME``, and point ``ALIAS`` at it;
* ``promote NAME[/VERSION] ALIAS``: point ``NAME@ALIAS`` at that version (the newest when
  no version is given).

Each is carried out through the registry, so it is an audit event like any other, with
the job's run as its reason.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nbmlops._types import ApprovalRequest
from nbmlops.errors import JobSpecError, UnsafeModelError
from nbmlops.references import check_model_name, parse_reference

if TYPE_CHECKING:
    from nbmlops._types import RunRecord
    from nbmlops.workspace import Workspace


@dataclass(frozen=True)
class Action:
    verb: str  # "register" | "promote"
    model: str
    alias: str | None = None
    artifact: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.verb == "promote":
            target = self.model + (f"/{self.version}" if self.version is not None else "")
            return f"promote {target} {self.alias}"
        parts = ["register", self.model]
        if self.alias:
            parts += ["--alias", self.alias]
        if self.artifact:
            parts += ["--artifact", self.artifact]
        return " ".join(shlex.quote(p) for p in parts)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise JobSpecError(message)


def parse_action(text: object) -> Action:
    """``"register churn --alias staging"`` as an Action, or a JobSpecError saying how
    to write one."""
    if isinstance(text, Action):
        return text
    usage = ("write on-success actions as \"register NAME [--alias ALIAS] [--artifact "
             "ARTIFACT]\" or \"promote NAME[/VERSION] ALIAS\"")
    if not isinstance(text, str) or not text.split():
        raise JobSpecError(f"on-success action {text!r}: {usage}")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise JobSpecError(f"on-success action {text!r}: {exc}") from None
    verb, rest = words[0], words[1:]
    if verb == "register":
        parser = _Parser(prog="register", add_help=False)
        parser.add_argument("model")
        parser.add_argument("--alias")
        parser.add_argument("--artifact")
        try:
            args = parser.parse_args(rest)
        except JobSpecError as exc:
            raise JobSpecError(f"on-success action {text!r}: {exc}; {usage}") from None
        return Action("register", _model_name(args.model, text), args.alias, args.artifact)
    if verb == "promote":
        if len(rest) != 2:
            raise JobSpecError(f"on-success action {text!r}: {usage}")
        try:
            ref = parse_reference(rest[0])
        except ValueError as exc:
            raise JobSpecError(f"on-success action {text!r}: {exc}") from None
        if ref.alias is not None:
            raise JobSpecError(f"on-success action {text!r}: {usage}")
        return Action("promote", ref.model, rest[1], None, ref.version)
    raise JobSpecError(f"on-success action {text!r}: unknown action {verb!r}; {usage}")


def _model_name(name: str, text: str) -> str:
    try:
        return check_model_name(name)
    except ValueError as exc:
        raise JobSpecError(f"on-success action {text!r}: {exc}") from None


def carry_out(ws: Workspace, actions: Sequence[Action], *, job_run: str,
              runs: Sequence[RunRecord]) -> list[str]:
    """Do each action in order; what was done, in words. A failure raises (the ones
    before it stay done)."""
    from nbmlops.registry import registry

    done = []
    reason = f"job run {job_run[:8]}"
    for action in actions:
        if action.verb == "register":
            source = _model_run(runs, action.artifact)
            if source is None:
                wanted = f" named {action.artifact!r}" if action.artifact else ""
                raise JobSpecError(f"on-success {action}: none of the job's runs stored a "
                                   f"model{wanted} (a %%track cell that binds a fitted model "
                                   "stores it)")
            run, artifact = source
            # the run stored it as a pickle, which is read restricted to well-known types:
            # a model holding another type is refused, naming it and how to register it
            try:
                model = registry.run_model(ws, run, artifact, trusted=())
            except UnsafeModelError as exc:
                raise UnsafeModelError(
                    f"on-success {action}: {exc}. To register it anyway, run "
                    f"nbmlops.register(run={run.id[:8]!r}, artifact={artifact!r}, "
                    f"name={action.model!r}, trusted=[...]) naming those types",
                    reference=exc.reference) from None
            version = registry.register(
                ws, model, name=action.model, run_id=run.id, artifact=artifact,
                how=registry.Registration(alias=action.alias, reason=reason))
            protected = action.alias is not None and action.alias not in version.aliases
            done.append(f"registered {version.reference}"
                        + (f" @{action.alias}" if action.alias and not protected else "")
                        + f" from run {run.id[:8]}"
                        + (f" (@{action.alias} is protected: a request to move it opened)"
                           if protected else ""))
        else:
            version_no = action.version
            if version_no is None:
                version_no = ws.store.get_model_version(action.model).version
            assert action.alias is not None
            moved = registry.promote(ws, action.model, version_no, action.alias, reason=reason)
            if isinstance(moved, ApprovalRequest):
                done.append(f"requested {action.model}/{version_no} to @{action.alias} "
                            f"(request #{moved.id}: @{action.alias} is protected; it moves "
                            "once approved)")
            else:
                done.append(f"promoted {action.model}/{version_no} to @{action.alias}")
    return done


def _model_run(runs: Sequence[RunRecord], artifact: str | None
               ) -> tuple[RunRecord, str] | None:
    for run in sorted(runs, key=lambda r: r.start_time, reverse=True):
        if run.status != "finished":
            continue
        models = [a.name for a in run.artifacts if a.kind == "model"]
        if artifact is not None and artifact in models:
            return run, artifact
        if artifact is None and models:
            return run, models[-1]
    return None


__all__ = ["Action", "carry_out", "parse_action"]
