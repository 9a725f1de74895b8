"""The package's import graph, read from the source: no cycle, and narrow bulk helpers.

Every ``import`` statement counts, wherever it stands: at the top, under ``TYPE_CHECKING``, inside
a function. Importing ``a.b.c`` also runs ``a.b``'s ``__init__`` first, so an edge goes to each
enclosing package too, unless the importer is inside that package (it is initialising already:
``pkg/__init__`` importing ``pkg.x`` which imports ``pkg.y`` is not a cycle) or it is
``esper_cmds`` itself (the entry point, always initialised first).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import esper_cmds

ROOT = Path(esper_cmds.__file__).parent
PACKAGE = "esper_cmds"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every module of the package that `name` (at `path`) imports, by its full name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.level and node.module else node.module or base
            # ``from pkg import sub``: a submodule when there is one, else a name in ``pkg``.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target == PACKAGE or not target.startswith(PACKAGE + "."):
                continue
            yield target
            parent = target.rpartition(".")[0]
            while parent != PACKAGE:  # the enclosing packages' __init__ run first
                if not (name == parent or name.startswith(parent + ".")):
                    yield parent
                parent = parent.rpartition(".")[0]


def graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    return {
        name: {t for t in _imported(name, path) if t != name and t in MODULES}
        for name, path in MODULES.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_type_checking_and_function_imports() -> None:
    """The graph includes the imports a plain ``import`` at runtime would miss."""
    edges = graph()
    assert "esper_cmds._fanout" in edges["esper_cmds._client"]
    # models/_spec imports its rules from a sibling; the enclosing package counts too
    assert "esper_cmds.models._rules" in edges["esper_cmds.models._spec"]
    assert "esper_cmds.models" in edges["esper_cmds._validation"]


def test_no_import_cycle_in_the_package() -> None:
    """No module reaches itself through imports, even under ``TYPE_CHECKING``."""
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above could fail: a two-module loop is found."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


# What the bulk helpers may import from the rest of the package: the public resources, models
# and errors (the narrow port is built from them), the time seam (`clock`), and the shared input
# rules (ids and targets: `_validation` is the one place of the target rules that create and
# fan-out share; it does no I/O and holds no client state).
ALLOWED = {
    "esper_cmds._errors",
    "esper_cmds.clock",
    "esper_cmds._resources",
    "esper_cmds._validation",
    "esper_cmds.models",
}


@pytest.mark.parametrize(
    "package",
    ["esper_cmds._fanout", "esper_cmds._watch"],
)
def test_bulk_helpers_import_only_the_public_surface(package: str) -> None:
    """`_fanout` and `_watch` reach the client only through what they are given."""
    edges = graph()
    wrong = {
        (name, target)
        for name, targets in edges.items()
        if name == package or name.startswith(package + ".")
        for target in targets
        if not target.startswith(package)
        and not any(target == a or target.startswith(a + ".") for a in ALLOWED)
    }
    assert wrong == set()
