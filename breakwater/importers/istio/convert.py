"""Istio YAML texts → Breakwater documents, every field not carried over, and what stops the import.

Pure: texts in, documents out. The command reads the files and writes the
result; the tests call `import_istio` directly. The output is checked by
the same pipeline `breakwater validate` runs, so what is written validates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from breakwater.importers.istio.destinationrule import convert_destination_rule
from breakwater.importers.istio.ledger import Ledger, Leftover, Note
from breakwater.importers.istio.model import (
    ISTIO_API_VERSIONS,
    ISTIO_GROUP,
    DestinationRule,
    VirtualService,
)
from breakwater.importers.istio.services import assemble, needs
from breakwater.importers.istio.virtualservice import ResolvedDestination, convert_virtual_service
from breakwater.translators.documents import RawDocument, SourceText, dotted
from breakwater.translators.pipeline import policyset_from_texts
from breakwater.translators.yaml_reader import read_documents

OUTPUT_FILES = ("services.yaml", "gateways.yaml", "routes.yaml", "resilience.yaml")
"""The files an import writes, in the order a reader meets the documents."""


@dataclass
class ImportResult:
    files: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in OUTPUT_FILES}
    )
    leftovers: list[Leftover] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Anything here means nothing is written: the documents would not be a valid policy set."""

    def texts(self) -> dict[str, str]:
        """Each output file's YAML, documents separated by `---`; files with no document left out."""
        return {
            name: "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)
            for name, documents in self.files.items()
            if documents
        }


@dataclass
class _Read:
    virtual_services: list[tuple[VirtualService, Ledger]] = field(default_factory=list)
    destination_rules: list[tuple[DestinationRule, Ledger]] = field(default_factory=list)
    ledgers: list[Ledger] = field(default_factory=list)


def _label(raw: RawDocument) -> str:
    data = raw.data if isinstance(raw.data, dict) else {}
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{data.get('kind', '?')}/{name or '?'}"


def _parse(raw: RawDocument, result: ImportResult, read: _Read) -> None:
    data = raw.data
    label = _label(raw)
    api_version = data.get("apiVersion") if isinstance(data, dict) else None
    kind = data.get("kind") if isinstance(data, dict) else None
    ledger = Ledger(raw, label)
    read.ledgers.append(ledger)
    models: dict[str, type[VirtualService] | type[DestinationRule]] = {
        "VirtualService": VirtualService,
        "DestinationRule": DestinationRule,
    }
    model = models.get(str(kind))
    if api_version not in ISTIO_API_VERSIONS or model is None:
        group = str(api_version).partition("/")[0]
        reason = (
            f"only VirtualService and DestinationRule are imported, not {kind}"
            if group == ISTIO_GROUP
            else f"not an Istio networking document (apiVersion {api_version!r}, kind {kind!r}); "
            f"the importer reads {', '.join(ISTIO_API_VERSIONS)}"
        )
        ledger.left((), reason, "convert it by hand, or leave it out of the import")
        return
    try:
        document = model.model_validate(data)
    except ValidationError as error:
        for problem in error.errors():
            loc = tuple(problem["loc"])
            result.errors.append(
                f"{raw.file}:{raw.line_of(loc)}: {label}: {dotted(loc)}: {problem['msg']}; "
                "fix the Istio document (it would not be accepted by Istio either) and import again"
            )
        ledger.left((), "it is not a valid Istio document", "fix it and import again")
        return
    if isinstance(document, VirtualService):
        read.virtual_services.append((document, ledger))
    else:
        read.destination_rules.append((document, ledger))


def _existing(documents: Sequence[Mapping[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: dict(d) for d in documents if d.get("kind") == kind}


def import_istio(
    sources: Sequence[SourceText],
    existing: Sequence[Mapping[str, Any]] = (),
    default_gateway: str = "edge",
) -> ImportResult:
    """Convert every VirtualService and DestinationRule of `sources`.

    `existing` are Breakwater documents (as dicts) the user already has:
    their Services get the subsets, their Gateways are used as they are.
    `default_gateway` serves the routes Istio bound to no gateway (or to the
    mesh's sidecars).
    """
    result = ImportResult()
    read = _Read()
    for source in sources:
        raws, errors = read_documents(source.text, source.path)
        result.errors.extend(str(e) for e in errors)
        for raw in raws:
            if raw.data is not None:
                _parse(raw, result, read)
    targets: list[ResolvedDestination] = []
    gateways: list[str] = []
    for vs, ledger in read.virtual_services:
        converted = convert_virtual_service(vs, ledger, default_gateway)
        targets.extend(converted.targets)
        if converted.document is not None:
            result.files["routes.yaml"].append(converted.document)
            gateways.extend(converted.gateways)
    subsets: dict[str, list[dict[str, Any]]] = {}
    for rule, ledger in read.destination_rules:
        converted_rule = convert_destination_rule(rule, ledger)
        if converted_rule.service is not None:
            subsets.setdefault(converted_rule.service, []).extend(converted_rule.subsets)
            result.files["resilience.yaml"].extend(converted_rule.policies)
    assembled = assemble(
        needs(targets, subsets),
        gateways,
        _existing(existing, "Service"),
        _existing(existing, "Gateway"),
    )
    result.files["services.yaml"] = assembled.services
    result.files["gateways.yaml"] = assembled.gateways
    result.errors.extend(assembled.errors)
    for ledger in read.ledgers:
        ledger.close()
        result.leftovers.extend(ledger.leftovers)
        result.notes.extend(ledger.notes)
    result.notes.extend(assembled.notes)
    if not result.errors:
        result.errors.extend(_validation_errors(result))
    return result


def _validation_errors(result: ImportResult) -> list[str]:
    """The output read as `breakwater validate` reads it; any error means it must not be written."""
    texts = {name: SourceText(name, text) for name, text in result.texts().items()}
    loaded = policyset_from_texts(texts)
    return [
        f"the imported documents do not validate: {error}; fix the inputs (or the Services "
        "given with --services) and import again"
        for error in loaded.errors
    ]


__all__ = ["OUTPUT_FILES", "ImportResult", "import_istio"]
