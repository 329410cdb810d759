"""POPE scoring (tasks/pope.py): lmms-eval's strict yes/no, LLaVA's lenient parse, pooled group metrics."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from tasks.pope import TASKS, pooled_metrics

POPE = TASKS[0]


def pope_doc(answer: str, qid: int = 1) -> dict:
    return {"question_id": str(qid), "question": "Is there a dog in the image?", "answer": answer}


@pytest.mark.parametrize(
    "output, gold, strict, lenient",
    [
        ("yes", "yes", 1.0, 1.0),
        (" No\n", "no", 1.0, 1.0),  # lower-cased and stripped
        ("Yes.", "yes", 0.0, 1.0),  # strict: "yes." is not "yes"; LLaVA keeps the first sentence "Yes"
        ("No, there is not", "no", 0.0, 1.0),  # LLaVA: commas removed, the word "No" -> no
        ("There is not a dog.", "no", 0.0, 1.0),  # "not" -> no
        ("", "yes", 0.0, 1.0),  # empty: strict neither; LLaVA defaults to yes
        ("", "no", 0.0, 0.0),
        ("Nope", "no", 0.0, 0.0),  # LLaVA only knows the words No/no/not
    ],
)
def test_strict_and_lenient_parse(output, gold, strict, lenient):
    scores = POPE.score(pope_doc(gold), output)
    assert scores["accuracy"] == strict
    assert scores["accuracy_llava"] == lenient


def test_gold_must_be_yes_or_no():
    with pytest.raises(ValueError, match="not yes/no"):
        POPE.score(pope_doc("maybe"), "yes")


def records_for(outputs_and_golds, task="pope_random"):
    return [Record(task, str(i), output=o, scores=POPE.score(pope_doc(g, i), o)) for i, (o, g) in enumerate(outputs_and_golds)]


def test_metrics_hand_computed():
    records = records_for([("yes", "yes"), ("no", "yes"), ("yes", "no"), ("no", "no"), ("Yes.", "yes")])
    records.append(Record("pope_random", "99", error="unreadable image"))
    metrics = POPE.aggregate(records)
    # strict: TP=1 (#0), FN=1 (#1), FP=1 (#2), TN=1 (#3), "yes." unparsed, one error; 6 documents
    assert metrics["accuracy"] == pytest.approx(200 / 6)  # 2 right of 6
    assert metrics["precision"] == pytest.approx(50.0)  # 1 / (1 + 1)
    assert metrics["recall"] == pytest.approx(50.0)  # 1 / (1 + 1): the unparsed "yes." is no FN
    assert metrics["f1"] == pytest.approx(50.0)
    assert metrics["yes_ratio"] == pytest.approx(200 / 6)  # predictions "yes": #0 and #2, of 6
    assert metrics["num_unparsed"] == 1
    assert metrics["num_errors"] == 1
    # LLaVA parse: "Yes." -> yes, so TP=2, FP=1, FN=1, TN=1; right: #0, #3, #4 = 3 of 6
    assert metrics["accuracy_llava"] == pytest.approx(50.0)
    assert metrics["precision_llava"] == pytest.approx(200 / 3)
    assert metrics["recall_llava"] == pytest.approx(200 / 3)
    assert metrics["f1_llava"] == pytest.approx(200 / 3)
    assert metrics["yes_ratio_llava"] == pytest.approx(50.0)  # #0, #2, #4 of 6


def test_yes_ratio_counts_predictions_not_labels():
    # Balanced labels, a model that always says yes: lmms-eval would report 0.5; the predictions say 100%.
    metrics = POPE.aggregate(records_for([("yes", "yes"), ("yes", "no")]))
    assert metrics["yes_ratio"] == pytest.approx(100.0)


def test_pooled_group_metrics():
    split_a = records_for([("yes", "yes"), ("yes", "yes"), ("no", "no")], "pope_random")  # all right
    split_b = records_for([("yes", "no"), ("no", "yes")], "pope_popular")  # all wrong
    metrics = pooled_metrics({"pope_random": split_a, "pope_popular": split_b})
    # pooled: TP=2, TN=1, FP=1, FN=1 -> accuracy 3/5, P = R = F1 = 2/3
    assert metrics["accuracy"] == pytest.approx(60.0)
    assert metrics["f1"] == pytest.approx(200 / 3)
    # per split: F1 100 and 0 (no TP), accuracy 100 and 0 -> means 50
    assert metrics["f1_mean"] == pytest.approx(50.0)
    assert metrics["accuracy_mean"] == pytest.approx(50.0)
    assert POPE.aggregate_group({"pope_random": split_a, "pope_popular": split_b}) == metrics
