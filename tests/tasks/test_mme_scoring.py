"""MME scoring (tasks/mme.py): lmms-eval's yes/no parse, acc and acc+ over image pairs, the demo slice by hand."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from evals.task_api import DataSource
from tasks.mme import TASKS, official_label, yes_no_label

MME = TASKS[0]


@pytest.mark.parametrize(
    "output, lmms, official",
    [
        ("Yes", "yes", "yes"),
        ("No.", "no", "no"),  # periods deleted (lmms-eval); "no." starts with "no" (official)
        ("y", "yes", "other"),  # a lone y/n is read only by lmms-eval
        ("N", "no", "other"),
        ("x", "other", "other"),
        ("Yes, there is a dog.", "yes", "yes"),
        ("  yes", "yes", "other"),  # lmms-eval strips; the official prefix "  ye" holds no "yes"
        ("n.o", "no", "other"),  # dots deleted first: "no"
        ("I think yes", "other", "other"),  # only the first four characters count
        ("Nope", "no", "no"),
        ("Noyes", "no", "no"),  # "yes" is not in "noye"; "no" is
        ("", "other", "other"),
    ],
)
def test_yes_no_parse_as_lmms_eval_and_as_the_official_tool(output, lmms, official):
    assert yes_no_label(output) == lmms
    assert official_label(output) == official


def doc(question_id: str, row: int, answer: str, category: str | None = None) -> dict:
    return {"question_id": question_id, "row": row, "question": "Q? Please answer yes or no.", "answer": answer,
            "category": category or question_id.split("/")[0]}


def record(d: dict, output: str) -> Record:
    return Record("mme", MME.doc_id(d), scores=MME.score(d, output))


def test_acc_plus_needs_both_questions_of_an_image():
    # Subtask "count", 2 images: image a both right, image b one of two right.
    # acc = 3/4 questions = 75; acc+ = 1/2 images = 50; score = 125. Subtask "code_reasoning": both wrong: 0.
    records = [
        record(doc("count/a.png", 0, "Yes"), "yes"), record(doc("count/a.png", 1, "No"), "no"),
        record(doc("count/b.png", 2, "Yes"), "yes"), record(doc("count/b.png", 3, "No"), "yes"),
        record(doc("code_reasoning/c.png", 4, "Yes"), "no"), record(doc("code_reasoning/c.png", 5, "No"), "yes"),
    ]
    metrics = MME.aggregate(records)
    assert (metrics["acc:count"], metrics["acc_plus:count"], metrics["score:count"]) == (75.0, 50.0, 125.0)
    assert metrics["perception_score"] == 125.0  # count is the only perception subtask present
    assert metrics["cognition_score"] == 0.0
    assert metrics["num_unpaired_images"] == 0


def test_an_error_record_is_a_wrong_answer_in_its_image_pair():
    # Image a: one right answer, its partner failed -> acc 50, acc+ 0, score 50. The failed document's subtask
    # comes from its partner; image b failed twice and is placed by its question_id prefix (color): 0 + 0.
    records = [
        record(doc("existence/a.png", 0, "Yes"), "Yes"),
        Record("mme", MME.doc_id(doc("existence/a.png", 1, "No")), error="unreadable image"),
        Record("mme", MME.doc_id(doc("color/b.png", 2, "No")), error="unreadable image"),
        Record("mme", MME.doc_id(doc("color/b.png", 3, "Yes")), error="unreadable image"),
    ]
    metrics = MME.aggregate(records)
    assert metrics["score:existence"] == 50.0
    assert metrics["score:color"] == 0.0
    assert metrics["perception_score"] == 50.0
    assert metrics["num_errors"] == 3


def test_an_image_without_two_questions_is_counted():
    records = [record(doc("OCR/a.png", 0, "Yes"), "yes")]
    metrics = MME.aggregate(records)
    assert metrics["score:OCR"] == 200.0 and metrics["num_unpaired_images"] == 1


def test_an_unknown_category_counts_as_cognition_as_in_lmms_eval():
    records = [record(doc("new/a.png", 0, "Yes", "new_subtask"), "yes"),
               record(doc("new/a.png", 1, "No", "new_subtask"), "no")]
    metrics = MME.aggregate(records)
    assert metrics["cognition_score"] == 200.0
    assert metrics["perception_score"] != metrics["perception_score"]  # NaN: no perception subtask ran


def test_an_answer_other_than_yes_or_no_refuses_the_document():
    with pytest.raises(ValueError, match="not yes/no"):
        MME.build_request(dict(doc("count/a.png", 0, "Maybe"), image={"bytes": b"", "path": None}), seed=0)


@pytest.fixture(scope="module")
def demo_docs():
    return list(MME.load_docs(DataSource(kind="demo")))


def scored(docs, output):
    return MME.aggregate([record(d, output) for d in docs])


def test_demo_slice_is_one_yes_and_one_no_question_per_image(demo_docs):
    # What the hand-computed values below rely on: 7 subtasks (existence, count, position, color, OCR;
    # commonsense_reasoning, code_reasoning) x 2 images x one "Yes" and one "No" question.
    pairs = {}
    for d in demo_docs:
        pairs.setdefault(d["question_id"], []).append(d["answer"])
    assert len(pairs) == 14 and all(sorted(a) == ["No", "Yes"] for a in pairs.values())


def test_constant_yes_on_the_demo_slice(demo_docs):
    # Every image: its "Yes" question right, its "No" question wrong -> acc 50, acc+ 0, subtask score 50.
    # Perception: 5 subtasks x 50 = 250; cognition: 2 x 50 = 100. The official parse reads "Yes" the same way.
    metrics = scored(demo_docs, "Yes")
    assert (metrics["perception_score"], metrics["cognition_score"]) == (250.0, 100.0)
    assert (metrics["perception_score_official"], metrics["cognition_score_official"]) == (250.0, 100.0)
    assert metrics["acc:color"] == 50.0 and metrics["acc_plus:color"] == 0.0


def test_constant_y_on_the_demo_slice_differs_between_the_two_parses(demo_docs):
    # lmms-eval reads "y" as yes: 250 and 100 as above; the official tool reads nothing: 0 and 0.
    metrics = scored(demo_docs, "y")
    assert (metrics["perception_score"], metrics["cognition_score"]) == (250.0, 100.0)
    assert (metrics["perception_score_official"], metrics["cognition_score_official"]) == (0.0, 0.0)
