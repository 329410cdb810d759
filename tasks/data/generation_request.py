"""The generation request of a text task: its prompt plus the lmms-eval generation options it declares.

`answer_list_request` is the whole request of the open-ended VQA benchmarks whose gold answers are a list of
strings (TextVQA, OK-VQA, VizWiz): one image, the question checked before the prompt is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.requests import ImageLoader, TextRequest
from evals.task_api import Task
from tasks.data.datasets_io import image_loader
from tasks.data.doc_fields import required_strings, required_text
from tasks.scoring.vqa_normalize import consensus_answer


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


def answer_list_request(
    task: Task, doc: dict, build_prompt: Callable[[dict], str], *, seed: int, scored: bool
) -> TextRequest:
    """The request of a document with a `question`, an `image` and (when `scored`) a list of gold `answers`.

    A missing or empty question, or on a scored split answers that are missing, empty or not all text, make the
    document an error record before its prompt is built. The target is the consensus gold answer.
    """
    doc_id = task.doc_id(doc)
    required_text(doc, "question", doc_id)
    answers = required_strings(doc, "answers", doc_id) if scored else None
    image = doc.get("image")
    return generation_request(
        task,
        doc_id=doc_id,
        text=build_prompt(doc),
        load_images=image_loader(None if image is None else [image], doc_id),
        seed=seed,
        target=consensus_answer(answers) if answers else None,
    )
