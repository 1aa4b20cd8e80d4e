"""The model registry: registered models, their versions and aliases, and the aliases'
history.

Rollback is a move of an alias back along its history, which is read from the audit
events (every promote and rollback is one). Every move first asks :meth:`_guard`, inside
the same transaction, whether the alias may move directly; the approvals part
(:mod:`~nbmlops.store.sql.approvals`) answers for protected aliases by opening a request.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import Connection

from nbmlops._types import (
    Actor,
    ApprovalRequest,
    AuditEvent,
    ModelVersion,
    NewModelVersion,
    RegisteredModel,
    utc,
)
from nbmlops.errors import ModelNotFoundError
from nbmlops.store.sql import team
from nbmlops.store.sql.audit import audit
from nbmlops.store.sql.plumbing import SqlBase, aliases_t, audit_t, models_t, versions_t


def _model_version(row: Any, model: str, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        model=model, version=int(row["version"]), run_id=row["run_id"], flavor=row["flavor"],
        format=row["format"], sha256=row["sha256"], source=row["source"],
        trusted_types=tuple(json.loads(row["trusted_types"])),
        signature=None if row["signature"] is None else json.loads(row["signature"]),
        metrics=json.loads(row["metrics"]), files=json.loads(row["files"]),
        description=row["description"], created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"], aliases=aliases)


class SqlRegistry(SqlBase):
    """Registered models, their versions and aliases."""

    def __init__(self, engine: Engine, url: str, revision: str) -> None:
        super().__init__(engine, url, revision)
        self._insert_model = self._ins(models_t).on_conflict_do_nothing(
            index_elements=["name"])
        alias = self._ins(aliases_t)
        self._upsert_alias = alias.on_conflict_do_update(
            index_elements=["model_id", "alias"],
            set_={c: alias.excluded[c] for c in ("version", "updated_at", "updated_by")})

    def _model_id(self, conn: Connection, name: str, *, actor: Actor | None = None,
                  description: str | None = None, lock: bool = False) -> int | None:
        """The model's id; with ``lock`` (writes), its row locked for this transaction
        (PostgreSQL; SQLite's write transactions are serial already; a read must not lock:
        a reader in team mode may not); created first when ``actor`` is given."""
        if actor is not None:
            conn.execute(self._insert_model, [{
                "name": name, "description": description, "created_at": time.time(),
                "created_by": actor.user}])
        stmt = select(models_t.c.id).where(models_t.c.name == name)
        found = conn.execute(stmt.with_for_update() if lock or actor is not None else stmt
                             ).scalar()
        return None if found is None else int(found)

    def _move_alias(self, conn: Connection, model_id: int, model: str, alias: str,
                    version: int, *, actor: Actor, reason: str | None, action: str,
                    details: Mapping[str, Any] | None = None) -> AuditEvent | None:
        current = self._alias_version(conn, model_id, alias)
        if current == version and action != "rollback":
            return None  # already there: nothing moved, nothing to audit
        row = {"model_id": model_id, "alias": alias, "version": version,
               "updated_at": time.time(), "updated_by": actor.user}
        team.context(conn, "model_aliases", action=action, reason=reason,
                     details=dict(details or {}))
        conn.execute(self._upsert_alias, [row])
        return audit(conn, actor, action, model, alias=alias, version=version,
                     from_version=current, to_version=version, reason=reason,
                     details=details)

    def _alias_version(self, conn: Connection, model_id: int, alias: str) -> int | None:
        found = conn.execute(select(aliases_t.c.version).where(
            aliases_t.c.model_id == model_id, aliases_t.c.alias == alias)).scalar()
        return None if found is None else int(found)

    def _guard(self, conn: Connection, model_id: int, model: str, alias: str, *,
               action: str, version: int, current: int | None, actor: Actor,
               reason: str | None) -> ApprovalRequest | None:
        """Before a move: None when the alias may move now, else the request opened
        instead (overridden where aliases can be protected)."""
        return None

    def _rollback_target(self, conn: Connection, model: str, alias: str) -> tuple[int, int]:
        """(where the alias points, where a rollback takes it), from its history."""
        stack: list[int] = []
        for action, to_version in conn.execute(
                select(audit_t.c.action, audit_t.c.to_version)
                .where(audit_t.c.model == model, audit_t.c.alias == alias,
                       audit_t.c.deployment.is_(None),
                       audit_t.c.action.in_(("promote", "rollback")))
                .order_by(audit_t.c.id)):
            if action == "rollback":
                stack.pop()
            else:
                stack.append(int(to_version))
        if len(stack) < 2:
            raise ModelNotFoundError(f"{model}@{alias}", reason=(
                "has never pointed at another version, so there is nothing to roll "
                "back to" if stack else "no such alias"))
        return stack[-1], stack[-2]

    def create_model_version(self, new: NewModelVersion, *, actor: Actor,
                             alias: str | None = None, reason: str | None = None
                             ) -> ModelVersion:
        def work(conn: Connection) -> ModelVersion:
            model_id = self._model_id(conn, new.model, actor=actor,
                                      description=new.description)
            assert model_id is not None
            version = int(conn.execute(select(func.coalesce(func.max(versions_t.c.version), 0))
                                       .where(versions_t.c.model_id == model_id)).scalar_one()) + 1
            refs = [new.artifact, *new.files.values()]
            conn.execute(self._insert_artifacts, [
                {"sha256": r.sha256, "size": r.size, "media_type": r.media_type,
                 "created_at": time.time()} for r in refs])
            team.context(conn, "model_versions", reason=reason)
            conn.execute(insert(versions_t).values(
                model_id=model_id, version=version, run_id=new.run_id, flavor=new.flavor,
                format=new.format, sha256=new.artifact.sha256, source=new.source,
                trusted_types=json.dumps(list(new.trusted_types)),
                signature=None if new.signature is None else json.dumps(dict(new.signature)),
                metrics=json.dumps(dict(new.metrics), sort_keys=True, allow_nan=True),
                files=json.dumps({k: v.sha256 for k, v in new.files.items()}, sort_keys=True),
                description=new.description, created_at=time.time(),
                created_by=actor.user))
            audit(conn, actor, "register", new.model, version=version, reason=reason,
                  details={"run_id": new.run_id, "sha256": new.artifact.sha256,
                           "format": new.format})
            if alias is not None and self._guard(
                    conn, model_id, new.model, alias, action="promote", version=version,
                    current=self._alias_version(conn, model_id, alias), actor=actor,
                    reason=reason) is None:
                self._move_alias(conn, model_id, new.model, alias, version, actor=actor,
                                 reason=reason, action="promote")
            return self._version(conn, model_id, new.model, version)

        return self._write(work)

    def set_alias(self, model: str, alias: str, version: int, *, actor: Actor,
                  reason: str | None = None) -> AuditEvent | ApprovalRequest | None:
        def work(conn: Connection) -> AuditEvent | ApprovalRequest | None:
            model_id = self._require_model(conn, model, lock=True)
            exists = conn.execute(select(versions_t.c.version).where(
                versions_t.c.model_id == model_id, versions_t.c.version == version)).scalar()
            if exists is None:
                raise ModelNotFoundError(f"{model}/{version}", reason="no such version")
            current = self._alias_version(conn, model_id, alias)
            if current == version:
                return None
            request = self._guard(conn, model_id, model, alias, action="promote",
                                  version=version, current=current, actor=actor,
                                  reason=reason)
            if request is not None:
                return request
            return self._move_alias(conn, model_id, model, alias, version, actor=actor,
                                    reason=reason, action="promote")

        return self._write(work)

    def rollback_alias(self, model: str, alias: str, *, actor: Actor,
                       reason: str | None = None) -> AuditEvent | ApprovalRequest:
        def work(conn: Connection) -> AuditEvent | ApprovalRequest:
            model_id = self._require_model(conn, model, lock=True)
            current, target = self._rollback_target(conn, model, alias)
            request = self._guard(conn, model_id, model, alias, action="rollback",
                                  version=target, current=current, actor=actor,
                                  reason=reason)
            if request is not None:
                return request
            event = self._move_alias(conn, model_id, model, alias, target, actor=actor,
                                     reason=reason, action="rollback")
            assert event is not None
            return event

        return self._write(work)

    def _require_model(self, conn: Connection, model: str, *, lock: bool = False) -> int:
        model_id = self._model_id(conn, model, lock=lock)
        if model_id is None:
            raise ModelNotFoundError(model, reason="no registered model has that name")
        return model_id

    def _version(self, conn: Connection, model_id: int, model: str, version: int
                 ) -> ModelVersion:
        row = conn.execute(select(versions_t).where(
            versions_t.c.model_id == model_id, versions_t.c.version == version)
        ).mappings().one()
        aliases = tuple(conn.execute(select(aliases_t.c.alias).where(
            aliases_t.c.model_id == model_id, aliases_t.c.version == version)
            .order_by(aliases_t.c.alias)).scalars())
        return _model_version(row, model, aliases)

    def get_model_version(self, model: str, *, version: int | None = None,
                          alias: str | None = None) -> ModelVersion:
        def work(conn: Connection) -> ModelVersion:
            model_id = self._require_model(conn, model)
            number = version
            if alias is not None:
                number = conn.execute(select(aliases_t.c.version).where(
                    aliases_t.c.model_id == model_id, aliases_t.c.alias == alias)).scalar()
                if number is None:
                    raise ModelNotFoundError(f"{model}@{alias}", reason="no such alias")
            elif number is None:
                number = conn.execute(select(func.max(versions_t.c.version)).where(
                    versions_t.c.model_id == model_id)).scalar()
                if number is None:
                    raise ModelNotFoundError(model, reason="has no versions")
            exists = conn.execute(select(versions_t.c.version).where(
                versions_t.c.model_id == model_id, versions_t.c.version == number)).scalar()
            if exists is None:
                raise ModelNotFoundError(f"{model}/{number}", reason="no such version")
            return self._version(conn, model_id, model, int(number))

        return self._read(work)

    def list_models(self) -> list[RegisteredModel]:
        def work(conn: Connection) -> list[RegisteredModel]:
            stats = {mid: (latest, n) for mid, latest, n in conn.execute(
                select(versions_t.c.model_id, func.max(versions_t.c.version), func.count())
                .group_by(versions_t.c.model_id))}
            aliases: dict[int, dict[str, int]] = defaultdict(dict)
            for mid, alias, version in conn.execute(
                    select(aliases_t.c.model_id, aliases_t.c.alias, aliases_t.c.version)):
                aliases[mid][alias] = int(version)
            out = []
            for row in conn.execute(select(models_t).order_by(models_t.c.name)).mappings():
                latest, n = stats.get(row["id"], (None, 0))
                out.append(RegisteredModel(
                    name=row["name"], description=row["description"],
                    created_at=utc(row["created_at"]),  # type: ignore[arg-type]
                    created_by=row["created_by"], latest_version=latest, versions=int(n),
                    aliases=dict(sorted(aliases[row["id"]].items()))))
            return out

        return self._read(work)

    def list_versions(self, model: str) -> list[ModelVersion]:
        def work(conn: Connection) -> list[ModelVersion]:
            model_id = self._require_model(conn, model)
            aliases: dict[int, list[str]] = defaultdict(list)
            for alias, version in conn.execute(
                    select(aliases_t.c.alias, aliases_t.c.version)
                    .where(aliases_t.c.model_id == model_id).order_by(aliases_t.c.alias)):
                aliases[int(version)].append(alias)
            rows = conn.execute(select(versions_t).where(versions_t.c.model_id == model_id)
                                .order_by(versions_t.c.version)).mappings()
            return [_model_version(r, model, tuple(aliases[int(r["version"])])) for r in rows]

        return self._read(work)
