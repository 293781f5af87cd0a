"""No library module imports another in a loop when the library runs.

The graph is read from the source with ``ast``: module-level imports only (an import
inside a function runs late, when both modules are loaded; one under
``if TYPE_CHECKING:`` never runs). ``import a.b`` and ``from a import b`` both depend
on ``a`` (its ``__init__`` runs first) and on ``a.b`` when that is a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import promptforge

ROOT = Path(promptforge.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: top level, or in a top-level block."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    names: set[str] = set()
    if isinstance(node, ast.Import):
        bases = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        bases = [base] + [f"{base}.{alias.name}" for alias in node.names]
    for name in bases:
        parts = name.split(".")
        # importing a.b.c runs a, a.b and a.b.c
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    # A module's own packages are initialised before it whatever it imports: not an edge.
    own = {module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)}
    return {name for name in names if name in MODULES and name != module and name not in own}


def import_graph() -> dict[str, set[str]]:
    """Each library module and the library modules it imports at run time."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text("utf-8"))
        graph[module] = set().union(*(_targets(module, n) for n in _run_time_imports(tree)))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _third_party(module: str) -> set[str]:
    """Top-level names of what ``module`` imports at run time from outside the library."""
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    names: set[str] = set()
    for node in _run_time_imports(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names - {"promptforge"}


def test_the_core_reaches_no_cloud_client_and_no_web_framework() -> None:
    graph = import_graph()
    reached: set[str] = set()
    pending = [m for m in MODULES if m.startswith("promptforge.core.")]
    while pending:
        module = pending.pop()
        if module not in reached:
            reached.add(module)
            pending.extend(graph[module])
    runtimes = {
        m for m in reached if m.split(".")[1:2] in (["gcp"], ["embedded"], ["api"], ["sim"])
    }
    assert runtimes == set()
    foreign = set().union(*(_third_party(m) for m in reached))
    assert foreign & {"google", "grpc", "starlette", "uvicorn", "functions_framework"} == set()


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "promptforge.core.models" in graph["promptforge.core.tasknames"]
    assert "promptforge.errors" in graph["promptforge.blobstore.local"]


def test_no_module_imports_another_in_a_loop() -> None:
    assert _cycles(import_graph()) == []


def test_a_loop_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
