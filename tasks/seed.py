"""SEED-Bench v1, image part (Li et al., 2023, https://arxiv.org/abs/2307.16125): 4-way multiple choice.

`seed_image` (alias `seed`) scores the `data_type == "image"` rows (14,233; question types 1-9) of split
`test`, as lmms-eval 0.7.3's `seedbench` metric `seed_image`: prompt
`question + "\\nA. {a}\\nB. {b}\\nC. {c}\\nD. {d}\\nAnswer with the option's letter from the given choices
directly."`, stop at "ASSISTANT:"; the YAML sets no max_new_tokens or temperature, so the model defaults
apply (LLaVA's wrapper: 1024 tokens, greedy), used here as defaults. The prediction is the first character
of the stripped output ("B." and "B" are right, "(B)" and "The answer is B" are wrong), compared
case-insensitively with the answer. `accuracy` in percent (lmms-eval reports a fraction).
Also `question_type:<name>` for types 1-9 (lmms-eval has no per-type metric; LLaVA's SEED script does).
`mode=likelihood` follows lmms-eval's `seedbench_ppl`: context `question + " Answer :"`, the four option
texts as continuations (with lmms-eval's " " delimiter), the highest log-likelihood wins.
Options: max_new_tokens, temperature, until, mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.run.records import Record
from evals.requests import ChoiceRequest, TextRequest
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.scoring.accuracy import NUM_ERRORS, breakdown, num_errors, overall_accuracy
from tasks.scoring.choice_extract import first_character
from tasks.scoring.choice_mode import LIKELIHOOD, apply_mode, argmax_first
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import check_text_fields
from tasks.data.generation_request import generation_request
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/SEED-Bench"
MIRRORS = ("lmms-lab-encoder/SEED-Bench",)
REVISION = None  # main is 74c4ea0 ("Update README.md"); its full commit id was not found offline
VERSION = "1"

LETTERS = "ABCD"
CHOICE_COLUMNS = ("choice_a", "choice_b", "choice_c", "choice_d")
REQUIRED_TEXT = ("question", *CHOICE_COLUMNS, "answer")  # a missing or empty one: an error record
INSTRUCTION = "Answer with the option's letter from the given choices directly."
ACCURACY = "accuracy"
QUESTION_TYPES = {
    1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Attributes", 4: "Instance Location",
    5: "Instances Counting", 6: "Spatial Relation", 7: "Instance Interaction", 8: "Visual Reasoning",
    9: "Text Understanding", 10: "Action Recognition", 11: "Action Prediction", 12: "Procedure Understanding",
}

DEFAULT_OPTIONS = {"max_new_tokens": 1024, "temperature": 0.0, "until": "ASSISTANT:", "mode": "generate"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `seed_doc_to_text`."""
    options = "".join(f"\n{letter}. {doc[column]}" for letter, column in zip(LETTERS, CHOICE_COLUMNS))
    return f"{doc['question']}{options}\n{INSTRUCTION}"


def build_likelihood_context(doc: dict) -> str:
    """lmms-eval's `seed_doc_to_text_mc` (the seedbench_ppl context)."""
    return f"{doc['question']} Answer :"


def letter_is_correct(prediction: str, answer: str) -> float:
    """lmms-eval's seed_aggregation_result comparison of one pair."""
    return float(prediction.lower().strip() == str(answer).lower().strip())


@dataclass(frozen=True)
class SeedTask(Task):
    """SEED-Bench image questions."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))

    def with_options(self, overrides: dict[str, str]) -> SeedTask:
        return apply_mode(super().with_options(overrides))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        dataset = read_split(copy, self.dataset.config, self.dataset.split)
        data_types = dataset.with_format("arrow")["data_type"].to_pylist()
        return DocRows(dataset, rows=[i for i, kind in enumerate(data_types) if kind == "image"])

    def doc_id(self, doc: dict) -> str:
        return str(doc["question_id"])

    def build_request(self, doc: dict, seed: int) -> TextRequest | ChoiceRequest:
        doc_id = self.doc_id(doc)
        check_text_fields(doc, REQUIRED_TEXT, doc_id)
        loader = image_loader(doc["image"], doc_id)
        if self.option("mode") == LIKELIHOOD:
            return ChoiceRequest(
                doc_id=doc_id,
                text=build_likelihood_context(doc),
                choices=tuple(f" {doc[column]}" for column in CHOICE_COLUMNS),
                load_images=loader,
                target=LETTERS.index(doc["answer"]) if doc["answer"] in LETTERS else None,
            )
        return generation_request(
            self,
            doc_id=doc_id,
            text=build_prompt(doc),
            load_images=loader,
            seed=seed,
            target=doc["answer"],
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        if self.option("mode") == LIKELIHOOD:
            if len(output) != len(LETTERS):
                raise ValueError(f"document {self.doc_id(doc)}: {len(output)} log-likelihoods for 4 options")
            prediction = LETTERS[argmax_first(output)]
        else:
            prediction = first_character(clean_output(output))
        type_id = doc.get("question_type_id")
        return {
            ACCURACY: letter_is_correct(prediction, doc["answer"]),
            "prediction": prediction,
            "question_type": QUESTION_TYPES.get(type_id, str(type_id)),
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {
            ACCURACY: overall_accuracy(records, ACCURACY),
            **breakdown(records, "question_type", ACCURACY, "question_type"),
            NUM_ERRORS: num_errors(records),
        }


TASKS = [
    SeedTask(
        name="seed_image",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "test", REVISION, None, MIRRORS),
        version=VERSION,
        aliases=("seed",),
        tags=("paper",),
        primary_metric=ACCURACY,
        higher_is_better={ACCURACY: True, NUM_ERRORS: False}
        | {f"question_type:{QUESTION_TYPES[t]}": True for t in range(1, 10)},
    ),
]
