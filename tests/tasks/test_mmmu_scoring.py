"""MMMU scoring (tasks/mmmu.py, tasks/scoring/mmmu_answers.py): letter parse, open matching, seeded guesses."""

from __future__ import annotations

import pytest

from evals.run.records import Record
from evals.task_api import DataSource
from tasks.data.doc_fields import DocumentFieldError
from tasks.mmmu import TASKS, image_columns, subject_of
from tasks.scoring.mmmu_answers import choice_letter, open_answer_is_right, open_candidates

MMMU = TASKS[0]
OPTIONS = ["red apple", "green pear", "blue plum", "yellow lemon"]


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("B", "B"),
        ("(C)", "C"),
        ("B.", "B"),  # end marks stripped, then " B " found
        ("C. blue plum", "C"),
        ("The answer is (B), not (D).", "D"),  # several bracketed letters: the one written last
        ("A or B", "B"),  # " A " and " B ": the last
        ("AB", "B"),  # "B " matches the end of a word
        ("Option D.", "D"),
        ("I would pick the green pear here today", "B"),  # > 5 words, one option text
        ("green pear", None),  # option text in 5 words or fewer is not read
        ("it is a red apple or a green pear surely", "B"),  # both texts: the one written last
        ("no idea", None),
        ("", None),
    ],
)
def test_choice_letter_follows_lmms_eval(answer, letter):
    assert choice_letter(answer, OPTIONS) == letter


@pytest.mark.parametrize(
    "gold, answer, right",
    [
        ("3.5", "3.5", True),
        ("3.5", "The answer is 3.50", True),  # numbers compared after rounding to 2 decimals
        ("1,200", "1200", True),
        ("1200", "so x = 1,200 m", True),
        ("sandstone", "It is sandstone.", True),  # the text after "is "
        ("sandstone", "Sandstone rocks", True),  # gold text inside the candidate
        ("7", "17", False),
        ("-7", "x = -7", True),
        ("ohm", "volt", False),
    ],
)
def test_open_answers_follow_lmms_eval(gold, answer, right):
    assert open_answer_is_right(gold, open_candidates(answer)) is right


def test_a_one_character_gold_matches_only_a_separate_word():
    # normalize("a") = [" a", "a "]; the candidate "a cat" holds "a " -> right; "cat" holds neither -> wrong.
    assert open_answer_is_right("a", open_candidates("a cat"))
    assert not open_answer_is_right("a", open_candidates("cat"))


def mc_doc(answer="B", doc_id="validation_Biology_3"):
    return {"id": doc_id, "question": "<image 1> Which fruit?", "options": repr(OPTIONS), "answer": answer,
            "question_type": "multiple-choice", "image_1": {"bytes": b"x", "path": None}}


def test_a_guess_is_seeded_by_the_document_and_the_guess_seed():
    scores = MMMU.score(mc_doc(), "no idea")
    assert scores["guessed"] and scores["parsed"] in "ABCD"
    assert MMMU.score(mc_doc(), "no idea") == scores  # the same draw every time
    assert scores["accuracy_strict"] == 0.0 and scores["accuracy_expected"] == 0.25
    draws = {MMMU.with_options({"guess_seed": str(s)}).score(mc_doc(), "?")["parsed"] for s in range(40)}
    assert draws == {"A", "B", "C", "D"}  # another guess seed, another letter


def test_accuracy_strict_and_expected_bracket_the_seeded_accuracy():
    docs = [mc_doc("ABCD"[k % 4], f"validation_Math_{k}") for k in range(40)]
    records = [Record("mmmu_val", d["id"], scores=MMMU.score(d, "no idea")) for d in docs]
    metrics = MMMU.aggregate(records)
    assert metrics["num_guessed"] == 40
    assert metrics["accuracy_strict"] == 0.0 and metrics["accuracy_expected"] == 25.0
    assert 0.0 < metrics["accuracy"] < 100.0


def test_subject_is_read_from_the_id_as_lmms_eval_reads_it():
    assert subject_of("validation_Art_Theory_12") == "Art_Theory"
    assert subject_of("validation_Math_1_2") == "Math_1"
    assert subject_of("nonsense") is None


def test_images_are_the_prompts_marks_sorted_by_name():
    assert image_columns("see <image 2> and <image 1>, then <image 2> again") == ["image_1", "image_2"]


def test_a_shown_image_that_is_absent_refuses_the_document():
    doc = dict(mc_doc(), question="<image 1> or <image 2>?", image_2=None)
    with pytest.raises(DocumentFieldError, match="shows <image 2> but image_2 is empty"):
        MMMU.build_request(doc, seed=0)


@pytest.mark.parametrize("options", ["['a', 'b'", "[]", "[1, 2]", "not a list"])
def test_malformed_options_refuse_a_multiple_choice_document(options):
    with pytest.raises(DocumentFieldError, match="options|without options"):
        MMMU.build_request(dict(mc_doc(), options=options), seed=0)


def test_an_error_record_is_wrong_in_its_subject():
    records = [Record("mmmu_val", "validation_Math_1", scores=MMMU.score(mc_doc("B", "validation_Math_1"), "B")),
               Record("mmmu_val", "validation_Math_2", error="unreadable image")]
    metrics = MMMU.aggregate(records)
    assert metrics["accuracy"] == metrics["subject:Math"] == metrics["discipline:Science"] == 50.0


@pytest.fixture(scope="module")
def demo_docs():
    return list(MMMU.load_docs(DataSource(kind="demo")))


def aggregate_constant(docs, output):
    return MMMU.aggregate([Record("mmmu_val", MMMU.doc_id(d), scores=MMMU.score(d, output)) for d in docs])


def test_constant_a_on_the_demo_slice(demo_docs):
    # The slice (tasks/demo/make_demo.py): 10 subjects i = 0..9 (Art_Theory, Music, Accounting, Finance, Biology,
    # Math, Clinical_Medicine, History, Psychology, Computer_Science), each with a 4-option question answered
    # "ABCD"[i % 4], a 3- or 5-option question answered B, and an open question (a number or a word of 2+ letters).
    # "A" is right on the first question of subjects 0, 4, 8 only: 3 of 30 = 10%. Art and Design (subjects 0, 1),
    # Science (4, 5), Humanities (7, 8): 1 of 6 each; Business, Health, Tech: 0.
    metrics = aggregate_constant(demo_docs, "A")
    assert metrics["accuracy"] == pytest.approx(10.0)
    assert metrics["accuracy_strict"] == metrics["accuracy_expected"] == pytest.approx(10.0)
    assert metrics["num_guessed"] == 0
    for discipline in ("Art and Design", "Science", "Humanities and Social Science"):
        assert metrics[f"discipline:{discipline}"] == pytest.approx(100 / 6), discipline
    for discipline in ("Business", "Health and Medicine", "Tech and Engineering"):
        assert metrics[f"discipline:{discipline}"] == 0.0, discipline
    assert metrics["subject:Art_Theory"] == pytest.approx(100 / 3) and metrics["subject:Music"] == 0.0


def test_an_unreadable_constant_on_the_demo_slice(demo_docs):
    # "I don't know" names no letter (no capital A-E, 3 words) and matches no open answer: all 20 multiple-choice
    # answers are guesses. Strict: 0. Expected: 10 questions x 1/4 + 5 x 1/3 (even subjects) + 5 x 1/5 (odd)
    # = 2.5 + 5/3 + 1 right answers of 30.
    metrics = aggregate_constant(demo_docs, "I don't know")
    assert metrics["num_guessed"] == 20
    assert metrics["accuracy_strict"] == 0.0
    assert metrics["accuracy_expected"] == pytest.approx(100 * (2.5 + 5 / 3 + 1) / 30)
