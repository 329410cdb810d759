"""The `mode` option of multiple-choice tasks: generate an answer, or rank the options by likelihood."""

from __future__ import annotations

import dataclasses

from evals.task_api import Task, TaskOptionError

GENERATE = "generate"
LIKELIHOOD = "likelihood"
MODES = (GENERATE, LIKELIHOOD)


def apply_mode(task: Task) -> Task:
    """The task with `kind` following its `mode` option ("choice" for likelihood); bad modes raise."""
    mode = task.option("mode")
    if mode not in MODES:
        raise TaskOptionError(f"task {task.name!r}: mode={mode!r} is not one of {', '.join(MODES)}")
    return dataclasses.replace(task, kind="choice" if mode == LIKELIHOOD else "text")


def argmax_first(values) -> int:
    """Index of the first maximum (numpy.argmax's tie rule)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))
