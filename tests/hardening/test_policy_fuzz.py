"""Hostile policy files: any bytes, any structure → a PolicySet or located errors, quickly.

The YAML reader and the validator are the first thing an operator's mistake (or
an attacker's file in a shared ConfigMap) meets. Whatever the input, they
must answer with a valid PolicySet or with errors that each name a file and
a line, never raise, never construct Python objects from YAML tags, and
stay within a bounded time and memory even for documents built to expand.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakwater.controlplane.state.sources import MAX_FILE_BYTES
from breakwater.translators import yaml_reader
from breakwater.translators.errors import PolicyError
from breakwater.translators.policyset import PolicySet
from breakwater.translators.snapshot import node_group, translate
from breakwater.translators.yaml_reader import (
    MAX_DEPTH,
    MAX_NODES_PER_DIRECTORY,
    MAX_NODES_PER_DOCUMENT,
    read_documents,
)
from tests.support.policies import load_policy_dir

EXAMPLES = Path(__file__).parents[2] / "deploy" / "examples"
FUZZ = settings(
    max_examples=100,
    deadline=3000,  # ms per example: a hang or a blow-up fails the example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    database=None,  # and nothing written into the work tree
)
FILE = "policy.yaml"


# --- what every answer must look like ------------------------------------------------


def _check_located(errors: list[PolicyError], files: set[str]) -> None:
    for error in errors:
        assert isinstance(error, PolicyError), error
        assert error.file in files, error
        assert isinstance(error.line, int) and error.line >= 0, error
        assert error.message.strip(), error
        assert str(error).startswith(f"{error.file}:{error.line}: "), error


def _check_read(text: str) -> None:
    documents, errors = read_documents(text, FILE)
    _check_located(errors, {FILE})
    for raw in documents:
        assert raw.file == FILE
        assert raw.line >= 1


def _check_policyset(policyset: PolicySet) -> None:
    """A set the validator accepted must translate for every node group without raising."""
    clusters = {
        gateway.spec.node_selector.cluster or "" if gateway.spec.node_selector else ""
        for gateway in policyset.gateways.values()
    }
    for cluster in sorted(clusters | {"edge", ""}):
        translate(policyset, node_group(policyset, cluster, {}))


def _load_dir(files: dict[str, bytes]) -> tuple[PolicySet | None, list[PolicyError]]:
    with tempfile.TemporaryDirectory(prefix="breakwater-fuzz-") as name:
        directory = Path(name)
        for file, content in files.items():
            (directory / file).write_bytes(content)
        policyset, errors = load_policy_dir(directory)
        _check_located(errors, {str(directory / f) for f in files})
        if policyset is None:
            assert errors, "no PolicySet and no error"
        else:
            assert errors == []
            _check_policyset(policyset)
        return policyset, errors


# --- raw bytes and YAML-shaped text ------------------------------------------------------

_YAML_PIECES = [
    "[", "]", "{", "}", ", ", ": ", "- ", "? ", "\n", "  ", "    ", "#", "'", '"', "|", ">",
    "---\n", "...\n", "&a ", "*a", "&b ", "*b", "<<: ", "!!binary ", "!!int ", "!!float ",
    "!!timestamp ", "!!python/object/apply:os.system ", "!!python/name:os.system ", "!tag ",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "~", "null", "true", "no", "0x1F", "0o17", "1e400",
    ".nan", "2001-02-30", "2001-12-14t21:59:43.10-05:00", "1:20:30", "9" * 5000, "\t", "\\",
    "\x00", "\ufeff", "\u2028", "\U0001f600", "apiVersion: breakwater.dev/v1alpha1\n",
    "kind: Service\n", "kind: HTTPRoute\n", "kind: Gateway\n", "kind: ResiliencePolicy\n",
    "metadata: {name: x}\n", "spec:\n", "spec: ", "port: ", "weight: ", "timeout: ", "5s", "-1",
]  # fmt: skip

yaml_like_text = st.lists(st.sampled_from(_YAML_PIECES) | st.text(max_size=8), max_size=60).map(
    "".join
)


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_give_a_policyset_or_located_errors(content: bytes) -> None:
    _load_dir({FILE: content})


@FUZZ
@given(st.text(max_size=3000))
def test_any_text_is_read_without_raising(text: str) -> None:
    _check_read(text)


@FUZZ
@given(yaml_like_text)
def test_yaml_shaped_text_is_read_without_raising(text: str) -> None:
    _check_read(text)
    _load_dir({FILE: text.encode("utf-8", "surrogatepass")})


# --- any structure, and valid policies with one thing changed ------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["0s", "5s", "250ms", "-1s", "1h", "99999999999h", "", "*", "/", "edge"])
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(["spec", "name", "kind"]), children, max_size=5
        )
    ),
    max_leaves=40,
)


@FUZZ
@given(st.lists(json_like, max_size=4))
def test_any_structure_gives_a_policyset_or_located_errors(documents: list[Any]) -> None:
    text = yaml.safe_dump_all(documents, allow_unicode=True)
    _load_dir({FILE: text.encode()})


def _example_documents() -> dict[str, list[Any]]:
    """Read as `serve` reads them: PyYAML's own loader would turn `fallback.on` into `true`."""
    return {
        path.name: [
            raw.data
            for raw in read_documents(path.read_text(), str(path))[0]
            if raw.data is not None
        ]
        for path in sorted(EXAMPLES.glob("*.yaml"))
    }


EXAMPLE_DOCUMENTS = _example_documents()


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


MUTABLE = [
    (file, index, path)
    for file, documents in EXAMPLE_DOCUMENTS.items()
    for index, document in enumerate(documents)
    for path in _paths(document)
    if path
]


def _mutate(
    documents: dict[str, list[Any]],
    target: tuple[str, int, tuple[Any, ...]],
    value: Any,
    delete: bool,
) -> None:
    file, index, path = target
    holder = documents[file][index]
    for part in path[:-1]:
        holder = holder[part]
    if delete:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(MUTABLE), json_like, st.booleans()), min_size=1, max_size=3)
)
def test_valid_policies_with_fields_changed_give_a_policyset_or_located_errors(
    changes: list[tuple[tuple[str, int, tuple[Any, ...]], Any, bool]],
) -> None:
    documents = copy.deepcopy(EXAMPLE_DOCUMENTS)
    for target, value, delete in changes:
        try:
            _mutate(documents, target, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced the parent
    _load_dir({file: yaml.safe_dump_all(docs).encode() for file, docs in documents.items()})


def test_the_unchanged_examples_are_valid() -> None:
    """The mutation test starts from valid files, so its errors come from the changes."""
    policyset, errors = _load_dir(
        {file: yaml.safe_dump_all(docs).encode() for file, docs in EXAMPLE_DOCUMENTS.items()}
    )
    assert errors == [] and policyset is not None


# --- tags that construct objects ---------------------------------------------------------------


@pytest.mark.parametrize(
    "tagged",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/object:subprocess.Popen {{args: ['touch', '{marker}']}}",
        "!!python/tuple [1, 2]",
        "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
    ],
)
def test_tags_that_construct_objects_are_refused(tmp_path: Path, tagged: str) -> None:
    marker = tmp_path / "constructed"
    text = (
        "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: x}\n"
        f"spec:\n  protocol: {tagged.format(marker=marker)}\n"
    )
    documents, errors = read_documents(text, FILE)
    assert documents == []
    assert len(errors) == 1, errors
    assert errors[0].line == 5, errors
    assert "constructs objects" in errors[0].message, errors
    assert not marker.exists()


# --- bounded time and memory ---------------------------------------------------------------------


def _bounded(run: Callable[[], Any], seconds: float, megabytes: float) -> Any:
    """Run `run` and assert on the CPU time and the peak of Python allocations it took.

    CPU time, not wall time: what is bounded is the work an input can cause,
    and the wall clock also counts whatever else the machine is doing.
    """
    tracemalloc.start()
    started = time.process_time()
    try:
        result = run()
        elapsed = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s of CPU"
    assert peak < megabytes * 2**20, f"peak {peak / 2**20:.0f} MiB"
    return result


def _laughs(levels: int, width: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "spec:\n" + "".join(f"  {line}\n" for line in lines)


HEADER = "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: x}\n"


@pytest.mark.parametrize(("levels", "width"), [(9, 10), (30, 2), (4, 1000), (64, 2)])
def test_anchors_that_expand_are_stopped(levels: int, width: int) -> None:
    text = HEADER + _laughs(levels, width)
    documents, errors = _bounded(lambda: read_documents(text, FILE), 5.0, 200)
    assert documents == []
    assert [e.line for e in errors] == [1], errors
    assert f"more than {MAX_NODES_PER_DOCUMENT} nodes" in errors[0].message


def test_many_documents_that_each_expand_just_under_the_cap_are_stopped_by_the_budget() -> None:
    """Each document stays under the per-document cap; together they do not fit the
    directory's budget (a file read alone has all of it)."""
    one = "---\n" + HEADER + _laughs(5, 9)  # 9**5 = 59 049 nodes once expanded
    text = one * 300  # 108 kB of text, 17 million nodes if each were expanded
    documents, errors = _bounded(lambda: read_documents(text, FILE), 5.0, 300)
    assert len(documents) <= MAX_NODES_PER_DIRECTORY // 59_049
    assert any(f"more than {MAX_NODES_PER_DIRECTORY} nodes" in e.message for e in errors)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 990, 999, 1000, 1001, 100_000])
@pytest.mark.parametrize(
    "shape",
    [
        lambda n: "[" * n,
        lambda n: "[" * n + "]" * n,
        lambda n: "{a: " * n + "1" + "}" * n,
        lambda n: "- " * n + "x\n",
        lambda n: "".join(" " * i + "a:\n" for i in range(min(n, 3000))),
    ],
    ids=["open-brackets", "brackets", "braces", "dashes", "indented"],
)
def test_deep_nesting_is_a_located_error(depth: int, shape: Callable[[int], str]) -> None:
    """PyYAML's C parser stops at 1000 levels; below that the reader's own limit answers.

    Before the limit, 999 nested lists reached the reader's recursive walk and
    raised RecursionError instead of reporting a mistake.
    """
    text = shape(depth)
    documents, errors = _bounded(lambda: read_documents(text, FILE), 5.0, 100)
    assert documents == []
    assert len(errors) == 1, errors
    _check_located(errors, {FILE})


def test_a_self_referencing_alias_is_a_located_error() -> None:
    documents, errors = read_documents("spec: &a [*a, *a]\n", FILE)
    assert documents == [] and len(errors) == 1, errors


def test_deep_nesting_with_the_pure_python_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C parser, composing itself recurses; that too becomes an error.

    (PyYAML's pure-Python scanner is quadratic in the nesting depth, so the
    depths stay small here; the C parser, used whenever present, stops at 1000.)
    """
    monkeypatch.setattr(yaml_reader, "SafeLoader", yaml.SafeLoader)
    for depth in (MAX_DEPTH + 1, 1500):
        started = time.process_time()
        documents, errors = read_documents("[" * depth + "]" * depth, FILE)
        assert time.process_time() - started < 5.0
        assert documents == [] and len(errors) == 1, (depth, errors)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("2001-02-30", 3),
        ("2001-02-03 25:00:00", 3),
        ("9" * 5000, 3),
        ("!!int " + "1" * 5000, 3),
        ("!!float not-a-number", 3),
        ("!!timestamp never", 3),
    ],
)
def test_values_that_cannot_be_constructed_are_located(value: str, line: int) -> None:
    """Before: ValueError or AttributeError escaped from the reader."""
    text = f"---\nmetadata: {{name: ok}}\nspec: {{when: {value}}}\n---\nkind: Service\n"
    documents, errors = read_documents(text, FILE)
    assert [e.line for e in errors] == [line], errors
    assert "value cannot be read" in errors[0].message
    assert "quote it" in errors[0].message
    # The next document is still read, with a clean constructor.
    assert [d.data for d in documents] == [{"kind": "Service"}]


def test_a_file_of_the_maximum_size_is_read_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """A flat list of the largest size the policy sources accept, read in a fresh process.

    PyYAML makes a Python object per node before any cap can look at it, so
    the file size limit is what bounds this; measured: ~4 s and ~190 MB of RSS
    for 1 MiB (a 4 MiB file, the earlier limit, took 22 s and 630 MB).
    """
    count = (MAX_FILE_BYTES - 16) // 2
    (tmp_path / FILE).write_text("[" + ",".join(["1"] * count) + "]\n")
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from breakwater.controlplane.state.sources import load_policy_files\n"
        "started = time.process_time()\n"
        "_, loaded = load_policy_files(Path(sys.argv[1]))\n"
        "print(json.dumps({'seconds': time.process_time() - started,\n"
        "  'errors': len(loaded.errors), 'policyset': loaded.policyset is not None,\n"
        "  'rss_mb': int(next(line for line in open('/proc/self/status')\n"
        "                     if line.startswith('VmHWM:')).split()[1]) / 1024}))\n"
    )
    # VmHWM and not getrusage's ru_maxrss: the latter survives exec, so the child
    # would report the high-water mark of the test process it was forked from.
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    measured = json.loads(done.stdout)
    assert measured["errors"] == 1 and not measured["policyset"], measured
    assert measured["seconds"] < 20, measured
    assert measured["rss_mb"] < 400, measured


def test_a_file_over_the_size_limit_is_not_parsed(tmp_path: Path) -> None:
    (tmp_path / FILE).write_text("#" * (MAX_FILE_BYTES + 1))
    policyset, errors = _bounded(lambda: load_policy_dir(tmp_path), 2.0, 50)
    assert policyset is None
    assert [(e.line, e.message) for e in errors] == [
        (1, f"file is larger than {MAX_FILE_BYTES} bytes; split it")
    ]


MERGE_BASE = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints: [{address: 127.0.0.1, port: 8080}]
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: fleet}
spec:
  retry: {attempts: 3, backoff: {baseInterval: 100ms, maxInterval: 2s}}
"""


@pytest.mark.parametrize(
    ("extra", "file", "line", "field"),
    [
        (
            "---\napiVersion: breakwater.dev/v1alpha1\nkind: ResiliencePolicy\n"
            "metadata: {name: payments-retry}\nspec:\n  targetRef: {name: payments}\n"
            "  retry: {attempts: 2, backoff: {baseInterval: 5s}}\n",
            "policies.yaml",
            18,
            "spec.retry.backoff",
        ),
        (
            "---\napiVersion: breakwater.dev/v1alpha1\nkind: Gateway\nmetadata: {name: edge}\n"
            "spec: {port: 10000}\n---\napiVersion: breakwater.dev/v1alpha1\nkind: HTTPRoute\n"
            "metadata: {name: r}\nspec:\n  gateways: [edge]\n  rules:\n"
            "    - backends: [{service: payments}]\n"
            "      retry: {attempts: 2, backoff: {baseInterval: 5s}}\n",
            "policies.yaml",
            25,
            "spec.rules[0].retry.backoff",
        ),
    ],
    ids=["service-over-fleet", "rule-over-fleet"],
)
def test_policies_valid_alone_that_merge_into_an_invalid_one_are_located(
    tmp_path: Path, extra: str, file: str, line: int, field: str
) -> None:
    """Before: pydantic's ValidationError escaped from build_policyset (found by the fuzzer)."""
    (tmp_path / file).write_text(MERGE_BASE + extra)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    assert [(e.line, e.field) for e in errors] == [(line, field)], errors
    assert "`maxInterval` must not be shorter than `baseInterval`" in errors[0].message
    assert "once merged with ResiliencePolicy/fleet" in errors[0].message
