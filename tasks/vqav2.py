"""VQAv2 (Goyal et al., 2017, https://arxiv.org/abs/1612.00837): open-ended questions on COCO images.

- `vqav2_val` (alias `vqav2`) scores the `validation` split (214,354 questions) as lmms-eval 0.7.3's
  `vqav2_val` does: prompt `question + "\\nAnswer the question using a single word or phrase."`, up to 16
  new tokens, stop at "\\n\\n" (lmms-eval's default `until`), then VQA accuracy (10-choose-9 averaging)
  with the prediction and every gold answer normalised (`tasks/scoring/vqa_normalize.py`). lmms-eval calls this
  number `exact_match` and reports a fraction; here it is `accuracy` in percent.
  Also: `accuracy_official` (GT-Vision-Lab vqaEval.py: gold answers only punctuation-normalised, and only
  when not unanimous) and `answer_type:<yes/no|number|other>`.
- `vqav2_testdev` runs the `testdev` split (107,394 questions, no answers) and writes the EvalAI
  submission `submissions/vqav2_testdev_submission.json`: `[{"question_id", "answer"}]` with every
  question id of the run plus every id listed in the option `question_ids` (a test2015 questions JSON,
  a JSON list of ids, or a text file of ids), `""` for ids not run. EvalAI needs all 447,793 test2015 ids
  for test-dev as well; pass `question_ids=v2_OpenEnded_mscoco_test2015_questions.json` for that.
  Deviation: lmms-eval's `vqav2_test` runs the whole `test` split instead; LLaVA ran test-dev and padded
  the other ids with "" (as here). The answers are lmms-eval's normalised predictions.
Options: max_new_tokens, temperature, until (one stop string; "" for none), question_ids (testdev).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.run.records import Record
from evals.requests import TextRequest
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.scoring.accuracy import (
    NUM_ERRORS,
    breakdown,
    num_errors,
    overall_accuracy,
    scored,
    sort_by_doc_id,
)
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import required_items, required_text
from tasks.data.generation_request import generation_request
from tasks.scoring.output_cleaning import clean_output
from tasks.scoring.vqa_normalize import (
    normalize_vqa_answer,
    vqa_accuracy_lmms,
    vqa_accuracy_official,
)

HUB_ID = "lmms-lab/VQAv2"
MIRRORS = ("lmms-lab-encoder/VQAv2",)
REVISION = "32665d35052eb4a6d4414851c3c829a72754915a"  # main as of lmms-eval 0.7.3 ("Update README.md")
VERSION = "1"

POST_PROMPT = "\nAnswer the question using a single word or phrase."
ACCURACY = "accuracy"
ACCURACY_OFFICIAL = "accuracy_official"
NUM_ANSWERED = "num_answered"
ANSWER_TYPES = ("yes/no", "number", "other")
SUBMISSION_FILE = "vqav2_testdev_submission.json"

GENERATION_OPTIONS = {"max_new_tokens": 16, "temperature": 0.0, "until": "\n\n"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `vqav2_doc_to_text` with the default kwargs (pre_prompt "")."""
    return f"{doc['question']}{POST_PROMPT}"


def score_answer(doc: dict, output: str) -> dict[str, Any]:
    """Per-document VQA scores of one raw output (lmms-eval variant and official variant)."""
    answer = clean_output(output)
    answers = doc.get("answers")
    # lmms-eval scores 0 when a document has no answers (test splits); the official scorer needs them.
    lmms = vqa_accuracy_lmms(answer, answers) if answers else 0.0
    official = vqa_accuracy_official(answer, answers) if answers else 0.0
    return {
        ACCURACY: lmms,
        ACCURACY_OFFICIAL: official,
        "answer_type": doc.get("answer_type"),
        "prediction": normalize_vqa_answer(answer),
    }


def read_question_ids(path: str) -> list[int]:
    """Question ids from a VQA questions JSON, a JSON list of ids, or a text file of one id per line."""
    text = Path(path).read_text()
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        return [int(line) for line in text.split() if line.strip()]
    if isinstance(loaded, dict):
        loaded = loaded["questions"]
    return [int(item["question_id"]) if isinstance(item, dict) else int(item) for item in loaded]


def evalai_submission(records: Sequence[Record], extra_ids: Sequence[int] = ()) -> list[dict]:
    """EvalAI entries for the run's ids and `extra_ids`, sorted by id; "" where no answer was produced."""
    answers = {int(r.doc_id): (r.scores.get("prediction", "") if r.error is None else "") for r in records}
    ids = sorted(set(answers) | {int(i) for i in extra_ids})
    return [{"question_id": qid, "answer": answers.get(qid, "")} for qid in ids]


@dataclass(frozen=True)
class VQAv2Task(Task):
    """VQAv2 validation (scored) or test-dev (submission only)."""

    submission_only: bool = False
    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        return DocRows(read_split(copy, self.dataset.config, self.dataset.split))

    def doc_id(self, doc: dict) -> str:
        return str(doc["question_id"])

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        doc_id = self.doc_id(doc)
        # A missing or empty question (or, when scored, no gold answers) makes the document an error record.
        required_text(doc, "question", doc_id)
        if not self.submission_only:
            required_items(doc, "answers", doc_id)
        return generation_request(
            self,
            doc_id=doc_id,
            text=build_prompt(doc),
            load_images=image_loader([doc["image"]], doc_id),
            seed=seed,
            target=doc.get("multiple_choice_answer"),
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        if self.submission_only:
            return {"prediction": normalize_vqa_answer(clean_output(output))}
        return score_answer(doc, output)

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        if self.submission_only:
            return {NUM_ANSWERED: len(scored(records)), NUM_ERRORS: num_errors(records)}
        return {
            ACCURACY: overall_accuracy(records, ACCURACY),
            ACCURACY_OFFICIAL: overall_accuracy(records, ACCURACY_OFFICIAL),
            **breakdown(records, "answer_type", ACCURACY, "answer_type"),
            NUM_ERRORS: num_errors(records),
        }

    def write_artifacts(self, records: Sequence[Record], out_dir: Path) -> list[Path]:
        if not self.submission_only:
            return []
        extra = read_question_ids(self.option("question_ids")) if self.option("question_ids") else []
        path = Path(out_dir) / "submissions" / SUBMISSION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(evalai_submission(sort_by_doc_id(records), extra)))
        return [path]


def _higher_is_better() -> dict[str, bool]:
    metrics = [ACCURACY, ACCURACY_OFFICIAL, *(f"answer_type:{t}" for t in ANSWER_TYPES)]
    return {name: True for name in metrics} | {NUM_ERRORS: False}


TASKS = [
    VQAv2Task(
        name="vqav2_val",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "validation", REVISION, None, MIRRORS),
        version=VERSION,
        aliases=("vqav2",),
        tags=("paper",),
        primary_metric=ACCURACY,
        higher_is_better=_higher_is_better(),
    ),
    VQAv2Task(
        name="vqav2_testdev",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "testdev", REVISION, None, MIRRORS),
        version=VERSION,
        primary_metric=None,
        higher_is_better={NUM_ANSWERED: True, NUM_ERRORS: False},
        submission_only=True,
        default_options={**GENERATION_OPTIONS, "question_ids": ""},
    ),
]
