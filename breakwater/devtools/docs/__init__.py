"""The reference pages of the documentation site, generated from the code.

Every policy field, command, HTTP operation and metric is stated once, in
the code that implements it; these pages are that code's own account of
itself, written by `python -m breakwater.devtools.docs` into docs/reference/
and checked for freshness by the test suite (`--check`), as the CRDs are.
The generators read only stable entry points: the JSON Schema
(`breakwater.schema`), the command line (`build_parser`), the OpenAPI
document (`openapi_document`) and the metrics registry of a control plane
built as `serve` builds it.
"""

from breakwater.devtools.docs.pages import REFERENCE_DIR, check, pages, write

__all__ = ["REFERENCE_DIR", "check", "pages", "write"]
