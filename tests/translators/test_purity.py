"""The translators stay pure, and no module of Breakwater imports itself in a circle.

Purity is what lets translation run off the event loop, twice in a row with
the same answer, and in a test without a directory: files, sockets,
processes and event loops belong to `breakwater.controlplane`. Read from the
source with `ast`, so a late import inside a function counts as much as one
at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "breakwater"
TRANSLATORS = PACKAGE / "translators"

TOUCHES_THE_WORLD = {
    "breakwater.cli",
    "breakwater.client",
    "breakwater.controlplane",
    "breakwater.devtools",
    "aiohttp",
    "asyncio",
    "concurrent",
    "ctypes",
    "fileinput",
    "ftplib",
    "glob",
    "grpc",
    "http",
    "io",
    "logging",
    "mmap",
    "multiprocessing",
    "os",
    "pathlib",
    "select",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "urllib",
}
"""Files, sockets, processes, event loops, clocks, process-wide state, and the parts of
Breakwater that use them."""

ALLOWED = {
    "__future__",
    "collections",
    "copy",
    "dataclasses",
    "datetime",
    "difflib",
    "enum",
    "functools",
    "hashlib",  # content hashes of encoded resources: bytes in, digest out
    "ipaddress",
    "itertools",
    "math",
    "operator",
    "re",
    "string",
    "typing",
    # third party: models, YAML from text, Envoy protos (CEL's syntax tree among them)
    "cel",
    "envoy",
    "google",
    "pydantic",
    "udpa",
    "validate",
    "xds",
    "yaml",
    # Breakwater: the translators themselves, and the facts both sides share (xDS, log fields)
    "breakwater.translators",
    "breakwater.defaults",  # imports nothing: the numbers the CLI and the models share
    "breakwater.xds_types",
    "breakwater.log_fields",
}
"""Everything else needs a thought first: add it here only if it does no I/O."""

FORBIDDEN_CALLS = {"open", "print", "input", "breakpoint", "exec", "eval", "compile", "__import__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(root.rglob("*.py"))}


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import in the file, at any depth, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno


def _within(module: str, names: set[str]) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in names)


TRANSLATOR_MODULES = _modules(TRANSLATORS)


@pytest.mark.parametrize("name", sorted(TRANSLATOR_MODULES))
def test_a_translator_module_touches_no_file_socket_or_event_loop(name: str) -> None:
    path = TRANSLATOR_MODULES[name]
    found: list[str] = []
    for module, line in _imports(name, path):
        if _within(module, TOUCHES_THE_WORLD):
            found.append(f"{path.name}:{line}: imports {module}, which does I/O")
        elif not _within(module, ALLOWED):
            found.append(
                f"{path.name}:{line}: imports {module}; translators import only {sorted(ALLOWED)}"
                " (move I/O to breakwater.controlplane, or add a pure module to ALLOWED)"
            )
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            found.append(f"{path.name}:{node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Global):
            found.append(
                f"{path.name}:{node.lineno}: rebinds module state ({', '.join(node.names)})"
            )
    assert not found, "\n".join(found)


def _graph() -> dict[str, set[str]]:
    """Module → the Breakwater modules it imports (a name imported from a package counts as its module)."""
    modules = _modules(PACKAGE)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for module, _ in _imports(name, path):
            for candidate in (module, module.rpartition(".")[0]):
                if candidate in modules:
                    targets.add(candidate)
                    break
        graph[name] = targets - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(name: str) -> list[str] | None:
        path.append(name)
        on_path.add(name)
        for target in sorted(graph[name]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                found = visit(target)
                if found is not None:
                    return found
        path.pop()
        on_path.discard(name)
        done.add(name)
        return None

    for name in sorted(graph):
        if name not in done:
            found = visit(name)
            if found is not None:
                return found
    return None


def test_no_module_of_breakwater_imports_itself_in_a_circle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, (
        "import cycle: "
        + " -> ".join(cycle or [])
        + "; move what both need into a module of its own"
    )


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
