"""ScienceQA-IMG (Lu et al., 2022, https://arxiv.org/abs/2209.09513): science questions with an image, 2-5 options.

`scienceqa_img` (alias `sqa`) scores split `test` of config `ScienceQA-IMG` (2,017 questions) as lmms-eval
0.7.3's `scienceqa_img`. Prompt (`sqa_doc_to_text`, default format): "Context: {hint}\\n" when the hint is
not empty, the question, "\\nA. {choice}" per choice, then "\\nAnswer with the option's letter from the given
choices directly."; up to 16 new tokens, greedy, stop at "\\n\\n". Deviation: lmms-eval writes a missing
(null) hint as the text "None"; here it is no context, as an empty hint is.
Scoring as lmms-eval's `sqa_process_results` (which follows LLaVA): the stripped output is right when it is
the answer's letter in either case ("b" counts), or when it starts with a capital letter and a period and
that letter is the answer ("B. ..." counts, "b. ..." and "(B)" do not). `accuracy` (primary, percent; lmms-eval
reports `exact_match` as a fraction). Also `subject:<subject>` (natural / social / language science) and
`grade:1-6` / `grade:7-12` (the ScienceQA paper's grade bands, from `grade` "grade1" ... "grade12").
LLaVA's own eval_science_qa.py reads letters differently ("B." alone and "b" fail, "The answer is B." counts)
and guesses a random option for an unreadable answer; the paper tables use lmms-eval's number.
A missing image makes the document an error record (lmms-eval would ask the question without one; every
ScienceQA-IMG question has an image). The dataset has no id column: a document's id is its position in the
split (lmms-eval's doc_id).
`mode=likelihood` ranks the options instead: the same prompt, continuations " A", " B", ... (lmms-eval's
target delimiter; lmms-eval has no likelihood variant of this task), the highest log-likelihood wins.
Options: max_new_tokens, temperature, until, mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.requests import ChoiceRequest, TextRequest
from evals.run.records import Record
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import DocumentFieldError, check_text_fields, required_items, required_value
from tasks.data.generation_request import generation_request
from tasks.scoring.accuracy import NUM_ERRORS, breakdown, num_errors, overall_accuracy
from tasks.scoring.choice_extract import option_letters
from tasks.scoring.choice_mode import LIKELIHOOD, apply_mode, argmax_first
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/ScienceQA"
MIRRORS = ("lmms-lab-encoder/ScienceQA",)
REVISION = "69dd4d6b67373d38f96a5badd5d24d0eb5bcdc50"  # main of lmms-lab/ScienceQA ("Update README.md")
CONFIG = "ScienceQA-IMG"
SPLIT = "test"
VERSION = "1"

POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
ACCURACY = "accuracy"
ROW = "row"  # the position of the document in the split (DocRows): its id
SUBJECTS = ("natural science", "social science", "language science")
GRADE_BANDS = ("1-6", "7-12")

DEFAULT_OPTIONS = {"max_new_tokens": 16, "temperature": 0.0, "until": "\n\n", "mode": "generate"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `sqa_doc_to_text` with the default kwargs (format default, empty pre prompt)."""
    letters = option_letters(len(doc["choices"]))
    choices = "\n".join(f"{letter}. {choice}" for letter, choice in zip(letters, doc["choices"]))
    context = f"Context: {doc['hint']}\n" if doc.get("hint") else ""
    return f"{context}{doc['question']}\n{choices}{POST_PROMPT}"


def answer_letter(doc: dict) -> str:
    """lmms-eval's `sqa_doc_to_target`: the letter of choice number `answer`."""
    return option_letters(len(doc["choices"]))[doc["answer"]]


def letter_is_correct(output: str, answer: str) -> float:
    """lmms-eval's `sqa_process_results` on one stripped output and the answer letter."""
    target = answer.lower()
    if output.lower() == target:
        return 1.0
    if len(output) >= 2 and output[0].isupper() and output[1] == ".":
        return float(output[0].lower() == target)
    return 0.0


def grade_band(grade: Any) -> str | None:
    """"1-6" or "7-12" for "grade1" ... "grade12"; None for anything else."""
    number = str(grade).removeprefix("grade")
    if not number.isdigit() or not 1 <= int(number) <= 12:
        return None
    return GRADE_BANDS[0] if int(number) <= 6 else GRADE_BANDS[1]


def check_document(doc: dict, doc_id: str) -> None:
    """The question and choices are text, and `answer` indexes a choice (else the document is an error record)."""
    check_text_fields(doc, ("question",), doc_id)
    choices = required_items(doc, "choices", doc_id)
    if not all(isinstance(choice, str) for choice in choices):
        raise DocumentFieldError(f"document {doc_id}: field 'choices' holds a non-text choice; fix the row")
    answer = required_value(doc, "answer", doc_id)
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise DocumentFieldError(f"document {doc_id}: answer {answer!r} is not the number of one of its "
                                 f"{len(choices)} choices; fix the row")


@dataclass(frozen=True)
class ScienceQATask(Task):
    """ScienceQA-IMG test, scored as lmms-eval does."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))

    def with_options(self, overrides: dict[str, str]) -> ScienceQATask:
        return apply_mode(super().with_options(overrides))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        return DocRows(read_split(copy, self.dataset.config, self.dataset.split), position_field=ROW)

    def doc_id(self, doc: dict) -> str:
        return str(doc[ROW])

    def build_request(self, doc: dict, seed: int) -> TextRequest | ChoiceRequest:
        doc_id = self.doc_id(doc)
        check_document(doc, doc_id)
        loader = image_loader(None if doc.get("image") is None else [doc["image"]], doc_id)
        if self.option("mode") == LIKELIHOOD:
            return ChoiceRequest(
                doc_id=doc_id,
                text=build_prompt(doc),
                choices=tuple(f" {letter}" for letter in option_letters(len(doc["choices"]))),
                load_images=loader,
                target=doc["answer"],
            )
        return generation_request(
            self, doc_id=doc_id, text=build_prompt(doc), load_images=loader, seed=seed, target=answer_letter(doc)
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        letters = option_letters(len(doc["choices"]))
        if self.option("mode") == LIKELIHOOD:
            if len(output) != len(letters):
                raise ValueError(
                    f"document {self.doc_id(doc)}: {len(output)} log-likelihoods for {len(letters)} choices")
            correct = float(argmax_first(output) == doc["answer"])
        else:
            correct = letter_is_correct(clean_output(output), answer_letter(doc))
        return {ACCURACY: correct, "subject": doc.get("subject"), "grade_band": grade_band(doc.get("grade"))}

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {
            ACCURACY: overall_accuracy(records, ACCURACY),
            **breakdown(records, "subject", ACCURACY, "subject"),
            **breakdown(records, "grade_band", ACCURACY, "grade"),
            NUM_ERRORS: num_errors(records),
        }


TASKS = [
    ScienceQATask(
        name="scienceqa_img",
        kind="text",
        dataset=DatasetSpec(HUB_ID, SPLIT, REVISION, CONFIG, MIRRORS),
        version=VERSION,
        aliases=("sqa",),
        tags=("paper",),
        primary_metric=ACCURACY,
        higher_is_better={ACCURACY: True, NUM_ERRORS: False}
        | {f"subject:{s}": True for s in SUBJECTS} | {f"grade:{b}": True for b in GRADE_BANDS},
    ),
]
