"""Lets `python -m breakwater.devtools.upstream` run the command in `command`."""

from breakwater.devtools.upstream.command import main

raise SystemExit(main())
