"""The served model's HTTP API: a Starlette application run by uvicorn.

=====================  =====================================================================
``POST /predict``      JSON records or columns (see :mod:`nbmlops.serving.model`) →
                       ``{"predictions": [...], "model", "version", "request_id", "ids"}``;
                       ``?proba=true`` for a classifier → ``{"probabilities": [[...]],
                       "classes": [...], ...}``. ``ids`` holds each row's own id
                       (``<request_id>-<row>``), also kept in the prediction log; the
                       request id is in the ``X-Request-Id`` header too
``POST /feedback``     labels that arrived later, by row id: ``{"ids": [...], "labels":
                       [...]}`` or ``[{"id": ..., "label": ...}, ...]`` → ``{"attached",
                       "replaced", "repeated", "pending", "unlogged", "unknown"}`` (a row
                       another worker has not logged yet: kept pending, joined later; ids
                       not in the log are reported, never dropped silently; a label sent
                       again replaces the earlier one and is listed in ``replaced``)
``GET /health``        ``{"status": "ok", "model", "version"}`` (never needs the token, for
                       load balancers and probes)
``GET /metadata``      the model, version, signature, classes, source run
``GET /metrics``       Prometheus text: requests, errors, latency histogram, rows, version
``GET /rollout``       a canary's or shadow's live comparison (:mod:`~nbmlops.serving.rollout`);
                       with a canary, ``/predict`` answers each row's version (``versions``)
``GET /openapi.json``  the OpenAPI 3.1 description, with the model's own input columns;
``GET /docs``          that description as a page: self-contained HTML, no script, nothing
                       fetched from elsewhere (it works offline and tells no one)
=====================  =====================================================================

Errors are JSON ``{"error": message}`` (plus ``"column"`` when a column is at fault) and
never carry a traceback: 400 the body is not JSON (or nests deeper than JSON is read), 401
the bearer token is missing or wrong, 404/405 no such route or method, 413 the body is
larger than ``max_body``, 415 the content type is not JSON, 422 the input does not fit the
model (the column is named; also when the model itself refuses the input's shape,
columns or values), 500 the model failed otherwise. Each 500 is one line in the log.

Small requests of numbers take the lean path (:meth:`ServedModel.lean
<nbmlops.serving.model.ServedModel.lean>`): the same answers, errors, ids, log rows and
counters, without a DataFrame. ``NBMLOPS_SERVE_LEAN=0`` in a server's environment turns it
off (every request then takes the full path: for comparisons and benchmarks).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nbmlops.errors import SignatureError
from nbmlops.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from nbmlops.serving.metrics import Metrics
from nbmlops.serving.model import ANY, PayloadError, ServedModel
from nbmlops.serving.predlog import PredictionLog, new_request_id, row_ids
from nbmlops.serving.rollout import Rollout, live_figures
from nbmlops.serving.sources import Holder, StoreSource

MAX_BODY = 10 * 1024 * 1024
INLINE_ROWS = 2_000  # larger requests are scored in a thread, not on the event loop
OPEN_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class AppOptions:
    token: str | None = None
    max_body: int = MAX_BODY
    deployment: str | None = None  # the deployment's name, shown in /metadata and /health
    id_key: bytes | None = None  # tags the row ids it issues (predlog.issued checks them)
    lean: bool = True  # small requests of numbers skip the DataFrame (model.ServedModel.lean)


def error(status: int, message: str, **extra: Any) -> Response:
    body = json.dumps({"error": message, **extra}).encode()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json", headers=headers)


class _BodyTooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise _BodyTooLarge
        except ValueError:
            pass  # h11/httptools reject a malformed length before we see it
        return await request.body()
    chunks, size = [], 0  # chunked: count as it arrives
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


class _TokenGate:
    """Pure ASGI middleware: every path but /health needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str, metrics: Metrics) -> None:
        self.app = app
        self.expected = token.encode()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, credentials = given.strip().partition(b" ")
        # the scheme is case-insensitive (RFC 9110 11.1): "bearer" is as good as "Bearer"
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(),
                                                               self.expected):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        message = ("this server needs a bearer token: send the header 'Authorization: "
                   "Bearer <token>'") if not given else "the bearer token is not valid"
        await error(401, message)(scope, receive, send)
        self.metrics.observe(_endpoint(scope["path"]), 401, time.perf_counter() - start)


def _endpoint(path: str) -> str:
    return path if path in ("/predict", "/feedback", "/health", "/metadata", "/metrics",
                            "/openapi.json", "/docs") else "other"


def create_app(holder: Holder, *, options: AppOptions = AppOptions(),
               source: StoreSource | None = None, log: PredictionLog | None = None,
               metrics: Metrics | None = None, rollout: Rollout | None = None) -> ASGIApp:
    """The ASGI application serving ``holder.current`` (switched by ``source``)."""
    metrics = metrics or Metrics()
    metrics.version.set(holder.current.version)
    if rollout is not None:  # a scrape sees every request the rollout counted
        metrics.before_render.append(rollout.metrics.flush)
    if source is not None:
        previous = source.on_switch

        def switched(old: int, new: int) -> None:
            metrics.switches.inc()
            metrics.version.set(new)
            if previous is not None:
                previous(old, new)

        source.on_switch = switched

    def timed(endpoint: str, handler: Callable[[Request], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            start = time.perf_counter()
            try:
                response = await handler(request)
            except Exception as exc:  # answered here: Starlette would log its traceback
                response = _crash(request, exc)
            metrics.observe(endpoint, response.status_code, time.perf_counter() - start)
            return response
        return run

    async def predict(request: Request) -> Response:
        if not _is_json(request.headers.get("content-type", "")):
            return error(415, "send the input as JSON with 'Content-Type: application/json'")
        try:
            body = await _body(request, options.max_body)
        except _BodyTooLarge:
            return error(413, f"the body is larger than this server accepts "
                              f"({options.max_body:,} bytes); send fewer rows per request")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return error(400, f"the body is not valid JSON ({exc})")
        except RecursionError:
            return error(400, "the body nests arrays or objects too deeply to read; send "
                              "records ([{\"column\": value, ...}]) or columns")
        proba = request.query_params.get("proba", "").lower() in ("1", "true", "yes")
        model = holder.current  # this request finishes with this version, whatever happens
        versions = None  # with a canary: each row's version
        keep = log is not None and log.wants()
        request_id = new_request_id(options.id_key, keep)  # a shadow's rows keep it too
        try:
            # a small request of numbers: an array, checked as the signature would (no
            # DataFrame); anything else, or anything it is not sure of, the full path
            frame: Any = model.lean(payload) if options.lean else None
            if frame is None:
                frame = model.frame(payload)
            if rollout is not None and rollout.active(model):
                if len(frame) > INLINE_ROWS:
                    outputs, versions = await run_in_threadpool(rollout.score, model, frame,
                                                                payload, proba, request_id)
                else:
                    outputs, versions = rollout.score(model, frame, payload, proba,
                                                      request_id)
            elif len(frame) > INLINE_ROWS:
                outputs = await run_in_threadpool(_score, model, frame, proba)
            else:
                outputs = _score(model, frame, proba)
        except SignatureError as exc:
            return error(422, str(exc), column=exc.column)
        except (PayloadError, TypeError) as exc:
            return error(422, str(exc))
        except RecursionError:
            return error(400, "the body nests arrays or objects too deeply to read; send "
                              "records ([{\"column\": value, ...}]) or columns")
        except ValueError as exc:  # the model refused the input: its shape, columns, values
            return error(422, f"{model.reference} cannot score this input: {exc}")
        except Exception as exc:  # the model's own failure: its message, not its traceback
            print(f"nbmlops: {model.reference} failed on a request: {exc!r}", file=sys.stderr,
                  flush=True)
            return error(500, f"{model.reference} could not score this input "
                              f"({type(exc).__name__}: {exc})")
        metrics.rows.inc(len(frame))
        if keep:
            assert log is not None
            column = model.output_column

            def logged(outputs: Any) -> dict[str, Any]:
                return ({f"proba_{c}": [p[i] for p in outputs] for i, c in
                         enumerate(model.classes or [])} if proba else {column: outputs})
            if versions is None:
                log.add(frame, logged(outputs), version=model.version, request=request_id)
            else:
                assert rollout is not None
                rollout.log_rows(log, frame, outputs, versions, logged, request_id)
        body_out: dict[str, Any] = ({"probabilities": outputs, "classes": model.classes}
                                    if proba else {"predictions": outputs})
        body_out.update(model=model.name, version=model.version, request_id=request_id,
                        ids=row_ids(request_id, len(frame)))
        if versions is not None:
            body_out["versions"] = versions
        return _json(body_out, headers={"X-Request-Id": request_id})

    async def feedback(request: Request) -> Response:
        if not _is_json(request.headers.get("content-type", "")):
            return error(415, "send the labels as JSON with 'Content-Type: application/json'")
        if source is None:
            return error(409, "this server serves a bundle, without a lineage store to keep "
                              "labels in; send them with `nbmlops feedback` where the store is")
        if log is None:
            return error(409, "this deployment does not log predictions (--no-log), so "
                              "labels cannot be joined to what it served")
        try:
            body = await _body(request, options.max_body)
            ids, labels = feedback_payload(json.loads(body))
        except _BodyTooLarge:
            return error(413, f"the body is larger than this server accepts "
                              f"({options.max_body:,} bytes); send fewer labels per request")
        except (ValueError, RecursionError) as exc:
            return error(422 if isinstance(exc, PayloadError) else 400,
                         f"the body is not valid JSON ({exc})" if not isinstance(
                             exc, PayloadError) else str(exc))
        from nbmlops.monitoring import log_feedback

        name = options.deployment or holder.current.name

        def attach() -> Any:
            log.flush()  # this worker's rows not yet written are in the log first
            return log_feedback(source.ws, name, ids, labels)

        try:
            result = await run_in_threadpool(attach)
        except ValueError as exc:
            return error(422, str(exc))
        return _json(result.to_dict())

    async def health(request: Request) -> Response:
        model = holder.current
        return _json({"status": "ok", "model": model.name, "version": model.version,
                      "deployment": options.deployment})

    async def metadata(request: Request) -> Response:
        info = holder.current.metadata()
        info["deployment"] = options.deployment
        if source is not None:
            info["reference"] = str(source.reference)
            info["follows"] = source.follows
        return _json(info)

    async def metrics_text(request: Request) -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def rollout_figures(request: Request) -> Response:
        if rollout is None:
            return error(404, "this deployment has no canary or shadow")
        return _json(live_figures(rollout, holder.current, metrics.registry))

    async def openapi(request: Request) -> Response:
        return _json(openapi_document(holder.current, token=options.token is not None))

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(openapi_document(holder.current,
                                                       token=options.token is not None)))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = ("no such endpoint; see /docs" if exc.status_code == 404
                   else f"{request.method} is not allowed here" if exc.status_code == 405
                   else str(exc.detail))
        return error(exc.status_code, message)

    async def crash(request: Request, exc: Exception) -> Response:
        return _crash(request, exc)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if source is not None:
            source.start(holder)
        if log is not None:
            log.start()
        if rollout is not None:
            rollout.start()
        try:
            yield
        finally:
            if rollout is not None:
                rollout.stop()
            if source is not None:
                source.stop()
            if log is not None:
                log.close()

    app = Starlette(routes=[
        Route("/predict", timed("/predict", predict), methods=["POST"]),
        Route("/feedback", timed("/feedback", feedback), methods=["POST"]),
        Route("/health", timed("/health", health), methods=["GET"]),
        Route("/metadata", timed("/metadata", metadata), methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        Route("/rollout", rollout_figures, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ], exception_handlers={HTTPException: http_error, Exception: crash}, lifespan=lifespan)
    if options.token:
        return _TokenGate(app, options.token, metrics)
    return app


def _crash(request: Request, exc: Exception) -> Response:
    print(f"nbmlops: unexpected error serving {request.url.path}: {exc!r}"[:2000],
          file=sys.stderr, flush=True)
    return error(500, "the server failed to answer; see its log")


def feedback_payload(payload: Any) -> tuple[list[Any], list[Any]]:
    """Ids and labels from a /feedback body (a PayloadError saying what to send)."""
    shape = ("send {\"ids\": [...], \"labels\": [...]} or [{\"id\": ..., \"label\": ...}, "
             "...]")
    if isinstance(payload, dict) and set(payload) == {"ids", "labels"}:
        ids, labels = payload["ids"], payload["labels"]
        if not isinstance(ids, list) or not isinstance(labels, list):
            raise PayloadError(f"ids and labels must be lists; {shape}")
        if len(ids) != len(labels):
            raise PayloadError(f"{len(ids)} ids but {len(labels)} labels: give one label per id")
        return ids, labels
    if isinstance(payload, dict) and set(payload) == {"labels"}:
        payload = payload["labels"]
    if isinstance(payload, list) and all(isinstance(r, dict) and "id" in r and "label" in r
                                         for r in payload):
        return [r["id"] for r in payload], [r["label"] for r in payload]
    raise PayloadError(shape)


def _score(model: ServedModel, frame: Any, proba: bool) -> list[Any]:  # a DataFrame or Rows
    return model.predict_proba(frame) if proba else model.predict(frame)


# -- OpenAPI ------------------------------------------------------------------------------

def _json_type(dtype: str) -> dict[str, Any]:
    d = dtype.lower()
    if d.startswith(("float", "double")):
        return {"type": ["number", "null"]}
    if d.startswith(("int", "uint")):
        return {"type": ["integer", "null"] if dtype[0] in "IU" else "integer"}
    if d in ("bool", "boolean"):
        return {"type": "boolean"}
    if d.startswith("datetime"):
        return {"type": "string", "format": "date-time"}
    if d in ("str", "string", "object"):
        return {"type": ["string", "null"]}
    return {}


def openapi_document(model: ServedModel, *, token: bool) -> dict[str, Any]:
    """OpenAPI 3.1 for this model: /predict's body lists its own columns and types."""
    columns = model.signature.inputs if model.signature is not None else ()
    record: dict[str, Any] = {"type": "object", "additionalProperties": True}
    if columns:
        record["properties"] = {n: _json_type(d) for n, d in columns}
        record["required"] = [n for n, _ in columns]
        record["example"] = {n: _example(d) for n, d in columns}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    predict: dict[str, Any] = {
        "summary": f"Predict with {model.name}",
        "description": "Records (a list of objects), one record, or columns (an object of "
                       "equal-length lists). Columns the model does not read are ignored.",
        "parameters": [{"name": "proba", "in": "query", "required": False,
                        "schema": {"type": "boolean"},
                        "description": "class probabilities instead of labels"}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [{"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                      {"$ref": "#/components/schemas/Record"},
                      {"type": "object", "additionalProperties": {"type": "array"}}]}}}},
        "responses": {
            "200": {"description": "predictions, in the order of the input rows",
                    "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Predictions"}}}},
            "400": {"description": "the body is not JSON", **err},
            "413": {"description": "the body is too large", **err},
            "415": {"description": "the content type is not JSON", **err},
            "422": {"description": "the input does not fit the model", **err},
            "500": {"description": "the model failed on the input", **err}},
    }
    if token:
        predict["responses"]["401"] = {"description": "missing or wrong bearer token", **err}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"{model.name} (version {model.version})", "version":
                 str(model.version), "description": "A model served by nbmlops."},
        "paths": {
            "/predict": {"post": predict},
            "/feedback": {"post": {
                "summary": "Labels for served rows, by the row ids /predict answered",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "ids": {"type": "array", "items": {"type": "string"}},
                        "labels": {"type": "array"}}}}}},
                "responses": {
                    "200": {"description": "attached, replaced, repeated, pending, unlogged and unknown ids"},
                    "409": {"description": "this server cannot keep labels", **err},
                    "422": {"description": "the body is not ids and labels", **err}}}},
            "/health": {"get": {"summary": "Liveness", "security": [],
                                "responses": {"200": {"description": "serving"}}}},
            "/metadata": {"get": {"summary": "The model, its version and signature",
                                  "responses": {"200": {"description": "metadata"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition"}}}},
        },
        "components": {"schemas": {
            "Record": record,
            "Predictions": {"type": "object", "properties": {
                "predictions": {"type": "array"}, "probabilities": {"type": "array"},
                "classes": {"type": ["array", "null"]}, "model": {"type": "string"},
                "version": {"type": "integer"}, "request_id": {"type": "string"},
                "ids": {"type": "array", "items": {"type": "string"}}}},
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "column": {"type": ["string", "null"]}}},
        }},
    }
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


def _example(dtype: str) -> Any:
    if dtype == ANY:  # not known: scikit-learn models mostly read numbers
        return 0.0
    kind = _json_type(dtype).get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    return {"number": 0.0, "integer": 0, "boolean": False}.get(kind or "", "text")


def docs_page(doc: dict[str, Any]) -> str:
    """The OpenAPI document as a plain page: its endpoints, /predict's input columns and
    a request to copy. Self-contained: no script, no style sheet or font from elsewhere."""
    from html import escape

    info = doc["info"]
    record = doc["components"]["schemas"]["Record"]
    required = set(record.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(_shown_type(schema))}</td>"
        f"<td>{'yes' if name in required else 'no'}</td></tr>"
        for name, schema in record.get("properties", {}).items())
    columns = (f"<table><tr><th>column</th><th>type</th><th>required</th></tr>{rows}</table>"
               if rows else "<p>This version has no signature: send the columns the model "
                            "was fitted on.</p>")
    endpoints = "".join(
        f"<tr><td><code>{escape(method.upper())} {escape(path)}</code></td>"
        f"<td>{escape(op.get('summary', ''))}</td></tr>"
        for path, ops in doc["paths"].items() for method, op in ops.items())
    statuses = "".join(
        f"<tr><td>{escape(code)}</td><td>{escape(answer['description'])}</td></tr>"
        for code, answer in doc["paths"]["/predict"]["post"]["responses"].items())
    example = json.dumps([record.get("example", {})], indent=2)
    auth = (" -H 'Authorization: Bearer $TOKEN'" if doc.get("security") else "")
    curl = (f"curl -X POST{auth} -H 'Content-Type: application/json' "
            f"-d '{json.dumps([record.get('example', {})])}' $URL/predict")
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{escape(info['title'])} - nbmlops</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
        "text-align:left}pre{background:#f4f4f4;padding:.8rem;overflow:auto}</style>"
        f"</head><body><h1>{escape(info['title'])}</h1>"
        f"<p>{escape(info.get('description', ''))} The machine-readable description is "
        "<a href=\"openapi.json\">openapi.json</a>.</p>"
        f"<h2>Endpoints</h2><table>{endpoints}</table>"
        f"<h2>POST /predict: input columns</h2>{columns}"
        f"<p>{escape(doc['paths']['/predict']['post']['description'])} Add "
        "<code>?proba=true</code> for class probabilities.</p>"
        f"<h3>Example body</h3><pre>{escape(example)}</pre>"
        f"<h3>Example request</h3><pre>{escape(curl)}</pre>"
        f"<h3>Answers</h3><table>{statuses}</table>"
        "</body></html>\n")


def _shown_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "any")
    shown = " or ".join(kind) if isinstance(kind, list) else str(kind)
    return f"{shown} ({schema['format']})" if "format" in schema else shown
