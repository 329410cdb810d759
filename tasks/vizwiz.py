"""VizWiz-VQA (Gurari et al., 2018, https://arxiv.org/abs/1802.08218): questions blind people asked about their photos.

- `vizwiz_vqa_val` (alias `vizwiz`) scores the `val` split (4,319 questions, ten answers each) as lmms-eval
  0.7.3's `vizwiz_vqa_val`: prompt `question.capitalize() + "\\nWhen the provided information is insufficient,
  respond with 'Unanswerable'.\\nAnswer the question using a single word or phrase."` (`str.capitalize` also
  lower-cases the rest of the question), stop at "ASSISTANT:"; the YAML sets no max_new_tokens or
  temperature, so the model defaults apply (LLaVA's wrapper: 1024 tokens, greedy), used here as defaults.
  `accuracy` (primary, percent) is lmms-eval's `exact_match`: VQA accuracy with MMF's full EvalAI answer
  processor on the prediction and on every gold answer, averaged over the ten leave-one-out subsets
  (`vqa_accuracy_evalai` in tasks/scoring/vqa_normalize.py); lmms-eval reports a fraction. "Unanswerable" gets
  no special rule there or here: it is one more answer string ("Unanswerable." and "unanswerable" match).
  Also `answerability:unanswerable` / `answerability:answerable`: accuracy on the questions whose most common
  gold answer (after the processor; the first written on a tie) is / is not "unanswerable"; `category:<c>`:
  accuracy per value of the copy's `category` column; `unanswerable_rate`: percent of documents whose
  prediction is "unanswerable".
- `vizwiz_vqa_test` runs the `test` split (8,000 questions, no answers) and writes the EvalAI submission
  `submissions/vizwiz_vqa_test_submission.json` as lmms-eval's `vizwiz_vqa_test` does: a JSON list of
  `{"image": question_id + ".jpg", "answer": normalised prediction}`, here sorted by question id and with
  `""` for a document that failed (lmms-eval keeps rank order and has no failed documents).
Where the official scorer differs: the VizWiz challenge scores test answers on its EvalAI server. The copy of
the VizWiz API's `vqaEval.py` read for this module normalises only the prediction (no `word_tokenize`) and
compares it with the raw gold answers, and reports answerability average precision from a separate
"answerable" score that a generated answer does not give; neither is reproduced here (the server's own code
was not available to check against).
Deviation: a validation document without gold answers is an error record (lmms-eval scores it 0, which is
also what an error record counts in `accuracy`).
Options: max_new_tokens, temperature, until.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.run.records import Record
from evals.task_api import DatasetSpec
from tasks.data.answer_list import AnswerListTask
from tasks.scoring.accuracy import (
    NUM_ERRORS,
    breakdown,
    num_errors,
    overall_accuracy,
    percent,
    scored,
    sort_by_doc_id,
)
from tasks.scoring.output_cleaning import clean_output
from tasks.scoring.vqa_normalize import (
    consensus_answer,
    normalize_evalai_answer,
    vqa_accuracy_evalai,
)

HUB_ID = "lmms-lab/VizWiz-VQA"
MIRRORS = ("lmms-lab-encoder/VizWiz-VQA",)
REVISION = "d428a2dae984f79cf1b9d99467dfa883e0c30686"  # main ("Update README.md", 2024-03-08)
VERSION = "1"

POST_PROMPT = (
    "\nWhen the provided information is insufficient, respond with 'Unanswerable'."
    "\nAnswer the question using a single word or phrase."
)
UNANSWERABLE = "unanswerable"
ACCURACY = "accuracy"
UNANSWERABLE_RATE = "unanswerable_rate"
NUM_ANSWERED = "num_answered"
CATEGORIES = ("other", "yes/no", "number", "unanswerable")
SUBMISSION_FILE = "vizwiz_vqa_test_submission.json"

GENERATION_OPTIONS = {"max_new_tokens": 1024, "temperature": 0.0, "until": "ASSISTANT:"}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `vizwiz_vqa_doc_to_text` with the default kwargs (pre_prompt "")."""
    return f"{doc['question'].capitalize()}{POST_PROMPT}"


def answerability(answers: Sequence[str]) -> str | None:
    """The question's answerability: "unanswerable" when its most common gold answer (processed) says so."""
    consensus = consensus_answer(answers)
    if consensus is None:
        return None
    return UNANSWERABLE if normalize_evalai_answer(consensus) == UNANSWERABLE else "answerable"


def evalai_submission(records: Sequence[Record]) -> list[dict[str, str]]:
    """lmms-eval's `vizwiz_vqa_test` submission entries, sorted by question id; "" for a failed document."""
    return [{"image": f"{r.doc_id}.jpg", "answer": r.scores.get("prediction", "") if r.error is None else ""}
            for r in sort_by_doc_id(records)]


@dataclass(frozen=True)
class VizWizTask(AnswerListTask):
    """VizWiz-VQA validation (scored) or test (submission only)."""

    default_options: dict[str, Any] = field(default_factory=lambda: dict(GENERATION_OPTIONS))

    def prompt(self, doc: dict) -> str:
        return build_prompt(doc)

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        answer = clean_output(output)
        prediction = normalize_evalai_answer(answer)
        if self.submission_only:
            return {"prediction": prediction}
        answers = doc.get("answers") or []
        return {
            ACCURACY: vqa_accuracy_evalai(answer, answers),
            "answerability": answerability(answers),
            "category": doc.get("category"),
            "prediction": prediction,
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        if self.submission_only:
            return {NUM_ANSWERED: len(scored(records)), NUM_ERRORS: num_errors(records)}
        said_unanswerable = [float(r.error is None and r.scores["prediction"] == UNANSWERABLE) for r in records]
        return {
            ACCURACY: overall_accuracy(records, ACCURACY),
            **breakdown(records, "answerability", ACCURACY, "answerability"),
            **breakdown(records, "category", ACCURACY, "category"),
            UNANSWERABLE_RATE: percent(said_unanswerable),
            NUM_ERRORS: num_errors(records),
        }

    def write_artifacts(self, records: Sequence[Record], out_dir: Path) -> list[Path]:
        if not self.submission_only:
            return []
        path = Path(out_dir) / "submissions" / SUBMISSION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(evalai_submission(records)))
        return [path]


_METRICS = (ACCURACY, "answerability:answerable", "answerability:unanswerable", *(f"category:{c}" for c in CATEGORIES))

TASKS = [
    VizWizTask(
        name="vizwiz_vqa_val",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "val", REVISION, None, MIRRORS),
        version=VERSION,
        aliases=("vizwiz",),
        primary_metric=ACCURACY,
        # unanswerable_rate has no better direction: "unanswerable" is right only on unanswerable questions.
        higher_is_better={name: True for name in _METRICS} | {NUM_ERRORS: False},
        tags=("paper",),
    ),
    VizWizTask(
        name="vizwiz_vqa_test",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "test", REVISION, None, MIRRORS),
        version=VERSION,
        primary_metric=None,
        higher_is_better={NUM_ANSWERED: True, NUM_ERRORS: False},
        submission_only=True,
    ),
]
