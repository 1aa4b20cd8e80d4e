"""``%deploy`` and ``nbmlops deploy``: serve a registered model, list/stop/inspect
deployments, score a file, export a bundle."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from nbmlops.commands.arguments import Arguments

ARGUMENTS: Arguments = (
    (("reference",), {"nargs": "?", "help": "the model: churn@production, churn/3, churn"}),
    (("--name",), {"help": "the deployment's name (default: the model's)"}),
    (("--host",), {"default": "127.0.0.1",
                   "help": "the address to listen on (default 127.0.0.1; 0.0.0.0: all)"}),
    (("--port",), {"type": int, "default": 8000, "help": "default 8000; 0 picks a free port"}),
    (("--workers",), {"type": int, "default": 1, "help": "worker processes (default 1)"}),
    (("--token-env",), {"metavar": "VAR", "help": "require a bearer token, read from the "
                        "environment variable VAR"}),
    (("--trusted",), {"action": "store_true", "help": "allow a version stored as a pickle"}),
    (("--no-log",), {"action": "store_true", "help": "do not log predictions"}),
    (("--log-sample",), {"type": float, "default": 1.0, "metavar": "SHARE",
                         "help": "log this share of requests (0 to 1, default 1)"}),
    (("--log-max-rows",), {"type": int, "default": 1_000_000, "metavar": "N",
                           "help": "keep at most N logged rows, the oldest dropped first "
                           "(default 1,000,000)"}),
    (("--max-body",), {"type": int, "default": 10 * 1024 * 1024, "metavar": "BYTES",
                       "help": "the largest request body accepted (default 10 MiB)"}),
    (("--poll",), {"type": float, "default": 2.0, "metavar": "SECONDS",
                   "help": "how often to check whether the served alias moved (default 2)"}),
    (("--canary",), {"metavar": "CHALLENGER", "help": "answer a share of requests with this "
                     "alias or version of the same model (candidate, 3)"}),
    (("--shadow",), {"metavar": "CHALLENGER", "help": "score every request with this alias "
                     "or version too; answer with the served one"}),
    (("--share",), {"type": float, "metavar": "SHARE", "help": "with --canary: the "
                    "challenger's share of requests (default 0.1)"}),
    (("--key",), {"metavar": "COLUMN", "help": "with --canary: route per row by this "
                  "column's value (a key always meets the same version)"}),
    (("--promote-when",), {"metavar": "RULE", "help": "promote the challenger when this "
                           "holds: \"requests>=2000 and errors<=champion and "
                           "p99<=1.2*champion\""}),
    (("--rollback-when",), {"metavar": "RULE", "help": "end the canary when this holds: "
                            "\"errors>champion+0.01\""}),
    (("--rollout",), {"metavar": "NAME", "help": "a canary's or shadow's live comparison"}),
    (("--list",), {"action": "store_true", "help": "deployments, newest first"}),
    (("--stop",), {"metavar": "NAME", "help": "stop a deployment"}),
    (("--logs",), {"metavar": "NAME", "help": "the end of a deployment's server log"}),
    (("--lines",), {"type": int, "default": 40, "help": "with --logs: how many lines"}),
    (("--batch",), {"metavar": "INPUT", "help": "score a .parquet or .csv file instead"}),
    (("--out",), {"metavar": "OUTPUT", "help": "with --batch: where to write the scores"}),
    (("--engine",), {"choices": ("pandas", "dask"), "default": "pandas",
                     "help": "with --batch: dask for files larger than memory"}),
    (("--chunk-size",), {"type": int, "default": 100_000, "metavar": "ROWS",
                         "help": "with --batch: rows per chunk (default 100,000)"}),
    (("--proba",), {"action": "store_true", "help": "with --batch: class probabilities"}),
    (("--export",), {"metavar": "DIR", "help": "write a self-contained folder that serves "
                     "the model without the store"}),
)


@dataclass(frozen=True)
class Outcome:
    """What a deploy command did: a message to show, or (``--list``) the deployments."""

    message: str | None = None
    table: Any = None  # a DataFrame with --list


def run(args: argparse.Namespace) -> Outcome:
    """Do what ``args`` (parsed from ARGUMENTS) ask."""
    from nbmlops import api

    modes = [m for m in ("stop", "logs", "batch", "export", "rollout") if getattr(args, m)]
    modes += ["list"] if args.list else []
    if len(modes) > 1:
        raise ValueError(f"use one of --{', --'.join(modes)} at a time")
    if not args.reference and not (args.list or args.stop or args.logs or args.rollout):
        raise ValueError("name the model to serve, e.g. churn@production (or --list, "
                         "--stop NAME, --logs NAME)")
    if args.out and not args.batch:
        raise ValueError("--out goes with --batch INPUT")
    if args.list:
        return Outcome(table=api.deployments())
    if args.stop:
        stopped = api.stop_deployment(args.stop)
        return Outcome(f"stopped {stopped.name} (it served {stopped.model}/{stopped.version} "
                       f"at {stopped.url})")
    if args.logs:
        return Outcome(api.deployment_logs(args.logs, args.lines))
    if args.rollout:
        return Outcome(str(api.rollout(args.rollout)))
    if args.batch:
        if not args.out:
            raise ValueError("--batch INPUT needs --out OUTPUT (a .parquet or .csv file)")
        result = api.score_batch(args.reference, args.batch, args.out, engine=args.engine,
                                 chunk_size=args.chunk_size, proba=args.proba,
                                 trusted=args.trusted)
        return Outcome(f"{result}")
    if args.export:
        folder = api.export_bundle(args.reference, args.export, trusted=args.trusted,
                                   port=args.port)
        return Outcome(f"exported {args.reference} to {folder}: serve it with "
                       f"{folder / 'start.sh'} (or python -m nbmlops.serving {folder}); a "
                       "Dockerfile is beside it")
    deployment = api.deploy(
        args.reference, name=args.name, host=args.host, port=args.port, workers=args.workers,
        token_env=args.token_env, trusted=args.trusted, log_predictions=not args.no_log,
        log_sample=args.log_sample, log_max_rows=args.log_max_rows, max_body=args.max_body,
        poll=args.poll, canary=args.canary, shadow=args.shadow, share=args.share,
        key=args.key, promote_when=args.promote_when, rollback_when=args.rollback_when)
    follows = " (follows the alias)" if deployment.alias else ""
    rollout = deployment.options.get("rollout")
    if rollout:
        follows += (f"; {rollout['mode']} of {rollout['challenger']}"
                    + (f" ({rollout['share']:g} of requests)" if rollout["mode"] == "canary"
                       else "") + f": `nbmlops rollout {deployment.name}`")
    return Outcome(f"deployed {deployment.name}: {deployment.model}/{deployment.version}"
                   f"{follows} at {deployment.url}\n  POST {deployment.url}/predict · docs "
                   f"{deployment.url}/docs · stop with `%deploy --stop {deployment.name}` or "
                   f"`nbmlops deploy --stop {deployment.name}`")


__all__ = ["ARGUMENTS", "Outcome", "run"]
