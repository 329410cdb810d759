"""SEED-Bench image scoring (tasks/seed.py): lmms-eval's first-character rule."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from tasks.seed import TASKS

SEED = TASKS[0]


def seed_doc(answer: str = "B", type_id: int = 1) -> dict:
    return {"question_id": "1", "question": "Q?", "answer": answer, "question_type_id": type_id,
            "choice_a": "red", "choice_b": "blue", "choice_c": "green", "choice_d": "white"}


@pytest.mark.parametrize(
    "output, correct",
    [
        ("B", 1.0),
        ("B.", 1.0),  # first character "B"
        (" b", 1.0),  # compared case-insensitively
        ("B) blue", 1.0),
        ("(B)", 0.0),  # first character "("
        ("The answer is B", 0.0),  # first character "T"
        ("blue", 1.0),  # the first character happens to be "b"
        ("", 0.0),
    ],
)
def test_first_letter_rule(output, correct):
    assert SEED.score(seed_doc("B"), output)["accuracy"] == correct


def test_likelihood_mode_takes_the_first_maximum():
    task = SEED.with_options({"mode": "likelihood"})
    assert task.kind == "choice"
    assert task.score(seed_doc("C"), [-3.0, -1.0, -1.0, -2.0])["accuracy"] == 0.0  # tie: B wins
    assert task.score(seed_doc("C"), [-3.0, -2.0, -0.5, -2.0])["accuracy"] == 1.0


def test_aggregate_by_question_type():
    records = [
        Record("seed_image", "1", scores=SEED.score(seed_doc("A", 1), "A")),
        Record("seed_image", "2", scores=SEED.score(seed_doc("A", 1), "C")),
        Record("seed_image", "3", scores=SEED.score(seed_doc("D", 5), "D.")),
        Record("seed_image", "4", error="unreadable image"),
    ]
    metrics = SEED.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(50.0)  # 2 of 4
    assert metrics["question_type:Scene Understanding"] == pytest.approx(50.0)
    assert metrics["question_type:Instances Counting"] == pytest.approx(100.0)
    assert metrics["num_errors"] == 1
