"""GQA (Hudson & Manning, 2019, https://arxiv.org/abs/1902.09506): compositional questions on scene images.

Scores the testdev-balanced questions (12,578; config `testdev_balanced_instructions`, split `testdev`)
with the images of config `testdev_balanced_images` joined on `imageId`, as lmms-eval 0.7.3's `gqa`:
prompt `question + "\\nAnswer the question using a single word or phrase."`, up to 16 new tokens, greedy,
stop at "\\n\\n"; `accuracy` is lmms-eval's `exact_match` with ignore_case and ignore_punctuation: lower-case
both sides and delete every ASCII punctuation character (so "t-shirt" equals "tshirt"); no article,
number or whitespace handling; trailing NUL characters do not count, as in lmms-eval's numpy string arrays
("left\\x00" equals "left"). Reported in percent (lmms-eval reports a fraction).
Also: `accuracy_official` (LLaVA's `convert_gqa_for_eval.py` + the official eval.py: the prediction
`rstrip('.')` and lower-cased, compared to the answer as is), and `structural:<type>` / `semantic:<type>`
breakdowns from the question's `types`.
Deviation: top_p 1.0 and num_beams 1 of the lmms-eval YAML are the greedy defaults and not sent.
Options: max_new_tokens, temperature, until.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.run.records import Record
from evals.requests import TextRequest
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.scoring.accuracy import NUM_ERRORS, breakdown, num_errors, overall_accuracy
from tasks.data.datasets_io import (
    DatasetUnavailable,
    DocRows,
    find_copy,
    has_column,
    image_loader,
    read_split,
)
from tasks.data.doc_fields import check_text_fields
from tasks.data.generation_request import generation_request
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/GQA"
MIRRORS = ("lmms-lab-encoder/GQA",)
REVISION = None  # no full commit id of lmms-lab/GQA main was found offline; pass a local copy to pin data
QUESTIONS_CONFIG = "testdev_balanced_instructions"
IMAGES_CONFIG = "testdev_balanced_images"
SPLIT = "testdev"
VERSION = "2"  # 2: trailing NULs ignored by `accuracy`, as lmms-eval's exact_match

POST_PROMPT = "\nAnswer the question using a single word or phrase."
ACCURACY = "accuracy"
ACCURACY_OFFICIAL = "accuracy_official"
STRUCTURAL_TYPES = ("choose", "compare", "logical", "query", "verify")
SEMANTIC_TYPES = ("attr", "cat", "global", "obj", "rel")
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)

REQUIRED_TEXT = ("question", "answer")  # a missing or empty one makes the document an error record

GENERATION_OPTIONS = {"max_new_tokens": 16, "temperature": 0.0, "until": "\n\n"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `gqa_doc_to_text` with the default kwargs."""
    return f"{doc['question']}{POST_PROMPT}"


def lmms_match_form(text: str) -> str:
    """What lmms-eval's exact_match compares: lower-cased, ASCII punctuation deleted, trailing NULs dropped."""
    # lmms-eval holds both sides in numpy str arrays (`exact_match_hf_evaluate`), whose fixed-width
    # elements drop trailing "\x00" when read back and compare as if NUL-padded: "left\x00" equals "left",
    # also once deleted punctuation uncovers the NUL ("left\x00." -> "left"). Inner NULs stay.
    return text.lower().translate(_DELETE_PUNCTUATION).rstrip("\x00")


def exact_match_lmms(prediction: str, answer: str) -> float:
    """lmms-eval's exact_match(ignore_case=True, ignore_punctuation=True) on one pair."""
    return float(lmms_match_form(prediction) == lmms_match_form(answer))


def exact_match_official(prediction: str, answer: str) -> float:
    """LLaVA's GQA conversion (rstrip '.', lower) then the official eval.py string equality."""
    return float(prediction.rstrip(".").lower() == answer)


def join_images(questions: Any, images: Any) -> DocRows:
    """The questions with an `image` cell looked up by imageId (undecoded; missing ids fail at load)."""
    image_by_id = dict(zip(images["id"], images["image"]))
    return DocRows(questions, extend=lambda row: {"image": image_by_id.get(row["imageId"])})


@dataclass(frozen=True)
class GQATask(Task):
    """GQA testdev-balanced, scored as lmms-eval does."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        questions = read_split(copy, QUESTIONS_CONFIG, SPLIT)
        if has_column(questions, "image"):  # a save_to_disk copy with the images already joined
            return DocRows(questions)
        if copy.kind == "saved":
            raise DatasetUnavailable(
                f"GQA copy {copy.location} has no image column; save the questions with `image` joined on "
                f"imageId, or give a snapshot of {HUB_ID} holding config {IMAGES_CONFIG}"
            )
        images = read_split(copy, IMAGES_CONFIG, SPLIT).with_format("arrow")
        return join_images(questions, {"id": images["id"].to_pylist(), "image": images["image"].to_pylist()})

    def doc_id(self, doc: dict) -> str:
        return str(doc["id"])

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        doc_id = self.doc_id(doc)
        check_text_fields(doc, REQUIRED_TEXT, doc_id)
        image = doc.get("image")
        return generation_request(
            self,
            doc_id=doc_id,
            text=build_prompt(doc),
            load_images=image_loader(None if image is None else [image], doc_id),
            seed=seed,
            target=doc["answer"],
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        prediction = clean_output(output)
        types = doc.get("types") or {}
        return {
            ACCURACY: exact_match_lmms(prediction, doc["answer"]),
            ACCURACY_OFFICIAL: exact_match_official(prediction, doc["answer"]),
            "structural": types.get("structural"),
            "semantic": types.get("semantic"),
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {
            ACCURACY: overall_accuracy(records, ACCURACY),
            ACCURACY_OFFICIAL: overall_accuracy(records, ACCURACY_OFFICIAL),
            **breakdown(records, "structural", ACCURACY, "structural"),
            **breakdown(records, "semantic", ACCURACY, "semantic"),
            NUM_ERRORS: num_errors(records),
        }


_BREAKDOWNS = [f"structural:{t}" for t in STRUCTURAL_TYPES] + [f"semantic:{t}" for t in SEMANTIC_TYPES]

TASKS = [
    GQATask(
        name="gqa",
        kind="text",
        dataset=DatasetSpec(HUB_ID, SPLIT, REVISION, QUESTIONS_CONFIG, MIRRORS),
        version=VERSION,
        tags=("paper",),
        primary_metric=ACCURACY,
        higher_is_better={name: True for name in (ACCURACY, ACCURACY_OFFICIAL, *_BREAKDOWNS)} | {NUM_ERRORS: False},
    ),
]
