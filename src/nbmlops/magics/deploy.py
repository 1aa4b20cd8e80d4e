"""``%deploy``: serve a registered model, score files, export a bundle (parse, call, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments

from nbmlops.commands import deploy as command
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing


@magics_class
class DeployMagics(Magics):
    @magic_arguments()
    @_parsing.arguments(command.ARGUMENTS)
    @no_var_expand
    @line_magic
    def deploy(self, line: str) -> Any:
        """Serve a registered model over REST, score a file, or export a bundle.

        Examples::

            %deploy churn@production --port 8000
            %deploy churn@production --token-env CHURN_TOKEN --workers 2
            %deploy --list
            %deploy churn@production --canary candidate --share 0.1 --key customer_id
            %deploy churn@production --canary candidate --promote-when "requests>=2000 and errors<=champion" --rollback-when "errors>champion+0.01"
            %deploy churn@production --shadow candidate
            %deploy --rollout churn
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
            outcome = command.run(args)
        except (NbmlopsError, ValueError, ImportError, FileNotFoundError, FileExistsError
                ) as exc:
            raise UsageError(f"%deploy: {exc}") from None
        if outcome.message is not None:
            print(outcome.message)
        if outcome.table is not None:  # --list: the table, without the raw options
            return outcome.table.drop(columns=["options"])
        return None
