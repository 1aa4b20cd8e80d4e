"""``%reproduce`` and ``%nbmlops journal on|off`` (parse, call the API, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments

from nbmlops.commands import reproduce as command
from nbmlops.errors import NbmlopsError
from nbmlops.magics import _parsing
from nbmlops.magics.session import KernelSession

_NBMLOPS_USAGE = "usage: %nbmlops journal on|off|status"


@magics_class
class ReproduceMagics(Magics):
    def __init__(self, shell: Any, session: KernelSession) -> None:
        super().__init__(shell)
        self.session = session

    @magic_arguments()
    @_parsing.arguments(command.ARGUMENTS)
    @no_var_expand
    @line_magic
    def reproduce(self, line: str) -> Any:
        """Run a recorded run again from what it stood on, in a fresh kernel.

        The run's slice (the exact code of the journaled cells it depended on, in the
        order they ran) becomes a linear notebook with the run's params in a papermill
        parameters cell; papermill runs it in the project folder; its metrics (exactly, or
        within --rtol) and data fingerprints are compared with the original's. Prints
        "reproduced" or what differs and its likely cause; recorded as a run of kind
        reproduce. nbmlops.reproduce(run_id) returns the same.

        Example::

            %reproduce 3f2a9c1e
            %reproduce 3f2a9c1e --rtol 1e-6
            %reproduce 3f2a9c1e --notebook-only -o rebuilt.ipynb
        """
        args = _parsing.parse(self.reproduce, line)
        try:
            result = command.run(args)
        except (NbmlopsError, ValueError) as exc:
            raise UsageError(f"%reproduce: {exc}") from None
        print(result)

    @no_var_expand
    @line_magic
    def nbmlops(self, line: str) -> None:
        """Settings of nbmlops in this kernel.

        ``%nbmlops journal off`` stops journaling executed cells (tracked runs then record
        no slice and no hidden-state flags); ``%nbmlops journal on`` starts again;
        ``%nbmlops journal status`` says whether it is on.
        """
        words = line.split()
        if len(words) != 2 or words[0] != "journal" or words[1] not in ("on", "off",
                                                                        "status"):
            raise UsageError(f"%nbmlops: {line.strip() or 'nothing given'}: {_NBMLOPS_USAGE}")
        journal = self.session.journal
        if journal is None:
            raise UsageError("%nbmlops: the journal is not running in this kernel; load "
                             "the extension with %load_ext nbmlops")
        if words[1] != "status":
            journal.enabled = words[1] == "on"
        state = journal.state()
        print(f"nbmlops journal {'on' if state['on'] else 'off'} (kernel session "
              f"{str(state['session'])[:8]}, {state['cells']} cells journaled)")
