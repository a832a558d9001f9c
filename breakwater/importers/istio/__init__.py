"""Istio `networking.istio.io` VirtualService and DestinationRule → Breakwater documents.

`import_istio` converts, and lists every field it could not carry over
with the reason and what to do instead (`Leftover`), and what it assumed
(`Note`). The modules: `model` (the Istio input), `matches`, `actions` and
`virtualservice` (routes), `destinationrule` (subsets and policies),
`services` (the Services and Gateways the output needs), `ledger` (what
became of each field), `convert` (all of it, and the final check).
"""

from breakwater.importers.istio.convert import OUTPUT_FILES, ImportResult, import_istio
from breakwater.importers.istio.ledger import Leftover, Note

__all__ = ["OUTPUT_FILES", "ImportResult", "Leftover", "Note", "import_istio"]
