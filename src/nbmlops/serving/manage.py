"""Deployments in the background: start a server process, list, stop, read its log.

:func:`start` runs ``python -m nbmlops.serving`` as a process of its own (its own session,
so it outlives the notebook's kernel restarts and ignores Ctrl-C there), with its output
in ``<deployments>/<name>/server-<id>.log``, and returns once ``/health`` answers. The
server process records itself in the store; :func:`stop` sends it SIGTERM (it finishes
the requests in flight and records ``stopped``) and kills it only if it does not stop in
time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops._types import Actor, Deployment
from nbmlops.config import settings_env
from nbmlops.errors import DeploymentError
from nbmlops.serving.rollout import command_flags
from nbmlops.serving.server import ServeOptions, bind, deployments_root, require_serving
from nbmlops.store import liveness

if TYPE_CHECKING:
    from nbmlops.workspace import Workspace

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
_children: dict[str, subprocess.Popen[bytes]] = {}  # this process's servers, to reap them


def command(options: ServeOptions) -> list[str]:
    """The command line that serves ``options`` in a process of its own."""
    cmd = [sys.executable, "-m", "nbmlops.serving", options.target,
           "--host", options.host, "--port", str(options.port),
           "--workers", str(options.workers), "--log-sample", str(options.log_sample),
           "--log-max-rows", str(options.log_max_rows), "--max-body", str(options.max_body),
           "--poll", str(options.poll_s)]
    for flag, value in (("--name", options.name), ("--token-env", options.token_env),
                        ("--log-dir", options.log_dir), ("--id", options.deployment_id),
                        ("--server-log", options.server_log)):
        if value is not None:
            cmd += [flag, value]
    if options.trusted is True:
        cmd.append("--trusted")
    elif options.trusted:
        for name in options.trusted:
            cmd += ["--trust", name]
    if not options.log_predictions:
        cmd.append("--no-log")
    return cmd + command_flags(options.rollout)


def start(ws: Workspace, options: ServeOptions, *, store_url: str,
          timeout: float = START_TIMEOUT_S) -> Deployment:
    """Start a server for a registered model in the background; the live deployment."""
    from nbmlops.references import parse_reference
    from nbmlops.registry import check_loadable

    options.check()
    require_serving()
    ref = parse_reference(options.target)
    # a clear error now (no such version, a file it may not load), rather than from a
    # process that exits
    check_loadable(ws, ref, trusted=options.trusted)
    if options.rollout is not None:
        from nbmlops.serving.rollout import RolloutSpec

        check_loadable(ws, RolloutSpec.from_dict(options.rollout).reference(ref),
                       trusted=options.trusted)
    name = options.name or ref.model
    running = [d for d in ws.store.list_deployments(running=True) if d.name == name]
    if running:
        raise DeploymentError(
            f"a deployment named {name!r} is already running at {running[0].url}; stop it "
            f"first (`%deploy --stop {name}`) or give this one another name (--name)",
            name=name)
    if options.port:  # a taken port is a one-line error now, not a server that exits
        bind(options.host, options.port).close()
    dep_id = uuid.uuid4().hex
    folder = deployments_root(ws.settings.artifacts_root) / name
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"server-{dep_id[:8]}.log"
    options = replace(options, name=name, deployment_id=dep_id, server_log=str(log_path))
    env = {**os.environ, **settings_env(ws.settings), "NBMLOPS_STORE": store_url,
           "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(command(options), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=ws.project_root, env=env)
    _children[dep_id] = proc
    return _wait_ready(ws, proc, dep_id, log_path, timeout)


def _wait_ready(ws: Workspace, proc: subprocess.Popen[bytes], dep_id: str, log_path: Path,
                timeout: float) -> Deployment:
    deadline = time.monotonic() + timeout
    deployment = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeploymentError(f"the server exited before it was ready (status "
                                  f"{proc.returncode}):\n{tail(log_path, 15)}")
        if deployment is None:
            try:
                deployment = ws.store.get_deployment(dep_id)
            except DeploymentError:
                time.sleep(0.1)
                continue
        if _healthy(deployment.url):
            return ws.store.get_deployment(dep_id)
        time.sleep(0.1)
    _terminate(proc.pid, proc)
    raise DeploymentError(f"the server did not answer within {timeout:.0f} s and was "
                          f"stopped; its log:\n{tail(log_path, 15)}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop(ws: Workspace, name: str, *, timeout: float = STOP_TIMEOUT_S) -> Deployment:
    """Stop a running deployment (SIGTERM, then SIGKILL after ``timeout``)."""
    deployment = ws.store.get_deployment(name)
    if deployment.status != "running":
        raise DeploymentError(f"deployment {deployment.name!r} is not running (it "
                              f"{deployment.status} at {_when(deployment)})", name=name)
    if deployment.host != liveness.hostname() or deployment.pid is None:
        raise DeploymentError(f"deployment {deployment.name!r} runs on {deployment.host}; stop "
                              "it there (`nbmlops deploy --stop NAME`)", name=name)
    if liveness.owner_is_dead(deployment.pid, deployment.process_token):
        ws.store.reap_deployments(time.time(), name=deployment.name)
        return ws.store.get_deployment(deployment.id)
    proc = _children.pop(deployment.id, None)
    os.kill(deployment.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        if proc is None and liveness.owner_is_dead(deployment.pid, deployment.process_token):
            break
        time.sleep(0.05)
    else:
        _terminate(deployment.pid, proc, hard=True)
        return ws.store.end_deployment(
            deployment.id, "stopped", actor=Actor(user=ws.actor.user, host=ws.actor.host),
            error=f"did not stop within {timeout:.0f} s of SIGTERM and was killed")
    # the server records its own stop; if it could not, record it here
    current = ws.store.get_deployment(deployment.id)
    if current.status == "running":
        current = ws.store.end_deployment(
            deployment.id, "stopped", actor=Actor(user=ws.actor.user, host=ws.actor.host))
    return current


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None, *, hard: bool = False) -> None:
    sig = signal.SIGKILL if hard else signal.SIGTERM
    try:
        if os.getpgid(pid) == pid:  # a server we started leads its own group (its workers)
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _when(deployment: Deployment) -> str:
    when = deployment.stopped_at or deployment.started_at
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def tail(path: Path | str | None, lines: int = 50) -> str:
    """The last ``lines`` lines of a server's log (a local file)."""
    from nbmlops.serving.serverlog import tail as _tail

    return _tail(path, lines)


def logs(ws: Workspace, name: str, lines: int = 50) -> str:
    """The last lines of a deployment's server log, wherever it is kept (a local file, or
    segments on the artifacts' object storage)."""
    from nbmlops.serving.serverlog import tail as _tail

    return _tail(ws.store.get_deployment(name).server_log, lines,
                 options=ws.settings.artifacts_options)


def rows(deployments: Sequence[Deployment]) -> list[dict[str, object]]:
    """Deployments as table rows (newest first)."""
    return [{"name": d.name, "status": d.status, "url": d.url, "model": d.model,
             "alias": d.alias, "version": d.version, "workers": d.workers,
             "started_at": d.started_at, "stopped_at": d.stopped_at, "pid": d.pid,
             "host": d.host, "id": d.id, "options": json.dumps(
                 {k: v for k, v in d.options.items() if k != "row_id_key"})}
            for d in deployments]


TRAFFIC_TIMEOUT_S = 3.0


def _quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The upper bound (seconds) of the latency bucket holding quantile ``q``, from
    cumulative ``(le, count)`` pairs; None without requests or past the last finite one."""
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return None
    for bound, count in buckets:
        if count >= q * total:
            return None if bound == float("inf") else bound
    return None


def read_counters(text: str) -> dict[str, float]:
    """``/predict``'s counters in a Prometheus scrape of the model server, as they stand
    since it started: ``requests``, ``client_errors`` (4xx), ``server_errors`` (5xx),
    ``rows``, ``latency_sum`` (seconds), ``version`` (when it says) and the latency
    histogram's cumulative buckets as ``le:<seconds>``. ValueError for what is not
    Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {"requests": 0.0, "client_errors": 0.0, "server_errors": 0.0, "rows": 0.0,
           "latency_sum": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, float(sample.value)
            if sample.name == "nbmlops_predicted_rows_total":
                out["rows"] += value
            elif sample.name == "nbmlops_model_version":
                out["version"] = value
            if labels.get("endpoint") != "/predict":
                continue
            if sample.name == "nbmlops_requests_total":
                out["requests"] += value
                status = labels.get("status", "")
                if status.startswith("5"):
                    out["server_errors"] += value
                elif status.startswith("4"):
                    out["client_errors"] += value
            elif sample.name == "nbmlops_request_duration_seconds_bucket":
                key = f"le:{float(labels['le'])!r}"
                out[key] = out.get(key, 0.0) + value
            elif sample.name == "nbmlops_request_duration_seconds_sum":
                out["latency_sum"] += value
    return out


def traffic_figures(now: Mapping[str, float], before: Mapping[str, float] | None = None
                    ) -> dict[str, Any]:
    """Requests, errors, rows, the error rate (5xx over requests) and mean/p50/p99 latency
    (ms; p50 and p99 are the bounds of their histogram buckets) between two scrapes'
    counters (``before`` None: since the server started; counters that went down mean it
    restarted, and count from its start)."""
    if before is None or now.get("requests", 0.0) < before.get("requests", 0.0):
        before = {}
    delta = {k: v - before.get(k, 0.0) for k, v in now.items() if k != "version"}
    requests = delta.get("requests", 0.0)
    cumulative = sorted((float(k[3:]), v) for k, v in delta.items() if k.startswith("le:"))
    p50, p99 = _quantile(cumulative, 0.5), _quantile(cumulative, 0.99)
    finite = [b for b, _ in cumulative if b != float("inf")]
    return {"requests": int(requests), "client_errors": int(delta.get("client_errors", 0.0)),
            "server_errors": int(delta.get("server_errors", 0.0)),
            "rows": int(delta.get("rows", 0.0)),
            "version": None if "version" not in now else int(now["version"]),
            "error_rate": delta.get("server_errors", 0.0) / requests if requests else None,
            "mean_ms": delta.get("latency_sum", 0.0) / requests * 1000.0 if requests else None,
            "p50_ms": None if p50 is None else p50 * 1000.0,
            "p99_ms": None if p99 is None else p99 * 1000.0,
            # p99 past the last finite bucket: at least that long
            "p99_above_ms": finite[-1] * 1000.0 if requests and p99 is None and finite
            else None}


def read_traffic(text: str) -> dict[str, Any]:
    """``/predict``'s requests, errors, rows and latency from a Prometheus scrape of the
    model server (its counters since it started)."""
    figures = traffic_figures(read_counters(text))
    return {k: figures[k] for k in ("requests", "client_errors", "server_errors", "rows",
                                     "version", "mean_ms", "p50_ms", "p99_ms")}


def scrape(deployment: Deployment, *, timeout: float = TRAFFIC_TIMEOUT_S
           ) -> tuple[str | None, str | None]:
    """The running deployment's ``/metrics`` text (read with the bearer token from the
    variable it names), or None and why it cannot be read (stopped, not answering,
    refused)."""
    if deployment.status != "running":
        return None, f"deployment {deployment.name} is {deployment.status}"
    headers = {}
    token = os.environ.get(deployment.token_env) if deployment.token_env else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(deployment.url.rstrip("/") + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(4_000_000).decode("utf-8", errors="replace"), None
    except urllib.error.HTTPError as exc:
        return None, f"/metrics answered HTTP {exc.code}" + (
            f" (set the token variable {deployment.token_env} where this runs)"
            if exc.code == 401 else "")
    except (OSError, ValueError) as exc:
        return None, f"/metrics cannot be read: {getattr(exc, 'reason', exc)}"


def traffic(ws: Workspace, name: str, *, timeout: float = TRAFFIC_TIMEOUT_S
            ) -> dict[str, object]:
    """A running deployment's traffic as its server's ``/metrics`` counts it;
    ``reachable`` False with ``detail`` saying why when it cannot be read."""
    deployment = ws.store.get_deployment(name)
    out: dict[str, object] = {"name": deployment.name, "reachable": False, "detail": None,
                              "requests": None, "client_errors": None, "server_errors": None,
                              "rows": None, "version": None, "mean_ms": None,
                              "p50_ms": None, "p99_ms": None}
    text, why = scrape(deployment, timeout=timeout)
    if text is None:
        out["detail"] = why
        return out
    try:
        out.update(read_traffic(text), reachable=True)
    except ValueError as exc:  # not Prometheus text: another server on that port
        out["detail"] = f"/metrics is not Prometheus text ({exc})"
    return out


def history(ws: Workspace, name: str) -> list[Deployment]:
    """Every record of the deployment called ``name`` (or of the one with that id's name):
    its first start and each restart, newest first."""
    found = ws.store.get_deployment(name)
    return [d for d in ws.store.list_deployments() if d.name == found.name]
