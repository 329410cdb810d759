"""ScienceQA-IMG scoring (tasks/scienceqa.py): lmms-eval's letter rule, grade bands, likelihood mode, the demo slice."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from evals.task_api import DataSource
from tasks.data.doc_fields import DocumentFieldError
from tasks.scienceqa import TASKS, grade_band, letter_is_correct

SQA = TASKS[0]


@pytest.mark.parametrize(
    "output, correct",
    [
        ("B", 1.0),
        ("b", 1.0),  # the exact-letter test ignores case
        ("B.", 1.0),  # capital letter + period
        ("B. red", 1.0),
        ("b. red", 0.0),  # lower case before the period: not read
        ("(B)", 0.0),
        ("B)", 0.0),
        ("The answer is B.", 0.0),
        ("A.", 0.0),
        ("", 0.0),
    ],
)
def test_letter_rule_follows_lmms_eval(output, correct):
    assert letter_is_correct(output, "B") == correct


@pytest.mark.parametrize("grade, band", [("grade1", "1-6"), ("grade6", "1-6"), ("grade7", "7-12"),
                                         ("grade12", "7-12"), ("grade13", None), ("kindergarten", None), (None, None)])
def test_grade_bands(grade, band):
    assert grade_band(grade) == band


def doc(**fields) -> dict:
    return {"row": 0, "question": "Q?", "choices": ["red", "blue", "green"], "answer": 1, "hint": "",
            "image": {"bytes": b"x", "path": None}, "subject": "natural science", "grade": "grade3"} | fields


@pytest.mark.parametrize("fields, message", [
    ({"answer": 3}, "answer 3 is not the number of one of its 3 choices"),
    ({"answer": -1}, "answer -1"),
    ({"answer": None}, "required field 'answer' is missing"),
    ({"choices": []}, "'choices' is an empty list"),
    ({"choices": "red, blue"}, "expected a list"),
    ({"choices": ["red", None]}, "non-text choice"),
])
def test_a_malformed_document_is_refused(fields, message):
    with pytest.raises(DocumentFieldError, match=message):
        SQA.build_request(doc(**fields), seed=0)


def test_likelihood_mode_ranks_the_letters_after_the_same_prompt():
    task = SQA.with_options({"mode": "likelihood"})
    request = task.build_request(doc(), seed=0)
    assert task.kind == "choice" and request.choices == (" A", " B", " C") and request.target == 1
    assert request.text == SQA.build_request(doc(), seed=0).text
    assert task.score(doc(), [-2.0, -1.0, -1.0])["accuracy"] == 1.0  # tie: the first maximum (B)
    assert task.score(doc(), [-1.0, -2.0, -3.0])["accuracy"] == 0.0


@pytest.fixture(scope="module")
def demo_docs():
    return list(SQA.load_docs(DataSource(kind="demo")))


def aggregate_constant(docs, output):
    return SQA.aggregate([Record("scienceqa_img", SQA.doc_id(d), scores=SQA.score(d, output)) for d in docs])


def test_constant_answers_on_the_demo_slice(demo_docs):
    # The slice: 30 questions k = 0..29, answer A when k % 3 == 0 (10 of them) else B (20), subject
    # ("natural", "social", "language")[k % 3] science, grade 1 + k % 12 (grades 1-6: k % 12 < 6, 18 questions,
    # 6 of them with k % 3 == 0: k = 0, 3, 12, 15, 24, 27; grades 7-12: 12 questions, 4 with answer A: 6, 9, 18, 21).
    a = aggregate_constant(demo_docs, "A")
    assert a["accuracy"] == pytest.approx(100 / 3)
    by_subject = [a[f"subject:{s} science"] for s in ("natural", "social", "language")]
    assert by_subject == [100.0, 0.0, 0.0]
    assert a["grade:1-6"] == pytest.approx(100 * 6 / 18) and a["grade:7-12"] == pytest.approx(100 * 4 / 12)
    assert aggregate_constant(demo_docs, "b")["accuracy"] == pytest.approx(200 / 3)  # 20 of 30, any case
    assert aggregate_constant(demo_docs, "B. blue")["accuracy"] == pytest.approx(200 / 3)
    assert aggregate_constant(demo_docs, "(B)")["accuracy"] == 0.0


def test_an_error_record_counts_as_wrong(demo_docs):
    records = [Record("scienceqa_img", SQA.doc_id(d), scores=SQA.score(d, "A")) for d in demo_docs]
    records[0] = Record("scienceqa_img", records[0].doc_id, error="unreadable image")  # k = 0, answer A
    metrics = SQA.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(100 * 9 / 30) and metrics["num_errors"] == 1
