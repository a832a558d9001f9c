"""Reading a plain document in one walk gives exactly what the whole way gives: the same data,
the line of every node (in the same order), the same node count, and the same errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from breakwater.translators import yaml_reader
from breakwater.translators.yaml_reader import read_documents_counted

ROOT = Path(__file__).resolve().parents[2]

EDGE_CASES = [
    "a: 1\nb: [1, 2, {c: d}]\n",
    "on: yes\noff: no\n'quoted': \"x\"\n",
    "1: one\n2.5: two\n~: three\n",
    "a: &x {b: 1}\nc: *x\n",
    "base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n",
    "a: 1\na: 2\n",
    "big: " + "9" * 5000 + "\n",
    "when: 2001-12-14\nbad: 2001-13-45\n",
    "f: [1.5, .inf, -.Inf, .nan, 1_000, 0x1F, 0o17, 017, 1:30, 0b101, +12, -0]\n",
    "n: [null, ~, Null, '', \"\"]\n",
    "b: [true, False, YES, off, On]\n",
    "---\n---\na: 1\n...\n---\nb: 2\n",
    "!!str 1: x\n",
    "a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !!omap [{a: 1}]\n",
    "? [complex, key]\n: value\n",
    "a: {" * 70 + "}" * 70 + "\n",
    "- - - - [a]\n- {k: [1, {m: n}]}\n",
    "a: !custom tag\n",
    "a: b: c\n",
    "= : value\n",
    "",
    "# only a comment\n",
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
]


def _whole_way(
    monkeypatch: pytest.MonkeyPatch, text: str, budget: int = yaml_reader.MAX_NODES_PER_DIRECTORY
) -> Any:
    """What the reader gives with every document taken the whole way (and no tag kept)."""
    with monkeypatch.context() as patched:

        def unusual(*args: object) -> object:
            raise yaml_reader._Unusual

        patched.setattr(yaml_reader, "_plain", unusual)
        patched.setattr(yaml_reader, "_Loader", yaml.CSafeLoader)
        return _read(text, budget)


def _read(text: str, budget: int = yaml_reader.MAX_NODES_PER_DIRECTORY) -> Any:
    documents, errors, nodes = read_documents_counted(text, "policies.yaml", budget)
    return (
        [(d.line, d.data, list(d.lines.items()), d.aliases, d.nodes) for d in documents],
        [str(e) for e in errors],
        nodes,
    )


def _corpus() -> list[str]:
    files = [
        p
        for p in ROOT.rglob("*.yaml")
        if not {".venv", "build", "node_modules", ".git"} & set(p.relative_to(ROOT).parts)
    ]
    return EDGE_CASES + [p.read_text() for p in sorted(files)]


def test_every_yaml_file_of_the_project_and_each_edge_case_reads_as_the_whole_way_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = _corpus()
    assert len(corpus) > 50
    for text in corpus:
        assert _read(text) == _whole_way(monkeypatch, text), text[:200]


def test_a_budget_that_runs_out_is_reported_as_the_whole_way_reports_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "---\n".join(f"a: [{i}, {i + 1}, {{b: c}}]\n" for i in range(5))
    for budget in range(30):
        assert _read(text, budget) == _whole_way(monkeypatch, text, budget), budget


scalars = st.one_of(
    st.sampled_from(["1", "1.5", "yes", "on", "null", "~", "0x1F", "'7'", "2001-12-14", "a b"]),
    st.text(alphabet="abc019:.-_ ", min_size=1, max_size=6).map(lambda s: f'"{s}"'),
    st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
)
keys = st.one_of(
    st.from_regex(r"[a-z][a-zA-Z0-9]{0,6}", fullmatch=True),
    st.sampled_from(["on", "yes", "1", "'q'", "null"]),
)
values: st.SearchStrategy[str] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(keys, inner), max_size=4).map(
            lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(keys, values), min_size=1, max_size=5), min_size=1, max_size=3))
def test_random_flow_documents_read_as_the_whole_way_reads(
    documents: list[list[tuple[str, str]]],
) -> None:
    text = "---\n".join("".join(f"{k}: {v}\n" for k, v in pairs) for pairs in documents)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _read(text) == _whole_way(monkeypatch, text)
