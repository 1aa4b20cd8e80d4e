"""The OpenAPI 3.1 document of the REST API, made from the route table and the payload
TypedDicts (never written by hand). ``python -m nbmlops.server.openapi`` prints it; the
copy in the repository (``docs/server-api.openapi.json``) is checked against it by the
tests, so the panel's generated TypeScript types cannot drift from the server.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from nbmlops import __version__
from nbmlops.server import payloads as p
from nbmlops.server.handlers import PREFIX, ROUTES, Operation, Param
from nbmlops.server.schema import JsonSchema, json_schema

DOCUMENT_PATH = "docs/server-api.openapi.json"

_ERRORS = {
    "400": "the input is not valid (the message names it)",
    "403": "not authenticated (a Jupyter token or login cookie; the XSRF token for a "
           "cookie-authenticated write)",
    "404": "no such run, model, version, alias or deployment",
    "409": "the request conflicts with what is under way (a decided approval request, a "
           "reproduction of the run already running)",
    "429": "too many reproductions are running in this server at once",
    "503": "the nbmlops store cannot be opened",
}


def _parameter(param: Param, *, where: str = "query") -> dict[str, Any]:
    return {"name": param.name, "in": where, "required": param.required or where == "path",
            "description": param.description,
            "schema": {"type": "integer" if param.kind is int else "string"}}


def _operation(op: Operation, path_params: list[str], name: str,
               components: dict[str, JsonSchema]) -> dict[str, Any]:
    error = json_schema(p.Error, components)
    out: dict[str, Any] = {
        "operationId": name,
        "summary": op.summary,
        "parameters": [*({"name": n, "in": "path", "required": True,
                          "schema": {"type": "string"}} for n in path_params),
                       *(_parameter(q) for q in op.query)],
        "responses": {
            "200": {"description": "OK", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}} if op.response is bytes
                else {"application/json": {"schema": json_schema(op.response, components)}}},
            **{code: {"description": text, "content": {"application/json": {
                "schema": error}}} for code, text in _ERRORS.items()},
        },
    }
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": json_schema(op.body, components)}}}
    return out


def document() -> dict[str, Any]:
    """The OpenAPI document of every route in :data:`~nbmlops.server.handlers.ROUTES`."""
    components: dict[str, JsonSchema] = {}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        path_params = re.findall(r"\{(\w+)\}", route.path)
        stem = route.handler.__name__.removesuffix("Handler")
        paths[PREFIX + route.path] = {
            method: _operation(op, path_params, f"{method}{stem}", components)
            for method, op in route.handler.operations.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "nbmlops server API", "version": __version__,
                 "description": "What the JupyterLab panel reads: runs, comparisons, models, "
                                "deployments, jobs, drift and lineage from the nbmlops "
                                "store. Paths are under the Jupyter server's base URL; "
                                "authenticate as for any Jupyter server API."},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(text())
