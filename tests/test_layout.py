"""The package's shape (issue 15): no import cycle between modules or between parts, and the
engine never imports the workflow, the vault or the server. Walks the imports Python runs when a
module loads (module level, not under ``TYPE_CHECKING``, not inside functions)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "breachindex"
#: the parts built on the engine; the engine must not import them
UPPER = ("breachindex.campaign", "breachindex.vault", "breachindex.server", "breachindex.cli", "breachindex.__main__")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports_at_load(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements executed when a module loads (skipping functions, classes, TYPE_CHECKING)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            found += [n for orelse in child.orelse for n in _imports_at_load(ast.Module([orelse], []))]
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            found.append(child)
        else:
            found += _imports_at_load(child)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _imports_at_load(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
            graph[name].update(submodules)
            if len(submodules) < len(node.names) and base in modules:
                graph[name].add(base)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def part_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_module_imports_itself_back():
    assert cycles(import_graph()) == []


def test_no_part_imports_itself_back():
    parts: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        for target in targets:
            if part_of(module) != part_of(target) and target != "breachindex":
                parts.setdefault(part_of(module), set()).add(part_of(target))
    assert cycles(parts) == []


def test_the_engine_imports_no_part_built_on_it():
    graph = import_graph()
    engine = [m for m in graph if m != "breachindex" and not m.startswith(UPPER)]
    wrong = {m: sorted(t for t in graph[m] if t.startswith(UPPER)) for m in engine}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_walk_sees_real_edges_and_cycles():
    graph = import_graph()
    assert "breachindex.campaign.store" in graph["breachindex.campaign.campaign"]
    assert "breachindex.campaign.campaign" not in graph["breachindex.vault.vault"]  # only under TYPE_CHECKING
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_package_folder_is_installed_by_pyproject():
    """A subpackage missing from pyproject's list imports from a checkout (and an editable
    install) but not from `pip install .`: the campaign's letters once did that."""
    tomllib = pytest.importorskip("tomllib")

    repo = PACKAGE.parent
    listed = set(tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(repo).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found == listed
