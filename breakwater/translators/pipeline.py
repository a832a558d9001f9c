"""Policy texts → a validated PolicySet, or every mistake at once: the one way policies are read.

`serve`, `validate`, `render`, `explain` and the tests all come through
here, so a policy set that one of them accepts, all of them accept. Nothing
here opens a file: the texts come from the policy sources
(`breakwater.controlplane.state.sources`), or straight from a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from breakwater.translators.decode import validate_document
from breakwater.translators.documents import RawDocument, SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.model import GatewayApiDocument
from breakwater.translators.gateway_api.resolve import resolve_gateway_api
from breakwater.translators.kinds import AnyDocument
from breakwater.translators.model import Document
from breakwater.translators.policyset import PolicySet
from breakwater.translators.validate import build_policyset
from breakwater.translators.yaml_reader import read_documents


@dataclass(frozen=True)
class LoadedPolicies:
    """What the policy texts amount to."""

    policyset: PolicySet | None
    """None as soon as there is one error: a PolicySet that is handed on is always whole and valid."""
    errors: list[PolicyError]
    """Every mistake, sorted by file and line."""
    documents: list[tuple[AnyDocument, RawDocument]]
    """Every document that is valid on its own, in reading order, even when the set is refused."""


def policyset_from_texts(
    texts: Mapping[str, SourceText], unreadable: Iterable[PolicyError] = ()
) -> LoadedPolicies:
    """Read, decode and check every document of `texts`, in the mapping's order.

    `texts` is keyed by each file's name relative to the policy directory;
    the order matters because the first of two documents with one name is
    the one the error about the second points back to. `unreadable` are the
    files the source could not read: they refuse the set like any other
    mistake, and are reported with the rest.
    """
    errors = list(unreadable)
    documents: list[tuple[AnyDocument, RawDocument]] = []
    for source in texts.values():
        raws, read_errors = read_documents(source.text, source.path)
        errors.extend(read_errors)
        for raw in raws:
            if raw.data is None:  # an empty document, as between two `---`
                continue
            document, doc_errors = validate_document(raw)
            errors.extend(doc_errors)
            if document is not None:
                documents.append((document, raw))
    native = [(d, raw) for d, raw in documents if isinstance(d, Document)]
    foreign = [(d, raw) for d, raw in documents if isinstance(d, GatewayApiDocument)]
    converted, gateway_api, foreign_errors = resolve_gateway_api(foreign, native)
    policyset, cross_errors = build_policyset(native + converted)
    policyset = replace(policyset, gateway_api=gateway_api)
    all_errors = sorted(errors + foreign_errors + cross_errors, key=lambda e: (e.file, e.line))
    return LoadedPolicies(None if all_errors else policyset, all_errors, documents)


__all__ = ["LoadedPolicies", "SourceText", "policyset_from_texts"]
