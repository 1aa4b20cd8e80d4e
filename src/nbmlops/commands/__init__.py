"""Commands shared by a magic and a CLI command: their arguments and their run, once.

One module per command (:mod:`~nbmlops.commands.deploy`, :mod:`~nbmlops.commands.drift`,
:mod:`~nbmlops.commands.export`). Each declares ``ARGUMENTS`` (argparse specs, from which
``nbmlops.cli`` builds its subparser and ``nbmlops.magics`` its ``@magic_arguments``) and
a ``run`` that calls :mod:`nbmlops.api` and returns the result; the front ends only
parse, call and display. :mod:`~nbmlops.commands.runs` holds what ``%runs`` and
``nbmlops runs list`` say alike; :mod:`~nbmlops.commands.arguments` the argument tables'
type and the command-line helpers both front ends use. Commands without a magic
(``jobs``, ``ci``) call API functions (``run_jobs``, ``run_ci``) directly.

Below the front ends, above the API: a command module imports ``nbmlops.api`` and the
foundation (config, errors, _types, keyvalue), never a front end, the store, or a
capability's inner modules.
"""
