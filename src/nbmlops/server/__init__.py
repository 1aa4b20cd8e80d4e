"""The jupyter_server extension: a REST API under ``/nbmlops/api/`` for the JupyterLab
panel (runs, comparisons, models, deployments, jobs, drift, lineage).

Installing nbmlops enables it (``etc/jupyter/jupyter_server_config.d/nbmlops.json``);
``jupyter server extension list`` shows it. The routes, their parameters and payloads are
in :mod:`nbmlops.server.handlers` and :mod:`nbmlops.server.payloads`; their OpenAPI
document is served at ``/nbmlops/api/openapi.json``.

The API reads the store the server process resolves (``NBMLOPS_STORE``, else
``[tool.nbmlops]`` or ``.nbmlops/`` at the project root above the server's working
directory), through :mod:`nbmlops.api` like every other front end.
"""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from nbmlops.server.handlers import PREFIX, handlers

    web_app = serverapp.web_app
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info("nbmlops: REST API at %s", PREFIX)
