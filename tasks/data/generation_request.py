"""The generation request of a text task: its prompt plus the lmms-eval generation options it declares."""

from __future__ import annotations

from typing import Any

from evals.requests import ImageLoader, TextRequest
from evals.task_api import Task


def generation_request(
    task: Task, *, doc_id: str, text: str, load_images: ImageLoader, seed: int, target: Any
) -> TextRequest:
    """A TextRequest carrying the task's `max_new_tokens`, `until` ("" = no stop string) and `temperature`."""
    until = task.option("until")
    return TextRequest(
        doc_id=doc_id,
        text=text,
        load_images=load_images,
        max_new_tokens=task.option("max_new_tokens"),
        stop=(until,) if until else (),
        temperature=task.option("temperature"),
        seed=seed,
        target=target,
    )
