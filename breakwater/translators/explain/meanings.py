"""What a Breakwater field becomes in Envoy, and where Envoy's meaning differs from the word.

Each translator slice (outlier, bulkhead, retries, health, clusters) states
this for the fields it translates, next to the code that does it, so that
changing a translation and changing its explanation happen in one place;
`explain` only collects them.
"""

from __future__ import annotations

from dataclasses import dataclass

from breakwater.translators.policyset import FieldPath


@dataclass(frozen=True)
class FieldMeaning:
    envoy: str
    """The Envoy field (or construct) the Breakwater field is written to."""
    differs: str = ""
    """How Envoy's behaviour differs from what the Breakwater (or Hystrix) word suggests."""


Meanings = dict[FieldPath, FieldMeaning]
"""Field, as its snake_case path under ResilienceSpec → its meaning in Envoy."""

__all__ = ["FieldMeaning", "Meanings"]
