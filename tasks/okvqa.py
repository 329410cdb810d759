"""OK-VQA (Marino et al., 2019, https://arxiv.org/abs/1906.00067): questions that need outside knowledge, on COCO.

`ok_vqa_val2014` (alias `okvqa`) scores the `val2014` split (5,046 questions, ten answers each) as lmms-eval
0.7.3's `ok_vqa_val2014`: prompt `question + "\\nWhen the provided information is insufficient, respond with
'Unanswerable'.\\nAnswer the question using a single word or phrase."` (the question as stored, not
capitalised), stop at "ASSISTANT:"; the YAML sets no max_new_tokens or temperature, so the model defaults apply
(LLaVA's wrapper: 1024 tokens, greedy), used here as defaults.
`accuracy` (primary, percent) is lmms-eval's `exact_match`: VQA accuracy with MMF's full EvalAI answer
processor (lower-case, `,` and `?` dropped, `'s` split off, then the VQA punctuation, number, article and
contraction rules) on the prediction and on every gold answer, averaged over the ten leave-one-out subsets
(`vqa_accuracy_evalai` in tasks/scoring/vqa_normalize.py). lmms-eval reports a fraction.
Also `question_type:<t>`: accuracy per OK-VQA knowledge category (the `question_type` column, e.g. "one" =
vehicles and transportation ... "ten" = weather and climate, "other"); lmms-eval has no breakdown.
Where the official scorer differs: OK-VQA's authors score with the VQA evaluation code (GT-Vision-Lab
`vqaEval.py`), which does not apply `word_tokenize` and normalises the gold answers only by punctuation, and
only when they are not unanimous (a gold "two" does not match the prediction "2" there): `accuracy_official`
runs those rules on the same answer strings (`vqa_accuracy_official`).
Deviation: a document without gold answers is an error record (lmms-eval scores it 0, which is also what an
error record counts in `accuracy`); lmms-eval's submission JSON of the validation answers is not written.
Options: max_new_tokens, temperature, until.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.run.records import Record
from evals.task_api import DatasetSpec
from tasks.data.answer_list import AnswerListTask
from tasks.scoring.accuracy import NUM_ERRORS, breakdown, num_errors, overall_accuracy
from tasks.scoring.output_cleaning import clean_output
from tasks.scoring.vqa_normalize import (
    normalize_evalai_answer,
    vqa_accuracy_evalai,
    vqa_accuracy_official,
)

HUB_ID = "lmms-lab/OK-VQA"
MIRRORS = ("lmms-lab-encoder/OK-VQA",)
REVISION = "c9f858961f4095a9aeef615057b0822cce967096"  # main ("Upload dataset", 2024-03-09)
SPLIT = "val2014"
VERSION = "1"

POST_PROMPT = (
    "\nWhen the provided information is insufficient, respond with 'Unanswerable'."
    "\nAnswer the question using a single word or phrase."
)
ACCURACY = "accuracy"
ACCURACY_OFFICIAL = "accuracy_official"
QUESTION_TYPES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "other")

GENERATION_OPTIONS = {"max_new_tokens": 1024, "temperature": 0.0, "until": "ASSISTANT:"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `ok_vqa_doc_to_text` with the default kwargs (pre_prompt "")."""
    return f"{doc['question']}{POST_PROMPT}"


def official_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """vqaEval.py on a list of answer strings (each annotator's answer its own entry, as answer ids make them)."""
    if not answers:
        return 0.0
    return vqa_accuracy_official(prediction, [{"answer": a, "answer_id": i} for i, a in enumerate(answers)])


@dataclass(frozen=True)
class OKVQATask(AnswerListTask):
    """OK-VQA val2014, scored as lmms-eval does."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def prompt(self, doc: dict) -> str:
        return build_prompt(doc)

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        answer = clean_output(output)
        answers = doc.get("answers") or []
        return {
            ACCURACY: vqa_accuracy_evalai(answer, answers),
            ACCURACY_OFFICIAL: official_accuracy(answer, answers),
            "question_type": doc.get("question_type"),
            "prediction": normalize_evalai_answer(answer),
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {
            ACCURACY: overall_accuracy(records, ACCURACY),
            ACCURACY_OFFICIAL: overall_accuracy(records, ACCURACY_OFFICIAL),
            **breakdown(records, "question_type", ACCURACY, "question_type"),
            NUM_ERRORS: num_errors(records),
        }


_METRICS = (ACCURACY, ACCURACY_OFFICIAL, *(f"question_type:{t}" for t in QUESTION_TYPES))

TASKS = [
    OKVQATask(
        name="ok_vqa_val2014",
        kind="text",
        dataset=DatasetSpec(HUB_ID, SPLIT, REVISION, None, MIRRORS),
        version=VERSION,
        aliases=("okvqa",),
        primary_metric=ACCURACY,
        higher_is_better={name: True for name in _METRICS} | {NUM_ERRORS: False},
        tags=("paper",),
    ),
]
