"""Check the README's demo run: its results.json holds every built-in task, each with documents and no errors.

Built-in tasks are those the installed vargpt-evals distribution registers under the entry-point group, loaded
here from the installed package, so a task added to pyproject.toml is expected without an edit to this file.
Run with the venv's python after the README's first command: `check_demo_results.py results/runs`.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

from evals.broken_plugin import BUILTIN_DISTRIBUTION, normalize
from evals.registry import ENTRY_POINT_GROUP


def builtin_task_names() -> set[str]:
    """Names of the tasks the vargpt-evals distribution registers (loading its entry points)."""
    names: set[str] = set()
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.dist is not None and normalize(point.dist.metadata["Name"]) == BUILTIN_DISTRIBUTION:
            loaded = point.load()
            names.update(task.name for task in (loaded if isinstance(loaded, (list, tuple)) else [loaded]))
    return names


def main(argv: list[str]) -> int:
    """0 when the one results.json under argv[1] holds every built-in task; else 1 with what is wrong."""
    found = sorted(Path(argv[1]).glob("*/results.json"))
    if len(found) != 1:
        print(f"expected one run folder with results.json under {argv[1]}, found {len(found)}", file=sys.stderr)
        return 1
    results = json.loads(found[0].read_text())
    expected = builtin_task_names()
    tasks = results.get("tasks", {})
    problems = [f"{name}: missing" for name in sorted(expected - set(tasks))]
    problems += [f"{name}: no documents" for name in sorted(expected & set(tasks)) if not tasks[name].get("num_docs")]
    problems += [
        f"{name}: {tasks[name]['num_errors']} error records"
        for name in sorted(expected & set(tasks))
        if tasks[name].get("num_errors")
    ]
    if not expected:
        problems.append("the installed vargpt-evals registers no tasks")
    if not results.get("run", {}).get("demo"):
        problems.append('results.json is not marked "demo": true')
    if problems:
        print(f"{found[0]}: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"{found[0]} holds all {len(expected)} built-in tasks: {', '.join(sorted(expected))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
