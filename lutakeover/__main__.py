"""``python -m lutakeover``: the same command line as the ``lutakeover`` script."""

from lutakeover.cli import main

raise SystemExit(main())
