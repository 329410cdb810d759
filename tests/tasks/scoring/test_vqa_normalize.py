"""VQA answer normalisation and 10-choose-9 accuracy on hand-worked cases (tasks/scoring/vqa_normalize.py)."""

from __future__ import annotations

import pytest

from tasks.scoring.vqa_normalize import (
    consensus_answer,
    leave_one_out_accuracy,
    normalize_digits_articles,
    normalize_evalai_answer,
    normalize_punctuation,
    normalize_vqa_answer,
    ten_choose_nine_accuracy,
    vqa_accuracy_evalai,
    vqa_accuracy_lmms,
    vqa_accuracy_official,
)


def annotators(*answers: str) -> list[dict]:
    """Answer dicts as the dataset stores them (distinct answer_id per annotator)."""
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes!", "yes "),  # '!' touches no space and there is no digit comma: it becomes a space
        ("yes !", "yes "),  # ' !' touches a space: deleted
        ("t-shirt", "t shirt"),  # '-' inside a word becomes a space
        ("red, white", "red white"),  # ', ' touches a space: deleted
        ("3,000", "3000"),  # digit-comma-digit: every listed mark is deleted, the comma included
        ("1,2-3", "123"),  # the digit comma makes '-' vanish too, although it touches no space
        ("3.5 a.m. end.", "3.5 am end"),  # periods before a digit stay, others go
        ("it's #1: 50%", "it's #1: 50%"),  # ' # : % are not in the list
    ],
)
def test_punctuation_rule(text, expected):
    assert normalize_punctuation(text) == expected


def test_period_deletion_stops_after_32_periods():
    # Upstream passes re.UNICODE (=32) as `count`: of 40 periods, 32 are deleted and 8 remain.
    assert normalize_punctuation("." * 40) == "." * 8


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Two", "2"),
        ("none", "0"),
        ("zero dogs", "0 dogs"),
        ("ten", "10"),
        ("eleven", "eleven"),  # only none/zero..ten are mapped
        ("The red ball", "red ball"),
        ("a", ""),
        ("An apple  a day", "apple day"),  # articles dropped, whitespace collapsed
        ("dont", "don't"),
        ("whats", "what's"),
        ("Im", "im"),  # the key "Im" has a capital and never fires after lower-casing
        ("somebody'd", "somebodyd"),  # the upstream table's quirk, kept
    ],
)
def test_number_words_articles_contractions(text, expected):
    assert normalize_digits_articles(text) == expected


def test_full_normalisation_of_a_prediction():
    # strip/newline -> "Two dogs!" ; '!' -> space ; lower, two->2 -> "2 dogs"
    assert normalize_vqa_answer(" Two\ndogs! ") == "2 dogs"


def test_evalai_processor_adds_word_tokenize():
    # word_tokenize: lower, drop ',' and '?', "'s" -> " 's"; then the two VQA steps
    assert normalize_evalai_answer("What's 3,000?") == "what 's 3000"


@pytest.mark.parametrize(
    "matching, expected",
    [
        # k annotators say the prediction. For each of the k: k-1 others match; for the 10-k: k match.
        # acc(k) = (k * min(1, (k-1)/3) + (10-k) * min(1, k/3)) / 10
        (0, 0.0),
        (1, 0.3),  # (1*0 + 9*(1/3)) / 10
        (2, 0.6),  # (2*(1/3) + 8*(2/3)) / 10 = 6/10
        (3, 0.9),  # (3*(2/3) + 7*1) / 10
        (4, 1.0),  # (4*1 + 6*1) / 10
        (5, 1.0),
        (6, 1.0),
        (7, 1.0),
        (8, 1.0),
        (9, 1.0),
        (10, 1.0),
    ],
)
def test_ten_choose_nine_averaging(matching, expected):
    others = ["cat", "dog", "bird", "cow", "fish", "frog", "owl", "bee", "ant", "elk"]
    answers = annotators(*(["yes"] * matching + others[: 10 - matching]))
    assert ten_choose_nine_accuracy("yes", answers) == pytest.approx(expected, abs=1e-12)


def test_lmms_normalises_gold_answers_too():
    # Gold "Two" -> "2" under lmms-eval, so 4 annotators match the prediction "two" (-> "2"): 1.0.
    answers = annotators("Two", "Two", "Two", "Two", "cat", "cat", "cat", "cat", "cat", "cat")
    assert vqa_accuracy_lmms("two", answers) == 1.0


def test_official_scorer_leaves_gold_number_words():
    # Official: gold answers only get punctuation handling, so "Two" never equals the prediction "2".
    answers = annotators("Two", "Two", "Two", "Two", "cat", "cat", "cat", "cat", "cat", "cat")
    assert vqa_accuracy_official("two", answers) == 0.0


def test_official_scorer_skips_unanimous_gold():
    # Ten identical "Yes." answers are not normalised by the official script: "yes" != "Yes." -> 0.
    # lmms-eval normalises them to "yes": every annotator matches -> 1.0.
    answers = annotators(*["Yes."] * 10)
    assert vqa_accuracy_official("yes", answers) == 0.0
    assert vqa_accuracy_lmms("yes", answers) == 1.0


def test_official_scorer_strips_punctuation_of_mixed_gold():
    # Not unanimous: gold "yes!" -> "yes " (punctuation only) which differs from "yes"; the three
    # plain "yes" match: acc(3) = 0.9 as above.
    answers = annotators("yes", "yes", "yes", "yes!", "no", "no", "no", "no", "no", "no")
    assert vqa_accuracy_official("yes", answers) == pytest.approx(0.9)
    # lmms-eval: "yes!" -> "yes " -> "yes" after digit/article splitting, so 4 match -> 1.0
    assert vqa_accuracy_lmms("yes", answers) == 1.0


def test_prediction_digit_comma_and_article():
    # "The 3,000" -> punctuation "The 3000" -> "3000"; four annotators said "3000"
    answers = annotators("3000", "3000", "3000", "3000", "3", "3", "3", "3", "3", "3")
    assert vqa_accuracy_lmms("The 3,000", answers) == 1.0


# -- lmms-eval's TextVQA / OK-VQA / VizWiz variant: answer strings, the full EvalAI processor -------------------
@pytest.mark.parametrize("matching, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_leave_one_out_over_ten_answer_strings(matching, expected):
    # The same acc(k) as the 10-choose-9 table above, here on plain strings.
    answers = ["yes"] * matching + ["no"] * (10 - matching)
    assert leave_one_out_accuracy("yes", answers) == pytest.approx(expected, abs=1e-12)


def test_leave_one_out_leaves_out_positions_not_values():
    # Ten identical strings: each position sees nine equal others -> min(1, 9/3) = 1. Ten identical answer
    # *dicts* (no answer_id to tell them apart) leave every one out at once in the VQAv2 loop -> 0.
    assert leave_one_out_accuracy("yes", ["yes"] * 10) == 1.0
    assert ten_choose_nine_accuracy("yes", [{"answer": "yes"}] * 10) == 0.0


def test_leave_one_out_with_fewer_or_no_answers():
    # ["a", "a", "b"], prediction "a": positions 0 and 1 see one other "a" (1/3), position 2 sees two (2/3);
    # mean = (1/3 + 1/3 + 2/3) / 3 = 4/9. No answers: 0 (lmms-eval's OK-VQA and VizWiz).
    assert leave_one_out_accuracy("a", ["a", "a", "b"]) == pytest.approx(4 / 9, abs=1e-15)
    assert leave_one_out_accuracy("a", []) == 0.0


def test_evalai_variant_deletes_commas_and_question_marks_first():
    # word_tokenize deletes "," so "black,white" -> "blackwhite", which four gold "blackwhite" match -> 1.0.
    # The VQAv2 variant turns the lone "," into a space ("black white"), which matches none -> 0.
    answers = ["blackwhite"] * 4 + ["grey"] * 6
    assert vqa_accuracy_evalai("black,white", answers) == 1.0
    assert vqa_accuracy_lmms("black,white", annotators(*answers)) == 0.0


def test_evalai_variant_normalises_gold_strings_and_splits_possessives():
    # Gold "Man's Hat." -> lower, "'s" -> " 's", period dropped -> "man 's hat"; the prediction "man's hat" too.
    # Three of ten gold answers match: acc(3) = 0.9.
    answers = ["Man's Hat."] * 3 + ["cap"] * 7
    assert vqa_accuracy_evalai("man's hat", answers) == pytest.approx(0.9)
    assert normalize_evalai_answer("Man's Hat.") == "man 's hat"


def test_consensus_answer_counts_normalised_spellings_and_keeps_the_first_written():
    # "Yes", "yes!" and "yes" are one answer (3 votes) against "no" (2): the first spelling is returned.
    assert consensus_answer(["no", "Yes", "yes!", "no", "yes"]) == "Yes"
    assert consensus_answer(["b", "a", "a", "b"]) == "b"  # a tie goes to the answer written first
    assert consensus_answer([]) is None
