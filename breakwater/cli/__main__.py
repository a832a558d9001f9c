"""`python -m breakwater.cli`: the `breakwater` command, without the installed script."""

import sys

from breakwater.cli import main

sys.exit(main())
