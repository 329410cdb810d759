"""Option-letter extraction (tasks/choice_extract.py): lmms-eval's MMBench heuristics and SEED's rule."""

from __future__ import annotations

import math

import pytest

from tasks.choice_extract import (
    extract_choice_letter,
    first_character,
    letter_from_option_text,
    letter_from_tokens,
    mmbench_choices,
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
    "output, expected",
    [(" B ", "B"), ("B.", "B"), ("(B)", "("), ("The answer is B", "T"), ("", "")],
)
def test_seed_first_character(output, expected):
    assert first_character(output) == expected
