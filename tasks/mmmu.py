"""MMMU (Yue et al., 2023, https://arxiv.org/abs/2311.16502): college-level questions on 30 subjects, 6 disciplines.

`mmmu_val` (alias `mmmu`) scores split `validation` (900 questions) as lmms-eval 0.7.3's `mmmu_val`. Prompt
(`mmmu_doc_to_text`, default kwargs): multiple choice `question + "\\n" + "A. opt\\nB. opt..." + "\\n\\n" +
"Answer with the option's letter from the given choices directly."`, open `question + "\\n\\n" + "Answer the
question using a single word or phrase."`. The `<image N>` marks stay in the text (lmms-eval's interleaved
format is off for string-prompt models); the images are the distinct `<image N>` marks of the prompt, sorted
by name (lmms-eval's `mmmu_doc_to_visual`), so a question showing <image 2> before <image 1> still sends
image_1 first, and the adapter puts one image token per image before the text (VARGPT's template writes
"<image>\\n" per image; lmms-eval's LLaVA wrapper writes "<image> <image>\\n"). A shown image that is absent
makes the document an error record (lmms-eval stops there). Up to 128 new tokens (lmms-eval's template),
greedy, stop at "\\n\\n".
Scoring (tasks/scoring/mmmu_answers.py): lmms-eval's multiple-choice letter parse and open-answer matching.
Where lmms-eval finds no letter in a multiple-choice answer it picks one with Python's global random
generator, so its number depends on everything that drew from that generator before. Here:
- `accuracy` (primary): lmms-eval's procedure, the letter drawn from `random.Random(seed)` with a seed
  hashed from the option `guess_seed` (default 0) and the document id: the same for every shard, batch
  and rerun; the number of guessed answers is `num_guessed`.
- `accuracy_strict`: a guessed answer counts as wrong (deterministic, a lower bound).
- `accuracy_expected`: a guessed answer counts 1/(number of options), the expectation of lmms-eval's number
  over its random letter (deterministic).
Also `subject:<subject>` (the subject in the id `validation_<Subject>_<n>`, lmms-eval's subsets) and
`discipline:<discipline>` (lmms-eval's Overall-<domain>), from `accuracy`. lmms-eval rounds its fraction to 5
decimals; ours is percent, not rounded. An error record counts as wrong, also in its subject (read from its id).
Official MMMU scorer (eval_utils.py at 51ce7f3): the same open matching, but its letter parse looks for " B "
with spaces on both sides and has no "B." rule; not reported here.
Options: max_new_tokens, temperature, until, guess_seed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.requests import TextRequest
from evals.run.records import Record
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import DocumentFieldError, check_text_fields
from tasks.data.generation_request import generation_request
from tasks.scoring.accuracy import NUM_ERRORS, num_errors, overall_accuracy, percent
from tasks.scoring.choice_extract import option_letters
from tasks.scoring.mmmu_answers import (
    choice_letter,
    guess_seed,
    open_answer_is_right,
    open_candidates,
    seeded_letter,
)
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/MMMU"
MIRRORS = ("lmms-lab-encoder/MMMU",)
REVISION = "364f2e2eb107b36e07ff4c5a15f5947a759cef47"  # main of lmms-lab/MMMU ("Update README.md")
SPLIT = "validation"
VERSION = "1"

MULTIPLE_CHOICE = "multiple-choice"
CHOICE_PROMPT = "Answer with the option's letter from the given choices directly."
OPEN_PROMPT = "Answer the question using a single word or phrase."
IMAGE_MARK = re.compile(r"<image \d+>")
ACCURACY = "accuracy"
ACCURACY_STRICT = "accuracy_strict"
ACCURACY_EXPECTED = "accuracy_expected"
NUM_GUESSED = "num_guessed"
REQUIRED_TEXT = ("id", "question", "question_type", "answer")  # a missing or empty one: an error record

# lmms-eval's DOMAIN_CAT2SUB_CAT: the six disciplines and their subjects (the `subject` part of an id).
DISCIPLINES = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
DISCIPLINE_OF = {subject: discipline for discipline, subjects in DISCIPLINES.items() for subject in subjects}
_ID_FORM = re.compile(r"([^_]*)_(.+?)_\d+")  # <split>_<Subject>_<n>, as lmms-eval's extract_subset_name reads it

DEFAULT_OPTIONS = {"max_new_tokens": 128, "temperature": 0.0, "until": "\n\n", "guess_seed": 0}


def subject_of(doc_id: str) -> str | None:
    """The subject in an id `validation_Art_Theory_12` ("Art_Theory"); None for another form."""
    found = _ID_FORM.fullmatch(doc_id)
    return found.group(2) if found else None


def is_multiple_choice(doc: dict) -> bool:
    """lmms-eval's test: question_type "multiple-choice" (anything else is open)."""
    return doc["question_type"] == MULTIPLE_CHOICE


def parsed_options(doc: dict) -> list[str]:
    """The option texts: `options` holds a Python list literal as a string (as in lmms-eval, ast.literal_eval)."""
    try:
        options = ast.literal_eval(doc["options"])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise DocumentFieldError(f"document {doc['id']}: options {str(doc.get('options'))[:60]!r} is not a list "
                                 "literal; fix the row") from None
    if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
        raise DocumentFieldError(f"document {doc['id']}: options must be a list of texts; fix the row")
    return options


def build_prompt(doc: dict) -> str:
    """lmms-eval's `mmmu_doc_to_text` with the default kwargs (image marks kept)."""
    if is_multiple_choice(doc):
        texts = parsed_options(doc)
        options = "\n".join(f"{letter}. {text}" for letter, text in zip(option_letters(len(texts)), texts))
        return f"{doc['question']}\n{options}\n\n{CHOICE_PROMPT}"
    return f"{doc['question']}\n\n{OPEN_PROMPT}"


def image_columns(prompt: str) -> list[str]:
    """The image columns a prompt shows: its distinct `<image N>` marks as `image_N`, sorted by name."""
    return sorted({mark.strip("<>").replace(" ", "_") for mark in IMAGE_MARK.findall(prompt)})


def check_document(doc: dict, doc_id: str) -> None:
    """Required text present, and a multiple-choice question has options (else an error record)."""
    check_text_fields(doc, REQUIRED_TEXT, doc_id)
    if is_multiple_choice(doc) and not parsed_options(doc):
        raise DocumentFieldError(f"document {doc_id}: a multiple-choice question without options; fix the row")


@dataclass(frozen=True)
class MMMUTask(Task):
    """MMMU validation, scored as lmms-eval does (its random guesses seeded)."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        return DocRows(read_split(copy, self.dataset.config, self.dataset.split))

    def doc_id(self, doc: dict) -> str:
        return str(doc["id"])

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        doc_id = self.doc_id(doc)
        check_document(doc, doc_id)
        prompt = build_prompt(doc)
        columns = image_columns(prompt)
        missing = [column for column in columns if doc.get(column) is None]
        if missing:  # lmms-eval fails on these too (KeyError, or None has no convert)
            raise DocumentFieldError(f"document {doc_id}: the prompt shows <{missing[0].replace('_', ' ')}> but "
                                     f"{missing[0]} is empty or absent; fix the row")
        return generation_request(
            self,
            doc_id=doc_id,
            text=prompt,
            load_images=image_loader([doc[column] for column in columns], doc_id),
            seed=seed,
            target=doc["answer"],
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        answer = clean_output(output)
        gold = doc["answer"]
        doc_id = self.doc_id(doc)
        scores: dict[str, Any] = {"subject": subject_of(doc_id), "question_type": doc["question_type"]}
        if is_multiple_choice(doc):
            options = parsed_options(doc)
            letters = list(option_letters(len(options)))
            letter = choice_letter(answer, options)
            guessed = letter is None
            if guessed:
                letter = seeded_letter(letters, guess_seed(self.option("guess_seed"), doc_id))
            correct = float(letter == gold)
            expected = (letters.count(gold) / len(letters)) if guessed else correct
            return scores | {ACCURACY: correct, ACCURACY_STRICT: 0.0 if guessed else correct,
                             ACCURACY_EXPECTED: expected, "guessed": guessed, "parsed": letter}
        candidates = open_candidates(answer)
        correct = float(open_answer_is_right(gold, candidates))
        return scores | {ACCURACY: correct, ACCURACY_STRICT: correct, ACCURACY_EXPECTED: correct, "guessed": False,
                         "parsed": candidates}

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        metrics = {name: overall_accuracy(records, name) for name in (ACCURACY, ACCURACY_STRICT, ACCURACY_EXPECTED)}
        metrics |= subject_breakdowns(records)
        return metrics | {NUM_GUESSED: sum(1 for r in records if r.error is None and r.scores["guessed"]),
                          NUM_ERRORS: num_errors(records)}


def subject_breakdowns(records: Sequence[Record]) -> dict[str, float]:
    """`subject:<S>` and `discipline:<D>` accuracy (percent), error records wrong in the subject their id names."""
    by_subject: dict[str, list[float]] = {}
    for record in records:
        subject = subject_of(record.doc_id)
        if subject is not None:
            by_subject.setdefault(subject, []).append(float(record.scores[ACCURACY]) if record.error is None else 0.0)
    metrics = {f"subject:{s}": percent(v) for s, v in sorted(by_subject.items())}
    for discipline, subjects in DISCIPLINES.items():
        values = [v for s in subjects for v in by_subject.get(s, [])]
        if values:
            metrics[f"discipline:{discipline}"] = percent(values)
    return metrics


TASKS = [
    MMMUTask(
        name="mmmu_val",
        kind="text",
        dataset=DatasetSpec(HUB_ID, SPLIT, REVISION, None, MIRRORS),
        version=VERSION,
        aliases=("mmmu",),
        tags=("paper",),
        primary_metric=ACCURACY,
        higher_is_better={ACCURACY: True, ACCURACY_STRICT: True, ACCURACY_EXPECTED: True, NUM_GUESSED: False,
                          NUM_ERRORS: False}
        | {f"subject:{s}": True for s in DISCIPLINE_OF} | {f"discipline:{d}": True for d in DISCIPLINES},
    ),
]
