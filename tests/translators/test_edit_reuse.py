"""An edit of one document in one file of several: what the reader hands on is what it read.

The other documents (of the edited file and of the files left alone) are the very same
objects as before, the reader says that only the edited file's documents may differ
(`Changes`), a weight edit goes the short way over those alone, and an edit that makes a
document invalid is still reported on its own line.
"""

from __future__ import annotations

from breakwater.controlplane.state.documents import DocumentStatuses, document_statuses
from breakwater.translators.documents import SourceText
from breakwater.translators.pipeline import LoadedPolicies, PolicyReader, policyset_from_texts

API = "apiVersion: breakwater.dev/v1alpha1"
GATEWAY = f"""{API}
kind: Gateway
metadata:
  name: edge
spec:
  address: 127.0.0.1
  port: 10000
"""


def _service(name: str, stable: int) -> str:
    return f"""{API}
kind: Service
metadata:
  name: {name}
spec:
  protocol: http
  endpoints:
    - {{address: 127.0.0.1, port: 18081, labels: {{version: stable}}}}
    - {{address: 127.0.0.1, port: 18082, labels: {{version: canary}}}}
  subsets:
    - name: stable
      labels: {{version: stable}}
    - name: canary
      labels: {{version: canary}}
---
{API}
kind: HTTPRoute
metadata:
  name: {name}
spec:
  gateways: [edge]
  hostnames: ["{name}.example"]
  rules:
    - backends:
        - {{service: {name}, subset: stable, weight: {stable}}}
        - {{service: {name}, subset: canary, weight: {100 - stable}}}
"""


def _texts(stable: int, names: int = 4) -> dict[str, SourceText]:
    """A gateway file and two files of `names` services each; the second service of the first
    services file routes `stable` percent to its stable subset."""
    texts = {"00-gateway.yaml": SourceText("00-gateway.yaml", GATEWAY)}
    for file in ("a", "b"):
        pieces = [
            _service(f"{file}{n}", stable if (file, n) == ("a", 1) else 90) for n in range(names)
        ]
        texts[f"{file}.yaml"] = SourceText(f"{file}.yaml", "---\n".join(pieces))
    return texts


def _read(reader: PolicyReader, texts: dict[str, SourceText]) -> LoadedPolicies:
    loaded = reader.read(texts)
    assert loaded.errors == [], loaded.errors
    return loaded


def test_one_weight_edit_hands_on_every_other_document_as_the_same_objects() -> None:
    reader = PolicyReader(compact=True)
    first = _read(reader, _texts(90))
    second = _read(reader, _texts(80))
    pairs = list(zip(first.documents, second.documents, strict=True))
    other = [at for at, (a, b) in enumerate(pairs) if a is not b]
    edited = [at for at, ((a, _), (b, _)) in enumerate(pairs) if a is not b]
    assert [second.documents[at][0].name for at in other] == ["a1"]
    assert edited == other, "the route's Service, in the same piece of text, is not re-made"
    assert first.changes is not None and second.changes is not None
    assert first.changes.spans is None, "the first read: anything may differ"
    assert second.changes.since == first.changes.read
    assert second.changes.spans is not None and len(second.changes.spans) == 1
    start, stop = second.changes.spans[0]
    assert {second.documents[at][1].file for at in range(start, stop)} == {"a.yaml"}
    assert stop - start == 8 and start <= other[0] < stop
    assert second.policyset is not None
    assert reader._checked is not None and reader._checked.short_checks == 1
    route = second.policyset.routes["a1"]
    assert [b.weight for b in route.spec.rules[0].backends] == [80, 20]
    # what the short way made is what reading the texts from scratch makes
    fresh = policyset_from_texts(_texts(80))
    assert fresh.policyset is not None
    assert second.policyset.routes == fresh.policyset.routes
    assert second.policyset.sources == fresh.policyset.sources


def test_statuses_of_an_edit_are_those_of_a_read_from_scratch() -> None:
    reader, statuses = PolicyReader(compact=True), DocumentStatuses()
    first = statuses(_read(reader, _texts(90)))
    edited = _texts(80)
    edited["a.yaml"] = SourceText("a.yaml", "\n\n" + edited["a.yaml"].text)  # moved two lines down
    second = statuses(_read(reader, edited))
    assert second == document_statuses(policyset_from_texts(edited))
    assert [s.line for s in second if s.file == "a.yaml"] == [
        s.line + 2 for s in first if s.file == "a.yaml"
    ]
    assert [s for s in second if s.file == "b.yaml"] == [s for s in first if s.file == "b.yaml"]
    assert all(a is b for a, b in zip(first, second, strict=True) if a.file != "a.yaml")


def test_an_edit_that_makes_a_document_invalid_is_reported_on_its_line() -> None:
    reader, statuses = PolicyReader(compact=True), DocumentStatuses()
    statuses(_read(reader, _texts(90)))
    _read(reader, _texts(80))
    broken = _texts(80)
    text = broken["a.yaml"].text.replace("weight: 80}", "weight: lots}", 1)
    broken["a.yaml"] = SourceText("a.yaml", text)
    loaded = reader.read(broken)
    line = text.splitlines().index("        - {service: a1, subset: stable, weight: lots}") + 1
    assert loaded.policyset is None
    assert [(e.file, e.line) for e in loaded.errors] == [("a.yaml", line)]
    assert [str(e) for e in loaded.errors] == [str(e) for e in policyset_from_texts(broken).errors]
    listed = statuses(loaded)
    assert [s.valid for s in listed].count(False) == len(
        [s for s in document_statuses(policyset_from_texts(broken)) if not s.valid]
    )
    # fixed again: the next read finds the set valid, as from scratch
    assert _read(reader, _texts(70)).policyset == policyset_from_texts(_texts(70)).policyset
