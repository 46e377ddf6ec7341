"""The import rule of docs/architecture.md, read from the source with ``ast`` (nothing is imported).

- ``hub/`` (the core) imports no service package and not the composition root ``payhub/``;
- a service (gateway, khqr, push, integration, sandbox, backoffice) imports ``hub/`` and itself, never another
  service nor ``payhub/``;
- no cycle, neither among the packages nor among the modules (imports under ``if TYPE_CHECKING:``
  excepted, they do not run).

Imports inside functions count: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = "hub"
ROOT_PACKAGE = "payhub"
SERVICES = ("gateway", "khqr", "push", "integration", "sandbox", "backoffice", "notifier")
PACKAGES = (ROOT_PACKAGE, CORE, *SERVICES)


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, dotted
    target: str  # imported module (or package), dotted
    line: int
    runtime: bool  # False under ``if TYPE_CHECKING:``


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(root: Path, name: str) -> str:
    """``a.b.c`` if it is a module or package of ours, else its longest existing parent."""
    parts = name.split(".")
    while parts:
        base = root.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return name


def _imports(root: Path, path: Path) -> list[Edge]:
    module = _module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    edges: list[Edge] = []

    def visit(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runtime)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                edges.append(Edge(module, _resolve(root, alias.name), node.lineno, runtime))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                edges.append(Edge(module, _resolve(root, f"{base}.{alias.name}"), node.lineno, runtime))
        for child in ast.iter_child_nodes(node):
            visit(child, runtime)

    visit(tree, True)
    return [e for e in edges if e.target.split(".")[0] in PACKAGES and e.target != e.source]


def import_edges(root: Path = ROOT) -> list[Edge]:
    edges: list[Edge] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            edges += _imports(root, path)
    return edges


def layering_violations(root: Path = ROOT) -> list[str]:
    problems = []
    for e in import_edges(root):
        source, target = e.source.split(".")[0], e.target.split(".")[0]
        if source == target or target == CORE:
            continue
        if source == CORE:
            problems.append(f"{e.source}:{e.line} imports {e.target}: the core imports no service nor payhub/")
        elif source in SERVICES:
            problems.append(f"{e.source}:{e.line} imports {e.target}: a service imports only hub/ and itself")
    return sorted(set(problems))


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]
        return cycle
    return None


def package_cycle(root: Path = ROOT) -> list[str] | None:
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for e in import_edges(root):
        source, target = e.source.split(".")[0], e.target.split(".")[0]
        if e.runtime and source != target:
            graph[source].add(target)
    return _cycle(graph)


def module_cycle(root: Path = ROOT) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for e in import_edges(root):
        graph.setdefault(e.source, set())
        # ``import a.b`` of a package's own submodule from its __init__ is how packages expose
        # their parts; a submodule importing its parent package's name is the usual other half.
        if e.runtime and not e.source.startswith(e.target + "."):
            graph[e.source].add(e.target)
    return _cycle(graph)


def test_the_core_and_the_services_keep_to_their_layers() -> None:
    assert layering_violations() == []


def test_no_cycle_among_packages() -> None:
    assert package_cycle() is None


def test_no_cycle_among_modules() -> None:
    assert module_cycle() is None


def test_every_package_is_scanned() -> None:
    """Guards the test itself: each package has modules, and the composition root imports them all."""
    edges = import_edges()
    assert {e.source.split(".")[0] for e in edges} >= set(PACKAGES)
    reached = {e.target.split(".")[0] for e in edges if e.source.startswith(ROOT_PACKAGE + ".")}
    assert reached >= {CORE, *SERVICES}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"hub/a.py": "from gateway import b\n", "gateway/b.py": ""}, "hub.a:1 imports gateway.b"),
        ({"gateway/a.py": "def f():\n    import khqr.b\n", "khqr/b.py": ""}, "gateway.a:2 imports khqr.b"),
        ({"push/a.py": "from payhub import bootstrap\n", "payhub/bootstrap.py": ""}, "push.a:1 imports payhub"),
    ],
)
def test_layering_check_catches_forbidden_imports(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    problems = layering_violations(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_cycle_checks_catch_cycles(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub/a.py").write_text("from hub.b import x\n")
    (tmp_path / "hub/b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hub import a\n")
    assert module_cycle(tmp_path) is None, "a TYPE_CHECKING import does not run"
    (tmp_path / "hub/b.py").write_text("def f():\n    from .a import y\n")
    assert set(module_cycle(tmp_path) or []) == {"hub.a", "hub.b"}
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway/c.py").write_text("import hub.a\n")
    (tmp_path / "hub/c.py").write_text("import gateway.c\n")
    assert set(package_cycle(tmp_path) or []) == {"hub", "gateway"}
