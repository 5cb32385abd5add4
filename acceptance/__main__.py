"""`python -m acceptance` runs the command line."""

from acceptance.cli import main

raise SystemExit(main())
