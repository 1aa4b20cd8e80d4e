"""``python -m nbmlops.cli`` is the ``nbmlops`` command too."""

from nbmlops.cli import main

raise SystemExit(main())
