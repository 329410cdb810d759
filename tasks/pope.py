"""POPE (Li et al., 2023, https://arxiv.org/abs/2305.10355): yes/no object-hallucination probes on COCO.

Three tasks, one per sampling split of config `Full` (3,000 questions each), in group `pope`:
`pope_random`, `pope_popular`, `pope_adversarial` (lmms-eval 0.7.3's `pope_random` / `pope_pop` /
`pope_adv`). Prompt `question.strip() + "\\nAnswer the question using a single word or phrase."`, up to 128
new tokens, greedy, stop at "\\n\\n" (lmms-eval's default `until`).
Scoring as lmms-eval: the prediction is the whole output lower-cased and stripped, and only the exact
strings "yes"/"no" count ("Yes." is wrong, and neither yes nor no). `accuracy` (primary, percent):
matches over all documents. `precision` = TP/(TP+FP) and `recall` = TP/(TP+FN) with FN = (gold yes,
prediction "no") only, so unparsed outputs are ignored by both; `f1` = 2PR/(P+R).
`yes_ratio` is the share of documents whose prediction is "yes". Deviation: lmms-eval's
`pope_yes_ratio` counts gold labels, not predictions (always 50% on balanced POPE).
Also LLaVA's lenient parse (`llava/eval/eval_pope.py`): first sentence, commas removed, "no" if any
space-separated word is "No"/"no"/"not", else "yes": `accuracy_llava`, `precision_llava`,
`recall_llava`, `f1_llava`, `yes_ratio_llava`. Error records count as wrong and as neither answer.
`pooled_metrics(records_by_task)` gives the group's numbers: every metric over the pooled documents
(lmms-eval's 9,000-question `pope` task) plus `f1_mean`/`accuracy_mean` over the splits (the LLaVA
paper's POPE number is the mean F1 of the three splits).
Options: max_new_tokens, temperature, until.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.run.records import Record
from evals.requests import TextRequest
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.scoring.accuracy import NUM_ERRORS, num_errors
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import check_text_fields
from tasks.data.generation_request import generation_request
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/POPE"
MIRRORS = ("lmms-lab-encoder/POPE",)
REVISION = "4db1276663dfa5eb8ad16a52d24c31a09e470896"  # main of lmms-lab/POPE and lmms-lab-encoder/POPE
CONFIG = "Full"
GROUP = "pope"
VERSION = "1"

POST_PROMPT = "\nAnswer the question using a single word or phrase."
METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")
NUM_UNPARSED = "num_unparsed"
REQUIRED_TEXT = ("question", "answer")  # a missing or empty one makes the document an error record

GENERATION_OPTIONS = {"max_new_tokens": 128, "temperature": 0.0, "until": "\n\n"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `pope_doc_to_text` with the default kwargs."""
    return f"{doc['question'].strip()}{POST_PROMPT}"


def gold_label(doc: dict) -> str:
    """The document's answer, lower-cased and stripped; it must be yes or no."""
    gold = str(doc["answer"]).lower().strip()
    if gold not in ("yes", "no"):
        raise ValueError(f"POPE document {doc.get('question_id')}: answer {doc['answer']!r} is not yes/no")
    return gold


def strict_prediction(output: str) -> str:
    """lmms-eval's POPE prediction: the whole output, lower-cased and stripped."""
    return clean_output(output).lower().strip()


def llava_prediction(output: str) -> str:
    """LLaVA's eval_pope.py parse: "no" if the first sentence has the word No/no/not, else "yes"."""
    text = clean_output(output)
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def yes_no_metrics(pairs: Sequence[tuple[str | None, str | None]]) -> dict[str, float]:
    """accuracy/precision/recall/f1/yes_ratio in percent from (prediction, gold) pairs.

    A pair (None, None) is an error record: wrong, and neither yes nor no.
    """
    tp = sum(1 for p, g in pairs if g == "yes" and p == "yes")
    fp = sum(1 for p, g in pairs if g == "no" and p == "yes")
    fn = sum(1 for p, g in pairs if g == "yes" and p == "no")
    correct = sum(1 for p, g in pairs if p is not None and p == g)
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    n = len(pairs)
    return {
        "accuracy": 100.0 * correct / n if n else float("nan"),
        "precision": 100.0 * precision,
        "recall": 100.0 * recall,
        "f1": 100.0 * f1,
        "yes_ratio": 100.0 * sum(1 for p, _ in pairs if p == "yes") / n if n else float("nan"),
    }


def _pairs(records: Sequence[Record], prediction_key: str) -> list[tuple[str | None, str | None]]:
    return [(r.scores[prediction_key], r.scores["answer"]) if r.error is None else (None, None) for r in records]


def pope_metrics(records: Sequence[Record]) -> dict[str, float]:
    """Every POPE metric of one set of records (strict lmms-eval parse and LLaVA's lenient parse)."""
    strict = yes_no_metrics(_pairs(records, "prediction"))
    lenient = yes_no_metrics(_pairs(records, "prediction_llava"))
    unparsed = sum(1 for r in records if r.error is None and r.scores["prediction"] not in ("yes", "no"))
    return {**strict, **{f"{k}_llava": v for k, v in lenient.items()}, NUM_UNPARSED: unparsed, NUM_ERRORS: num_errors(records)}


def pooled_metrics(records_by_task: Mapping[str, Sequence[Record]]) -> dict[str, float]:
    """Group `pope`: metrics over the pooled records of its tasks, and the per-split means of F1/accuracy."""
    pooled = [r for records in records_by_task.values() for r in records]
    metrics = pope_metrics(pooled)
    per_task = [pope_metrics(records) for _, records in sorted(records_by_task.items())]
    if per_task:
        for name in ("f1", "accuracy", "f1_llava", "accuracy_llava"):
            metrics[f"{name}_mean"] = sum(m[name] for m in per_task) / len(per_task)
    return metrics


@dataclass(frozen=True)
class POPETask(Task):
    """One POPE split."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        dataset = read_split(copy, self.dataset.config, self.dataset.split)
        if copy.kind == "saved" and "category" in dataset.column_names:
            # A saved copy of the pooled `default` config holds every split: keep this one's rows.
            categories = dataset.with_format("arrow")["category"].to_pylist()
            return DocRows(dataset, rows=[i for i, c in enumerate(categories) if c == self.dataset.split])
        return DocRows(dataset)

    def doc_id(self, doc: dict) -> str:
        return str(doc["question_id"])

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        doc_id = self.doc_id(doc)
        check_text_fields(doc, REQUIRED_TEXT, doc_id)
        gold_label(doc)  # a label other than yes/no is refused before the model is asked
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
        prediction = strict_prediction(output)
        lenient = llava_prediction(output)
        return {
            "accuracy": float(prediction == gold),
            "accuracy_llava": float(lenient == gold),
            "prediction": prediction,
            "prediction_llava": lenient,
            "answer": gold,
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return pope_metrics(records)

    def aggregate_group(self, records_by_task: Mapping[str, Sequence[Record]]) -> dict[str, float]:
        return pooled_metrics(records_by_task)


_HIGHER = {name: True for name in (*METRICS, *(f"{m}_llava" for m in METRICS))}
# A yes-ratio near 50% is the goal on balanced POPE, so neither direction is better.
_HIGHER.pop("yes_ratio")
_HIGHER.pop("yes_ratio_llava")

TASKS = [
    POPETask(
        name=f"pope_{split}",
        kind="text",
        dataset=DatasetSpec(HUB_ID, split, REVISION, CONFIG, MIRRORS),
        version=VERSION,
        group=GROUP,
        tags=("paper",),
        primary_metric="accuracy",
        higher_is_better=_HIGHER | {NUM_UNPARSED: False, NUM_ERRORS: False},
    )
    for split in ("random", "popular", "adversarial")
]
