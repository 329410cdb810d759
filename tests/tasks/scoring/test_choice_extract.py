"""Option-letter extraction (tasks/scoring/choice_extract.py): lmms-eval's MMBench heuristics and SEED's rule."""

from __future__ import annotations

import math

import pytest

from tasks.scoring.choice_extract import (
    extract_choice_letter,
    first_character,
    letter_from_answer_formats,
    letter_from_option_text,
    letter_from_tokens,
    mmbench_choices,
    mmbench_static_letter,
)

CHOICES = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("B", "B"),
        ("(B)", "B"),  # ("(", ")") wrapping
        ("B.", "B"),  # ("", ".") wrapping
        ("C)", "C"),
        (":D", "D"),
        ("(A).", "A"),
        ("The answer is C", "C"),  # one bare letter among 4 tokens, and it is not "A"
        ("E", "E"),  # the letter pool is A-E
        ("B or C", None),  # two bare letters: ambiguous
        ("A dog is here", None),  # a bare "A" in more than 3 tokens may be the article: skipped
        ("The answer is A", None),  # the same rule hides a real "A" answer
        ("I think A.", "A"),  # ...but a wrapped "A." is found by the wrapping pass
        ("", None),
        ("Failed to obtain answer via API B", None),  # upstream's judge-failure text means no answer
    ],
)
def test_letter_tokens(answer, expected):
    assert letter_from_tokens(answer) == expected


def test_option_text_when_no_letter():
    assert letter_from_option_text("It is Blue.", CHOICES) == "B"


def test_option_text_ambiguous_is_unresolved():
    assert letter_from_option_text("red and blue", CHOICES) is None


def test_letter_takes_precedence_over_text():
    assert extract_choice_letter("B red", CHOICES) == "B"


def test_unresolvable_answer_stays_unresolved():
    assert extract_choice_letter("I cannot tell from the picture", CHOICES) is None


def test_mmbench_choices_skip_missing_cells_but_keep_text_nan():
    doc = {"A": "x", "B": "y", "C": None, "D": math.nan}
    assert mmbench_choices(doc) == {"A": "x", "B": "y"}
    # Upstream build_choices only drops real NaN/None; the text "nan" stays an option.
    assert mmbench_choices({"A": "x", "B": "nan", "C": None, "D": None}) == {"A": "x", "B": "nan"}


@pytest.mark.parametrize(
    "answer, expected",
    [
        # " The correct answer is (B) " once the end "." is stripped: "(B)" ranks 6, but "answer is" is
        # followed by a "B" (the only option letter after it), a phrase candidate ranked 7.
        ("The correct answer is (B).", "B"),
        ("A or maybe C", "A"),  # opening letter (rank 10) beats the closing one (rank 9)
        ("Not B. but C. fits", "C"),  # "B." and "C." both rank 5: the later one wins
        # Phrase candidates are the first of each letter after "the answer is": C and the B of "(B)";
        # both rank 7 and the later position (B) wins over "(B)" itself (6).
        ("The answer is C, not (B)", "B"),
        ("(B", "B"),  # closing letter after a non-letter
        ("Dog", "D"),  # no format matches: any occurrence, even inside a word
        ("E", None),  # only the given letters count (here A-D)
        ("b", None),  # upper case only
        ("1", None),
        ("   ", None),
    ],
)
def test_letter_from_answer_formats(answer, expected):
    assert letter_from_answer_formats(answer, "ABCD") == expected


def test_answer_formats_default_to_letters_a_to_h():
    assert letter_from_answer_formats("F") == "F"  # "F" opens the answer; F is in the default pool A-H


def test_static_letter_tries_can_infer_first():
    # can_infer: two bare letters (B, C) are ambiguous, no wrapped letter, then the option text "red" -> A.
    # The answer formats alone would pick the closing "C" (rank 9).
    assert mmbench_static_letter("red, not B or C", CHOICES) == "A"
    assert letter_from_answer_formats("red, not B or C", "ABCD") == "C"


def test_static_letter_reads_the_article_as_a_when_can_infer_does_not():
    # can_infer skips a bare "A" among more than 3 tokens and finds no option text; the answer formats
    # then take the opening "A" followed by a space (rank 10).
    assert extract_choice_letter("A dog is here", CHOICES) is None
    assert mmbench_static_letter("A dog is here", CHOICES) == "A"


def test_static_letter_leaves_an_answer_without_option_letters_unresolved():
    # Neither an option text nor any of the capitals A-D ("I" is no option letter).
    assert mmbench_static_letter("I cannot tell from the picture", CHOICES) is None


def test_static_letter_with_no_options_uses_letters_a_to_h():
    # lmms-eval passes an empty option list, which extract_mcq_answer replaces by A-H.
    assert mmbench_static_letter("F", {}) == "F"


@pytest.mark.parametrize(
    "output, expected",
    [(" B ", "B"), ("B.", "B"), ("(B)", "("), ("The answer is B", "T"), ("", "")],
)
def test_seed_first_character(output, expected):
    assert first_character(output) == expected
