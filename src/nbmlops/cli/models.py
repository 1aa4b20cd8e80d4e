"""``nbmlops models list|show|promote|rollback|history`` and
``protect|unprotect|approve|reject|requests``: the model registry and its protected aliases."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from nbmlops.cli._output import clean_floats, dump_json, write_frame
from nbmlops.commands import approvals as said
from nbmlops.formatting import format_number


def _models_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    frame = api.models(args.name)
    write_frame(frame, args.format, out, "no models registered yet" if args.name is None
                else f"{args.name} has no versions")
    return 0


def _models_show(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api
    api.workspace(create=False)  # reading: a store that isn't there is an error, not created
    version = api.model_version(args.reference)
    if args.format == "json":
        dump_json(clean_floats(dataclasses.asdict(version)), out)
        return 0
    w = out.write
    w(f"{version.model} version {version.version}"
      + (f" (@{', @'.join(version.aliases)})" if version.aliases else "") + "\n")
    for label, value in (("registered", f"{version.created_at.isoformat(timespec='seconds')} "
                                        f"by {version.created_by or '?'}"),
                         ("source run", version.run_id or ""), ("flavor", version.flavor),
                         ("format", version.format), ("sha256", version.sha256),
                         ("description", version.description or "")):
        if value:
            w(f"  {label:<12} {value}\n")
    if version.signature:
        inputs = ", ".join(f"{n} {t}" for n, t in version.signature.get("inputs", []))
        w(f"  {'inputs':<12} {inputs}\n")
        if version.signature.get("output"):
            w(f"  {'output':<12} {version.signature['output']}\n")
    if version.metrics:
        w("metrics:\n" + "".join(f"  {k} = {format_number(v)}\n"
                                  for k, v in version.metrics.items()))
    if version.files:
        w("files:\n" + "".join(f"  {k} ({v[:12]}…)\n" for k, v in version.files.items()))
    return 0


def _models_promote(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    result = api.promote(args.name, args.version, args.alias, reason=args.reason,
                         require=args.require)
    out.write(said.promote_line(args.name, args.alias, args.version, result) + "\n")
    return 0


def _models_rollback(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    result = api.rollback(args.reference, reason=args.reason)
    out.write(said.rollback_line(args.reference, result) + "\n")
    return 0


def _models_protect(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    found = api.protect_alias(args.name, args.alias, approvals=args.approvals,
                              require=args.require, role=args.role)
    out.write(said.protection_line(found) + "\n")
    return 0


def _models_unprotect(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    api.unprotect_alias(args.name, args.alias)
    out.write(f"{args.name}@{args.alias} is no longer protected: it moves directly\n")
    return 0


def _models_decide(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    decide = api.approve if args.action == "approve" else api.reject
    request = decide(args.name, args.alias, request=args.request, reason=args.reason)
    out.write(said.decision_line(request) + "\n")
    return 0


def _models_requests(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    found = api.approval_requests(args.name, status=None if args.all else "open")
    frame = said.requests_table(found)
    if args.format == "table" and not frame.empty:
        frame = frame.assign(requested_at=frame["requested_at"].map(
            lambda t: t.isoformat(timespec="seconds")), reason=frame["reason"].fillna(""))
    write_frame(frame, args.format, out, "no open requests" if not args.all
                else "no requests")
    return 0


def _models_history(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    api.workspace(create=False)
    frame = api.model_history(args.reference)
    if args.format == "table" and not frame.empty:
        frame = frame.assign(time=frame["time"].map(lambda t: t.isoformat(timespec="seconds")))
        frame = frame.astype({c: "Int64" for c in ("version", "from_version", "to_version")})
    write_frame(frame, args.format, out, "no events")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="the model registry: versions, aliases, history")
    models_sub = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    mlist = models_sub.add_parser("list", help="registered models, or one model's versions")
    mlist.add_argument("name", nargs="?")
    mlist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    mlist.set_defaults(func=_models_list)
    mshow = models_sub.add_parser("show", help="one version: its run, signature, metrics, files")
    mshow.add_argument("reference", help="NAME, NAME/VERSION or NAME@ALIAS")
    mshow.add_argument("--format", choices=("text", "json"), default="text")
    mshow.set_defaults(func=_models_show)
    mprom = models_sub.add_parser("promote", help="point NAME@ALIAS at VERSION")
    mprom.add_argument("name")
    mprom.add_argument("version", type=int)
    mprom.add_argument("alias")
    mprom.add_argument("--reason")
    mprom.add_argument("--require", action="append", default=[], metavar="GATE",
                       help='e.g. "accuracy>=0.8" (repeatable)')
    mprom.set_defaults(func=_models_promote)
    mroll = models_sub.add_parser("rollback",
                                  help="point NAME@ALIAS back at the version before")
    mroll.add_argument("reference", metavar="NAME@ALIAS")
    mroll.add_argument("--reason")
    mroll.set_defaults(func=_models_rollback)
    mprot = models_sub.add_parser("protect", help="NAME@ALIAS moves only through approved "
                                  "requests")
    mprot.add_argument("name")
    mprot.add_argument("alias")
    mprot.add_argument("--approvals", type=int, default=1, metavar="N",
                       help="approvals a move needs, each by someone other than the "
                       "requester (default 1)")
    mprot.add_argument("--require", action="append", default=[], metavar="GATE",
                       help='checked on the version at request and again at approval, e.g. '
                       '"accuracy>=0.8" (repeatable)')
    mprot.add_argument("--role", choices=("reader", "writer", "approver", "admin"),
                       help="the role an approver needs (enforced by PostgreSQL in team "
                       "mode; recorded only on SQLite)")
    mprot.set_defaults(func=_models_protect)
    munprot = models_sub.add_parser("unprotect", help="let NAME@ALIAS move directly again")
    munprot.add_argument("name")
    munprot.add_argument("alias")
    munprot.set_defaults(func=_models_unprotect)
    for action, text in (("approve", "approve the open request to move NAME@ALIAS"),
                         ("reject", "reject the open request to move NAME@ALIAS")):
        decide = models_sub.add_parser(action, help=text)
        decide.add_argument("name")
        decide.add_argument("alias")
        decide.add_argument("--request", type=int, metavar="N",
                            help="which request, when several are open")
        decide.add_argument("--reason")
        decide.set_defaults(func=_models_decide)
    mreq = models_sub.add_parser("requests", help="approval requests (open ones unless --all)")
    mreq.add_argument("name", nargs="?")
    mreq.add_argument("--all", action="store_true", help="approved and rejected ones too")
    mreq.add_argument("--format", choices=("table", "json", "csv"), default="table")
    mreq.set_defaults(func=_models_requests)
    mhist = models_sub.add_parser("history", help="who moved what, when and why")
    mhist.add_argument("reference", metavar="NAME[@ALIAS]")
    mhist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    mhist.set_defaults(func=_models_history)


__all__ = ["add_parsers"]
