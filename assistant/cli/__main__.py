"""`python -m assistant.cli ...`: the same command as `assistant ...`."""

from . import main

raise SystemExit(main())
