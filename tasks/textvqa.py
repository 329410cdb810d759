"""TextVQA (Singh et al., 2019, https://arxiv.org/abs/1904.08920): questions that need the text in the image.

`textvqa_val` (alias `textvqa`) scores the `validation` split (5,000 questions, ten answers each) as lmms-eval
0.7.3's `textvqa_val`: prompt `question.capitalize() + "\\nAnswer the question using a single word or phrase."`
(`str.capitalize` also lower-cases the rest: "what does the SIGN say?" is asked as "What does the sign say?"),
stop at "ASSISTANT:"; the YAML sets no max_new_tokens or temperature, so the model defaults apply (LLaVA's
wrapper: 1024 tokens, greedy), used here as defaults.
Option `ocr` is lmms-eval's `ocr` kwarg (default false, as lmms-eval): true inserts
`"\\nReference OCR token: " + ", ".join(ocr_tokens)` between the question and the instruction, the form of
prompt LLaVA-1.5 reported its TextVQA number with.
`accuracy` (primary, percent) is lmms-eval's `exact_match`: VQA accuracy with MMF's full EvalAI answer
processor on the prediction and on every gold answer, averaged over the ten leave-one-out subsets
(`vqa_accuracy_evalai` in tasks/scoring/vqa_normalize.py). lmms-eval reports a fraction.
The TextVQA scorer of MMF/M4C, `TextVQAAccuracyEvaluator` (what LLaVA's `eval_textvqa.py` runs), applies the
same processor and the same averaging (it divides a float sum where lmms-eval takes `statistics.mean`, so the
two can differ in the last bit) and requires exactly ten answers; there is no second metric.
Deviations: a document without gold answers is an error record (lmms-eval's `statistics.mean` raises on it);
lmms-eval's `textvqa_val` also writes a submission JSON of the validation answers, not written here.
Options: max_new_tokens, temperature, until, ocr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.requests import TextRequest
from evals.run.records import Record
from evals.task_api import DatasetSpec
from tasks.data.answer_list import AnswerListTask
from tasks.data.doc_fields import required_strings
from tasks.scoring.accuracy import NUM_ERRORS, num_errors, overall_accuracy
from tasks.scoring.output_cleaning import clean_output
from tasks.scoring.vqa_normalize import normalize_evalai_answer, vqa_accuracy_evalai

HUB_ID = "lmms-lab/textvqa"
MIRRORS = ("lmms-lab-encoder/textvqa",)
REVISION = "9c0699cd19768ac5ab97568f6b3cbac4c0062884"  # main ("Update README.md", 2024-03-08)
SPLIT = "validation"
VERSION = "1"

POST_PROMPT = "\nAnswer the question using a single word or phrase."
OCR_PREFIX = "\nReference OCR token: "
ACCURACY = "accuracy"

GENERATION_OPTIONS = {"max_new_tokens": 1024, "temperature": 0.0, "until": "ASSISTANT:", "ocr": False}


def build_prompt(doc: dict, ocr: bool = False) -> str:
    """lmms-eval's `textvqa_doc_to_text` with the default kwargs (`ocr` as given)."""
    reference = f"{OCR_PREFIX}{', '.join(doc['ocr_tokens'])}" if ocr else ""
    return f"{doc['question'].capitalize()}{reference}{POST_PROMPT}"


@dataclass(frozen=True)
class TextVQATask(AnswerListTask):
    """TextVQA validation, scored as lmms-eval does."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def prompt(self, doc: dict) -> str:
        return build_prompt(doc, self.option("ocr"))

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        if self.option("ocr"):  # the OCR tokens are part of the prompt: a row without them is refused
            required_strings(doc, "ocr_tokens", self.doc_id(doc), allow_empty=True)
        return super().build_request(doc, seed)

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        answer = clean_output(output)
        return {ACCURACY: vqa_accuracy_evalai(answer, doc.get("answers") or []),
                "prediction": normalize_evalai_answer(answer)}

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {ACCURACY: overall_accuracy(records, ACCURACY), NUM_ERRORS: num_errors(records)}


TASKS = [
    TextVQATask(
        name="textvqa_val",
        kind="text",
        dataset=DatasetSpec(HUB_ID, SPLIT, REVISION, None, MIRRORS),
        version=VERSION,
        aliases=("textvqa",),
        primary_metric=ACCURACY,
        higher_is_better={ACCURACY: True, NUM_ERRORS: False},
        tags=("paper",),
    ),
]
