"""Option-letter extraction from free-form answers to multiple-choice questions.

MMBench: the `can_infer` heuristics of lmms-eval 0.7.3 (`tasks/mmbench/mmbench_evals.py`, from
VLMEvalKit): first a letter written as a token ("B", "B.", "(B)", ...), then an option's text found in
the answer. An answer neither heuristic resolves stays unresolved (None): lmms-eval would then ask a
GPT judge and finally draw a random letter; here an unresolved answer is reported and counts as wrong.

SEED-Bench: lmms-eval keeps only the first character of the stripped output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

MMBENCH_LETTERS = "ABCDE"  # upstream `can_infer_option(answer, num_choice=5)`
JUDGE_FAILURE_TEXT = "Failed to obtain answer via API"  # upstream treats this text as "no answer"

# (prefix, suffix) pairs tried in this order once the bare-token count is not exactly one.
_WRAPPINGS = (
    ("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
    (":", ""), (":", ","), (":", "."), (":", ")"), (":", ")."),
)


def is_missing_option(value: object) -> bool:
    """True for an option cell that pandas would call NaN (None or a float NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def letter_from_tokens(answer: str, letters: str = MMBENCH_LETTERS) -> str | None:
    """The one option letter written as a whole token, bare or wrapped ("B", "B.", "(B)", ":B")."""
    if JUDGE_FAILURE_TEXT in answer:
        return None
    tokens = [token.strip() for token in answer.split()]

    def count(prefix: str, suffix: str) -> int:
        return sum(1 for letter in letters if prefix + letter + suffix in tokens)

    # A bare "A" in a longer answer may be the article ("A dog"), so upstream skips the bare step then.
    if count("", "") == 1 and not ("A" in tokens and len(tokens) > 3):
        for letter in letters:
            if letter in tokens:
                return letter
    for prefix, suffix in _WRAPPINGS:
        if count(prefix, suffix) == 1:
            for letter in letters:
                if prefix + letter + suffix in tokens:
                    return letter
    return None


def letter_from_option_text(answer: str, choices: Mapping[str, object]) -> str | None:
    """The one option whose text (lower-cased) occurs in the lower-cased answer."""
    lowered = answer.lower()
    found = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return found[0] if len(found) == 1 else None


def mmbench_choices(doc: Mapping[str, object]) -> dict[str, object]:
    """The options the MMBench scorer matches against: A-D cells that are not None/NaN.

    Upstream `build_choices` keeps any non-NaN cell, including the text "nan" and empty strings.
    """
    return {letter: doc[letter] for letter in "ABCD" if letter in doc and not is_missing_option(doc[letter])}


def extract_choice_letter(answer: str, choices: Mapping[str, object]) -> str | None:
    """The MMBench `can_infer` rule: a letter token first, then option text; None when unresolved."""
    return letter_from_tokens(answer) or letter_from_option_text(answer, choices)


def first_character(output: str) -> str:
    """SEED-Bench's prediction: the first character of the stripped output ("" when empty)."""
    return output.strip()[:1]
