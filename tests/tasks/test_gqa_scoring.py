"""GQA scoring (tasks/gqa.py): lmms-eval exact match and the LLaVA/official string match."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from tasks.gqa import TASKS, exact_match_lmms, exact_match_official

GQA = TASKS[0]


@pytest.mark.parametrize(
    "prediction, answer, lmms, official",
    [
        ("t-shirt", "t-shirt", 1.0, 1.0),
        ("tshirt", "t-shirt", 1.0, 0.0),  # lmms-eval deletes every punctuation mark, inside words too
        ("T-Shirt.", "t-shirt", 1.0, 1.0),  # official: rstrip('.') and lower -> "t-shirt"
        ("Yes!", "yes", 1.0, 0.0),  # '!' is deleted by lmms-eval, kept by the official match
        ("the dog", "dog", 0.0, 0.0),  # no article handling in either
        ("two", "2", 0.0, 0.0),  # no number words either
        ("left  side", "left side", 0.0, 0.0),  # no whitespace collapsing
        ("left\x00", "left", 1.0, 0.0),  # lmms-eval's numpy strings drop trailing NULs; the official match does not
        ("Left\x00.", "left", 1.0, 0.0),  # lower + delete "." -> "left\x00" -> trailing NUL dropped -> "left"
        ("left", "left\x00\x00", 1.0, 0.0),  # the gold answer loses its trailing NULs too
        ("le\x00ft", "left", 0.0, 0.0),  # an inner NUL is a character like any other
    ],
)
def test_exact_match_variants(prediction, answer, lmms, official):
    assert exact_match_lmms(prediction, answer) == lmms
    assert exact_match_official(prediction, answer) == official


def test_score_strips_the_output_first():
    doc = {"id": "1", "answer": "yes", "types": {"structural": "verify", "semantic": "attr"}}
    assert GQA.score(doc, "  Yes.\n") == {
        "accuracy": 1.0, "accuracy_official": 1.0, "structural": "verify", "semantic": "attr",
    }


def test_aggregate_breakdowns_and_errors():
    def rec(i, acc, structural, semantic):
        scores = {"accuracy": acc, "accuracy_official": acc, "structural": structural, "semantic": semantic}
        return Record("gqa", str(i), scores=scores)

    records = [rec(1, 1.0, "query", "attr"), rec(2, 0.0, "query", "rel"), rec(3, 1.0, "verify", "rel"),
               Record("gqa", "4", error="image")]
    metrics = GQA.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(50.0)  # 2 right of 4 (the error counts wrong)
    assert metrics["structural:query"] == pytest.approx(50.0)
    assert metrics["structural:verify"] == pytest.approx(100.0)
    assert metrics["semantic:rel"] == pytest.approx(50.0)
    assert metrics["num_errors"] == 1
