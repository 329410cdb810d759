"""MME (Fu et al., 2023, https://arxiv.org/abs/2306.13394): yes/no questions, two per image, 14 subtasks.

`mme` scores split `test` (2,374 questions on 1,187 images) as lmms-eval 0.7.3's `mme`. Prompt
(`mme_doc_to_text` with the default kwargs): the stripped question with " Please answer yes or no." removed,
then "\\nAnswer the question using a single word or phrase."; up to 16 new tokens, greedy, stop at "\\n\\n".
The answer is read as lmms-eval reads it (`parse_pred_ans`, from Otter): lower-cased, stripped, periods
deleted; "yes"/"no" as they are; a single character "y"/"n" is yes/no; otherwise "yes" (else "no") within
the first four characters; anything else is neither and wrong.
Scores (lmms-eval's `mme_aggregate_results`, the MME paper's): per subtask, `acc` = accuracy over questions and
`acc_plus` = the share of images whose two questions are both right (MME's acc+ pairs the two questions
of one image, which share a `question_id`), both in percent; the subtask score is acc + acc+ (at most 200).
`perception_score` (primary; the paper's MME column) sums the scores of the ten perception subtasks,
`cognition_score` those of the four cognition subtasks (a category lmms-eval does not know counts as
cognition there, and here). Also `acc:<subtask>`, `acc_plus:<subtask>`, `score:<subtask>`.
lmms-eval refuses an image without exactly two questions; here its acc is the mean over its questions and its
acc+ needs all of them right, and `num_unpaired_images` counts such images.
Official scorer (MME's eval_tool calculation.py): the same sums, but its parse only lower-cases (no strip, no
period deletion, no "y"/"n"): `perception_score_official`, `cognition_score_official`.
An error record counts as a wrong answer in its image pair (the document id keeps the image's question_id).
Options: max_new_tokens, temperature, until.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.requests import TextRequest
from evals.run.records import Record
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import check_text_fields
from tasks.data.generation_request import generation_request
from tasks.scoring.accuracy import NUM_ERRORS, num_errors
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/MME"
MIRRORS = ("lmms-lab-encoder/MME",)
REVISION = "d6c9023f017b564f7b3ccccf5348166bce8fdbcd"  # main of lmms-lab/MME and lmms-lab-encoder/MME
SPLIT = "test"
VERSION = "1"

ANSWER_REQUEST = " Please answer yes or no."  # removed from the question when a post prompt is added
POST_PROMPT = "\nAnswer the question using a single word or phrase."
PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
PERCEPTION_SCORE = "perception_score"
COGNITION_SCORE = "cognition_score"
OFFICIAL = "_official"
NUM_UNPAIRED = "num_unpaired_images"
ROW = "row"  # the position of the document in the split (DocRows), part of its id
REQUIRED_TEXT = ("question_id", "question", "answer", "category")  # a missing or empty one: an error record

GENERATION_OPTIONS = {"max_new_tokens": 16, "temperature": 0.0, "until": "\n\n"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `mme_doc_to_text` with the default kwargs (empty pre prompt, the post prompt above)."""
    return f"{doc['question'].strip().replace(ANSWER_REQUEST, '')}{POST_PROMPT}"


def yes_no_label(output: str) -> str:
    """lmms-eval's `parse_pred_ans`: "yes", "no" or "other"."""
    text = output.lower().strip().replace(".", "")
    if text in ("yes", "no"):
        return text
    if len(text) == 1:
        return {"y": "yes", "n": "no"}.get(text, "other")
    return _label_in_prefix(text)


def official_label(output: str) -> str:
    """MME eval_tool's `parse_pred_ans`: exact yes/no after lower-casing, else yes/no in the first 4 characters."""
    text = output.lower()
    if text in ("yes", "no"):
        return text
    return _label_in_prefix(text)


def _label_in_prefix(text: str) -> str:
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def gold_label(doc: dict) -> str:
    """The answer lower-cased, stripped, periods deleted; it must be yes or no."""
    gold = str(doc["answer"]).lower().strip().replace(".", "")
    if gold not in ("yes", "no"):
        raise ValueError(f"MME document {doc.get('question_id')}: answer {doc['answer']!r} is not yes/no")
    return gold


def image_of(doc_id: str) -> str:
    """The question_id (one image) in a document id `<question_id>#<row>`."""
    return doc_id.rpartition("#")[0]


def category_of(question_id: str) -> str:
    """The subtask a question_id names: MME's read `<category>/<file>` (e.g. "code_reasoning/0020.png")."""
    return question_id.partition("/")[0]


def is_perception(category: str) -> bool:
    """True for the ten perception subtasks; every other category counts as cognition (as in lmms-eval)."""
    return category in PERCEPTION


@dataclass(frozen=True)
class SubtaskScores:
    """One subtask's acc and acc+ (percent) and its score, the mean over images of acc + acc+."""

    acc: float
    acc_plus: float
    score: float


def subtask_scores(answers_by_image: dict[str, list[float]]) -> SubtaskScores:
    """acc, acc+ and score of one subtask from each image's answers (1 right, 0 wrong), averaged over images."""
    accs = [100.0 * sum(a) / len(a) for a in answers_by_image.values()]
    pluses = [100.0 * all(a) for a in answers_by_image.values()]
    n = len(accs)
    # The score sums acc + acc+ per image, then divides, in lmms-eval's order (the same number up to rounding).
    return SubtaskScores(sum(accs) / n, sum(pluses) / n, sum(p + a for a, p in zip(accs, pluses)) / n)


def mme_metrics(records: Sequence[Record], correct_key: str) -> tuple[dict[str, SubtaskScores], int]:
    """Per subtask, acc and acc+ of the records' `correct_key` answers; and the images without two questions."""
    # An error record is a wrong answer in its image's subtask: that of the image's scored question, else the
    # one its question_id names.
    known = {image_of(r.doc_id): r.scores["category"] for r in records if r.error is None}
    answers: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        image = image_of(record.doc_id)
        right = float(record.scores[correct_key]) if record.error is None else 0.0
        category = record.scores["category"] if record.error is None else known.get(image, category_of(image))
        answers[category][image].append(right)
    unpaired = sum(1 for images in answers.values() for a in images.values() if len(a) != 2)
    return {category: subtask_scores(images) for category, images in sorted(answers.items())}, unpaired


def score_sums(subtasks: dict[str, SubtaskScores]) -> tuple[float, float]:
    """(perception score, cognition score): sums of subtask scores; NaN where no subtask of that kind ran."""
    perception = [s.score for c, s in subtasks.items() if is_perception(c)]
    cognition = [s.score for c, s in subtasks.items() if not is_perception(c)]
    return (sum(perception) if perception else float("nan"), sum(cognition) if cognition else float("nan"))


@dataclass(frozen=True)
class MMETask(Task):
    """MME test, scored as lmms-eval does."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        return DocRows(read_split(copy, self.dataset.config, self.dataset.split), position_field=ROW)

    def doc_id(self, doc: dict) -> str:
        # question_id names the image (two questions each); the row makes the id unique.
        return f"{doc['question_id']}#{doc[ROW]}"

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        doc_id = self.doc_id(doc)
        check_text_fields(doc, REQUIRED_TEXT, doc_id)
        gold_label(doc)  # an answer other than yes/no is refused before the model is asked
        return generation_request(
            self,
            doc_id=doc_id,
            text=build_prompt(doc),
            load_images=image_loader([doc["image"]], doc_id),
            seed=seed,
            target=doc["answer"],
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        gold = gold_label(doc)
        answer = clean_output(output)
        label, official = yes_no_label(answer), official_label(answer)
        return {
            "correct": float(label == gold),
            "correct" + OFFICIAL: float(official == gold),
            "prediction": label,
            "category": doc["category"],
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        subtasks, unpaired = mme_metrics(records, "correct")
        official, _ = mme_metrics(records, "correct" + OFFICIAL)
        perception, cognition = score_sums(subtasks)
        perception_official, cognition_official = score_sums(official)
        metrics = {PERCEPTION_SCORE: perception, COGNITION_SCORE: cognition,
                   PERCEPTION_SCORE + OFFICIAL: perception_official, COGNITION_SCORE + OFFICIAL: cognition_official}
        for category, scores in subtasks.items():
            metrics |= {f"score:{category}": scores.score, f"acc:{category}": scores.acc,
                        f"acc_plus:{category}": scores.acc_plus}
        return metrics | {NUM_UNPAIRED: unpaired, NUM_ERRORS: num_errors(records)}


_SUBTASK_METRICS = {f"{kind}:{c}": True for c in (*PERCEPTION, *COGNITION) for kind in ("score", "acc", "acc_plus")}

TASKS = [
    MMETask(
        name="mme",
        kind="text",
        dataset=DatasetSpec(HUB_ID, SPLIT, REVISION, None, MIRRORS),
        version=VERSION,
        tags=("paper",),
        primary_metric=PERCEPTION_SCORE,
        higher_is_better={PERCEPTION_SCORE: True, COGNITION_SCORE: True, PERCEPTION_SCORE + OFFICIAL: True,
                          COGNITION_SCORE + OFFICIAL: True, NUM_UNPAIRED: False, NUM_ERRORS: False} | _SUBTASK_METRICS,
    ),
]
