"""VQA answer normalisation and the 10-choose-9 VQA accuracy, in three variants.

- lmms-eval 0.7.3 (`tasks/vqav2/utils.py` + `tasks/_task_utils/vqa_eval_metric.py`, itself MMF's
  `EvalAIAnswerProcessor`): the prediction and *every* ground-truth answer go through
  `normalize_punctuation` then `normalize_digits_articles`.
- lmms-eval 0.7.3's TextVQA, OK-VQA and VizWiz tasks (`tasks/{textvqa,ok_vqa,vizwiz_vqa}/utils.py`) call the
  whole processor, `EvalAIAnswerProcessor()(text)`, which first lower-cases, deletes `,` and `?` and splits
  off `'s` (`word_tokenize`), on the prediction and on every gold answer. Their gold answers are plain
  strings, and each is left out by its position: equal strings at two positions count for each other.
- The official scorer (GT-Vision-Lab/VQA `PythonEvaluationTools/vqaEvaluation/vqaEval.py` at
  c4e6a0e4e84b9702d99800d3393652d92b5df224): the prediction gets both steps; the ground-truth answers
  get only `normalize_punctuation`, and only when the ten answers are not unanimous.

All share the same rules, reproduced with their quirks because they decide the numbers:
- A punctuation mark is deleted if it touches a space in the *original* text, or if the text holds a
  digit-comma-digit pattern anywhere; otherwise it becomes a space.
- Periods not followed by a digit are deleted; the upstream regex passes `re.UNICODE` as the `count`
  argument, so at most 32 periods are deleted.
- Number words `none`/`zero`..`ten` become digits, the articles `a`/`an`/`the` are dropped, and the
  contraction table maps e.g. `dont` to `don't` (keys with capitals never fire after lower-casing).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence

# Punctuation of lmms-eval's EvalAIAnswerProcessor and of the current official scorer, in their order.
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
_DIGIT_COMMA_DIGIT = re.compile(r"(?<=\d)(\,)+(?=\d)")
# The mistyped look-behind `(?!<=\d)` is a look-ahead that never matches '<', so this deletes every
# period not followed by a digit.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_UPSTREAM_PERIOD_LIMIT = int(re.UNICODE)  # 32: the flag lands in the `count` parameter upstream

NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})

# The VQA contraction table (identical in MMF, lmms-eval and the official scorer), kept verbatim,
# including the upstream entry "somebody'd" -> "somebodyd".
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't",
    "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're",
    "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}


def clean_whitespace(text: str) -> str:
    """Newlines and tabs to spaces, then strip (the first step of both scorers)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_punctuation(text: str) -> str:
    """The VQA punctuation rule: marks next to a space (or in digit-comma text) vanish, others become spaces."""
    out = text
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    for mark in PUNCTUATION:
        # The test reads the original text while the replacements accumulate, as upstream.
        if delete_all or (mark + " " in text or " " + mark in text):
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_UPSTREAM_PERIOD_LIMIT)


def normalize_digits_articles(text: str) -> str:
    """Lower-case, number words to digits, drop articles, expand contractions, single spaces."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def normalize_vqa_answer(text: str) -> str:
    """The full normalisation lmms-eval applies to a VQAv2 prediction (and to every gold answer)."""
    return normalize_digits_articles(normalize_punctuation(clean_whitespace(text)))


def normalize_evalai_answer(text: str) -> str:
    """MMF/LLaVA `EvalAIAnswerProcessor()(text)`: `word_tokenize` first, then the two VQA steps."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return normalize_digits_articles(normalize_punctuation(clean_whitespace(text)))


def ten_choose_nine_accuracy(prediction: str, answers: Sequence[dict]) -> float:
    """Mean over the gold answers of min(1, #other answers equal to the prediction / 3).

    `answers` are the dataset's answer dicts after normalisation; "other" means the dicts that differ
    from this one (upstream compares dicts, so answer_id keeps equal strings distinct).
    """
    per_answer = []
    for this in answers:
        matching = sum(1 for other in answers if other != this and other["answer"] == prediction)
        per_answer.append(min(1.0, matching / 3))
    # statistics.mean sums exactly (as lmms-eval does), so the value is the correctly rounded mean.
    return statistics.mean(per_answer)


def vqa_accuracy_lmms(prediction: str, answers: Sequence[dict]) -> float:
    """VQA accuracy as lmms-eval 0.7.3 computes it: prediction and every gold answer normalised."""
    normalized = [{**ans, "answer": normalize_vqa_answer(ans["answer"])} for ans in answers]
    return ten_choose_nine_accuracy(normalize_vqa_answer(prediction), normalized)


def vqa_accuracy_official(prediction: str, answers: Sequence[dict]) -> float:
    """VQA accuracy as the official vqaEval.py computes it (gold normalised only when not unanimous)."""
    predicted = normalize_vqa_answer(prediction)
    golds = list(answers)  # upstream cleans whitespace of the prediction only
    if len({ans["answer"] for ans in golds}) > 1:
        golds = [{**ans, "answer": normalize_punctuation(ans["answer"])} for ans in golds]
    per_answer = []
    for this in golds:
        matching = sum(1 for other in golds if other != this and other["answer"] == predicted)
        per_answer.append(min(1.0, matching / 3))
    # The official script divides a float sum; kept so the value matches it bit for bit.
    return float(sum(per_answer)) / len(per_answer)


def leave_one_out_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Mean over the answer positions of min(1, #answers at the other positions equal to the prediction / 3).

    `answers` are normalised strings; no answers give 0 (lmms-eval's OK-VQA and VizWiz tasks).
    """
    if not answers:
        return 0.0
    total = sum(1 for answer in answers if answer == prediction)
    per_position = [min(1.0, (total - (answer == prediction)) / 3) for answer in answers]
    # statistics.mean sums exactly (as lmms-eval does), so the value is the correctly rounded mean.
    return statistics.mean(per_position)


def vqa_accuracy_evalai(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy as lmms-eval 0.7.3's TextVQA, OK-VQA and VizWiz tasks compute it (full processor, both sides)."""
    return leave_one_out_accuracy(normalize_evalai_answer(prediction), [normalize_evalai_answer(a) for a in answers])


def consensus_answer(answers: Sequence[str]) -> str | None:
    """The gold answer given most often after the full processor, as first written; None without answers."""
    normalized = [normalize_evalai_answer(answer) for answer in answers]
    if not normalized:
        return None
    counts = Counter(normalized)
    top = max(counts.values())
    return next(answer for answer, form in zip(answers, normalized) if counts[form] == top)
