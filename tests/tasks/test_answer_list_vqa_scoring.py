"""TextVQA, OK-VQA and VizWiz-VQA scoring (tasks/textvqa.py, tasks/okvqa.py, tasks/vizwiz.py) on hand-worked
documents and on their demo slices.

Demo values are worked out from the slices' construction (tasks/demo/make_demo.py): an answer that k of the ten
annotators gave scores acc(k) = 0, 0.3, 0.6, 0.9 for k = 0..3 and 1 from k = 4 on (10-choose-9 averaging, see
tests/tasks/scoring/test_vqa_normalize.py).
"""

from __future__ import annotations

import pytest

from evals.run.records import Record
from evals.task_api import DataSource
from tasks import okvqa, textvqa, vizwiz

TEXTVQA = textvqa.TASKS[0]
OKVQA = okvqa.TASKS[0]
VIZWIZ = vizwiz.TASKS[0]
VIZWIZ_TEST = vizwiz.TASKS[1]
DEMO = DataSource(kind="demo")


def demo_metrics(task, answer_of) -> dict[str, float]:
    """The task's metrics on its demo slice when every document is answered `answer_of(request)`."""
    records = []
    for doc in task.load_docs(DEMO):
        output = answer_of(task.build_request(doc, seed=0))
        records.append(Record(task.name, task.doc_id(doc), output=output, scores=task.score(doc, output)))
    return task.aggregate(records)


def oracle(request) -> str:
    """What `--model oracle` answers: the request's target (the consensus gold answer)."""
    return request.target


# -- hand-worked documents -----------------------------------------------------------------------------------
def test_textvqa_scores_with_the_full_processor_on_both_sides():
    # Gold: 3x "Coca-Cola," 7x "pepsi". Prediction "coca-cola": word_tokenize drops the comma, "-" (no space
    # beside it) becomes a space on both sides -> "coca cola"; 3 annotators match -> acc(3) = 0.9.
    doc = {"question_id": 1, "question": "what brand?", "answers": ["Coca-Cola,"] * 3 + ["pepsi"] * 7}
    scores = TEXTVQA.score(doc, " coca-cola\n")
    assert scores["accuracy"] == pytest.approx(0.9)
    assert scores["prediction"] == "coca cola"


def test_textvqa_ocr_option_adds_the_tokens_to_the_prompt():
    doc = {"question_id": 1, "question": "what does it SAY?", "ocr_tokens": ["STOP", "2"], "answers": ["stop"] * 10}
    assert textvqa.build_prompt(doc) == "What does it say?\nAnswer the question using a single word or phrase."
    with_ocr = TEXTVQA.with_options({"ocr": "true"})
    assert with_ocr.protocol()["options"]["ocr"] is True  # part of the run fingerprint
    assert with_ocr.build_request({**doc, "image": None}, seed=0).text == (
        "What does it say?\nReference OCR token: STOP, 2\nAnswer the question using a single word or phrase."
    )


def test_okvqa_official_number_leaves_gold_number_words_and_articles():
    # lmms-eval: gold "two" -> "2" and "a dog" -> "dog". vqaEval.py: gold not unanimous -> punctuation only.
    doc = {"question_id": "5", "question": "How many?", "answers": ["two"] * 4 + ["2"] * 2 + ["a dog"] * 4,
           "question_type": "one"}
    scores = OKVQA.score(doc, "2")
    assert scores["accuracy"] == 1.0  # 6 annotators match "2"
    assert scores["accuracy_official"] == pytest.approx(0.6)  # only the two "2": acc(2)
    assert scores["question_type"] == "one"


def test_vizwiz_unanswerable_is_an_ordinary_answer_string():
    # "Unanswerable." -> "unanswerable"; 4 of 10 say so -> 1.0; the consensus ("unanswerable", 4 votes vs
    # 3 "red" and 3 "blue") makes the question unanswerable.
    doc = {"question_id": "VizWiz_val_00000001", "question": "what is it?", "category": "unanswerable",
           "answers": ["unanswerable"] * 4 + ["red"] * 3 + ["blue"] * 3}
    scores = VIZWIZ.score(doc, "Unanswerable.")
    assert scores["accuracy"] == 1.0
    assert scores["answerability"] == "unanswerable"
    assert scores["prediction"] == "unanswerable"


def test_vizwiz_aggregate_splits_answerable_and_unanswerable_and_counts_errors():
    unanswerable = {"question_id": "a", "answers": ["unanswerable"] * 10, "category": "unanswerable"}
    answerable = {"question_id": "b", "answers": ["red"] * 2 + ["blue"] * 8, "category": "other"}
    records = [
        Record("vizwiz_vqa_val", "a", scores=VIZWIZ.score(unanswerable, "unanswerable")),  # 1.0
        Record("vizwiz_vqa_val", "b", scores=VIZWIZ.score(answerable, "red")),  # acc(2) = 0.6
        Record("vizwiz_vqa_val", "c", error="unreadable image"),  # 0, in no split
    ]
    metrics = VIZWIZ.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(160 / 3)  # (1.0 + 0.6 + 0) / 3
    assert metrics["answerability:unanswerable"] == pytest.approx(100.0)
    assert metrics["answerability:answerable"] == pytest.approx(60.0)
    assert metrics["category:other"] == pytest.approx(60.0)
    assert metrics["unanswerable_rate"] == pytest.approx(100 / 3)  # 1 of 3 documents said "unanswerable"
    assert metrics["num_errors"] == 1


# -- demo slices: oracle and constant answers ----------------------------------------------------------------
def test_textvqa_demo_values():
    assert demo_metrics(TEXTVQA, oracle) == {"accuracy": 100.0, "num_errors": 0}
    # Document k has "yes" (in some spelling) (k % 5) times: acc 0, 0.3, 0.6, 0.9, 1.0, sum 2.8 per five
    # documents; 30 documents -> 6 * 2.8 / 30 = 0.56.
    assert demo_metrics(TEXTVQA, lambda request: "Yes") == pytest.approx({"accuracy": 56.0, "num_errors": 0})


def test_okvqa_demo_values():
    # Oracle: the gold's six spellings all normalise to the gold (1.0). vqaEval.py does not lower-case or drop
    # the article of gold answers, so only the two plain spellings match: acc(2) = 0.6 on every document.
    assert demo_metrics(OKVQA, oracle) == pytest.approx({
        "accuracy": 100.0, "accuracy_official": 60.0,
        "question_type:one": 100.0, "question_type:eight": 100.0, "question_type:five": 100.0, "num_errors": 0,
    })
    # "unanswerable" is given 0, 2, 4 times on types one, eight, five (10 documents each): acc 0, 0.6, 1.0;
    # overall (0 + 0.6 + 1.0) / 3 = 0.5333; vqaEval.py agrees (the gold string is already normalised).
    assert demo_metrics(OKVQA, lambda request: "unanswerable") == pytest.approx({
        "accuracy": 160 / 3, "accuracy_official": 160 / 3,
        "question_type:one": 0.0, "question_type:eight": 60.0, "question_type:five": 100.0, "num_errors": 0,
    })


def test_vizwiz_demo_values():
    # Oracle: 100 everywhere; 10 of 30 consensus answers are "unanswerable".
    assert demo_metrics(VIZWIZ, oracle) == pytest.approx({
        "accuracy": 100.0, "answerability:answerable": 100.0, "answerability:unanswerable": 100.0,
        "category:other": 100.0, "category:unanswerable": 100.0, "category:yes/no": 100.0,
        "unanswerable_rate": 100 / 3, "num_errors": 0,
    })
    # "Unanswerable": the 10 unanswerable questions (k % 3 == 0) have it 6 times -> 1.0 each. The answerable
    # question k has it (k // 3) % 5 times; per category ("other": k % 3 == 1, "yes/no": k % 3 == 2) k // 3 runs
    # over 0..9, so acc 0, 0.3, 0.6, 0.9, 1.0 twice: 5.6 / 10 = 56%. Overall (10 + 5.6 + 5.6) / 30 = 70.67%.
    assert demo_metrics(VIZWIZ, lambda request: "Unanswerable") == pytest.approx({
        "accuracy": 21.2 / 30 * 100, "answerability:answerable": 56.0, "answerability:unanswerable": 100.0,
        "category:other": 56.0, "category:unanswerable": 100.0, "category:yes/no": 56.0,
        "unanswerable_rate": 100.0, "num_errors": 0,
    })


def test_vizwiz_test_counts_answers_only():
    assert demo_metrics(VIZWIZ_TEST, lambda request: "red") == {"num_answered": 20, "num_errors": 0}
