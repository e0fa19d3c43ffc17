"""The static import graph of the project's modules, and the circles in it (``tests/test_import_cycles.py``).

Read from the source with ``ast``: every ``import`` counts, at module level, inside a function (a lazy import
for cold start) or under ``TYPE_CHECKING``. ``from package import name`` is an edge to ``package.name`` when
that is a module of the graph, else to ``package``; importing a submodule is not counted as importing its
parent package (Python runs the parent's ``__init__`` first, whatever the order, so no circle comes of it).

``python -m devtools.import_graph`` prints every circle of the project (exit 1 if there is one).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGES = ("chalicelib", "devtools", "deploy", "bench")
MODULES = ("app",)


def modules_of(root: Path, packages: Iterable[str] = PACKAGES, modules: Iterable[str] = MODULES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``packages`` and the top-level ``modules``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    for module in modules:
        if (root / f"{module}.py").is_file():
            found[module] = root / f"{module}.py"
    return found


def import_graph(files: Mapping[str, Path]) -> dict[str, set[str]]:
    """Each module -> the modules of ``files`` it imports."""
    return {module: _imports(module, path, files) for module, path in files.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected set of two or more modules (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start not in index:
            _connect(start, graph, index, low, stack, on_stack, found)
    return sorted(sorted(component) for component in found)


def _connect(start: str, graph: Mapping[str, set[str]], index: dict[str, int], low: dict[str, int],
             stack: list[str], on_stack: set[str], found: list[list[str]]) -> None:
    """Tarjan's algorithm, iterative (a deep chain of imports must not hit the recursion limit)."""
    work = [(start, iter(sorted(graph[start])))]
    index[start] = low[start] = len(index)
    stack.append(start)
    on_stack.add(start)
    while work:
        node, targets = work[-1]
        target = next(targets, None)
        if target is not None:
            if target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph[target]))))
            elif target in on_stack:
                low[node] = min(low[node], index[target])
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[node])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(component)


def _imports(module: str, path: Path, files: Mapping[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
        else:
            continue
        for name in names:
            target = name
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != module:
                targets.add(target)
    return targets


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    graph = import_graph(modules_of(root))
    found = cycles(graph)
    for component in found:
        print(" <-> ".join(component))
        for module in component:
            for target in sorted(graph[module] & set(component)):
                print(f"    {module} -> {target}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
