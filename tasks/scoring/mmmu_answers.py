"""MMMU answer parsing and matching, as lmms-eval 0.7.3's `mmmu_val` scores an answer.

Multiple choice (`parse_mmmu_multi_choice_response`, lmms_eval/tasks/_task_utils/mmmu_mcq_utils.py): strip
`, . ! ? ; : '` from both ends (each mark in turn), pad with spaces, then take the first rule that finds a letter:
"(B)" anywhere; else "B " anywhere (also the end of a word: "AB " counts for B); else "B." anywhere; else, in an
answer of more than five words, an option's text (case-insensitive). Several letters found: the one written
last (its "(B)", " B " or option text found furthest right; equal positions, the earlier letter, numpy.argmax's
tie rule). No letter: lmms-eval draws one with the global `random.choice`; `choice_letter` returns None there
and the task draws from its own seeded generator instead (`seeded_letter`).

Open questions (`parse_open_response`, `normalize_str`, `extract_numbers`, `eval_open` in
lmms_eval/tasks/mmmu/utils.py, from the MMMU repository's eval_utils.py at 51ce7f3): the answer's key phrases
(the shortest tail after "could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", and
"=" in the last line), the numbers in them, each normalised (a number rounded to 2 decimals, text
lower-cased, a single character padded with a space so it cannot match inside a word); the answer is right
when a normalised gold text occurs in a candidate text, or a gold number equals a candidate number.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from tasks.scoring.choice_extract import option_letters

_END_MARKS = (",", ".", "!", "?", ";", ":", "'")
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_LAST_LINE_INDICATORS = ("=",)  # an equation counts only in the last line
_TRIVIAL_TAILS = (":", ",", ".", "!", "?", ";", "'")
# Sentences split at ". " before a capital or at a newline; the text is lower-cased first, so in practice at
# newlines only (kept as upstream wrote it).
_SENTENCE_BREAK = re.compile(r"\.\s(?=[A-Z])|\n")
# The three number forms upstream extracts, in its order: with thousands commas, scientific, plain.
_NUMBER_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_PLAIN = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")

Candidate = str | float


def _last_written(letters: Sequence[str], positions: Sequence[int]) -> str:
    """The letter found furthest right; the first of equal positions (numpy.argmax)."""
    best = max(range(len(letters)), key=lambda i: (positions[i], -i))
    return letters[best]


def choice_letter(answer: str, options: Sequence[str]) -> str | None:
    """The option letter lmms-eval reads from a multiple-choice answer; None where it would guess at random."""
    text = answer
    for mark in _END_MARKS:
        text = text.strip(mark)
    padded = f" {text} "
    letters = list(option_letters(len(options)))
    bracketed = [letter for letter in letters if f"({letter})" in padded]
    if bracketed:
        if len(bracketed) == 1:
            return bracketed[0]
        return _last_written(bracketed, [padded.rfind(f"({letter})") for letter in bracketed])
    written = [letter for letter in letters if f"{letter} " in padded]
    if not written:
        written = [letter for letter in letters if f"{letter}." in padded]
    if written:
        if len(written) == 1:
            return written[0]
        return _last_written(written, [padded.rfind(f" {letter} ") for letter in written])
    if len(padded.split()) > 5:
        lowered = padded.lower()
        named = [letter for letter, option in zip(letters, options) if option.lower() in lowered]
        if len(named) == 1:
            return named[0]
        if named:
            return _last_written(named, [lowered.rfind(options[letters.index(letter)].lower()) for letter in named])
    return None


def guess_seed(seed: int, doc_id: str) -> int:
    """The seed of one document's random letter: a hash of the task's guess seed and the document id."""
    digest = hashlib.sha256(f"{seed}/{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def seeded_letter(letters: Sequence[str], seed: int) -> str:
    """`random.choice(letters)` from a generator seeded with `seed` (lmms-eval draws from the global one)."""
    return random.Random(seed).choice(list(letters))


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_candidate(text: str) -> list[Candidate]:
    """One answer string as the matcher compares it: a number rounded to 2 decimals, else lower-cased text
    (a single character as " x" and "x ", so that it never matches inside a word)."""
    stripped = text.strip()
    if _is_number(stripped):
        return [round(float(stripped.replace(",", "")), 2)]
    lowered = stripped.lower()
    if len(lowered) == 1:
        return [" " + lowered, lowered + " "]
    return [lowered]


def numbers_in(text: str) -> list[str]:
    """Every number written in `text`: with thousands commas, then scientific, then plain (upstream's order)."""
    return _NUMBER_WITH_COMMAS.findall(text) + _NUMBER_SCIENTIFIC.findall(text) + _NUMBER_PLAIN.findall(text)


def key_phrases(answer: str) -> list[str]:
    """The parts of an open answer that may hold the answer: the shortest tail after a key word, per line."""
    text = answer.strip().strip(".").lower()
    lines = _SENTENCE_BREAK.split(text)
    phrases = []
    for number, line in enumerate(lines):
        indicators = _KEY_INDICATORS + (_LAST_LINE_INDICATORS if number == len(lines) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in line:
                tail = line.split(indicator)[-1].strip()
                # Upstream replaces an empty shortest tail by the next one, whatever its length.
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL_TAILS:
            phrases.append(shortest)
    return phrases or [text]


def open_candidates(answer: str) -> list[Candidate]:
    """An open answer's normalised candidates (key phrases and the numbers in them), without repeats."""
    phrases = key_phrases(answer)
    raw = phrases + [number for phrase in phrases for number in numbers_in(phrase)]
    unique: list[Candidate] = []
    for candidate in (c for text in raw for c in normalize_candidate(text)):
        if candidate not in unique:
            unique.append(candidate)
    return unique


def open_answer_is_right(gold: str, candidates: Sequence[Candidate]) -> bool:
    """lmms-eval's eval_open: a gold text inside a candidate text, or a gold number equal to a candidate number."""
    golds = normalize_candidate(gold)
    for candidate in candidates:
        if isinstance(candidate, str):
            if any(isinstance(g, str) and g in candidate for g in golds):
                return True
        elif candidate in golds:
            return True
    return False
