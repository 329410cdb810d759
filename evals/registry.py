"""Task discovery: the entry-point group ``vargpt_evals.tasks``, names, aliases and groups.

Each entry point names a Task or a list of Tasks (``tasks.pope:TASKS``). Built-in tasks register the
same way as third-party packages, so an installed plugin shows up in ``evals list`` with no edit here.
A plugin that fails to import is logged and listed as broken instead of taking every other task down.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from evals.errors import HarnessError
from evals.task_api import Task

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vargpt_evals.tasks"
ALL = "all"  # the selection that means every registered task


class RegistryError(HarnessError):
    """Two tasks claim one name, or a plugin does not hold Task objects."""


class UnknownTaskError(HarnessError):
    """A requested task, alias or group is not registered."""


@dataclass
class TaskRegistry:
    """Registered tasks by name, with alias and group lookup."""

    tasks: dict[str, Task] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # entry point name -> one-line load error

    def add(self, task: Task, origin: str = "") -> None:
        """Register one task; a name, alias or group clash raises RegistryError."""
        if not isinstance(task, Task):
            raise RegistryError(f"entry point {origin!r} holds {type(task).__name__}, not an evals Task")
        _check_name(task.name, origin)
        for name in (task.name, *task.aliases):
            if name in self.tasks or name in self.aliases:
                owner = self.aliases.get(name, name)
                raise RegistryError(
                    f"task name {name!r} from {origin or task.name!r} is already taken by task {owner!r}; "
                    "rename one of them"
                )
        if task.name in self.groups:
            raise RegistryError(f"task name {task.name!r} is already a group name; rename the task or group")
        self.tasks[task.name] = task
        for alias in task.aliases:
            self.aliases[alias] = task.name
        if task.group:
            if task.group in self.tasks or task.group in self.aliases:
                raise RegistryError(f"group {task.group!r} of task {task.name!r} is already a task name")
            self.groups.setdefault(task.group, []).append(task.name)

    def names(self) -> list[str]:
        """Every task name, sorted."""
        return sorted(self.tasks)

    def get(self, name: str) -> Task:
        """One task by name or alias."""
        key = name.strip()
        if key in self.tasks:
            return self.tasks[key]
        if key in self.aliases:
            return self.tasks[self.aliases[key]]
        raise UnknownTaskError(self._unknown_message(key))

    def select(self, names: Iterable[str]) -> list[Task]:
        """Tasks for a --tasks list: names, aliases and groups expanded, duplicates removed, order kept."""
        chosen: dict[str, Task] = {}
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            if name == ALL:
                members = [self.tasks[n] for n in self.names()]
            elif name in self.groups and name not in self.tasks and name not in self.aliases:
                members = [self.tasks[n] for n in self.groups[name]]
            else:
                members = [self.get(name)]
            for task in members:
                chosen.setdefault(task.name, task)
        if not chosen:
            raise UnknownTaskError("no tasks selected; pass --tasks NAME[,NAME...] (see `python -m evals list`)")
        return list(chosen.values())

    def _unknown_message(self, name: str) -> str:
        """One line: the unknown name, the closest known ones, and the known names."""
        known = sorted({*self.tasks, *self.aliases, *self.groups})
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        shown = ", ".join(known[:40]) + (", ..." if len(known) > 40 else "")
        message = f"unknown task {name!r}; {hint}known: {shown or 'none'}"
        if self.broken:
            message += f" (plugins that failed to load: {', '.join(sorted(self.broken))}; see `python -m evals list`)"
        return message


def _check_name(name: str, origin: str) -> None:
    """Task names become folder names: non-empty, no spaces around, no path separators."""
    if not isinstance(name, str) or not name or name != name.strip() or any(c in name for c in "/\\,:"):
        raise RegistryError(f"task name {name!r} from {origin!r} must be a plain word (no '/', '\\\\', ',', ':')")
    if name == ALL:
        raise RegistryError(f"task name {ALL!r} from {origin!r} is reserved for every task")


def registry_from_tasks(tasks: Sequence[Task], origin: str = "") -> TaskRegistry:
    """A registry of explicitly given tasks (tests, embedding)."""
    registry = TaskRegistry()
    for task in tasks:
        registry.add(task, origin)
    return registry


def discover() -> TaskRegistry:
    """Load every entry point of the group; a plugin that fails to import is logged and kept as broken."""
    registry = TaskRegistry()
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (p.name, p.value)):
        try:
            loaded = point.load()
        except Exception as error:  # a broken plugin must not hide the others
            registry.broken[point.name] = f"{point.value}: {type(error).__name__}: {error}".splitlines()[0]
            logger.warning("task plugin %s (%s) failed to load: %s", point.name, point.value, error)
            continue
        items = loaded if isinstance(loaded, (list, tuple)) else [loaded]
        for task in items:
            registry.add(task, origin=f"{point.name} = {point.value}")
    return registry
