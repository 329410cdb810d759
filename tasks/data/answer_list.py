"""Documents of the open-ended VQA benchmarks whose gold answers are a list of strings (TextVQA, OK-VQA,
VizWiz-VQA): one row per question with `question_id`, `question`, `image` and, on a scored split, `answers`.

`AnswerListTask` reads such a split, names each document by its question id and builds its request; the
benchmark modules give the prompt (`prompt`) and the scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evals.requests import TextRequest
from evals.task_api import DataSource, Task
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import required_strings, required_text
from tasks.data.generation_request import generation_request
from tasks.scoring.vqa_normalize import consensus_answer


@dataclass(frozen=True)
class AnswerListTask(Task):
    """A task over answer-list documents; `submission_only` for a split without answers (a test split)."""

    submission_only: bool = False

    def prompt(self, doc: dict) -> str:
        """The question as the model is asked it (the benchmark's lmms-eval `doc_to_text`)."""
        raise NotImplementedError

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        return DocRows(read_split(find_copy(self.dataset, source), self.dataset.config, self.dataset.split))

    def doc_id(self, doc: dict) -> str:
        return str(doc["question_id"])

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        # A missing or empty question, or on a scored split answers that are missing, empty or not all text,
        # refuse the document before its prompt is built. The target is the consensus gold answer.
        doc_id = self.doc_id(doc)
        required_text(doc, "question", doc_id)
        answers = None if self.submission_only else required_strings(doc, "answers", doc_id)
        image = doc.get("image")
        return generation_request(
            self,
            doc_id=doc_id,
            text=self.prompt(doc),
            load_images=image_loader(None if image is None else [image], doc_id),
            seed=seed,
            target=consensus_answer(answers) if answers else None,
        )
