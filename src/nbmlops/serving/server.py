"""Running a model server in the foreground: ``nbmlops serve``, ``python -m nbmlops.serving``.

:func:`serve` binds the port itself (so a port in use is a clear error, and port 0 picks
a free one), records the deployment in the store, runs uvicorn with one or more worker
processes, keeps the deployment's heartbeat, and records how it ended: ``stopped`` on
SIGTERM/SIGINT (uvicorn finishes the requests in flight first), ``failed`` with the
error otherwise. Every worker builds its application with :func:`create_worker_app` from
the options the main process leaves in the environment (``NBMLOPS_SERVE``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nbmlops._types import Actor, NewDeployment
from nbmlops.errors import DeploymentError
from nbmlops.serving import metrics as metrics_mod

OPTIONS_ENV = "NBMLOPS_SERVE"
HEARTBEAT_S = 15.0
LEAN_ENV = "NBMLOPS_SERVE_LEAN"  # "0": every request takes the full path (see serving.app)


@dataclass(frozen=True)
class ServeOptions:
    """Everything a server process needs (JSON-able: it travels to the workers)."""

    target: str  # a model reference (churn@production) or a bundle folder
    name: str | None = None  # the deployment's name (default: the model's)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token_env: str | None = None
    trusted: bool | Sequence[str] = False  # True, or the types to trust beyond well-known ones
    log_predictions: bool = True
    log_sample: float = 1.0
    log_max_rows: int = 1_000_000
    log_dir: str | None = None
    max_body: int = 10 * 1024 * 1024
    poll_s: float = 2.0
    deployment_id: str | None = None
    server_log: str | None = None
    rollout: dict[str, Any] | None = None  # a canary or shadow (RolloutSpec.to_dict())
    url: str | None = None  # where clients reach it, recorded (default: where it listens)
    id_key: str | None = None  # hex: tags the row ids its workers issue (set by serve)
    # resolved by the main process
    store_url: str | None = None
    artifacts_root: str | None = None
    artifacts_url: str | None = None
    artifacts_options: dict[str, Any] = field(default_factory=dict)
    project_root: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not a port number (0 picks a free one)")
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1 (got {self.workers})")
        if not 0.0 <= self.log_sample <= 1.0:
            raise ValueError(f"--log-sample is a share of requests from 0 to 1 "
                             f"(got {self.log_sample})")
        if self.max_body < 1:
            raise ValueError(f"--max-body must be positive (got {self.max_body})")
        if self.rollout is not None:
            from nbmlops.references import parse_reference
            from nbmlops.serving.rollout import RolloutSpec

            if bundle_dir(self.target) is not None:
                raise ValueError("a canary or shadow compares versions in the store; an "
                                 "exported bundle serves one version")
            RolloutSpec.from_dict(self.rollout).check(parse_reference(self.target))
        if self.token_env is not None and not os.environ.get(self.token_env):
            raise DeploymentError(
                f"--token-env {self.token_env}: the environment variable {self.token_env} is "
                "not set (or empty); set it to the token clients must send")


def bundle_dir(target: str) -> Path | None:
    from nbmlops.serving.bundle import MANIFEST

    path = Path(target).expanduser()
    return path.resolve() if (path / MANIFEST).is_file() else None


def require_serving() -> None:
    """A MissingExtraError naming the extra when the server's libraries are not there
    (before any process is started, rather than a server that dies on import)."""
    import importlib.util

    from nbmlops.errors import MissingExtraError

    for module in ("uvicorn", "starlette", "prometheus_client"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("serving a model", extra="serve", module=module)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a DeploymentError that says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == 98 or "in use" in str(exc):
            raise DeploymentError(f"port {port} on {host} is already in use; choose another "
                                  "with --port (0 picks a free one)") from None
        raise DeploymentError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def serve(options: ServeOptions, *, ready: threading.Event | None = None) -> int:
    """Serve until stopped; return the exit status (0 after a clean stop)."""
    options.check()
    require_serving()
    bundle = bundle_dir(options.target)
    ws = None
    if bundle is None:
        options, ws, version, alias, model_name = _resolve_store(options)
    else:
        from nbmlops.serving.bundle import check_bundle

        manifest, _ = check_bundle(bundle, trusted=options.trusted)  # refused here, in one line
        model_name, version, alias = manifest["model"], int(manifest["version"]), None
        options = replace(options, target=str(bundle),
                          log_dir=options.log_dir or str(bundle / "predictions"))
        ws = _bundle_store(manifest)
    name = options.name or model_name
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    url = options.url or url_of(options.host, port)
    options = replace(options, name=name, port=port,
                      deployment_id=options.deployment_id or uuid.uuid4().hex,
                      id_key=options.id_key or (secrets.token_hex(16) if ws else None))
    multiproc = None
    if options.workers > 1:
        multiproc = tempfile.mkdtemp(prefix="nbmlops-metrics-")
        os.environ[metrics_mod.MULTIPROC_ENV] = multiproc
    os.environ[OPTIONS_ENV] = json.dumps(asdict(options))
    deployment = None
    stop_beat = threading.Event()
    shipper, server_log = _ship_server_log(options)
    status = "failed"
    try:
        if ws is not None:
            from nbmlops.store import liveness

            assert options.deployment_id is not None
            deployment = ws.store.start_deployment(NewDeployment(
                id=options.deployment_id, name=name, model=model_name, alias=alias,
                version=version, url=url, workers=options.workers, pid=os.getpid(),
                process_token=liveness.process_token(), user=ws.actor.user, host=ws.actor.host,
                started_at=time.time(), token_env=options.token_env, log_dir=options.log_dir,
                server_log=server_log, options={
                    "log_predictions": options.log_predictions,
                    "log_sample": options.log_sample, "log_max_rows": options.log_max_rows,
                    "max_body": options.max_body, "poll_s": options.poll_s,
                    "trusted": options.trusted, "bind": f"{options.host}:{port}",
                    **({"bundle": options.target} if bundle is not None else {}),
                    "row_id_key": options.id_key,
                    **({"rollout": {**options.rollout, "status": "running"}}
                       if options.rollout is not None else {})}),
                actor=Actor(user=ws.actor.user, host=ws.actor.host))
            threading.Thread(target=_beat, args=(ws, deployment.id, stop_beat),
                             daemon=True, name="nbmlops-heartbeat").start()
            if options.rollout is not None and (options.rollout.get("promote_when")
                                                or options.rollout.get("rollback_when")):
                # without rules nothing is decided: no thread reading the store and the
                # counters every second beside the worker
                _start_control(ws, deployment.id, options, stop_beat)
        print(f"nbmlops: serving {model_name}/{version} as {name!r} at {url} "
              f"({options.workers} worker{'s' if options.workers > 1 else ''})",
              file=sys.stderr, flush=True)
        status, error = _run_uvicorn(options, sock, ready)
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        stop_beat.set()
        sock.close()
        if deployment is not None and ws is not None:
            try:
                ws.store.end_deployment(deployment.id, status,
                                             actor=Actor(user=ws.actor.user, host=ws.actor.host),
                                             error=error)
            except Exception as exc:
                print(f"nbmlops: could not record the end of deployment {name!r}: {exc}",
                      file=sys.stderr, flush=True)
        if multiproc is not None:
            shutil.rmtree(multiproc, ignore_errors=True)
        os.environ.pop(OPTIONS_ENV, None)
        print(f"nbmlops: deployment {name!r} {status}", file=sys.stderr, flush=True)
        if shipper is not None:  # the server's last words too
            shipper.close()
    return 0 if status == "stopped" else 1


def _bundle_store(manifest: dict[str, Any]) -> Any:
    """The workspace a bundle server records its deployment in: the store ``NBMLOPS_STORE``
    names, only when it is set (a bundle has no project to find one in), else None. The
    store must hold the bundle's version with the same sha256: a record there names what
    is really served."""
    if not os.environ.get("NBMLOPS_STORE"):
        return None
    from nbmlops.config import resolve_settings
    from nbmlops.errors import ModelNotFoundError
    from nbmlops.serving.sources import open_existing

    model, version = manifest["model"], int(manifest["version"])
    unset = "or unset NBMLOPS_STORE to serve without recording the deployment"
    try:
        ws = open_existing(resolve_settings())
        registered = ws.store.get_model_version(model, version=version)
    except ImportError as exc:
        raise DeploymentError(f"recording this deployment in NBMLOPS_STORE needs "
                              f"{exc.name or 'the store driver'}: add it to the image's "
                              f"requirements.txt, {unset}") from None
    except ModelNotFoundError:
        raise DeploymentError(f"{model}/{version} is not registered in the store "
                              "NBMLOPS_STORE names: point it at the store the bundle was "
                              f"exported from, {unset}") from None
    if registered.sha256 != manifest["sha256"]:
        raise DeploymentError(f"the bundle's {model}/{version} (sha256 "
                              f"{str(manifest['sha256'])[:12]}…) is not the store's (sha256 "
                              f"{registered.sha256[:12]}…): point NBMLOPS_STORE at the store "
                              f"the bundle was exported from, {unset}")
    return ws


def _ship_server_log(options: ServeOptions) -> tuple[Any, str | None]:
    """Where the deployment record says the server's output is, and the shipper that
    copies it there: the local file itself, or (artifacts on object storage) segments
    beside the deployment's prediction log, uploaded as the server runs."""
    from nbmlops.artifacts import is_url

    if options.server_log is None or not options.artifacts_url or is_url(options.server_log):
        return None, options.server_log
    from nbmlops.serving.serverlog import Shipper

    assert options.name is not None
    assert options.deployment_id is not None
    url = f"{remote_deployments(options.artifacts_url)}/{options.name}/" \
          f"server-{options.deployment_id[:8]}"
    shipper = Shipper(options.server_log, url, options=options.artifacts_options)
    shipper.start()
    return shipper, url


def _beat(ws: Any, deployment_id: str, stop: threading.Event) -> None:
    from nbmlops.serving.sources import heartbeat_loop

    heartbeat_loop(ws, deployment_id, stop, HEARTBEAT_S)


def _start_control(ws: Any, deployment_id: str, options: ServeOptions,
                   stop: threading.Event) -> None:
    from nbmlops.references import parse_reference
    from nbmlops.serving.rollout import RolloutSpec, control

    assert options.rollout is not None
    spec = RolloutSpec.from_dict(options.rollout)
    threading.Thread(target=control, args=(ws, deployment_id, parse_reference(options.target),
                                           spec, stop), daemon=True,
                     name="nbmlops-rollout-control").start()


def _resolve_store(options: ServeOptions) -> tuple[ServeOptions, Any, int, str | None, str]:
    from nbmlops.config import resolve_settings
    from nbmlops.references import parse_reference
    from nbmlops.registry import check_loadable
    from nbmlops.serving.sources import open_existing

    settings = resolve_settings()
    ref = parse_reference(options.target)
    ws = open_existing(settings)
    # a file the server may not load is refused here, in one line, before anything starts
    version = check_loadable(ws, ref, trusted=options.trusted).version
    if options.rollout is not None:
        from nbmlops.serving.rollout import RolloutSpec

        check_loadable(ws, RolloutSpec.from_dict(options.rollout).reference(ref),
                       trusted=options.trusted)
    name = options.name or ref.model
    log_dir = options.log_dir or (
        f"{remote_deployments(settings.artifacts_url)}/{name}/predictions"
        if settings.artifacts_url else
        str(deployments_root(settings.artifacts_root) / name / "predictions"))
    return (replace(options, store_url=settings.store_url,
                    artifacts_root=str(settings.artifacts_root),
                    artifacts_url=settings.artifacts_url,
                    artifacts_options=dict(settings.artifacts_options),
                    project_root=str(settings.project_root), log_dir=log_dir),
            ws, version, ref.alias, ref.model)


def deployments_root(artifacts_root: Path) -> Path:
    """Where deployments keep their prediction logs and server logs: beside the artifacts
    (for artifacts on object storage, where the server's local output is spooled)."""
    return artifacts_root.parent / "deployments"


def remote_deployments(artifacts_url: str) -> str:
    """Where deployments keep their prediction logs and server logs when the artifacts
    live on object storage: under the same prefix (``<url>/deployments``), so a drift check
    anywhere that reaches the artifacts reads what a server logged."""
    return f"{artifacts_url.rstrip('/')}/deployments"


def _run_uvicorn(options: ServeOptions, sock: socket.socket,
                 ready: threading.Event | None) -> tuple[str, str | None]:
    import signal

    import uvicorn

    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises SIGTERM/SIGINT once it has shut down; with these in place the
        # signal ends uvicorn.run instead of the process, so the stop is recorded
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: None)
    config = uvicorn.Config(
        "nbmlops.serving.server:create_worker_app", factory=True, workers=options.workers,
        log_level="info", access_log=False, lifespan="on", timeout_graceful_shutdown=30,
        server_header=False)
    server = uvicorn.Server(config)
    if options.workers > 1:
        from uvicorn.supervisors import Multiprocess

        if ready is not None:
            ready.set()
        Multiprocess(config, sockets=[sock]).run()
        return "stopped", None
    if ready is not None:
        threading.Thread(target=_signal_ready, args=(server, ready), daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:
        return "failed", "the server did not start; see its log"
    return "stopped", None


def _signal_ready(server: Any, ready: threading.Event) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.01)
    ready.set()


def create_worker_app() -> Any:
    """The application of one worker, from the options in ``NBMLOPS_SERVE``."""
    from nbmlops.serving.app import AppOptions, create_app
    from nbmlops.serving.metrics import Metrics
    from nbmlops.serving.predlog import PredictionLog
    from nbmlops.serving.sources import Holder, StoreSource

    raw = os.environ.get(OPTIONS_ENV)
    if not raw:
        raise DeploymentError(f"{OPTIONS_ENV} is not set: start servers with `nbmlops serve`")
    options = ServeOptions(**json.loads(raw))
    metrics = Metrics()
    source: StoreSource | None = None
    if options.store_url is not None:
        from nbmlops.config import Settings
        from nbmlops.references import parse_reference
        from nbmlops.serving.sources import open_existing

        ws = open_existing(Settings(
            store_url=options.store_url, artifacts_root=Path(options.artifacts_root or "."),
            project_root=Path(options.project_root or "."), artifacts_url=options.artifacts_url,
            artifacts_options=options.artifacts_options))
        source = StoreSource(ws, parse_reference(options.target), trusted=options.trusted,
                             deployment_id=options.deployment_id, poll_s=options.poll_s)
        served = source.load()
    else:
        from nbmlops.serving.bundle import load_bundle

        served = load_bundle(Path(options.target), trusted=options.trusted)
    log = None
    if options.log_predictions and options.log_dir:
        from nbmlops.serving.model import ANY

        inputs = served.signature.inputs if served.signature is not None else ()
        dtypes = {name: dtype for name, dtype in inputs if dtype != ANY}
        log = PredictionLog(options.log_dir, options=options.artifacts_options,
                            sample=options.log_sample,
                            max_rows=options.log_max_rows, dtypes=dtypes,
                            on_drop=metrics.log_dropped.inc,
                            on_error=lambda m: print(f"nbmlops: {m}", file=sys.stderr,
                                                     flush=True))
    rollout = None
    if options.rollout is not None and source is not None:
        rollout = _worker_rollout(options, source, metrics, log)
    token = os.environ.get(options.token_env) if options.token_env else None
    return create_app(Holder(served), source=source, log=log, metrics=metrics, rollout=rollout,
                      options=AppOptions(token=token, max_body=options.max_body,
                                         deployment=options.name,
                                         id_key=bytes.fromhex(options.id_key)
                                         if options.id_key else None,
                                         lean=os.environ.get(LEAN_ENV, "1") != "0"))


def _worker_rollout(options: ServeOptions, source: Any, metrics: Any, log: Any) -> Any:
    """A worker's challenger: loaded, following its alias, and the rollout's state."""
    from nbmlops.serving.rollout import Rollout, RolloutMetrics, RolloutSpec
    from nbmlops.serving.sources import Holder, StoreSource

    assert options.rollout is not None
    spec = RolloutSpec.from_dict(options.rollout)
    ws, dep_id = source.ws, options.deployment_id
    challenger = StoreSource(ws, spec.reference(source.reference), trusted=options.trusted,
                             poll_s=options.poll_s)
    return Rollout(spec, Holder(challenger.load()), RolloutMetrics(metrics.registry),
                   source=challenger, log=log, poll_s=options.poll_s,
                   deployment=lambda: ws.store.get_deployment(dep_id).options)
