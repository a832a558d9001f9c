"""Read a directory of multi-document YAML files into a PolicySet, or into every mistake at once.

The loader keeps the line of every YAML node so that an error from pydantic
(which knows only field paths) can point at the line the user wrote. YAML is
read with the safe loader: tags that construct Python objects are refused.
Expansion through anchors and aliases is bounded, per document and per
file, and so is nesting, so that a small file cannot grow into a huge
document nor exhaust the stack; a value that cannot be constructed (an
impossible date, an integer of too many digits) is a located error too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from breakwater.translators.model import API_VERSION, KINDS, Document
from breakwater.translators.policyset import PolicySet, SourceRef

try:  # the C loader is several times faster and keeps marks just the same
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader  # type: ignore[assignment]

YamlPath = tuple[str | int, ...]
MAX_NODES_PER_DOCUMENT = 100_000
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists; a policy needs about ten levels."""
MAX_FILE_BYTES = 1024 * 1024
"""PyYAML builds a Python object per node (about 5 µs and 150 bytes each): 1 MiB reads in seconds."""


@dataclass(frozen=True)
class PolicyError:
    """One mistake, located: `file:line: kind/name: field: what is wrong and what is allowed`."""

    file: str
    line: int
    message: str
    kind: str | None = None
    name: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}"]
        if self.kind is not None:
            parts.append(f"{self.kind}/{self.name or '?'}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass
class RawDocument:
    """A YAML document before validation, with the line of each of its nodes."""

    file: str
    line: int
    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line_of(self, path: YamlPath) -> int:
        """The line of the deepest node on `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.line


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _index_lines(
    node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int], budget: list[int]
) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if len(path) >= MAX_DEPTH:  # the root is level 1
        raise _TooDeep(node.start_mark.line + 1)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (
                key_node.value
                if isinstance(key_node, yaml.ScalarNode)
                else str(key_node.start_mark)
            )
            _index_lines(value_node, (*path, key), lines, budget)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines, budget)


def _duplicate_keys(node: yaml.Node, path: YamlPath, found: list[tuple[YamlPath, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    found.append(((*path, key_node.value), key_node.start_mark.line + 1))
                seen.add(key_node.value)
                _duplicate_keys(value_node, (*path, key_node.value), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, (*path, index), found)


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


def read_documents(text: str, file: str) -> tuple[list[RawDocument], list[PolicyError]]:
    """Split a file into documents; YAML syntax errors and unsafe tags become located errors.

    Never raises for any text: whatever cannot be read is an error with its line.
    Expanded nodes are counted across the whole file, so many small documents
    that each expand just under the per-document cap are stopped too.
    """
    documents: list[RawDocument] = []
    errors: list[PolicyError] = []
    file_budget = MAX_NODES_PER_DOCUMENT + len(text)
    loader = SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            raw = RawDocument(file=file, line=node.start_mark.line + 1, data=None)
            allowance = min(MAX_NODES_PER_DOCUMENT, file_budget)
            budget = [allowance]
            try:
                _index_lines(node, (), raw.lines, budget)
            except _TooLarge:
                if allowance < MAX_NODES_PER_DOCUMENT:
                    errors.append(
                        PolicyError(
                            file,
                            raw.line,
                            "the file has more nodes, once anchors are expanded, than "
                            f"{MAX_NODES_PER_DOCUMENT} plus one per byte; the rest of it was "
                            "not read",
                        )
                    )
                    break
                errors.append(
                    PolicyError(
                        file,
                        raw.line,
                        f"document has more than {MAX_NODES_PER_DOCUMENT} nodes once anchors are "
                        "expanded; split it or remove the aliases",
                    )
                )
                file_budget -= allowance
                continue
            except _TooDeep as exc:
                errors.append(
                    PolicyError(
                        file,
                        exc.line,
                        f"mappings and lists are nested more than {MAX_DEPTH} levels deep; "
                        "a policy needs far fewer",
                    )
                )
                file_budget -= allowance - budget[0]
                continue
            file_budget -= allowance - budget[0]
            duplicates: list[tuple[YamlPath, int]] = []
            _duplicate_keys(node, (), duplicates)
            for dup_path, dup_line in duplicates:
                errors.append(
                    PolicyError(
                        file,
                        dup_line,
                        f"key {dup_path[-1]!r} appears twice in one mapping; keep one",
                        field=_dotted(dup_path),
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
    return documents, errors


def _dotted(path: YamlPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: YamlPath) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc`, to suggest field names for a typo."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in fields:
            return None
        current = _unwrap(fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Find the model inside `X | None`, `list[X]` and `dict[str, X]`."""
    args = getattr(annotation, "__args__", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in args or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _allowed_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _describe(model_cls: type[Document], error: Any, loc: YamlPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model_cls, loc[:-1])
        allowed = _allowed_fields(owner) if owner is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" Allowed here: {', '.join(allowed)}." if allowed else ""
        return f"unknown field {loc[-1]!r}{hint}{listing}"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{error['input']!r} is not allowed; use one of {expected}"
    message: str = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def validate_document(raw: RawDocument) -> tuple[Document | None, list[PolicyError]]:
    data = raw.data
    if not isinstance(data, dict):
        return None, [
            PolicyError(
                raw.file,
                raw.line,
                "a document must be a mapping with apiVersion, kind, metadata, spec",
            )
        ]
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    name_text = name if isinstance(name, str) else None
    if data.get("apiVersion") != API_VERSION:
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(("apiVersion",)),
                f"apiVersion {data.get('apiVersion')!r} is not supported; use {API_VERSION}",
                kind=kind if isinstance(kind, str) else None,
                name=name_text,
                field="apiVersion",
            )
        ]
    if not isinstance(kind, str) or kind not in KINDS:
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(("kind",)),
                f"kind {kind!r} is not known; use one of {', '.join(KINDS)}",
                field="kind",
            )
        ]
    model_cls = KINDS[kind]
    try:
        return model_cls.model_validate(data), []
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
            errors.append(
                PolicyError(
                    raw.file,
                    raw.line_of(loc),
                    _describe(model_cls, error, loc),
                    kind=kind,
                    name=name_text,
                    field=_dotted(loc) or None,
                )
            )
        return None, errors


def policy_files(path: Path) -> list[Path]:
    """The YAML files a directory holds (sorted, so that loading is deterministic)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


@dataclass
class LoadedDocuments:
    """Valid documents with their source, and every error found while reading them."""

    documents: list[tuple[Document, RawDocument]] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def load_documents(path: Path) -> LoadedDocuments:
    result = LoadedDocuments()
    if not path.exists():
        result.errors.append(
            PolicyError(str(path), 0, "no such file or directory; give a policy directory")
        )
        return result
    for file in policy_files(path):
        result.files.append(str(file))
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                result.errors.append(
                    PolicyError(
                        str(file), 1, f"file is larger than {MAX_FILE_BYTES} bytes; split it"
                    )
                )
                continue
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.errors.append(PolicyError(str(file), 1, f"cannot read file: {exc}"))
            continue
        raws, errors = read_documents(text, str(file))
        result.errors.extend(errors)
        for raw in raws:
            if raw.data is None:
                continue
            document, doc_errors = validate_document(raw)
            result.errors.extend(doc_errors)
            if document is not None:
                result.documents.append((document, raw))
    return result


def load_policies(path: Path) -> tuple[PolicySet | None, list[PolicyError]]:
    """Load and validate a policy directory: a PolicySet only when there is no error at all."""
    from breakwater.translators.validate import build_policyset

    loaded = load_documents(path)
    policyset, errors = build_policyset(loaded.documents)
    all_errors = loaded.errors + errors
    if all_errors:
        return None, sorted(all_errors, key=lambda e: (e.file, e.line))
    return policyset, []


__all__ = [
    "LoadedDocuments",
    "PolicyError",
    "RawDocument",
    "SourceRef",
    "load_documents",
    "load_policies",
    "read_documents",
    "validate_document",
]
