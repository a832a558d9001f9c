"""Schemas generated from the policy models: a JSON Schema for editors, CRDs for Kubernetes.

Both come from the pydantic models in `breakwater.translators`, so they
cannot disagree with what `breakwater validate` accepts about shapes and
types; checks that need code (a name's spelling, "exactly one of") stay in
the models, and `validate` gives those their located sentences.
"""

from breakwater.schema.crds import crds, crds_yaml
from breakwater.schema.json_schema import json_schema, json_schema_text

__all__ = ["crds", "crds_yaml", "json_schema", "json_schema_text"]
