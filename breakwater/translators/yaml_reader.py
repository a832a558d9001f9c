"""A safe YAML reader that keeps the line of every node, and stays bounded whatever the text.

Every node's line is kept so that an error from pydantic (which knows only
field paths) can point at the line the user wrote. YAML is read with the
safe loader: tags that construct Python objects are refused. Expansion
through anchors and aliases is bounded, per document and per file, and so
is nesting, so that a small file cannot grow into a huge document nor
exhaust the stack; a value that cannot be constructed (an impossible date,
an integer of too many digits) is a located error too. Mapping keys are
always read as text: YAML 1.1 would read a bare `on` or `yes` as a boolean.
"""

from __future__ import annotations

from typing import Any

import yaml

from breakwater.translators.documents import RawDocument, YamlPath, dotted
from breakwater.translators.errors import PolicyError

try:  # the C loader is several times faster and keeps marks just the same
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader  # type: ignore[assignment]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_KEY_TAGS = frozenset({_STR_TAG, _BOOL_TAG})
_MAPPING, _SEQUENCE, _SCALAR = yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode
PLAIN_TAGS_KEPT = 100_000
"""Plain scalars whose tag is remembered (`_Loader.resolve`); the rest are resolved each time."""
_plain_tags: dict[str, str] = {}


class _Loader(SafeLoader):
    """The safe loader, each plain scalar's tag resolved once per process.

    The parser asks the resolver for every node's tag; for a plain scalar that is a
    handful of regular expressions tried on its text (a quarter of reading a large
    directory), and the answer depends on the text alone (the safe loader has no path
    resolvers), so it is remembered.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _plain_tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(_plain_tags) < PLAIN_TAGS_KEPT:
                    _plain_tags[value] = tag
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


MAX_NODES_PER_DOCUMENT = 100_000
MAX_NODES_PER_DIRECTORY = 2_000_000
"""Nodes, once aliases are expanded, that all the files of a policy directory may hold
together: 10 000 services (the largest directory measured) are 850 000."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists; a policy needs about ten levels."""


class _Unusual(Exception):
    """A document `_plain` leaves to the whole way: an alias, a tag other than the core
    ones, a key that is not text, a key written twice, nesting too deep, a value that
    cannot be constructed."""


class _Plain:
    """A document without anything unusual read in one walk: its data (what the safe loader
    constructs), the line of every node (`lines`, as `_index_lines` records them) and how
    many nodes it holds (`count`, as `_expanded_size` counts them). `_Unusual` for anything
    else.

    The whole way walks a document four times (size, lines, duplicate keys, then PyYAML's
    constructor, which goes through generators and a lookup per node): most of reading a
    large directory. (A class, not a closure: a function that calls itself through its
    closure is a reference cycle, which would keep every document's nodes until a garbage
    collection, and reads run with the collector paused.)
    """

    __slots__ = ("count", "lines", "loader", "seen")

    def __init__(self, loader: Any, lines: dict[YamlPath, int]) -> None:
        self.loader = loader
        self.lines = lines
        self.seen: set[int] = set()
        self.count = 0

    def walk(self, node: yaml.Node, path: YamlPath, level: int) -> Any:
        if level > MAX_DEPTH:
            raise _Unusual
        self._visit(node)
        lines = self.lines
        lines[path] = node.start_mark.line + 1
        if type(node) is _MAPPING:
            if node.tag != _MAP_TAG:
                raise _Unusual
            mapping: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if type(key_node) is not _SCALAR or key_node.tag not in _KEY_TAGS:
                    raise _Unusual
                key = key_node.value
                if key in mapping:
                    raise _Unusual
                child = (*path, key)
                if type(value_node) is _SCALAR and level < MAX_DEPTH:
                    # Most nodes: no call of its own. Its line is the key's, as ever (the
                    # value's line, recorded first, gave way to it).
                    self._visit(value_node)
                    lines[child] = key_node.start_mark.line + 1
                    mapping[key] = self.scalar(value_node)
                    continue
                mapping[key] = self.walk(value_node, child, level + 1)
                lines[child] = key_node.start_mark.line + 1
            return mapping
        if type(node) is _SEQUENCE:
            if node.tag != _SEQ_TAG:
                raise _Unusual
            return [self.walk(item, (*path, i), level + 1) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def _visit(self, node: yaml.Node) -> None:
        """Count the node; one met again is an alias, left to the whole way."""
        if id(node) in self.seen:
            raise _Unusual
        self.seen.add(id(node))
        self.count += 1

    def scalar(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR_TAG:
            return node.value
        if tag == _NULL_TAG:
            return None
        try:
            if tag == _INT_TAG:
                return self.loader.construct_yaml_int(node)
            if tag == _BOOL_TAG:
                return self.loader.construct_yaml_bool(node)
            if tag == _FLOAT_TAG:
                return self.loader.construct_yaml_float(node)
        except Exception:  # PyYAML's constructors raise ValueError, KeyError, ...
            raise _Unusual from None
        raise _Unusual


def _plain(loader: Any, node: yaml.Node, lines: dict[YamlPath, int]) -> tuple[Any, int]:
    """The document's data and node count, its lines put in `lines` (see `_Plain`)."""
    reading = _Plain(loader, lines)
    data = reading.walk(node, (), 1)
    return data, reading.count


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _expanded_size(node: yaml.Node, sizes: dict[int, int], level: int = 1) -> int:
    """Nodes `node` stands for once aliases are expanded, each distinct node worked out once,
    so that a billion laughs costs what its text costs to count."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if level > MAX_DEPTH:  # the root is level 1; a recursive alias ends here too
        raise _TooDeep(node.start_mark.line + 1)
    size = 1
    if isinstance(node, yaml.MappingNode):
        for _, value_node in node.value:
            size += _expanded_size(value_node, sizes, level + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, sizes, level + 1)
    sizes[id(node)] = size
    return size


def _index_lines(
    node: yaml.Node,
    path: YamlPath,
    raw: RawDocument,
    first_seen: dict[int, YamlPath],
) -> None:
    """The line of every node as written: a node met again through an alias is recorded
    once, where the alias stands, with the path it was first met at (`RawDocument.aliases`);
    what lies under it is not walked again."""
    raw.lines[path] = node.start_mark.line + 1
    first = first_seen.get(id(node))
    if first is not None:
        if path:
            raw.aliases[path] = first
        return
    first_seen[id(node)] = path
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (
                key_node.value
                if isinstance(key_node, yaml.ScalarNode)
                else str(key_node.start_mark)
            )
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL_TAG:
                # YAML 1.1 reads a bare `on`, `yes`, `off` or `no` as a boolean, but a key
                # in a policy is always a name (`fallback.on`, a label), never a truth value.
                key_node.tag = _STR_TAG
            _index_lines(value_node, (*path, key), raw, first_seen)
            raw.lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), raw, first_seen)


def _duplicate_keys(
    node: yaml.Node, path: YamlPath, found: list[tuple[YamlPath, int]], visited: set[int]
) -> None:
    """Keys written twice in one mapping; a mapping reached again through an alias is not
    looked at twice."""
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    found.append(((*path, key_node.value), key_node.start_mark.line + 1))
                seen.add(key_node.value)
                _duplicate_keys(value_node, (*path, key_node.value), found, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, (*path, index), found, visited)


def _unreadable_scalar_line(loader: Any, node: yaml.Node) -> int | None:
    """The line of the first scalar that cannot be constructed (each node visited once)."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            try:
                loader.construct_object(current, deep=True)
            except Exception:
                return int(current.start_mark.line) + 1
        elif isinstance(current, yaml.MappingNode):
            stack.extend(n for pair in reversed(current.value) for n in reversed(pair))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
    return None


def _reset_constructor(loader: Any) -> None:
    """Forget a document whose construction failed, so the next one starts clean."""
    loader.state_generators = []
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.deep_construct = False


def read_documents(
    text: str, file: str, budget: int = MAX_NODES_PER_DIRECTORY
) -> tuple[list[RawDocument], list[PolicyError]]:
    """Split a file into documents; YAML syntax errors and unsafe tags become located errors.

    Never raises for any text: whatever cannot be read is an error with its line.
    `budget` is what is left of the directory's nodes (all of it for a file read alone);
    expanded nodes are counted across documents, so many small documents that each
    expand just under the per-document cap are stopped too.
    """
    documents, errors, _ = read_documents_counted(text, file, budget)
    return documents, errors


def read_documents_counted(
    text: str, file: str, budget: int = MAX_NODES_PER_DIRECTORY
) -> tuple[list[RawDocument], list[PolicyError], int]:
    """`read_documents`, and how many nodes of the budget the documents used."""
    documents: list[RawDocument] = []
    errors: list[PolicyError] = []
    remaining = budget
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            raw = RawDocument(file=file, line=node.start_mark.line + 1, data=None)
            try:
                data, nodes = _plain(loader, node, raw.lines)
            except (_Unusual, RecursionError):
                raw.lines = {}
            else:
                if nodes <= min(MAX_NODES_PER_DOCUMENT, remaining):
                    raw.data, raw.nodes = data, nodes
                    remaining -= nodes
                    documents.append(raw)
                    continue
                raw.lines = {}
            try:
                raw.nodes = _expanded_size(node, {})
            except _TooDeep as exc:
                errors.append(
                    PolicyError(
                        file,
                        exc.line,
                        f"mappings and lists are nested more than {MAX_DEPTH} levels deep; "
                        "a policy needs far fewer",
                    )
                )
                continue
            if raw.nodes > MAX_NODES_PER_DOCUMENT:
                errors.append(
                    PolicyError(
                        file,
                        raw.line,
                        f"document has more than {MAX_NODES_PER_DOCUMENT} nodes once anchors are "
                        "expanded; split it or remove the aliases",
                    )
                )
                continue
            if raw.nodes > remaining:
                errors.append(
                    PolicyError(
                        file,
                        raw.line,
                        f"the policy directory has more than {MAX_NODES_PER_DIRECTORY} nodes, "
                        f"once anchors are expanded, counting every file; {file} goes over "
                        "it here, and neither the rest of it nor the files after it were "
                        "read. Remove aliases or move policies to another directory.",
                    )
                )
                break
            remaining -= raw.nodes
            _index_lines(node, (), raw, {})
            duplicates: list[tuple[YamlPath, int]] = []
            _duplicate_keys(node, (), duplicates, set())
            for dup_path, dup_line in duplicates:
                errors.append(
                    PolicyError(
                        file,
                        dup_line,
                        f"key {dup_path[-1]!r} appears twice in one mapping; keep one",
                        field=dotted(dup_path),
                    )
                )
            try:
                raw.data = loader.construct_document(node)
            except yaml.YAMLError:
                raise
            except Exception as exc:  # PyYAML's constructors raise ValueError, IndexError, ...
                _reset_constructor(loader)
                line = _unreadable_scalar_line(loader, node) or raw.line
                _reset_constructor(loader)
                errors.append(
                    PolicyError(
                        file, line, f"value cannot be read ({exc}); quote it if it is meant as text"
                    )
                )
                continue
            documents.append(raw)
    except RecursionError:
        # Only the pure-Python parser recurses while composing; the C one stops at its own depth.
        errors.append(
            PolicyError(file, 1, f"mappings and lists are nested too deep (more than {MAX_DEPTH})")
        )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or "invalid YAML"
        if exc.problem and "could not determine a constructor" in exc.problem:
            problem = (
                f"{exc.problem.split('for the tag')[-1].strip()} is a YAML tag that constructs objects; "
                "only plain mappings, lists, strings and numbers are allowed"
            )
        errors.append(PolicyError(file, line, f"YAML syntax error: {problem}"))
    except yaml.YAMLError as exc:
        errors.append(PolicyError(file, 1, f"YAML error: {exc}"))
    finally:
        loader.dispose()
    return documents, errors, budget - remaining


def split_documents(text: str) -> list[tuple[int, str]] | None:
    """The file's text cut at its `---` lines: (index of the first line, text) per piece.

    Each piece parses on its own to the documents the whole file holds there
    (YAML documents share nothing: an anchor, a tag or a key never reaches
    across `---`), so a piece whose text did not change need not be parsed
    again. None when cutting might not be exact: a directive (`%`), an
    explicit end (`...`), or anything after `---` on its line.
    """
    if text.startswith(("%", "...")) or "\n%" in text or "\n..." in text:
        return None
    # Cut in C at each line that starts with `---`; the loop below visits each piece once,
    # not each line (a 500-service file has 30 000 lines and 1 500 pieces).
    parts = ("\n" + text).split("\n---")
    pieces = [(0, parts[0][1:])]
    line = parts[0].count("\n") - 1  # the index of the last line before the next `---`
    for part in parts[1:]:
        line += 1  # the `---` line itself
        end = part.find("\n")
        if part[: len(part) if end < 0 else end].rstrip():
            return None  # something after `---` on its line
        pieces.append((line + 1, "" if end < 0 else part[end + 1 :]))
        line += part.count("\n")
    return pieces


__all__ = [
    "MAX_DEPTH",
    "MAX_NODES_PER_DIRECTORY",
    "MAX_NODES_PER_DOCUMENT",
    "read_documents",
    "read_documents_counted",
    "split_documents",
]
