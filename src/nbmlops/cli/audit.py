"""``nbmlops audit list|verify|head``: the tamper-evident audit trail."""

from __future__ import annotations

import argparse
from typing import TextIO

from nbmlops.cli._output import write_frame
from nbmlops.commands import approvals as said


def _audit_list(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    events = api.audit_events(args.model, user=args.user, since=args.since, limit=args.limit)
    frame = said.audit_table(events)
    if args.format == "table" and not frame.empty:
        frame = frame.assign(time=frame["time"].map(lambda t: t.isoformat(timespec="seconds")),
                             reason=frame["reason"].fillna(""))
    write_frame(frame, args.format, out, "no audit events")
    return 0


def _audit_verify(args: argparse.Namespace, out: TextIO) -> int:
    import sys

    from nbmlops import api

    found = api.verify_audit(anchor=args.anchor)
    if found.ok:
        out.write(said.verification_line(found) + "\n")
        return 0
    print(f"nbmlops: {said.verification_line(found)}", file=sys.stderr)
    return 1


def _audit_head(args: argparse.Namespace, out: TextIO) -> int:
    from nbmlops import api

    head = api.audit_head()
    if head is None:
        out.write("no audit events yet\n")
    else:
        out.write(head + "\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the hash-chained audit trail: list, verify, head")
    audit_sub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    alist = audit_sub.add_parser("list", help="who changed what in the registry and "
                                 "deployments, oldest first")
    alist.add_argument("--model", metavar="NAME")
    alist.add_argument("--user", metavar="USER")
    alist.add_argument("--since", help="a window such as 30m, 24h or 7d")
    alist.add_argument("--limit", type=int, metavar="N", help="the newest N events")
    alist.add_argument("--format", choices=("table", "json", "csv"), default="table")
    alist.set_defaults(func=_audit_list)
    averify = audit_sub.add_parser("verify", help="re-compute the hash chain; exit 1 naming "
                                   "the first event changed or removed")
    averify.add_argument("--anchor", metavar="HASH", help="a head hash recorded earlier "
                         "(`nbmlops audit head`): it must still be in the chain")
    averify.set_defaults(func=_audit_verify)
    ahead = audit_sub.add_parser("head", help="the last event's hash, to record elsewhere")
    ahead.set_defaults(func=_audit_head)


__all__ = ["add_parsers"]
