"""The package boundaries of DESIGN.md, read from the source: no import circles, data flows one way.

Every import counts, also one inside a function (a lazy import still ties two modules together).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evals", "tasks", "vargpt")


def project_modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the three packages."""
    modules = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package's own parent packages left out)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name and not name.startswith(t + "."))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None (depth-first search with colours)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_circle():
    # Guards the check below: a -> b -> c -> a is a circle, d -> a is not part of it.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_of_the_project_imports_itself_in_a_circle():
    cycle = find_cycle(import_graph(project_modules()))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_model_package_imports_neither_the_harness_nor_the_tasks():
    graph = import_graph(project_modules())
    offenders = {m: sorted(t for t in graph[m] if t.split(".")[0] != "vargpt") for m in graph if m.startswith("vargpt")}
    assert not {m: t for m, t in offenders.items() if t}


def test_tasks_never_touch_the_model_or_the_run_machinery():
    # Tasks see the API types (requests, task_api, records, errors) and shared scorers, not the model,
    # the adapters or the runner (DESIGN.md: tasks -> requests -> adapter -> records).
    graph = import_graph(project_modules())
    forbidden = ("vargpt", "evals.adapters", "evals.run.runner", "evals.run.launch", "evals.cli")
    offenders = {
        module: sorted(t for t in targets if t.startswith(forbidden))
        for module, targets in graph.items()
        if module.startswith("tasks")
    }
    assert not {m: t for m, t in offenders.items() if t}
