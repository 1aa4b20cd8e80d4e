"""Team mode on PostgreSQL: roles, grants, row-level policies and the audit triggers.

``team init`` (run once by the database owner) installs, in the store's database:

- four group roles, each holding the one before: ``nbmlops_reader`` (reads everything),
  ``nbmlops_writer`` (tracks runs, registers, moves unprotected aliases, opens approval
  requests, deploys), ``nbmlops_approver`` (approves and rejects requests),
  ``nbmlops_admin`` (protects aliases, manages the team; its members get CREATEROLE);
- identity triggers: every ``user`` / ``created_by`` / ``updated_by`` / ``requested_by``
  column written is set to ``session_user``, the role the session logged in as, whatever
  the client sent;
- row-level policies: a protected alias moves only in the transaction that casts an
  approving vote on an open request for exactly that move; a vote is cast only in one's
  own name, and never to approve one's own request; a request is opened only as open;
- a protection's role: a vote (approve or reject) on a request for an alias whose
  protection names a role is refused by a trigger unless the voter is a member of that
  role's group (``pg_has_role(session_user, ...)``) or owns the store;
- the audit trail written by the database: a trigger on every audited table (versions,
  aliases, protections, requests, votes, deployments) inserts the event, and a trigger on
  ``audit_events`` sets its user (``session_user``), its time and its place in the hash
  chain (:func:`nbmlops.store.audit_chain.canonical`, built here in SQL); the table is
  append-only for everyone but its owner (no UPDATE/DELETE grants, and a trigger raising
  on UPDATE, DELETE and TRUNCATE for anyone else).

The client passes what only it knows (an alias move's action and reason, the details of an
approval) in a transaction-local setting, ``nbmlops.context``, which the next trigger on
that table consumes; everything else the triggers take from the rows themselves.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

GROUPS = ("reader", "writer", "approver", "admin")
ROLE_PREFIX = "nbmlops_"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_AUDIT_LOCK_KEY = 0x6E626175  # the same lock as the client-side chain (store/sql/audit.py)
TEAM_MODEL = "(team)"  # the ``model`` of a role change's audit event

# the tables only some roles write; a writer writes every other table
_NOT_FOR_WRITERS = ("audit_events", "alias_protections", "approval_requests",
                    "approval_votes", "alembic_version")
# table -> the column that names who wrote the row, and on which writes it is set
_IDENTITY = {"runs": ("user", "INSERT"), "registered_models": ("created_by", "INSERT"),
             "model_versions": ("created_by", "INSERT"),
             "model_aliases": ("updated_by", "INSERT OR UPDATE"),
             "alias_protections": ("created_by", "INSERT OR UPDATE"),
             "approval_requests": ("requested_by", "INSERT"),
             "approval_votes": ("user", "INSERT"), "deployments": ("user", "INSERT")}

_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION nbmlops_identity() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[0], session_user::text));
  RETURN NEW;
END $f$;

CREATE OR REPLACE FUNCTION nbmlops_json(v anyelement) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$ SELECT coalesce(to_json(v)::text, 'null') $f$;

-- the chain: user, time, prev_hash and hash of every event, whoever inserts it
CREATE OR REPLACE FUNCTION nbmlops_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE prev text;
BEGIN
  PERFORM pg_advisory_xact_lock(__LOCK__);
  SELECT hash INTO prev FROM audit_events ORDER BY id DESC LIMIT 1;
  NEW.prev_hash := coalesce(prev, repeat('0', 64));
  NEW."user" := session_user::text;
  NEW.host := coalesce(host(inet_client_addr()), 'local');
  NEW.time := extract(epoch FROM clock_timestamp());
  NEW.details := coalesce(NEW.details, '{}');
  NEW.hash := encode(sha256(convert_to('[' || concat_ws(',',
      nbmlops_json(NEW.prev_hash), round(NEW.time * 1000000)::bigint::text,
      nbmlops_json(NEW."user"), nbmlops_json(NEW.host), nbmlops_json(NEW.action),
      nbmlops_json(NEW.model), nbmlops_json(NEW.alias), nbmlops_json(NEW.version),
      nbmlops_json(NEW.from_version), nbmlops_json(NEW.to_version),
      nbmlops_json(NEW.reason), nbmlops_json(NEW.details),
      nbmlops_json(NEW.deployment)) || ']', 'UTF8')), 'hex');
  RETURN NEW;
END $f$;

CREATE OR REPLACE FUNCTION nbmlops_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper)
     AND current_user::text <> (SELECT tableowner FROM pg_tables
                                WHERE tablename = 'audit_events'
                                  AND schemaname = current_schema()) THEN
    RAISE EXCEPTION 'the audit trail is append-only: only the database owner can change it'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $f$;

-- what the client said about the change this trigger records (consumed once)
CREATE OR REPLACE FUNCTION nbmlops_context(tbl text) RETURNS jsonb LANGUAGE plpgsql AS $f$
DECLARE raw text := current_setting('nbmlops.context', true); ctx jsonb;
BEGIN
  IF raw IS NULL OR raw = '' THEN RETURN '{}'; END IF;
  ctx := raw::jsonb;
  IF ctx->>'table' IS DISTINCT FROM tbl THEN RETURN '{}'; END IF;
  PERFORM set_config('nbmlops.context', '', true);
  RETURN ctx;
END $f$;

CREATE OR REPLACE FUNCTION nbmlops_audit_insert(
    p_action text, p_model text, p_alias text, p_version int, p_from int, p_to int,
    p_reason text, p_details jsonb, p_deployment text) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE new_id bigint;
BEGIN
  INSERT INTO audit_events (time, "user", host, action, model, alias, version,
                            from_version, to_version, reason, details, deployment)
  VALUES (0, NULL, NULL, p_action, p_model,
          p_alias, p_version, p_from, p_to, p_reason, coalesce(p_details, '{}')::text,
          p_deployment)
  RETURNING id INTO new_id;
  PERFORM set_config('nbmlops.last_event', new_id::text, true);
  RETURN new_id;
END $f$;

CREATE OR REPLACE FUNCTION nbmlops_model_name(p_id int) RETURNS text
LANGUAGE sql STABLE AS $f$ SELECT name FROM registered_models WHERE id = p_id $f$;

-- one trigger function per audited table: the event it records
CREATE OR REPLACE FUNCTION nbmlops_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
DECLARE ctx jsonb := nbmlops_context(TG_TABLE_NAME); r record; n int; needed int;
BEGIN
  IF TG_TABLE_NAME = 'model_versions' THEN
    PERFORM nbmlops_audit_insert('register', nbmlops_model_name(NEW.model_id), NULL,
      NEW.version, NULL, NULL, ctx->>'reason',
      jsonb_build_object('run_id', NEW.run_id, 'sha256', NEW.sha256, 'format', NEW.format),
      NULL);
  ELSIF TG_TABLE_NAME = 'model_aliases' THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM nbmlops_audit_insert(coalesce(ctx->>'action', 'unset'),
        nbmlops_model_name(OLD.model_id), OLD.alias, NULL, OLD.version, NULL,
        ctx->>'reason', ctx->'details', NULL);
    ELSE
      PERFORM nbmlops_audit_insert(coalesce(ctx->>'action', 'promote'),
        nbmlops_model_name(NEW.model_id), NEW.alias, NEW.version,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version, ctx->>'reason',
        ctx->'details', NULL);
    END IF;
  ELSIF TG_TABLE_NAME = 'alias_protections' THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM nbmlops_audit_insert('unprotect', nbmlops_model_name(OLD.model_id), OLD.alias,
        NULL, NULL, NULL, NULL, '{}', NULL);
    ELSE
      PERFORM nbmlops_audit_insert('protect', nbmlops_model_name(NEW.model_id), NEW.alias,
        NULL, NULL, NULL, NULL,
        jsonb_build_object('approvals', NEW.approvals, 'require', NEW.gates::jsonb,
                           'role', NEW.role), NULL);
    END IF;
  ELSIF TG_TABLE_NAME = 'approval_requests' THEN
    PERFORM nbmlops_audit_insert('request', nbmlops_model_name(NEW.model_id), NEW.alias,
      NEW.version, NEW.from_version, NEW.version, NEW.reason,
      jsonb_build_object('request', NEW.id, 'action', NEW.action,
                         'approvals_needed', NEW.approvals_needed), NULL);
  ELSIF TG_TABLE_NAME = 'approval_votes' THEN
    SELECT * INTO r FROM approval_requests WHERE id = NEW.request_id;
    IF NEW.decision = 'approve' THEN
      SELECT count(*) INTO n FROM approval_votes
        WHERE request_id = NEW.request_id AND decision = 'approve';
      SELECT approvals INTO needed FROM alias_protections
        WHERE model_id = r.model_id AND alias = r.alias;
      PERFORM nbmlops_audit_insert('approve', nbmlops_model_name(r.model_id), r.alias,
        r.version, NULL, NULL, NEW.reason,
        jsonb_build_object('request', r.id, 'approvals', n,
                           'approvals_needed', coalesce(needed, r.approvals_needed)), NULL);
    ELSE
      PERFORM nbmlops_audit_insert('reject', nbmlops_model_name(r.model_id), r.alias,
        r.version, NULL, NULL, NEW.reason, jsonb_build_object('request', r.id), NULL);
    END IF;
  ELSIF TG_TABLE_NAME = 'deployments' THEN
    IF TG_OP = 'INSERT' THEN
      PERFORM nbmlops_audit_insert('deploy', NEW.model, NEW.alias, NEW.version, NULL,
        NEW.version, NULL, jsonb_build_object('deployment', NEW.name, 'url', NEW.url,
                                              'alias', NEW.alias), NEW.id);
    ELSE
      IF NEW.version IS DISTINCT FROM OLD.version THEN
        PERFORM nbmlops_audit_insert('switch', NEW.model, NEW.alias, NEW.version,
          OLD.version, NEW.version, NULL,
          jsonb_build_object('deployment', NEW.name, 'alias', NEW.alias), NEW.id);
      END IF;
      IF OLD.status = 'running' AND NEW.status <> 'running' THEN
        PERFORM nbmlops_audit_insert('undeploy', NEW.model, NEW.alias, NEW.version, NULL,
          NULL, NULL, jsonb_build_object('deployment', NEW.name, 'status', NEW.status),
          NEW.id);
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END $f$;

-- a vote on a request for an alias whose protection names a role, or the request's closing:
-- the voter holds it (or owns the store); an approval or rejection without it writes nothing
CREATE OR REPLACE FUNCTION nbmlops_vote_role() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
DECLARE needed text; what text; rid bigint;
BEGIN
  IF TG_TABLE_NAME = 'approval_requests' THEN rid := NEW.id; ELSE rid := NEW.request_id; END IF;
  SELECT p.role, nbmlops_model_name(r.model_id) || '@' || r.alias INTO needed, what
    FROM approval_requests r JOIN alias_protections p
      ON p.model_id = r.model_id AND p.alias = r.alias
   WHERE r.id = rid;
  IF needed IS NOT NULL
     AND NOT pg_has_role(session_user, 'nbmlops_' || needed, 'MEMBER')
     AND NOT pg_has_role(session_user, (SELECT tableowner FROM pg_tables
                                        WHERE tablename = 'approval_votes'
                                          AND schemaname = current_schema()), 'MEMBER') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = 'the protection of '
      || what || ' asks for the nbmlops_' || needed || ' role to approve or reject';
  END IF;
  RETURN NEW;
END $f$;

-- a role change made by the team commands (only admins may call it)
CREATE OR REPLACE FUNCTION nbmlops_audit_team(p_action text, p_member text, p_role text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
  RETURN nbmlops_audit_insert(p_action, '__TEAM__', NULL, NULL, NULL, NULL, NULL,
                              jsonb_build_object('member', p_member, 'role', p_role), NULL);
END $f$;
REVOKE ALL ON FUNCTION nbmlops_audit_team(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nbmlops_audit_team(text, text, text) TO nbmlops_admin;
"""

_TRIGGERS = """
DROP TRIGGER IF EXISTS nbmlops_chain ON audit_events;
CREATE TRIGGER nbmlops_chain BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION nbmlops_audit_chain();
DROP TRIGGER IF EXISTS nbmlops_append_only ON audit_events;
CREATE TRIGGER nbmlops_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION nbmlops_audit_guard();
DROP TRIGGER IF EXISTS nbmlops_vote_role ON approval_votes;
CREATE TRIGGER nbmlops_vote_role BEFORE INSERT ON approval_votes
  FOR EACH ROW EXECUTE FUNCTION nbmlops_vote_role();
DROP TRIGGER IF EXISTS nbmlops_decide_role ON approval_requests;
CREATE TRIGGER nbmlops_decide_role BEFORE UPDATE ON approval_requests
  FOR EACH ROW WHEN (OLD.status = 'open' AND NEW.status IS DISTINCT FROM OLD.status)
  EXECUTE FUNCTION nbmlops_vote_role();
DROP TRIGGER IF EXISTS nbmlops_no_truncate ON audit_events;
CREATE TRIGGER nbmlops_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION nbmlops_audit_guard();
"""

_AUDITED = {"model_versions": "INSERT", "model_aliases": "INSERT OR UPDATE OR DELETE",
            "alias_protections": "INSERT OR UPDATE OR DELETE",
            "approval_requests": "INSERT", "approval_votes": "INSERT",
            "deployments": "INSERT OR UPDATE"}

_PROTECTED = """EXISTS (SELECT 1 FROM alias_protections p
                        WHERE p.model_id = model_aliases.model_id
                          AND p.alias = model_aliases.alias)"""
_APPROVED_MOVE = """EXISTS (SELECT 1 FROM approval_requests r
                            JOIN approval_votes v ON v.request_id = r.id
                            WHERE r.model_id = model_aliases.model_id
                              AND r.alias = model_aliases.alias
                              AND r.version = model_aliases.version
                              AND r.status = 'open' AND v.decision = 'approve'
                              AND v."user" = session_user::text)"""

_POLICIES = f"""
ALTER TABLE model_aliases ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS nbmlops_read ON model_aliases;
CREATE POLICY nbmlops_read ON model_aliases FOR SELECT TO nbmlops_reader USING (true);
DROP POLICY IF EXISTS nbmlops_insert ON model_aliases;
CREATE POLICY nbmlops_insert ON model_aliases FOR INSERT TO nbmlops_writer
  WITH CHECK (NOT {_PROTECTED} OR {_APPROVED_MOVE});
DROP POLICY IF EXISTS nbmlops_update ON model_aliases;
CREATE POLICY nbmlops_update ON model_aliases FOR UPDATE TO nbmlops_writer
  USING (true) WITH CHECK (NOT {_PROTECTED} OR {_APPROVED_MOVE});
DROP POLICY IF EXISTS nbmlops_delete ON model_aliases;
CREATE POLICY nbmlops_delete ON model_aliases FOR DELETE TO nbmlops_writer
  USING (NOT {_PROTECTED});

ALTER TABLE approval_requests ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS nbmlops_read ON approval_requests;
CREATE POLICY nbmlops_read ON approval_requests FOR SELECT TO nbmlops_reader USING (true);
DROP POLICY IF EXISTS nbmlops_open ON approval_requests;
CREATE POLICY nbmlops_open ON approval_requests FOR INSERT TO nbmlops_writer
  WITH CHECK (status = 'open' AND closed_at IS NULL);
DROP POLICY IF EXISTS nbmlops_decide ON approval_requests;
CREATE POLICY nbmlops_decide ON approval_requests FOR UPDATE TO nbmlops_approver
  USING (status = 'open') WITH CHECK (true);

ALTER TABLE approval_votes ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS nbmlops_read ON approval_votes;
CREATE POLICY nbmlops_read ON approval_votes FOR SELECT TO nbmlops_reader USING (true);
DROP POLICY IF EXISTS nbmlops_vote ON approval_votes;
CREATE POLICY nbmlops_vote ON approval_votes FOR INSERT TO nbmlops_approver
  WITH CHECK ("user" = session_user::text AND (decision = 'reject' OR NOT EXISTS (
    SELECT 1 FROM approval_requests r WHERE r.id = request_id
      AND r.requested_by = session_user::text)));
"""


def _role(group: str) -> str:
    return ROLE_PREFIX + group


def _statements(conn: Connection) -> list[str]:
    """The DDL of ``team init`` for the tables this store has."""
    tables = [t for (t,) in conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))]
    writable = [t for t in tables if t not in _NOT_FOR_WRITERS]
    schema = conn.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    q = ", ".join
    out = [
        f"GRANT USAGE ON SCHEMA {schema} TO nbmlops_reader",
        f"GRANT SELECT ON {q(tables)} TO nbmlops_reader",
        f"GRANT INSERT, UPDATE, DELETE ON {q(writable)} TO nbmlops_writer",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO nbmlops_writer",
        "GRANT INSERT ON approval_requests TO nbmlops_writer",
        "GRANT UPDATE ON approval_requests TO nbmlops_approver",
        "GRANT INSERT ON approval_votes TO nbmlops_approver",
        "GRANT INSERT, UPDATE, DELETE ON alias_protections TO nbmlops_admin",
        "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC, "
        + q(_role(g) for g in GROUPS),
    ]
    functions = _FUNCTIONS.replace("__LOCK__", str(_AUDIT_LOCK_KEY)).replace(
        "__TEAM__", TEAM_MODEL)
    out.append(functions)
    out.append(_TRIGGERS)
    for table, (column, events) in _IDENTITY.items():
        out.append(f"DROP TRIGGER IF EXISTS nbmlops_identity ON {table}")
        out.append(f"CREATE TRIGGER nbmlops_identity BEFORE {events} ON {table} FOR EACH ROW "
                   f"EXECUTE FUNCTION nbmlops_identity('{column}')")
    for table, events in _AUDITED.items():
        out.append(f"DROP TRIGGER IF EXISTS nbmlops_audit ON {table}")
        out.append(f"CREATE TRIGGER nbmlops_audit AFTER {events} ON {table} FOR EACH ROW "
                   "EXECUTE FUNCTION nbmlops_audit_row()")
    out.append(_POLICIES)
    return out


def _create_groups(conn: Connection) -> None:
    previous = None
    for group in GROUPS:
        role = _role(group)
        # roles are the cluster's: another database may have made them already
        conn.execute(text(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"))
        if previous is not None and not conn.execute(text(
                "SELECT pg_has_role(:role, :inner, 'MEMBER')"),
                {"role": role, "inner": previous}).scalar():
            conn.execute(text(f"GRANT {previous} TO {role}"))
        previous = role


def init(conn: Connection) -> list[str]:
    """Install team mode (idempotent); the group roles."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x6E62746D})  # "nbtm"
    _create_groups(conn)
    for statement in _statements(conn):
        conn.exec_driver_sql(statement)
    return [_role(g) for g in GROUPS]


def check_member_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.startswith(
            (ROLE_PREFIX, "pg_")) or name in ("public", "postgres"):
        raise ValueError(f"member name {name!r}: use lower-case letters, digits and _ (up to "
                         "63, not starting with a digit, nbmlops_ or pg_)")
    return name


def check_group(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(f"role {group!r}: choose one of {', '.join(GROUPS)}")
    return group


def add(conn: Connection, name: str, group: str, password: str | None) -> None:
    """A login role in ``group`` (admins can create roles: CREATEROLE)."""
    require_team(conn)
    attributes = "LOGIN CREATEROLE" if group == "admin" else "LOGIN"
    statement = conn.execute(text(
        "SELECT format('CREATE ROLE %I ' || :attrs || "
        "CASE WHEN CAST(:pw AS text) IS NULL THEN '' ELSE format(' PASSWORD %L', "
        "CAST(:pw AS text)) END || ' IN ROLE %I', CAST(:name AS text), CAST(:role AS text))"),
        {"attrs": attributes, "pw": password, "name": name, "role": _role(group)}
    ).scalar_one()
    conn.exec_driver_sql(statement)
    conn.execute(text("SELECT nbmlops_audit_team('team-add', :name, :role)"),
                 {"name": name, "role": group})


def remove(conn: Connection, name: str) -> str | None:
    """Drop a member's login role; the group it was in (None: it is not a member)."""
    require_team(conn)
    group = _group_of(conn, name)
    if group is None:
        return None
    conn.exec_driver_sql(conn.execute(text("SELECT format('DROP ROLE %I', CAST(:n AS text))"),
                                      {"n": name}).scalar_one())
    conn.execute(text("SELECT nbmlops_audit_team('team-remove', :name, :role)"),
                 {"name": name, "role": group})
    return group


def _group_of(conn: Connection, name: str) -> str | None:
    for member, group in members(conn):
        if member == name:
            return group
    return None


def members(conn: Connection) -> list[tuple[str, str]]:
    """(login role, its highest group), by name: the team."""
    rows = conn.execute(text(
        "SELECT m.rolname, g.rolname FROM pg_auth_members a "
        "JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
        "WHERE g.rolname LIKE 'nbmlops\\_%' AND m.rolcanlogin ORDER BY m.rolname")).all()
    best: dict[str, str] = {}
    for member, role in rows:
        group = role[len(ROLE_PREFIX):]
        if group in GROUPS and GROUPS.index(group) >= GROUPS.index(best.get(member, group)):
            best[member] = group
    return sorted(best.items())


def require_team(conn: Connection) -> None:
    if not installed(conn):
        from nbmlops.errors import StoreError

        raise StoreError("team mode is not set up in this store: the database owner runs "
                         "`nbmlops team init` first")


def installed(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'nbmlops_chain' "
        "AND tgrelid = to_regclass('audit_events'))")).scalar())


_modes: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def team_mode(conn: Connection) -> bool:
    """Whether the database writes identities and audit events (cached per engine)."""
    if conn.dialect.name != "postgresql":
        return False
    engine = conn.engine
    found = _modes.get(engine)
    if found is None:
        found = _modes[engine] = installed(conn)
    return found


def forget_mode(engine: Engine) -> None:
    _modes.pop(engine, None)


def context(conn: Connection, table: str, **values: Any) -> None:
    """Tell the trigger on ``table`` what only the client knows about the next change."""
    if not team_mode(conn):
        return
    payload: Mapping[str, Any] = {"table": table, **{k: v for k, v in values.items()
                                                     if v is not None}}
    conn.execute(text("SELECT set_config('nbmlops.context', :ctx, true)"),
                 {"ctx": json.dumps(payload, sort_keys=True)})


def last_event_id(conn: Connection) -> int | None:
    found = conn.execute(text("SELECT nullif(current_setting('nbmlops.last_event', true), "
                              "'')")).scalar()
    return None if found is None else int(found)


def session_user(conn: Connection) -> str:
    return str(conn.execute(text("SELECT session_user")).scalar_one())


__all__ = ["GROUPS", "ROLE_PREFIX", "TEAM_MODEL", "add", "check_group", "check_member_name",
           "context", "init", "installed", "last_event_id", "members", "remove",
           "session_user", "team_mode"]
