"""A restart takes unchanged policy files from the decode cache, and reads the same set."""

from __future__ import annotations

from pathlib import Path

from breakwater.controlplane.state.decode_cache import SUFFIX, DecodeCache
from breakwater.translators.documents import SourceText
from breakwater.translators.pipeline import PolicyReader, policyset_from_texts

API = "apiVersion: breakwater.dev/v1alpha1"


def _texts(weight: int = 90) -> dict[str, SourceText]:
    service = f"""{API}
kind: Service
metadata: {{name: shop}}
spec:
  endpoints:
    - {{address: 10.0.0.1, port: 8080, labels: {{version: stable}}}}
  subsets:
    - {{name: stable, labels: {{version: stable}}}}
"""
    route = f"""{API}
kind: HTTPRoute
metadata: {{name: shop}}
spec:
  gateways: [edge]
  hostnames: [shop.example]
  rules:
    - backends:
        - {{service: shop, subset: stable, weight: {weight}}}
"""
    gateway = f"""{API}
kind: Gateway
metadata: {{name: edge}}
spec: {{address: 127.0.0.1, port: 10000}}
"""
    files = {"gateway.yaml": gateway, "service.yaml": service, "route.yaml": route}
    return {name: SourceText(f"/policies/{name}", text) for name, text in files.items()}


def test_a_restart_decodes_only_what_changed(tmp_path: Path) -> None:
    first = DecodeCache(tmp_path)
    PolicyReader(first, compact=True).read(_texts())
    first.flush()
    assert len(list((tmp_path / "decoded").glob("*" + SUFFIX))) == 3

    again = DecodeCache(tmp_path)
    reader = PolicyReader(again, compact=True)
    loaded = reader.read(_texts(weight=80))
    assert (reader.decoded_files, again.loaded) == (1, 2)  # the route's file changed
    fresh = policyset_from_texts(_texts(weight=80))
    assert loaded.policyset is not None and fresh.policyset is not None
    assert dict(loaded.policyset.routes) == dict(fresh.policyset.routes)
    assert dict(loaded.policyset.sources) == dict(fresh.policyset.sources)
    again.flush()  # the old route file's entry goes, the new one is kept
    assert len(list((tmp_path / "decoded").glob("*" + SUFFIX))) == 3


def test_an_unreadable_entry_is_decoded_again(tmp_path: Path) -> None:
    cache = DecodeCache(tmp_path)
    PolicyReader(cache).read(_texts())
    cache.flush()
    for entry in (tmp_path / "decoded").glob("*" + SUFFIX):
        entry.write_bytes(b"cut short")
    reader = PolicyReader(DecodeCache(tmp_path))
    loaded = reader.read(_texts())
    assert reader.decoded_files == 3
    assert loaded.policyset is not None and not loaded.errors


def test_a_compact_document_from_the_cache_still_names_its_lines(tmp_path: Path) -> None:
    cache = DecodeCache(tmp_path)
    PolicyReader(cache, compact=True).read(_texts())
    cache.flush()
    texts = _texts()
    gateway = texts["gateway.yaml"]
    texts["gateway.yaml"] = SourceText(gateway.path, gateway.text.replace("edge", "other"))
    loaded = PolicyReader(DecodeCache(tmp_path), compact=True).read(texts)
    fresh = policyset_from_texts(texts)
    assert loaded.errors and [str(e) for e in loaded.errors] == [str(e) for e in fresh.errors]
