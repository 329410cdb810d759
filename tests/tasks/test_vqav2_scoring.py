"""VQAv2 task scoring and aggregation on hand-worked documents (tasks/vqav2.py)."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from tasks.vqav2 import TASKS

VAL = next(t for t in TASKS if t.name == "vqav2_val")


def vqa_doc(question_id: int, answers: list[str], answer_type: str = "other") -> dict:
    return {
        "question_id": question_id,
        "question": "What is it?",
        "answer_type": answer_type,
        "multiple_choice_answer": answers[0],
        "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)],
    }


def record(doc: dict, output: str) -> Record:
    return Record("vqav2_val", str(doc["question_id"]), output=output, scores=VAL.score(doc, output))


def test_score_uses_lmms_normalisation_of_both_sides():
    # Gold: 2x "two", 8x "cat". Prediction "2" -> "2"; gold "two" -> "2": 2 annotators match -> 0.6
    doc = vqa_doc(1, ["two", "two"] + ["cat"] * 8, "number")
    scores = VAL.score(doc, "2")
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["answer_type"] == "number"
    assert scores["prediction"] == "2"


def test_score_strips_output_and_reasoning_like_lmms_eval():
    doc = vqa_doc(1, ["yes"] * 10, "yes/no")
    assert VAL.score(doc, "<think>hmm</think>\n Yes.\n")["accuracy"] == 1.0


def test_score_is_deterministic_and_does_not_mutate_the_document():
    doc = vqa_doc(1, ["The Cat!"] * 4 + ["dog"] * 6)
    before = [dict(a) for a in doc["answers"]]
    assert VAL.score(doc, "cat") == VAL.score(doc, "cat")
    assert doc["answers"] == before  # lmms-eval rewrites the answers in place; we do not


def test_aggregate_percent_with_error_record_and_answer_types():
    yes_doc = vqa_doc(1, ["yes"] * 10, "yes/no")  # "yes" -> 1.0
    number_doc = vqa_doc(2, ["3", "3"] + ["4"] * 8, "number")  # "3": 2 match -> 0.6
    records = [record(yes_doc, "yes"), record(number_doc, "3"), Record("vqav2_val", "3", error="boom")]
    metrics = VAL.aggregate(records)
    # (1.0 + 0.6 + 0 for the error) / 3 = 0.5333... -> 53.33 %
    assert metrics["accuracy"] == pytest.approx(160 / 3)
    assert metrics["answer_type:yes/no"] == pytest.approx(100.0)
    assert metrics["answer_type:number"] == pytest.approx(60.0)
    assert metrics["num_errors"] == 1
