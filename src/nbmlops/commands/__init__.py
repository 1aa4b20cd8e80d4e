"""Commands shared by a magic and a CLI command: their arguments and their run, once.

One module per command (:mod:`~nbmlops.commands.deploy`, :mod:`~nbmlops.commands.drift`,
:mod:`~nbmlops.commands.export`, :mod:`~nbmlops.commands.jobs`,
:mod:`~nbmlops.commands.ci`). Each declares ``ARGUMENTS`` (argparse specs, from which
``nbmlops.cli`` builds its subparser and ``nbmlops.magics`` its ``@magic_arguments``) and
a ``run`` that calls :mod:`nbmlops.api` and returns the result; the front ends only
parse, call and display.

Below the front ends, above the API: a command module imports ``nbmlops.api`` and the
foundation (config, errors, _types, keyvalue), never a front end, the store, or a
capability's inner modules.
"""
