"""What a run will do: each task's documents, ids, and which of them still lack a record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.config import RunConfig
from evals.errors import HarnessError
from evals.run.records import recorded_doc_ids, records_dir
from evals.task_api import DataSource, Task


class DatasetError(HarnessError):
    """A dataset that cannot be planned: duplicate document ids, unreadable ids."""


@dataclass(frozen=True)
class TaskPlan:
    """One task's documents in dataset order (after --limit) and the (index, id) pairs still to do."""

    task: Task
    doc_ids: tuple[str, ...]
    pending: tuple[tuple[int, str], ...]

    @property
    def num_docs(self) -> int:
        """Documents the task scores in this run."""
        return len(self.doc_ids)


@dataclass(frozen=True)
class RunPlan:
    """Everything a worker needs: settings, folder, data source, tasks, resolved devices and dtype."""

    config: RunConfig
    run_dir: Path
    source: DataSource
    tasks: tuple[TaskPlan, ...]
    devices: tuple[str, ...]  # one per worker
    dtype: str  # resolved (never "auto")
    model: dict  # identity: id, weights_hash, ...

    @property
    def world_size(self) -> int:
        """Number of workers."""
        return len(self.devices)


def limited(docs: Sequence[Any], limit: int | None) -> int:
    """How many documents of the split the run takes: the first `limit`, or all."""
    return len(docs) if limit is None else min(limit, len(docs))


def doc_ids_of(task: Task, docs: Sequence[Any], count: int) -> tuple[str, ...]:
    """The ids of the first `count` documents; a duplicate id or an unreadable one refuses the task."""
    ids: list[str] = []
    for index in range(count):
        try:
            ids.append(str(task.doc_id(docs[index])))
        except Exception as error:
            raise DatasetError(
                f"task {task.name!r}: document {index} has no readable id ({type(error).__name__}: {error}); "
                "fix the dataset copy"
            ) from None
    counts = Counter(ids)
    if len(counts) != len(ids):
        duplicate, times = next((d, n) for d, n in counts.items() if n > 1)
        raise DatasetError(
            f"task {task.name!r}: document id {duplicate!r} occurs {times} times in the dataset; "
            "ids must be unique (fix or deduplicate the dataset copy)"
        )
    return tuple(ids)


def plan_task(task: Task, docs: Sequence[Any], limit: int | None, run_dir: Path) -> TaskPlan:
    """Plan one task: its document ids and those without a record in the run folder."""
    ids = doc_ids_of(task, docs, limited(docs, limit))
    done = recorded_doc_ids(records_dir(run_dir, task.name))
    pending = tuple((i, doc_id) for i, doc_id in enumerate(ids) if doc_id not in done)
    return TaskPlan(task=task, doc_ids=ids, pending=pending)
