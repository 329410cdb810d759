"""`evals prefetch`: put every dataset revision, the model and the tasks' extra files into local caches.

Afterwards a run works offline (HF_HUB_OFFLINE=1): datasets resolve from the HF datasets cache, the
model from the HF hub cache, Inception weights and reference files from wherever the task keeps them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from evals.adapters.scripted import scripted_adapter
from evals.task_api import DataSource, Task

NO_MODEL = ("none", "", "tiny")


def prefetch(tasks: Sequence[Task], model: str | None) -> list[str]:
    """Fetch what `tasks` and `model` need; returns one line per item saying what and where."""
    lines: list[str] = []
    cache = os.environ.get("HF_DATASETS_CACHE") or "the Hugging Face datasets cache"
    for task in tasks:
        if task.reads_hub_dataset:
            docs = task.load_docs(DataSource(kind="hub"))
            revision = task.dataset.revision or "unpinned"
            lines.append(
                f"{task.name}: dataset {task.dataset.hub_id}@{revision} split {task.dataset.split}, "
                f"{len(docs)} documents, in {cache}"
            )
        lines.extend(f"{task.name}: {item}" for item in task.prefetch_extras())
    if model and model not in NO_MODEL and scripted_adapter(model) is None:
        from vargpt.loading import resolve_checkpoint

        lines.append(f"model {model}: {resolve_checkpoint(model)}")
    return lines
