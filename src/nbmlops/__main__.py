"""``python -m nbmlops`` is the ``nbmlops`` command."""

from nbmlops.cli import main

raise SystemExit(main())
