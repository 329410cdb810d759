"""Task discovery: the entry-point group ``vargpt_evals.tasks``, names, aliases, groups and tags.

Each entry point names a Task or a list of Tasks (``tasks.pope:TASKS``). Built-in tasks register the
same way as third-party packages, so an installed plugin shows up in ``evals list`` with no edit here.

A built-in plugin that fails to load is an incomplete install: discovery raises, so every command stops
with one line naming the plugin, the missing package and the pip command. A third-party plugin that fails
to load is kept as broken: ``list`` shows it, and selecting its tasks, or ``all`` (which would otherwise
quietly leave them out), is an error.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from evals.broken_plugin import BrokenPlugin, diagnose
from evals.errors import HarnessError
from evals.task_api import Task

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vargpt_evals.tasks"
ALL = "all"  # the selection that means every registered task


class RegistryError(HarnessError):
    """Two tasks claim one name, or a plugin does not hold Task objects."""


class UnknownTaskError(HarnessError):
    """A requested task, alias or group is not registered."""


class BrokenPluginError(HarnessError):
    """A task plugin that is needed, or built in, failed to load."""


@dataclass
class TaskRegistry:
    """Registered tasks by name, with alias and group lookup."""

    tasks: dict[str, Task] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    broken: dict[str, BrokenPlugin] = field(default_factory=dict)  # by entry point name

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
        # The group (pooled metrics) and the tags (selection only, e.g. `paper`) all select by name.
        for group in dict.fromkeys(g for g in (task.group, *task.tags) if g):
            if group in self.tasks or group in self.aliases:
                raise RegistryError(f"group {group!r} of task {task.name!r} is already a task name")
            self.groups.setdefault(group, []).append(task.name)

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
        if key in self.broken:
            raise BrokenPluginError(f"task {key!r} is not available: {self.broken[key].message()}")
        raise UnknownTaskError(self._unknown_message(key))

    def select(self, names: Iterable[str]) -> list[Task]:
        """Tasks for a --tasks list: names, aliases and groups expanded, duplicates removed, order kept."""
        chosen: dict[str, Task] = {}
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            if name == ALL:
                self._check_all_loaded()
                members = [self.tasks[n] for n in self.names()]
            elif name in self.groups and name not in self.tasks and name not in self.aliases:
                members = [self.tasks[n] for n in self.groups[name]]
            else:
                members = [self.get(name)]
            for task in members:
                chosen.setdefault(task.name, task)
        if not chosen:
            raise UnknownTaskError("no tasks selected; pass --tasks NAME[,NAME...] (see `python -m evals list`)")
        for _, plugin in sorted(self.broken.items()):
            logger.warning("%s (its tasks are not run)", plugin.message())
        return list(chosen.values())

    def _check_all_loaded(self) -> None:
        """`all` means every installed task: refuse it while a plugin's tasks cannot be known."""
        if self.broken:
            problems = "; ".join(plugin.message() for _, plugin in sorted(self.broken.items()))
            raise BrokenPluginError(
                f"--tasks all cannot include the tasks of a plugin that failed to load: {problems} "
                "(or name the tasks to run with --tasks)"
            )

    def _unknown_message(self, name: str) -> str:
        """One line: the unknown name, the closest known ones, and the known names (and any broken plugin)."""
        known = sorted({*self.tasks, *self.aliases, *self.groups})
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        shown = ", ".join(known[:40]) + (", ..." if len(known) > 40 else "")
        message = f"unknown task {name!r}; {hint}known: {shown or 'none'}"
        if self.broken:
            problems = "; ".join(plugin.message() for _, plugin in sorted(self.broken.items()))
            message += f"; it may come from a task plugin that failed to load: {problems}"
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
    """Load every entry point of the group; a broken built-in plugin raises, a broken third-party one is kept."""
    registry = TaskRegistry()
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (p.name, p.value)):
        try:
            loaded = point.load()
        except Exception as error:  # a broken third-party plugin must not hide the others
            registry.broken[point.name] = _diagnose(point, error)
            continue
        items = loaded if isinstance(loaded, (list, tuple)) else [loaded]
        for task in items:
            registry.add(task, origin=f"{point.name} = {point.value}")
    for _, plugin in sorted(registry.broken.items()):
        if plugin.builtin:
            raise BrokenPluginError(plugin.message())
    return registry


def _diagnose(point: EntryPoint, error: BaseException) -> BrokenPlugin:
    """The BrokenPlugin of an entry point that raised `error`, with its distribution and requirements."""
    distribution = getattr(point, "dist", None)
    name = distribution.metadata["Name"] if distribution is not None else ""
    requires = (distribution.requires or []) if distribution is not None else []
    return diagnose(point.name, point.value, name or "", list(requires), error)
