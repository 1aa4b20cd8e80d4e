"""``nbmlops team init|add|list|remove|whoami``: team mode on a PostgreSQL store."""

from __future__ import annotations

import argparse
from typing import TextIO

import pandas as pd

from nbmlops.cli._output import write_frame


def _init(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    roles = api.team_init()
    out.write(f"team mode is on: roles {', '.join(roles)}; add people with "
              "`nbmlops team add NAME --role writer`\n")
    return 0


def _add(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    member = api.team_add(args.name, args.role, password_env=args.password_env)
    out.write(f"added {member.name} as {member.role}\n")
    return 0


def _remove(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    member = api.team_remove(args.name)
    out.write(f"removed {member.name} (was {member.role})\n")
    return 0


def _list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    frame = pd.DataFrame([{"name": m.name, "role": m.role} for m in api.team_list()],
                         columns=["name", "role"])
    write_frame(frame, args.format, out, "no team members")
    return 0


def _whoami(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    out.write(f"{api.whoami() or '?'}\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    team = sub.add_parser("team", help="team mode on PostgreSQL: roles enforced by the "
                          "database")
    team_sub = team.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = team_sub.add_parser("init", help="create the roles, grants, policies and audit "
                               "triggers (the database owner, once)")
    init.set_defaults(func=_init)
    add = team_sub.add_parser("add", help="add a person (a PostgreSQL login role)")
    add.add_argument("name")
    add.add_argument("--role", choices=("reader", "writer", "approver", "admin"),
                     default="writer")
    add.add_argument("--password-env", metavar="VAR",
                     help="the environment variable holding the new role's password")
    add.set_defaults(func=_add)
    listing = team_sub.add_parser("list", help="the team: each person and their role")
    listing.add_argument("--format", choices=("table", "json", "csv"), default="table")
    listing.set_defaults(func=_list)
    remove = team_sub.add_parser("remove", help="remove a person (drops their login role)")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)
    whoami = team_sub.add_parser("whoami", help="who the store says you are")
    whoami.set_defaults(func=_whoami)
