"""Option-letter extraction from free-form answers to multiple-choice questions.

MMBench, in two stages as lmms-eval 0.7.3's API-free task `mmbench_en_dev_static`:
1. the `can_infer` heuristics (`tasks/mmbench/mmbench_evals.py`, from VLMEvalKit): first a letter written
   as a token ("B", "B.", "(B)", ...), then an option's text found in the answer;
2. for an answer stage 1 leaves unresolved, the ranked letter formats of `extract_mcq_answer`
   (`tasks/_task_utils/mcq_extract.py`): "(B)", "B.", "B:", "B)", "B ", "the answer is B", a letter
   opening or closing the answer, and failing all of those any occurrence of an option letter.
An answer neither stage resolves stays unresolved (None) and counts as wrong. lmms-eval's judge task
`mmbench_en_dev` instead asks a GPT judge after stage 1 and finally draws a random letter.

SEED-Bench: lmms-eval keeps only the first character of the stripped output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

MMBENCH_LETTERS = "ABCDE"  # upstream `can_infer_option(answer, num_choice=5)`
JUDGE_FAILURE_TEXT = "Failed to obtain answer via API"  # upstream treats this text as "no answer"

# extract_mcq_answer's letter pool when it is given no options (lmms-eval passes none for a question whose
# A-D cells are all missing).
MCQ_DEFAULT_LETTERS = "ABCDEFGH"
# Characters extract_mcq_answer strips from both ends, one character at a time in this order (so "B,." keeps
# its ",": the "." goes only after the "," pass is over).
_MCQ_END_MARKS = ",.!?;:'\""
# Phrases after which extract_mcq_answer takes the first option letter (anywhere later, even inside a word).
# Each counts once, at its first occurrence in the lower-cased answer.
_MCQ_ANSWER_PHRASES = (
    "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is",
    "best answer is", "the correct option is", "correct option is", "the best option is", "best option is",
    "the choice is", "choice is", "the correct choice is", "correct choice is", "i choose", "i select",
    "i pick", "my answer is", "my choice is",
    "\uc635\uc158", "\uc815\ub2f5\uc740", "\ub2f5\uc740", "\ub2f5:",  # Korean: option, the answer is (x2), answer:
    "\u7b54\u6848\u662f", "\u7b54\u6848\u4e3a", "\u9009",  # Chinese: the answer is (x2), choose
    "\u7b54\u3048\u306f",  # Japanese: the answer is
)
# Rank of each way of writing the letter (upstream `_FORMAT_PRIORITY`): the highest rank wins, then the
# later position in the answer.
_MCQ_RANK_START, _MCQ_RANK_END, _MCQ_RANK_PHRASE, _MCQ_RANK_PARENTHESES = 10, 9, 7, 6
_MCQ_SUFFIX_RANKS = ((".", 5), (":", 4), (")", 3), (" ", 2))  # "B.", "B:", "B)", "B "
_MCQ_RANK_ANYWHERE = 0

# (prefix, suffix) pairs tried in this order once the bare-token count is not exactly one.
_WRAPPINGS = (
    ("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
    (":", ""), (":", ","), (":", "."), (":", ")"), (":", ")."),
)


def option_letters(num_options: int) -> str:
    """"AB...": the letters of `num_options` options in order (chr(ord("A") + i), as lmms-eval numbers them)."""
    return "".join(chr(ord("A") + i) for i in range(num_options))


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


def letter_from_answer_formats(answer: str, letters: str = MCQ_DEFAULT_LETTERS) -> str | None:
    """lmms-eval's `extract_mcq_answer`: the best-ranked way the answer writes one of `letters`; None if none."""
    if not answer.strip():
        return None
    text = answer.strip()
    for mark in _MCQ_END_MARKS:
        text = text.strip(mark)
    padded = f" {text} "  # upstream pads with spaces so "B " also matches a letter at the very end
    # (rank, position, letter); for each pattern upstream records the letter's LAST occurrence.
    found: list[tuple[int, int, str]] = []
    for letter in letters:
        if f"({letter})" in padded:
            found.append((_MCQ_RANK_PARENTHESES, padded.rfind(f"({letter})"), letter))
    for suffix, rank in _MCQ_SUFFIX_RANKS:
        found += [(rank, padded.rfind(letter + suffix), letter) for letter in letters if letter + suffix in padded]
    lowered = padded.lower()
    for phrase in _MCQ_ANSWER_PHRASES:
        start = lowered.find(phrase)
        if start == -1:
            continue
        # Upstream finds the phrase in the lower-cased text but the letter in the original from that
        # offset; the two differ in length only for characters like "\u0130" that lower-case to two.
        positions = {letter: padded.find(letter, start + len(phrase)) for letter in letters}
        found += [(_MCQ_RANK_PHRASE, position, letter) for letter, position in positions.items() if position != -1]
    core = padded.strip()  # str.strip also drops whitespace the end-mark pass uncovered ("B ." -> "B ")
    for letter in letters:
        if core.startswith(letter) and (len(core) == 1 or not core[1].isalpha()):
            found.append((_MCQ_RANK_START, 0, letter))
    for letter in letters:
        if core.endswith(letter) and (len(core) == 1 or not core[-2].isalpha()):
            found.append((_MCQ_RANK_END, len(padded) - 1, letter))
    if not found:  # last resort: any occurrence, even inside a word ("Dog" gives D)
        found = [(_MCQ_RANK_ANYWHERE, padded.rfind(letter), letter) for letter in letters if letter in padded]
    if not found:
        return None
    # Upstream sorts by (rank, position) descending with a stable sort: the first maximum listed wins.
    return max(found, key=lambda candidate: candidate[:2])[2]


def mmbench_static_letter(answer: str, choices: Mapping[str, object]) -> str | None:
    """lmms-eval's `mmbench_en_dev_static` letter: `can_infer`, then `extract_mcq_answer` on the option letters."""
    letter = extract_choice_letter(answer, choices)
    if letter is not None:
        return letter
    # Upstream passes `sorted(choices)`, and `extract_mcq_answer` falls back to A-H for an empty list.
    return letter_from_answer_formats(answer, "".join(sorted(choices)) or MCQ_DEFAULT_LETTERS)


def first_character(output: str) -> str:
    """SEED-Bench's prediction: the first character of the stripped output ("" when empty)."""
    return output.strip()[:1]
