"""``python -m nbmlops.serving TARGET`` (and ``nbmlops serve``): serve in the foreground."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nbmlops.errors import NbmlopsError


def parser(prog: str = "python -m nbmlops.serving") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Serve a registered model over HTTP until stopped (Ctrl-C or "
        "SIGTERM finish the requests in flight, then stop).")
    p.add_argument("target", help="a model reference (churn@production, churn/3, churn) "
                   "from the lineage store, or a bundle folder made by `%%deploy --export`")
    p.add_argument("--name", help="the deployment's name (default: the model's)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--token-env", metavar="VAR", help="require 'Authorization: Bearer "
                   "<token>' with the token in this environment variable")
    p.add_argument("--trusted", action="store_true", help="trust every type in the model "
                   "file (needed for a version stored as a pickle)")
    p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="trust this type (pkg.Class) beyond the well-known ones; repeatable")
    p.add_argument("--no-log", dest="log_predictions", action="store_false",
                   help="do not log predictions")
    p.add_argument("--log-sample", type=float, default=1.0, metavar="SHARE",
                   help="log this share of requests (0 to 1, default 1)")
    p.add_argument("--log-max-rows", type=int, default=1_000_000, metavar="N",
                   help="keep at most N logged rows, dropping the oldest (default 1,000,000)")
    p.add_argument("--log-dir", help="where to write the prediction log")
    p.add_argument("--max-body", type=int, default=10 * 1024 * 1024, metavar="BYTES",
                   help="the largest request body accepted (default 10 MiB)")
    p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS",
                   help="how often to check whether the served alias moved (default 2)")
    p.add_argument("--canary", metavar="CHALLENGER", help="send a share of requests to "
                   "this alias or version of the same model (candidate, 3)")
    p.add_argument("--shadow", metavar="CHALLENGER", help="score every request with this "
                   "alias or version too, answering with the served one")
    p.add_argument("--share", type=float, metavar="SHARE",
                   help="with --canary: the challenger's share of requests (default 0.1)")
    p.add_argument("--key", metavar="COLUMN", help="with --canary: route per row by this "
                   "column's value, so a key always meets the same version")
    p.add_argument("--promote-when", metavar="RULE", help="promote the challenger when this "
                   "holds, e.g. \"requests>=2000 and errors<=champion and p99<=1.2*champion\"")
    p.add_argument("--rollback-when", metavar="RULE", help="end the canary when this holds, "
                   "e.g. \"errors>champion+0.01\"")
    p.add_argument("--url", help="where clients reach this server (a load balancer, a "
                   "Kubernetes Service), recorded with the deployment (default: the address "
                   "it listens on)")
    p.add_argument("--id", dest="deployment_id", help=argparse.SUPPRESS)
    p.add_argument("--server-log", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m nbmlops.serving") -> int:
    from nbmlops.serving.rollout import spec_from
    from nbmlops.serving.server import ServeOptions, serve

    args = parser(prog).parse_args(argv)
    try:
        rollout = spec_from(canary=args.canary, shadow=args.shadow, share=args.share,
                            key=args.key, promote_when=args.promote_when,
                            rollback_when=args.rollback_when)
    except ValueError as exc:
        print(f"nbmlops: {exc}", file=sys.stderr)
        return 1
    options = ServeOptions(
        target=args.target, name=args.name, host=args.host, port=args.port,
        workers=args.workers, token_env=args.token_env,
        trusted=True if args.trusted else (list(args.trust) or False),
        log_predictions=args.log_predictions, log_sample=args.log_sample,
        log_max_rows=args.log_max_rows, log_dir=args.log_dir, max_body=args.max_body,
        poll_s=args.poll, deployment_id=args.deployment_id, server_log=args.server_log,
        rollout=rollout, url=args.url)
    try:
        return serve(options)
    except (NbmlopsError, ValueError) as exc:
        print(f"nbmlops: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
