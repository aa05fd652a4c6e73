"""No import cycle among the project's modules, counting imports inside functions too: a cycle is
fixed by turning a dependency around, not hidden by importing late."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCLUDED = {"tests", "bench", "scripts"}


def project_modules() -> dict[str, Path]:
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in EXCLUDED]
    modules = {}
    for package in packages:
        for path in package.rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> list[str]:
    """Every module name an import statement anywhere in the file (top level, functions,
    TYPE_CHECKING blocks) may load, spelled absolutely."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([node.module] if node.module else [])])
            # `from a import b` loads a, and a.b if b is a module.
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for name in imported_names(module, path):
            parts = name.split(".")
            # The module itself and the packages it lives in (their __init__ runs first), except
            # the importer's own packages, which are loaded before it anyway.
            for end in range(1, len(parts) + 1):
                target = ".".join(parts[:end])
                own_package = module == target or module.startswith(target + ".")
                if target in modules and not own_package:
                    graph[module].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path) per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is a few hundred modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    path, seen = [start], {start}
    while True:
        following = sorted(t for t in graph[path[-1]] if t in component)
        if start in following and len(path) > 1:
            return [*path, start]
        step = next((t for t in following if t not in seen), None)
        if step is None:  # only back-edges into the middle of the path: cut it there
            back = following[0]
            return [*path[path.index(back) :], back]
        path.append(step)
        seen.add(step)


def test_find_cycles_sees_a_cycle_closed_inside_a_function(tmp_path):
    graph = {"a.services": {"a.tasks"}, "a.tasks": {"a.services"}, "a.models": set()}
    assert find_cycles(graph) == [["a.services", "a.tasks", "a.services"]]
    module = tmp_path / "services.py"
    module.write_text("import os\n\ndef later():\n    from a.tasks import deliver\n")
    assert imported_names("a.services", module) == ["os", "a.tasks", "a.tasks.deliver"]


def test_no_import_cycle_between_project_modules():
    graph = import_graph()
    assert {"invoices.services", "invoices.tasks", "webhooks.services", "rates.services"} <= set(graph)
    cycles = find_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)
