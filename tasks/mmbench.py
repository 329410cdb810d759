"""MMBench-EN (Liu et al., 2023, https://arxiv.org/abs/2307.06281): single-choice questions, CircularEval.

- `mmbench_en_dev` (alias `mmbench`) scores split `dev` of config `en` (4,329 rows including the circular
  copies: a question with n options appears n times with its options rotated, index = k x 1e6 + original)
  as lmms-eval 0.7.3's `mmbench_en_dev`. Prompt (`mmbench_doc_to_text`): `"{hint} {question} {options}"`
  (or `"{question} {options}"` without hint) where options = "There are several options:" + "\\nL. text" per
  present option, then "\\n" + "\\nAnswer with the option's letter from the given choices directly."
  Generation: up to 1024 tokens, greedy, stop at "ASSISTANT:".
  `accuracy` = CircularEval: a question counts only if every rotated copy resolves to its own answer.
  By default (no judge) `accuracy` and its breakdowns equal lmms-eval's deterministic, API-free
  `mmbench_en_dev_static` on every document: an answer is resolved by the `can_infer` heuristics, else by
  `extract_mcq_answer`'s ranked letter formats over the question's option letters (both in
  `tasks/scoring/choice_extract.py`); one still unresolved counts as wrong (as there) and is counted in
  `num_unresolved`.
  lmms-eval's default task `mmbench_en_dev` (the judge path) differs after `can_infer`: it asks a GPT judge
  and, when that fails, draws a random letter from A-E (seeded 2680), so its score depends on the judge
  and on document order. With option `judge_url` set, this task follows that path (`tasks/scoring/mmbench_judge.py`:
  `can_infer`, then the judge; no `extract_mcq_answer`) except that an answer the judge cannot place stays
  unresolved and counts as wrong, never a random letter.
  Also: `accuracy_single` (original questions only, no circular copies), `category:<c>`,
  `l2_category:<c>` (CircularEval accuracy per category, as lmms-eval's category_acc).
- `mmbench_en_test` (split `test`, answers hidden) writes `submissions/mmbench_en_test_results.xlsx`, the
  sheet lmms-eval writes for the official server: columns index, question, answer, prediction (the raw
  stripped output), hint, source, split, category, L2-category, A-E; one row per document, by index.
  `mmbench_en_dev` writes the same sheet for dev (`mmbench_en_dev_results.xlsx`).
  Deviation: every text cell goes through `sheet_cell`: the control characters an xlsx file cannot hold
  (openpyxl's ILLEGAL_CHARACTERS_RE: U+0000-U+0008, U+000B, U+000C, U+000E-U+001F) are deleted, and a text
  longer than Excel's cell limit of 32,767 characters is cut to its first 32,767 (Excel would refuse or
  truncate the file otherwise). lmms-eval writes the cells as they are, so a model answer holding such a
  character fails its whole sheet there; the scores are unaffected (they come from the records).
Options: max_new_tokens, temperature, until, mode ("generate", or "likelihood": the same prompt, the
log-likelihood of " A", " B", ... through score_choices), judge_url, judge_model, judge_api_key_env.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from evals.run.records import Record
from evals.requests import ChoiceRequest, TextRequest
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.scoring.accuracy import NUM_ERRORS, num_errors, percent, scored, sort_by_doc_id
from tasks.scoring.choice_extract import (
    extract_choice_letter,
    is_missing_option,
    mmbench_choices,
    mmbench_static_letter,
)
from tasks.scoring.choice_mode import LIKELIHOOD, apply_mode, argmax_first
from tasks.data.datasets_io import DocRows, find_copy, image_loader, read_split
from tasks.data.doc_fields import check_text_fields
from tasks.data.generation_request import generation_request
from tasks.scoring.mmbench_judge import DEFAULT_JUDGE_MODEL, JudgeConfig, judge_letter
from tasks.scoring.output_cleaning import clean_output

HUB_ID = "lmms-lab/MMBench"
MIRRORS = ("lmms-lab-encoder/MMBench",)
REVISION = "56ba1af8954932c4804bd3f522e05ed96e63b654"  # main ("Upload dataset", configs en/cn/cc)
CONFIG = "en"
VERSION = "2"  # 2: answers can_infer leaves unresolved go through extract_mcq_answer (static path)

OPTIONS_HEADER = "There are several options:"  # mmbench.yaml metadata.sys_prompt
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
PROMPT_LETTERS = "ABCDE"
CIRCULAR_STRIDE = 1_000_000
SUBMISSION_COLUMNS = ("index", "question", "answer", "prediction", "hint", "source", "split", "category",
                      "L2-category", "A", "B", "C", "D", "E")

# A missing or empty one makes the document an error record. C-E may be missing (NaN: two- or three-option
# questions) and so may the hint; the answer is required where it is scored (dev), hidden on test.
REQUIRED_TEXT = ("question", "A", "B")
EXCEL_CELL_LIMIT = 32_767  # characters in one cell (Excel specifications and limits)
ACCURACY = "accuracy"
ACCURACY_SINGLE = "accuracy_single"
NUM_UNRESOLVED = "num_unresolved"

DEFAULT_OPTIONS = {
    "max_new_tokens": 1024, "temperature": 0.0, "until": "ASSISTANT:", "mode": "generate",
    "judge_url": "", "judge_model": DEFAULT_JUDGE_MODEL, "judge_api_key_env": "OPENAI_API_KEY",
}


def _is_blank(value: Any) -> bool:
    return is_missing_option(value) or value == "nan"


def prompt_options(doc: dict) -> dict[str, Any]:
    """The options the prompt shows: A-E cells that are non-empty, not NaN and not the text "nan"."""
    return {letter: doc[letter] for letter in PROMPT_LETTERS if letter in doc and doc[letter] and not _is_blank(doc[letter])}


def build_prompt(doc: dict) -> str:
    """lmms-eval's `mmbench_doc_to_text` for config en with the default post_prompt."""
    options = OPTIONS_HEADER + "".join(f"\n{letter}. {text}" for letter, text in prompt_options(doc).items())
    hint = doc.get("hint")
    query = f"{doc['question']} {options}" if _is_blank(hint) else f"{hint} {doc['question']} {options}"
    return f"{query}\n{POST_PROMPT}"


def submission_row(doc: dict, prediction: str) -> dict[str, Any]:
    """One row of lmms-eval's MMBench submission sheet."""
    row = {name: doc.get(name) for name in SUBMISSION_COLUMNS if name not in ("prediction", "E")}
    row["prediction"] = prediction
    row["E"] = doc.get("E", "nan")
    return {name: row[name] for name in SUBMISSION_COLUMNS}


def sheet_cell(value: Any) -> Any:
    """A value an xlsx cell can hold: text without control characters, cut to 32,767 characters."""
    if not isinstance(value, str):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:EXCEL_CELL_LIMIT]


def circular_hits(records: Sequence[Record]) -> dict[int, int]:
    """CircularEval per original question: 1 when every copy present resolved to its own answer.

    An error record or an unresolved answer makes its question's group score 0. Groups whose original
    question (index < 1e6) has no record are ignored, as in lmms-eval.
    """
    groups: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        groups[int(record.doc_id) % CIRCULAR_STRIDE].append(record)
    originals = {int(r.doc_id) for r in records if int(r.doc_id) < CIRCULAR_STRIDE}
    return {q: int(all(r.error is None and r.scores["correct"] for r in groups[q])) for q in sorted(originals)}


def group_labels(records: Sequence[Record], key: str) -> dict[int, str]:
    """Each original question's `key` (category) taken from any scored copy of it."""
    labels: dict[int, str] = {}
    for record in scored(records):
        value = record.scores.get(key)
        if value is not None:
            labels.setdefault(int(record.doc_id) % CIRCULAR_STRIDE, str(value))
    return labels


@dataclass(frozen=True)
class MMBenchTask(Task):
    """MMBench-EN dev (CircularEval) or test (submission sheet only)."""

    submission_file: str = ""
    default_options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        copy = find_copy(self.dataset, source)
        return DocRows(read_split(copy, self.dataset.config, self.dataset.split))

    def doc_id(self, doc: dict) -> str:
        return str(int(doc["index"]))

    def with_options(self, overrides: dict[str, str]) -> MMBenchTask:
        return apply_mode(super().with_options(overrides))

    def build_request(self, doc: dict, seed: int) -> TextRequest | ChoiceRequest:
        doc_id = self.doc_id(doc)
        check_text_fields(doc, REQUIRED_TEXT if self.primary_metric is None else (*REQUIRED_TEXT, "answer"), doc_id)
        loader = image_loader([doc["image"]], doc_id)
        answer = doc.get("answer")
        if self.option("mode") == LIKELIHOOD:
            letters = list(prompt_options(doc))
            return ChoiceRequest(
                doc_id=doc_id,
                text=build_prompt(doc),
                choices=tuple(f" {letter}" for letter in letters),  # lmms-eval's target_delimiter " "
                load_images=loader,
                target=letters.index(answer) if answer in letters else None,
            )
        return generation_request(
            self,
            doc_id=doc_id,
            text=build_prompt(doc),
            load_images=loader,
            seed=seed,
            target=answer,
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        if self.option("mode") == LIKELIHOOD:
            letters = list(prompt_options(doc))
            if len(output) != len(letters):
                raise ValueError(f"document {self.doc_id(doc)}: {len(output)} log-likelihoods for {len(letters)} options")
            letter = letters[argmax_first(output)]
            prediction = letter  # what the submission sheet shows for a likelihood run
        else:
            prediction = clean_output(output)
            choices = mmbench_choices(doc)
            if self.option("judge_url"):  # lmms-eval's judge path, without its random-letter fallback
                letter = extract_choice_letter(prediction, choices)
                if letter is None:
                    config = JudgeConfig(
                        self.option("judge_url"), self.option("judge_model"), self.option("judge_api_key_env"))
                    letter = judge_letter(doc, prediction, choices, config)
            else:  # lmms-eval's mmbench_en_dev_static path
                letter = mmbench_static_letter(prediction, choices)
        answer = doc.get("answer")
        return {
            "correct": float(letter is not None and letter == answer),
            "resolved": float(letter is not None),
            "letter": letter or "",
            "category": doc.get("category"),
            "l2_category": doc.get("L2-category"),
            "submission": submission_row(doc, prediction),
        }

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        if self.primary_metric is None:
            return {NUM_UNRESOLVED: self._unresolved(records), NUM_ERRORS: num_errors(records)}
        hits = circular_hits(records)
        originals = [r for r in records if int(r.doc_id) < CIRCULAR_STRIDE]
        metrics = {
            ACCURACY: percent(list(hits.values())),
            ACCURACY_SINGLE: percent([r.scores["correct"] if r.error is None else 0.0 for r in originals]),
        }
        for key, prefix in (("category", "category"), ("l2_category", "l2_category")):
            labels = group_labels(records, key)
            by_label: dict[str, list[int]] = defaultdict(list)
            for question, hit in hits.items():
                if question in labels:
                    by_label[labels[question]].append(hit)
            metrics.update({f"{prefix}:{label}": percent(values) for label, values in sorted(by_label.items())})
        metrics[NUM_UNRESOLVED] = self._unresolved(records)
        metrics[NUM_ERRORS] = num_errors(records)
        return metrics

    @staticmethod
    def _unresolved(records: Sequence[Record]) -> int:
        return sum(1 for r in scored(records) if not r.scores["resolved"])

    def write_artifacts(self, records: Sequence[Record], out_dir: Path) -> list[Path]:
        rows = []
        for record in sort_by_doc_id(records):
            if record.error is None:
                rows.append(record.scores["submission"])
            else:  # the document failed: keep its row so the sheet lists every index
                rows.append({name: None for name in SUBMISSION_COLUMNS} | {"index": int(record.doc_id), "prediction": ""})
        rows = [{name: sheet_cell(value) for name, value in row.items()} for row in rows]
        path = Path(out_dir) / "submissions" / self.submission_file
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(rows, columns=list(SUBMISSION_COLUMNS))
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False)
        return [path]


TASKS = [
    MMBenchTask(
        name="mmbench_en_dev",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "dev", REVISION, CONFIG, MIRRORS),
        version=VERSION,
        aliases=("mmbench",),
        tags=("paper",),
        primary_metric=ACCURACY,
        higher_is_better={ACCURACY: True, ACCURACY_SINGLE: True, NUM_UNRESOLVED: False, NUM_ERRORS: False},
        submission_file="mmbench_en_dev_results.xlsx",
    ),
    MMBenchTask(
        name="mmbench_en_test",
        kind="text",
        dataset=DatasetSpec(HUB_ID, "test", REVISION, CONFIG, MIRRORS),
        version=VERSION,
        primary_metric=None,
        higher_is_better={NUM_UNRESOLVED: False, NUM_ERRORS: False},
        submission_file="mmbench_en_test_results.xlsx",
    ),
]
