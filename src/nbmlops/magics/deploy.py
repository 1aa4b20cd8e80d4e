"""``%deploy``: serve a registered model, score files, export a bundle (parse, call, display)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nbmlops.cli import DEPLOY_ARGUMENTS, run_deploy
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing


def _arguments(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The arguments ``nbmlops deploy`` takes, in the same order."""
    for names, options in reversed(DEPLOY_ARGUMENTS):
        fn = argument(*names, **options)(fn)
    return fn


@magics_class
class DeployMagics(Magics):
    @magic_arguments()
    @_arguments
    @no_var_expand
    @line_magic
    def deploy(self, line: str) -> Any:
        """Serve a registered model over REST, score a file, or export a bundle.

        Examples::

            %deploy churn@production --port 8000
            %deploy churn@production --token-env CHURN_TOKEN --workers 2
            %deploy --list
            %deploy --logs churn
            %deploy --stop churn
            %deploy churn@production --batch customers.parquet --out scores.parquet
            %deploy churn/3 --export bundles/churn

        A deployment of an alias follows it: after %register --promote or --rollback it
        switches version without dropping requests. The server runs in its own process
        and keeps running until stopped. Endpoints: POST /predict (?proba=true),
        GET /health, /metadata, /metrics, /docs. Predictions are logged as Parquet:
        nbmlops.predictions("churn", since="24h").
        """
        args = _parsing.parse(self.deploy, line)
        try:
            shown = run_deploy(args, sys.stdout)
        except (NbmlopsError, ValueError, ImportError, FileNotFoundError, FileExistsError
                ) as exc:
            raise UsageError(f"%deploy: {exc}") from None
        if shown is not None:  # --list: the table, without the raw options
            return shown.drop(columns=["options"])
        return None
