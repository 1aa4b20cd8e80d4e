"""The REST API under ``/nbmlops/api/``: thin tornado handlers over
:mod:`nbmlops.server.reads`, and the route table both the server and the OpenAPI document
are made from.

Every handler is a jupyter_server ``APIHandler``: authenticated (a token or the login
cookie), and a write made with the cookie must carry the XSRF token (a token-authenticated
request needs none: a page on another site cannot know the token). Errors are mapped to
HTTP statuses in one place (:func:`status_for`) and answered as ``{"error": message}``.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from nbmlops import api
from nbmlops.errors import (
    ApprovalError,
    DeploymentError,
    ModelNotFoundError,
    NbmlopsError,
    NoStoreError,
    PermissionDeniedError,
    RunNotFoundError,
    StoreError,
)
from nbmlops.server import payloads as p
from nbmlops.server import reads, reproducing
from nbmlops.server.schema import check

PREFIX = "/nbmlops/api"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_COMPARE = 1000
MAX_CURVES = 50  # runs whose metric history is drawn at once
MAX_INTEGER = 2**63 - 1  # what the store holds: a 64-bit signed integer
# the largest integer the panel's JavaScript numbers hold exactly; the store adds to an
# offset and multiplies it, so it stays well inside a 64-bit integer
MAX_OFFSET = 2**53
MAX_BODY_DEPTH = 32  # levels of nested JSON arrays and objects in a request body

_DIGITS = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would also read "٣" as 3
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_NESTING = re.compile(rb"[\[\]{}]")

R = TypeVar("R")

# the store is read on one thread of its own: never on the server's event loop (a slow
# query must not stall every kernel's messages), and never by two requests at once
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbmlops-api")
    return _executor


class BadRequest(ValueError):
    """A query parameter or body is not valid (400)."""


def _raised_by_nbmlops(exc: BaseException) -> bool:
    """Whether the error was raised in nbmlops' own code (where a plain ValueError is a
    refusal of bad input: an invalid alias, an unknown status), not in a library."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = "" if tb is None else str(tb.tb_frame.f_globals.get("__name__", ""))
    return module == "nbmlops" or module.startswith("nbmlops.")


def status_for(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and message for an error: the one place they are mapped.

    400 is bad input only: this module's own checks, nbmlops' errors about what was asked
    (its ``ValueError`` and ``LookupError`` kinds) and a ``ValueError`` nbmlops raised
    itself. Anything else (a ``KeyError`` from a bug, a library's ``ValueError``) is a
    500, logged with its traceback; the answer says only its type."""
    if isinstance(exc, tornado.web.HTTPError):
        return exc.status_code, exc.log_message or exc.reason or "request refused"
    if isinstance(exc, RunNotFoundError | ModelNotFoundError | DeploymentError):
        return 404, str(exc)
    if isinstance(exc, reproducing.AlreadyRunning):  # 409 for this run, 429 for the server
        return exc.status, str(exc)
    if isinstance(exc, ApprovalError):  # one's own request, a decided or stale one
        return 409, str(exc)
    if isinstance(exc, PermissionDeniedError):  # team mode: the database said no
        return 403, str(exc)
    if isinstance(exc, StoreError):
        return 503, f"the nbmlops store cannot be read: {exc}"
    if isinstance(exc, BadRequest) or (
            isinstance(exc, NbmlopsError) and isinstance(exc, ValueError | LookupError)) or (
            isinstance(exc, ValueError) and _raised_by_nbmlops(exc)):
        return 400, str(exc)
    if isinstance(exc, NbmlopsError):  # raised on purpose, and says what to do
        return 500, str(exc)
    return 500, (f"internal error ({type(exc).__name__}); the Jupyter server's log has "
                 "the details")


@dataclass(frozen=True)
class Param:
    """A query parameter (always a string on the wire; ``kind`` says how it is read)."""

    name: str
    description: str
    kind: type = str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    response: Any  # a payload type (p.Page[...] for a paged list)
    query: tuple[Param, ...] = ()
    body: Any = None


PAGING = (Param("limit", f"items per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})", int),
          Param("offset", "items to skip (default 0)", int))


class ApiHandler(APIHandler):
    """What every nbmlops handler shares: error mapping, parameters, paging, replies."""

    auth_resource = "nbmlops"
    operations: ClassVar[dict[str, Operation]] = {}

    async def prepare(self) -> None:  # type: ignore[override]
        api.look_only()  # a panel request never creates, upgrades or reaps anything
        await super().prepare()
        # what this request records names Jupyter's logged-in user (team mode: the role)
        api.act_for(jupyter_user(self.current_user))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and exc_info[1] is not None:
            status_code, message = status_for(exc_info[1])
            self.set_status(status_code)
        else:
            message = self._reason
        self.finish(json.dumps(p.Error(error=message)))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        status, message = status_for(value) if value is not None else (500, "")
        if status >= 500 and not isinstance(value, NoStoreError):  # nothing recorded yet
            super().log_exception(typ, value, tb)  # with the traceback, in the server log
        else:
            self.log.info("nbmlops API %s %s: %s %s", self.request.method, self.request.path,
                          status, message)

    # -- reading the request ---------------------------------------------------------------
    def text(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        return value.strip() or None if value is not None else None

    def number(self, name: str, default: int, *, low: int, high: int = MAX_INTEGER) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        shown = raw if len(raw) <= 40 else f"{raw[:20]}… ({len(raw):,} characters)"
        if not _DIGITS.fullmatch(raw):
            raise BadRequest(f"{name} must be a whole number in the digits 0-9, not {shown!r}")
        if len(raw) > 20 or not low <= int(raw) <= high:
            raise BadRequest(f"{name} must be from {low} to {high}, not {shown}")
        return int(raw)

    def real(self, name: str) -> float | None:
        """A finite number (``1e5``, ``-3.5``), or None where it is not given."""
        raw = self.text(name)
        if raw is None:
            return None
        shown = raw if len(raw) <= 40 else f"{raw[:20]}… ({len(raw):,} characters)"
        try:
            value = float(raw) if len(raw) <= 40 and raw.isascii() else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise BadRequest(f"{name} must be a finite number such as 120 or 1.7e9, not "
                             f"{shown!r}")
        return value

    def body(self, tp: Any) -> Any:
        raw = self.request.body or b""
        if _json_depth(raw) > MAX_BODY_DEPTH:
            raise BadRequest(f"the request body is nested more than {MAX_BODY_DEPTH} levels "
                             "deep; send the flat JSON object the route takes")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, 5,000 digits
            raise BadRequest(f"the request body must be JSON: {exc}") from None
        check(tp, data)
        return data

    # -- answering ----------------------------------------------------------------------------
    async def call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        # in this request's context: what look_only() and act_for() set holds on the thread
        context = contextvars.copy_context()
        return await IOLoop.current().run_in_executor(
            _pool(), lambda: context.run(fn, *args, **kwargs))

    async def reply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.finish(json.dumps(await self.call(fn, *args, **kwargs)))

    def paging(self) -> dict[str, int]:
        """The page asked for: ``limit`` and ``offset``."""
        return {"limit": self.number("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
                "offset": self.number("offset", 0, low=0, high=MAX_OFFSET)}

    async def reply_page(self, fn: Callable[..., list[Any]], *args: Any, **kwargs: Any) -> None:
        """A page of the whole list ``fn`` returns (for lists that stay short; a long one
        is paged where it is read: see RunsHandler)."""
        page = self.paging()
        limit, offset = page["limit"], page["offset"]
        items = await self.call(fn, *args, **kwargs)
        self.finish(json.dumps(p.Page(items=items[offset:offset + limit], total=len(items),
                                      total_exact=True, limit=limit, offset=offset)))


# the user jupyter_server makes up when one shared token (or none) is all it knows: a
# random id per browser, named "Anonymous <moon>" (IdentityProvider.generate_anonymous_user)
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")


def jupyter_user(user: Any) -> str | None:
    """The name of Jupyter's logged-in user (jupyter_server's ``User.username``; under
    JupyterHub the hub user), or None where Jupyter does not know who it is (one shared
    token: an anonymous user made up per browser), and the server process's user counts."""
    username = user if isinstance(user, str) else getattr(user, "username", None)
    if not isinstance(username, str) or not username.strip():
        return None
    if _ANONYMOUS_ID.fullmatch(username) and str(getattr(user, "name", "")).startswith(
            "Anonymous "):
        return None
    return username.strip()


def _json_depth(raw: bytes) -> int:
    """How deeply a JSON text nests arrays and objects (brackets inside strings do not
    count), read without parsing it: Python's parser would give up at a thousand."""
    depth = deepest = 0
    for bracket in _JSON_NESTING.findall(_JSON_STRING.sub(b"", raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_BODY_DEPTH:
                break
        else:
            depth -= 1
    return deepest


def _filters(handler: ApiHandler, params: tuple[Param, ...]) -> dict[str, str | None]:
    return {param.name: handler.text(param.name) for param in params
            if param not in PAGING}


# -- the handlers ------------------------------------------------------------------------------

RUN_FILTERS = (
    Param("experiment", "only this experiment's runs"),
    Param("status", "running, finished, failed, interrupted or crashed"),
    Param("name", "only runs with this name"),
    Param("where", 'a filter, e.g. metrics.accuracy > 0.8 and params.C <= 1'),
    Param("sort", "comma-separated fields, - for descending, e.g. -metrics.accuracy"),
    Param("parent", "only this run's children (a search's candidates), of every kind"),
)


class RunsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Runs, newest first unless sorted (a search's candidates are reached through it)",
        p.Page[p.RunSummary], (*RUN_FILTERS, *PAGING))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        # the store pages: the first page of 100,000 runs reads 50 of them, not all
        await self.reply(reads.runs, **_filters(self, RUN_FILTERS), **self.paging())


class RunHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "One run (the id or a unique prefix of 4+ characters) with all it recorded",
        p.RunDetail)}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.reply(reads.run, run_id)


MAX_POINTS = 100_000  # metric values per page: a chart of a long training run in one read
MIN_CHART_POINTS = 16  # the fewest points a decimation answers (first, last, 2+ spans)

# what the metric-history and metric-series routes share: which metric, which page of it
METRIC_PAGE = (Param("key", "the metric's name", required=True),
               Param("limit", f"values per page, 1-{MAX_POINTS} (default {MAX_POINTS})", int),
               Param("offset", "values to skip (default 0)", int))
CHART_RANGE = (
    Param("points", f"at most this many values, {MIN_CHART_POINTS}-{MAX_POINTS}: the page "
                    "decimated for a chart (about 2 per pixel), all of them where there are "
                    "no more", int),
    Param("x", "what from, to and the decimation's spans are of: step (default) or time "
               "(seconds since the epoch)"),
    Param("from", "only values at this x or later (a number)"),
    Param("to", "only values at this x or earlier (a number)"))


def _metric_page(handler: ApiHandler) -> dict[str, Any]:
    """The key, limit and offset of a metric route, checked (a clear 400 otherwise)."""
    key = handler.text("key")
    if key is None:
        raise BadRequest("key is required: the metric's name, e.g. key=loss")
    return {"key": key, "limit": handler.number("limit", MAX_POINTS, low=1, high=MAX_POINTS),
            "offset": handler.number("offset", 0, low=0, high=MAX_OFFSET)}


def _chart_range(handler: ApiHandler) -> dict[str, Any]:
    """points, x and the from/to range of metric-series, checked."""
    points = None if handler.text("points") is None else handler.number(
        "points", MAX_POINTS, low=MIN_CHART_POINTS, high=MAX_POINTS)
    x = handler.text("x") or "step"
    if x not in ("step", "time"):
        raise BadRequest(f"x must be step or time, not {x[:40]!r}")
    low, high = handler.real("from"), handler.real("to")
    if low is not None and high is not None and low > high:
        raise BadRequest(f"from ({low:g}) must not be past to ({high:g})")
    return {"points": points, "x": x, "low": low, "high": high}


class MetricHistoryHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A page of one metric's values of a run, in order of step then time",
        p.Page[p.MetricPoint], METRIC_PAGE)}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        page = _metric_page(self)
        await self.reply(reads.metric_history, run_id, page.pop("key"), **page)


class MetricSeriesHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A page of one metric's values of a run as columns (steps, values, timestamps), in "
        "order of step then time: what a chart reads; with points, at most that many (each "
        "x span's smallest and largest value, the first and the last), with from/to only "
        "those in an x range",
        p.MetricSeries, (*METRIC_PAGE, *CHART_RANGE))}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        page = _metric_page(self)
        await self.reply(reads.metric_series, run_id, page.pop("key"), **page,
                         **_chart_range(self))


class MetricChartsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        f"Every metric of a run (the first {reads.MAX_CHARTED} by name) as metric-series "
        "answers it with points: what the run's chart reads as its tab opens, in one request",
        p.MetricCharts, (Param("points", f"at most this many values per metric, "
                                         f"{MIN_CHART_POINTS}-{MAX_POINTS} (default 1800)",
                               int),))}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        points = self.number("points", 1800, low=MIN_CHART_POINTS, high=MAX_POINTS)
        await self.reply(reads.metric_charts, run_id, points=points, limit=MAX_POINTS)


# an artifact is served as what it is, except markup and scripts: those come as plain
# text (the panel shows HTML in a sandboxed frame), so no artifact runs as this server's page
_INERT = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript",
          "application/javascript", "text/xml", "application/xml")


class ArtifactHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The bytes of one of a run's artifacts (HTML and other markup as text/plain; "
        "download=1 for a file to save)", bytes,
        (Param("name", "the artifact's name, e.g. model/card.html", required=True),
         Param("download", "1 to answer as an attachment (a file to save)")))}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        name = self.text("name")
        if name is None:
            raise BadRequest("name is required: the artifact's name, e.g. name=drift.html")
        download = self.text("download")
        if download not in (None, "0", "1"):
            raise BadRequest(f"download must be 0 or 1, not {download!r}")
        data, media_type = await self.call(reads.artifact, run_id, name)
        inert = media_type.split(";")[0].strip().lower() in _INERT
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.set_header("X-Nbmlops-Media-Type", media_type)
        if download == "1":
            filename = name.rsplit("/", 1)[-1].replace('"', "")
            self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.finish(data, set_content_type="text/plain; charset=utf-8" if inert else media_type)


class MetricKeysHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The metric names of an experiment's newest 1,000 runs, the most common first",
        p.MetricKeys, (Param("experiment", "the experiment (every run's when not given)"),))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply(reads.metric_keys, self.text("experiment"))


class RunSliceHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A run's slice: the journaled cells it stood on, in the order they ran, with their "
        "code, and its hidden-state flags", p.RunSlice)}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.reply(reads.run_slice, run_id)


class ReproduceHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {
        "get": Operation(
            "The run's reproduction started from this server: running (with the time so "
            "far), then reproduced, differs (what, and the likely causes) or failed; idle "
            "when none was started", p.Reproduction),
        "post": Operation(
            "Start reproducing the run in the background (a fresh kernel runs its slice; "
            "one reproduction per run at a time: 409 while one runs; 400 for a run without "
            "a slice)", p.Reproduction, body=p.ReproduceRequest)}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.reply(reproducing.status, run_id)

    @tornado.web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        body = self.body(p.ReproduceRequest)
        await self.reply(reproducing.start, run_id, body)


class ExperimentsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Experiments", p.Page[p.Experiment], PAGING)}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply_page(reads.experiments)


class CompareHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Runs side by side: their params and metrics, and which differ", p.Comparison,
        (Param("ids", "comma-separated run ids (or unique prefixes)", required=True),))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        ids = [i.strip() for i in (self.text("ids") or "").split(",") if i.strip()]
        if not ids:
            raise BadRequest("ids is required: comma-separated run ids, e.g. ids=3fa4,9b1c")
        if len(ids) > MAX_COMPARE:
            raise BadRequest(f"compare at most {MAX_COMPARE} runs at once, not {len(ids)}")
        await self.reply(reads.compare, ids)


def _run_ids(handler: ApiHandler, most: int) -> list[str]:
    ids = [i.strip() for i in (handler.text("ids") or "").split(",") if i.strip()]
    if not ids:
        raise BadRequest("ids is required: comma-separated run ids, e.g. ids=3fa4,9b1c")
    if len(ids) > most:
        raise BadRequest(f"at most {most} runs at once, not {len(ids)}")
    return ids


class CurvesHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "One metric's history (step, value, time) in each of the runs, to overlay",
        p.MetricCurves,
        (Param("ids", f"comma-separated run ids (or unique prefixes), at most {MAX_CURVES}",
               required=True),
         Param("metric", "the metric's key, e.g. loss", required=True)))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        ids = _run_ids(self, MAX_CURVES)
        metric = self.text("metric")
        if not metric:
            raise BadRequest("metric is required: the metric's key, e.g. metric=loss")
        if len(metric) > 250:
            raise BadRequest(f"metric is {len(metric):,} characters; a metric key is at "
                             "most 250")
        await self.reply(reads.metric_curves, ids, metric)


class ModelsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Registered models with their aliases", p.Page[p.ModelSummary], PAGING)}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply_page(reads.models)


class ModelHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A registered model: its versions (newest first) and aliases", p.ModelDetail)}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self.reply(reads.model, name)


class ModelCardHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A version's model card (HTML, to show in a sandboxed frame)", p.ModelCard)}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        if not version.isascii() or not version.isdigit() or len(version) > 18:
            shown = version if len(version) <= 20 else version[:20] + "…"
            raise BadRequest(f"version must be a version number such as 3, not {shown!r}")
        await self.reply(reads.model_card, name, int(version))


class ChangesHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A marker that changes when the registry or the deployments change (cheap: poll "
        "it and reload what it covers when it changes)", p.Changes)}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply(reads.changes)


class ModelHistoryHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The model's audit events (register, promote, rollback, deploy, ...), oldest first",
        p.Page[p.AuditEvent], PAGING)}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self.reply_page(reads.model_history, name)


class PromoteHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"post": Operation(
        "Point an alias at a version (audited)", p.AliasMove, body=p.PromoteRequest)}

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.body(p.PromoteRequest)
        if not 1 <= body["version"] <= MAX_INTEGER:
            raise BadRequest(f"body.version must be a version number from 1 to {MAX_INTEGER}, "
                             f"not {body['version']}")
        await self.reply(reads.promote, name, body)


class RollbackHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"post": Operation(
        "Point an alias back at the version it pointed at before its last move (audited)",
        p.AliasMove, body=p.RollbackRequest)}

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.reply(reads.rollback, name, self.body(p.RollbackRequest))


class ApprovalsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The model's protected aliases and approval requests (open ones, then the newest "
        "decided), with who the panel acts as", p.Approvals)}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self.reply(reads.approvals, name)


def _decision(handler: ApiHandler) -> p.ApprovalDecision:
    body: p.ApprovalDecision = handler.body(p.ApprovalDecision)
    request = body.get("request")
    if request is not None and not 1 <= request <= MAX_INTEGER:
        raise BadRequest(f"body.request must be a request number from 1 to {MAX_INTEGER}, "
                         f"not {request}")
    return body


class ApproveHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"post": Operation(
        "Approve the open request to move a protected alias, as the logged-in user (not "
        "one's own: 409); its gates are checked again (a failing one: 400); the alias moves "
        "once the request has its approvals", p.ApprovalRequest, body=p.ApprovalDecision)}

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.reply(reads.approve, name, _decision(self))


class RejectHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"post": Operation(
        "Reject the open request to move a protected alias (the requester may withdraw "
        "their own): it closes and the alias stays", p.ApprovalRequest,
        body=p.ApprovalDecision)}

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.reply(reads.reject, name, _decision(self))


class DeploymentsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Deployments, newest first", p.Page[p.Deployment], PAGING)}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply_page(reads.deployments)


MAX_LOG_LINES = 2000


class DeploymentHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "One deployment (by name or id): its newest record and every restart under that name",
        p.DeploymentDetail)}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self.reply(reads.deployment_detail, name)


class DeploymentTrafficHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "A running deployment's requests, errors, rows and latency, read by this server from "
        "the model server's /metrics", p.DeploymentTraffic)}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self.reply(reads.deployment_traffic, name)


class DeploymentLogsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The last lines of a deployment's server log", p.DeploymentLogs,
        (Param("lines", f"how many lines, 1-{MAX_LOG_LINES} (default 100)", int),))}

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        lines = self.number("lines", 100, low=1, high=MAX_LOG_LINES)
        await self.reply(reads.deployment_logs, name, lines)


class StopDeploymentHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"post": Operation(
        "Stop a running deployment (it finishes the requests in flight; audited)",
        p.Deployment)}

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.reply(reads.stop_deployment, name)


JOB_RUN_FILTERS = (Param("job", "only this job's runs (its name)"),)


class JobRunsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Every recorded job run, wherever its job was exported, newest first, with why a "
        "failed one failed and its executed notebook", p.Page[p.JobRun],
        (*JOB_RUN_FILTERS, *PAGING))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply(reads.job_runs, **_filters(self, JOB_RUN_FILTERS), **self.paging())


class JobsHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The project's exported jobs with their last run", p.Page[p.Job], PAGING)}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply_page(reads.jobs)


DRIFT_FILTERS = (Param("model", "only checks against this registered model's versions (churn) "
                               "or one version (churn/2)"),
                 Param("deployment", "only checks of this deployment's traffic"))


class DriftHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Recorded drift checks, newest first, with their verdicts", p.Page[p.DriftRun],
        (*DRIFT_FILTERS, *PAGING))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply(reads.drift, **_filters(self, DRIFT_FILTERS), **self.paging())


class DriftCheckHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "One drift check (by its run): each column's test, statistic, p-value or distance "
        "and threshold, the drifted columns first", p.DriftDetail)}

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.reply(reads.drift_detail, run_id)


MONITOR_FILTERS = (Param("monitor", "only this monitor's checks"),)


class MonitorChecksHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "Monitor checks, newest first: status, incident, reasons, window, rows and the drift "
        "check each made", p.Page[p.MonitorCheck], (*MONITOR_FILTERS, *PAGING))}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply(reads.monitor_checks, **_filters(self, MONITOR_FILTERS),
                         **self.paging())


LINEAGE_PARAMS = (Param("run", "a run id"), Param("model", "NAME/VERSION, NAME@ALIAS or NAME"),
                  Param("deployment", "a deployment's name or id"))


class LineageHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "The lineage graph around one run, model version or deployment (give exactly one)",
        p.Lineage, LINEAGE_PARAMS)}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.reply(reads.lineage, **_filters(self, LINEAGE_PARAMS))


class OpenApiHandler(ApiHandler):
    operations: ClassVar[dict[str, Operation]] = {"get": Operation(
        "This API's OpenAPI 3.1 document", dict[str, Any])}

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from nbmlops.server.openapi import document

        self.finish(json.dumps(document()))


@dataclass(frozen=True)
class Route:
    path: str  # under PREFIX; {name} is a path parameter (one segment)
    handler: type[ApiHandler]

    def pattern(self, base_url: str) -> str:
        """The tornado URL pattern, under the server's base URL."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        return url_path_join(base_url, PREFIX, regex) + "$"


ROUTES: tuple[Route, ...] = (
    Route("/runs", RunsHandler),
    Route("/runs/{run_id}", RunHandler),
    Route("/runs/{run_id}/metric-history", MetricHistoryHandler),
    Route("/runs/{run_id}/metric-series", MetricSeriesHandler),
    Route("/runs/{run_id}/metric-charts", MetricChartsHandler),
    Route("/runs/{run_id}/artifact", ArtifactHandler),
    Route("/metric-keys", MetricKeysHandler),
    Route("/runs/{run_id}/slice", RunSliceHandler),
    Route("/runs/{run_id}/reproduce", ReproduceHandler),
    Route("/experiments", ExperimentsHandler),
    Route("/compare", CompareHandler),
    Route("/compare/curves", CurvesHandler),
    Route("/models", ModelsHandler),
    Route("/models/{name}", ModelHandler),
    Route("/models/{name}/history", ModelHistoryHandler),
    Route("/models/{name}/versions/{version}/card", ModelCardHandler),
    Route("/changes", ChangesHandler),
    Route("/models/{name}/promote", PromoteHandler),
    Route("/models/{name}/rollback", RollbackHandler),
    Route("/models/{name}/approvals", ApprovalsHandler),
    Route("/models/{name}/approve", ApproveHandler),
    Route("/models/{name}/reject", RejectHandler),
    Route("/deployments", DeploymentsHandler),
    Route("/deployments/{name}", DeploymentHandler),
    Route("/deployments/{name}/traffic", DeploymentTrafficHandler),
    Route("/deployments/{name}/logs", DeploymentLogsHandler),
    Route("/deployments/{name}/stop", StopDeploymentHandler),
    Route("/jobs", JobsHandler),
    Route("/job-runs", JobRunsHandler),
    Route("/drift", DriftHandler),
    Route("/drift/{run_id}", DriftCheckHandler),
    Route("/monitor-checks", MonitorChecksHandler),
    Route("/lineage", LineageHandler),
    Route("/openapi.json", OpenApiHandler),
)


def handlers(base_url: str) -> list[tuple[str, type[ApiHandler]]]:
    """The (pattern, handler) pairs the extension adds to the server."""
    return [(route.pattern(base_url), route.handler) for route in ROUTES]
