"""`python -m breakwater.devtools.docs [--check]`: write the reference pages, or check them."""

from breakwater.devtools.docs.pages import main

raise SystemExit(main())
