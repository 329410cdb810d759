"""Deterministic corpora of (document, model output) pairs aimed at each scorer's normalisation rules.

Every corpus is built from small hand-written lists (answers, their spelling variants, output
formats) combined by index arithmetic and one seeded `random.Random`, so it is identical on every run
and every machine. Documents carry the fields lmms-eval's task code reads (real dataset schemas).

Rules hit, per benchmark:
- VQAv2: the 21 VQA punctuation marks next to / away from spaces, digit-comma-digit text (deletes all
  marks), periods (kept before digits, deleted elsewhere, at most 32 deleted), number words, articles,
  contractions, case, newline/tab/space handling, unicode look-alikes, 0..10 matching gold answers.
- GQA: case, every `string.punctuation` character (deleted on both sides, even inside words),
  whitespace inside and around, articles and number words (not normalised), unicode punctuation.
- POPE: yes/no in every case and spacing, with punctuation and in sentences (strict match), others.
- SEED: option letters in every format (the first character decides), lower case, empty outputs.
- MMBench: option letters in every format `can_infer` knows, option texts, the article "A", several
  letters, options missing or empty, circular copies (index k * 1e6 + q) with rotated options.
- MME: yes/no in every case, with periods (deleted), single letters y/n/other, yes/no within or past
  the first four characters, reasoning blocks; gold answers in the dataset's spellings; both, one or none of an
  image's two questions right, in all 14 subtasks.
- MMMU: letters bracketed, followed by a space or a period, inside words ("AB "), lower case, beyond the
  options, several letters (the last written wins, ties to the first), option texts in answers of more and of
  fewer than six words, no letter at all (the seeded guess); open answers with numbers (commas, signs,
  decimals rounded to 2 places, scientific), key words, "=" on the last line, several lines, trivial tails,
  one-character golds; every subject, one outside lmms-eval's discipline map.
- ScienceQA: letters in every format, either case, capital + period (also non-ASCII capitals), option texts.
- TextVQA, OK-VQA, VizWiz: every VQAv2 rule above, on gold answers too (written with case, punctuation,
  spaces, tabs and newlines), plus `word_tokenize`'s: `,` and `?` deleted (also between digits and inside
  words), `'s` split off, lower-casing before the contraction table; "unanswerable" in every spelling; equal
  gold strings at several positions; 1 to 10 gold answers per question, and none (OK-VQA, VizWiz).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

SEED = 20250101


@dataclass(frozen=True)
class Corpus:
    """Documents and one raw model output per document."""

    docs: list[dict]
    outputs: list[str]


# -------------------------------------------------------------------------------------------------
# Output transformations shared by the open-ended corpora: each maps an answer to a model output.
OUTPUT_FORMS = (
    lambda a: a,
    lambda a: a.upper(),
    lambda a: a.title(),
    lambda a: a + ".",
    lambda a: a + "!",
    lambda a: a + "?",
    lambda a: f"  {a}  ",
    lambda a: f"\n{a}\n",
    lambda a: f"\t{a}",
    lambda a: f"{a}\n\nThe image shows it.",
    lambda a: f"The {a}",
    lambda a: f"a {a}",
    lambda a: f"An {a}",
    lambda a: f"({a})",
    lambda a: f"[{a}]",
    lambda a: f'"{a}"',
    lambda a: f"'{a}'",
    lambda a: f"{a} ,",
    lambda a: f"{a}, {a}",
    lambda a: f"{a};",
    lambda a: f"{a} - {a}",
    lambda a: f"{a}-{a}",
    lambda a: f"{a}/{a}",
    lambda a: f"{a} / {a}",
    lambda a: f"{a}_{a}",
    lambda a: f"<{a}>",
    lambda a: f"{{{a}}}",
    lambda a: f"{a}=",
    lambda a: f"+{a}",
    lambda a: f"{a}\\",
    lambda a: f"@{a}",
    lambda a: f"`{a}`",
    lambda a: f"{a}...",
    lambda a: f"{a}" + "." * 40,  # more periods than the 32 the VQA regex deletes
    lambda a: f"{a}.{a}",
    lambda a: f"{a}:",
    lambda a: f"#{a}",
    lambda a: f"{a}&{a}",
    lambda a: f"{a}*",
    lambda a: f"{a}%",
    lambda a: f"${a}",
    lambda a: f"{a}  {a}",
    lambda a: f"{a}\u00a0",  # no-break space: str.strip removes it
    lambda a: f"{a}\u2026",  # horizontal ellipsis: not ASCII punctuation
    lambda a: f"\u2018{a}\u2019",  # curly quotes
    lambda a: a.replace("'", "\u2019"),
    lambda a: a.replace(" ", ""),
    lambda a: a.replace(" ", "  "),
    lambda a: a.replace(" ", "\t"),
    lambda a: f"{a} 1,000",
    lambda a: f"{a} 3.5",
    lambda a: f"{a} a.m.",
    lambda a: "",
    lambda a: "   ",
    lambda a: f"<think>maybe {a}?</think>{a}",  # lmms-eval strips closed reasoning blocks
)


# -------------------------------------------------------------------------------------------------
# VQAv2
# Each cluster holds spellings of one answer; some normalise to the same string, some do not.
VQA_CLUSTERS = (
    ("2", "two", "Two", "2 ", "TWO.", "2 dogs"),
    ("yes", "Yes", "yes!", "YES.", "yes yes", "yeah"),
    ("no", "No", "no.", "nope", "no!", "not"),
    ("red", "Red", "red.", "dark red", "red!", "(red)"),
    ("t-shirt", "t shirt", "tshirt", "T-Shirt", "t - shirt", "t_shirt"),
    ("1,000", "1000", "1 000", "thousand", "1,000.", "1.000"),
    ("3.5", "3.50", "3,5", "3.5.", "3 .5", "three and half"),
    ("10:30", "10.30", "10:30 am", "10:30 a.m.", "1030", "10:30."),
    ("don't know", "dont know", "do not know", "Don't know", "dont' know", "idk"),
    ("man's hat", "mans hat", "man hat", "the man's hat", "man's hat.", "mans' hat"),
    ("dog", "the dog", "a dog", "dogs", "Dog", "an dog"),
    ("black and white", "black/white", "black & white", "black, white", "black-and-white", "b&w"),
    ("0", "none", "zero", "nothing", "Zero", "0."),
    ("10", "ten", "Ten", "10+", "10.", "10 "),
    ("left", "on left", "to the left", "left side", "Left", "left."),
    ("frisbee", "Frisbee", "frisbee!", "(frisbee)", "frisbee?", "frisbees"),
    ("what's", "whats", "what is", "Whats", "what's.", "what' s"),
    ("teddy bear", "teddy-bear", "teddy_bear", "teddy bears", "Teddy Bear", "teddy  bear"),
    ("$5", "5", "5 dollars", "five", "$5.00", "5$"),
    ("50%", "50", "half", "fifty percent", "50 %", "50%."),
    ("o'clock", "oclock", "o clock", "12 o'clock", "12 oclock", "clock"),
    ("isn't", "isnt", "is not", "Isnt", "isn't.", "aint"),
)


def vqav2_corpus(num_docs: int = 264) -> Corpus:
    """VQAv2 documents (10 gold answers each) and predictions built from answer spellings."""
    rng = random.Random(SEED)
    docs, outputs = [], []
    answer_types = ("yes/no", "number", "other")
    for i in range(num_docs):
        cluster = VQA_CLUSTERS[i % len(VQA_CLUSTERS)]
        other = VQA_CLUSTERS[(i * 7 + 3) % len(VQA_CLUSTERS)]
        # 0..10 gold answers from the cluster, the rest from another cluster: every min(1, m/3) value occurs.
        num_from_cluster = (i // len(VQA_CLUSTERS)) % 11
        golds = [rng.choice(cluster) for _ in range(num_from_cluster)]
        golds += [rng.choice(other) for _ in range(10 - num_from_cluster)]
        rng.shuffle(golds)
        answers = [{"answer": g, "answer_confidence": rng.choice(("yes", "maybe", "no")), "answer_id": k + 1}
                   for k, g in enumerate(golds)]
        base = rng.choice(cluster)
        form = OUTPUT_FORMS[(i * 5 + i // len(OUTPUT_FORMS)) % len(OUTPUT_FORMS)]
        docs.append({
            "question_id": 262148000 + i,
            "question": f"Question {i}?",
            "question_type": "what",
            "answer_type": answer_types[i % 3],
            "multiple_choice_answer": cluster[0],
            "image_id": 9000 + i,
            "answers": answers,
        })
        outputs.append(form(base))
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# GQA
GQA_ANSWERS = (
    "yes", "no", "left", "right", "t-shirt", "black and white", "man", "white", "wood", "table",
    "2", "two", "the bottom", "don't know", "Yes", "T-Shirt", "tshirt", "a.m.", "st. louis", "50%",
)
def _suffixed(mark: str):
    return lambda a: a + mark


def _inserted(mark: str):
    return lambda a: a[:1] + mark + a[1:]


# Outputs that hit each ASCII punctuation character, inside and around a word.
GQA_PUNCTUATION_FORMS = (*(_suffixed(p) for p in string.punctuation), *(_inserted(p) for p in string.punctuation))
GQA_EXTRA_FORMS = (
    lambda a: f"{a}\x00{a}",  # an inner NUL survives numpy's string arrays
    lambda a: f"{a} ",
    lambda a: f"{a}\n",
    lambda a: f"{a}\nyes",
    lambda a: a.replace(" ", "\u00a0"),
    lambda a: f"the {a}",
    lambda a: {"2": "two", "two": "2"}.get(a, a),
    lambda a: a.upper().replace("I", "\u0130"),  # dotted capital I lower-cases to two code points
)


# lmms-eval compares numpy string arrays, which drop trailing NUL characters: "left\x00" equals "left".
GQA_TRAILING_NUL_FORMS = (lambda a: f"{a}\x00", lambda a: f"{a}.\x00\x00")


def gqa_corpus(forms: tuple = OUTPUT_FORMS + GQA_PUNCTUATION_FORMS + GQA_EXTRA_FORMS, rounds: int = 2) -> Corpus:
    """GQA documents (one gold answer) and predictions: every output form once per round, each round on other golds."""
    rng = random.Random(SEED + 1)
    docs, outputs = [], []
    for i in range(rounds * len(forms)):
        form = forms[i % len(forms)]
        gold = GQA_ANSWERS[(i + i // len(forms)) % len(GQA_ANSWERS)]
        # One document in four answers a different gold, so most forms are tried on a wrong answer too.
        source = gold if i % 4 else rng.choice(GQA_ANSWERS)
        docs.append({"id": f"2014{i:05d}", "imageId": f"n{i}", "question": f"Question {i}?",
                     "answer": gold, "fullAnswer": f"It is {gold}."})
        outputs.append(form(source))
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# POPE
POPE_OUTPUTS = (
    "yes", "no", "Yes", "No", "YES", "NO", " yes", "no ", "\nyes\n", "\tno", "yes.", "No.", "yes!",
    "Yes, there is a dog in the image.", "No, there is not.", "There is no dog.", "not", "nope",
    "y", "n", "", "   ", "yes yes", "ye s", "yes\nno", "\uff59\uff45\uff53", "Yes\u00a0", "yES", "nO",
    "<think>no</think>yes", "maybe", "1", "0", "true", "false", "yes\n\n", "no\n\nThe image shows",
)


def pope_corpus(num_docs: int = 222) -> Corpus:
    """POPE documents (gold yes/no, in three categories) and outputs from the list above."""
    rng = random.Random(SEED + 2)
    golds = ("yes", "no", "Yes", " no")  # lmms-eval lower-cases and strips the gold too
    categories = ("adversarial", "popular", "random")
    docs, outputs = [], []
    for i in range(num_docs):
        docs.append({"id": str(i), "question_id": str(i + 1), "question": f"Is there a thing {i} in the image?",
                     "answer": golds[i % len(golds)] if i % 7 else rng.choice(("yes", "no")),
                     "image_source": f"COCO_val2014_{i:012d}", "category": categories[i % 3]})
        outputs.append(POPE_OUTPUTS[(i * 3 + i // len(POPE_OUTPUTS)) % len(POPE_OUTPUTS)])
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# SEED-Bench
LETTER_FORMS = (
    "{L}", "{L}.", "{L})", "({L})", "{L}:", ":{L}", "{L},", "{L}).", "({L}).", ":{L}.", ":{L})", ":{L},",
    "{l}", "{l}.", " {L} ", "\n{L}", "Answer: {L}", "The answer is {L}", "The answer is {L}.",
    "{L}. {text}", "{L} {text}", "{text}", "{Text}", "Option {L}", "{L} and {M}", "{L} {M}", "{M}{L}",
    "I think {L}", "{L}\n\n{M}", "<think>{M}</think>{L}", "", "E", "\uff21", "1", "{L}{L}",
)


def letter_output(form: str, letter: str, other: str, text: str) -> str:
    """One output format filled with a letter, another letter and an option text."""
    return form.format(L=letter, l=letter.lower(), M=other, text=text, Text=text.title())


def seed_corpus(num_docs: int = 240) -> Corpus:
    """SEED-Bench documents (image and video items) and letter outputs in every format."""
    rng = random.Random(SEED + 3)
    options = ("red", "blue", "a dog", "two cats", "A car", "left", "none", "B")
    docs, outputs = [], []
    for i in range(num_docs):
        choices = rng.sample(options, 4)
        answer = "ABCD"[i % 4]
        said = answer if i % 3 else rng.choice("ABCD")  # a third of the outputs name a random letter
        other = rng.choice("ABCD")
        doc = {"answer": answer, "choice_a": choices[0], "choice_b": choices[1], "choice_c": choices[2],
               "choice_d": choices[3], "data_id": f"demo/{i:05d}.png", "data_type": "video" if i % 5 == 4 else "image",
               "question": f"Question {i}?", "question_id": str(100000 + i), "question_type_id": 1 + i % 12}
        docs.append(doc)
        form = LETTER_FORMS[(i * 7 + i // len(LETTER_FORMS)) % len(LETTER_FORMS)]
        outputs.append(letter_output(form, said, other, choices["ABCD".index(said)]))
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# MMBench
MMBENCH_OPTION_TEXTS = ("red", "blue", "green", "a dog", "the cat", "Paris", "B", "yes", "left side", "10")
MMBENCH_CATEGORIES = (("image_scene", "Coarse Perception"), ("ocr", "Fine-grained Single-instance Perception"),
                      ("physical_relation", "Relation Reasoning"))
MMBENCH_FORMS = LETTER_FORMS + (
    "A {text}", "A is {text} and more", "{L} or maybe {M}", "Failed to obtain answer via API {L}",
    "{text} or {other_text}", "It is {Text}.", "({L}", "{L}]", "**{L}**",
)


def _rotate(options: list, k: int) -> list:
    return options[k:] + options[:k]


def mmbench_corpus(num_questions: int = 72) -> Corpus:
    """MMBench groups: each question and its circular copies (one per option), one output per row."""
    rng = random.Random(SEED + 4)
    docs, outputs = [], []
    form_index = 0
    for q in range(num_questions):
        num_options = 2 + q % 3  # 2, 3 or 4 options; missing ones are None
        texts = rng.sample(MMBENCH_OPTION_TEXTS, num_options)
        if q % 16 == 5:
            texts[-1] = ""  # an empty option text, which can_infer_text matches everywhere
        answer_pos = rng.randrange(num_options)
        hint = None if q % 3 else f"Hint {q}."
        category, l2 = MMBENCH_CATEGORIES[q % len(MMBENCH_CATEGORIES)]
        for k in range(num_options):
            rotated = _rotate(texts, k)
            gold = "ABCD"[(answer_pos - k) % num_options]
            row = {"index": k * 1_000_000 + q, "question": f"Question {q}", "hint": hint, "answer": gold,
                   "category": category, "source": "corpus", "L2-category": l2, "comment": None, "split": "dev"}
            for j, letter in enumerate("ABCD"):
                row[letter] = rotated[j] if j < num_options else None
            docs.append(row)
            # Mostly the gold letter, sometimes another option, in a rotating format.
            said = gold if rng.random() < 0.75 else "ABCD"[rng.randrange(num_options)]
            other = "ABCD"[rng.randrange(num_options)]
            form = MMBENCH_FORMS[form_index % len(MMBENCH_FORMS)]
            form_index += 1
            text = row[said]
            other_text = row[other]
            outputs.append(form.format(L=said, l=said.lower(), M=other, text=text, Text=text.title(),
                                       other_text=other_text))
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# MME (issue 15a): two questions per image (one yes, one no), every subtask, outputs for every parse rule.
MME_CATEGORIES = (
    "existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR",
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning",
)
MME_OUTPUTS = (
    "yes", "no", "Yes", "No", "YES.", "No.", " yes ", "\nno\n", "y", "n", "Y", "N", "x", "", "   ",
    "Yes, there is a dog.", "No, it is not.", "nope", "Noo", "yess", "yes.", "n.o", "y.e.s", "ye", "Yes\n\nIt is.",
    "<think>no</think>yes", "NO!", "no!", "not sure", "Sure", "yep", "The answer is yes", "noyes", "yesno",
    "\uff59\uff45\uff53", "Yes\u00a0", ".yes", "y.", "n!", "I don't know", "nyes", " no, yes",
)


def mme_corpus(num_images: int = 112) -> Corpus:
    """MME documents in image pairs (gold yes and no, in the dataset's spellings) and outputs from the list above."""
    rng = random.Random(SEED + 5)
    docs, outputs = [], []
    for image in range(num_images):
        category = MME_CATEGORIES[image % len(MME_CATEGORIES)]
        yes, no = rng.choice(("Yes", "yes", "Yes.", " YES")), rng.choice(("No", "no", "No.", "NO "))
        for gold in ((yes, no) if image % 2 else (no, yes)):
            row = len(docs)
            docs.append({"question_id": f"{category}/{image:04d}.png", "row": row, "category": category,
                         "question": f"Is it thing {row}? Please answer yes or no.", "answer": gold})
            # The list in turn; one in five says the gold answer, so that both questions of some images are right.
            said = gold.strip(" .").lower() if row % 5 == 0 else MME_OUTPUTS[(row * 5) % len(MME_OUTPUTS)]
            outputs.append(said)
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# MMMU (issue 15a): multiple-choice and open questions over every subject, answers aimed at each parse rule.
MMMU_SUBJECTS = (
    "Art", "Art_Theory", "Design", "Music", "Accounting", "Economics", "Finance", "Manage", "Marketing", "Biology",
    "Chemistry", "Geography", "Math", "Physics", "Basic_Medical_Science", "Clinical_Medicine",
    "Diagnostics_and_Laboratory_Medicine", "Pharmacy", "Public_Health", "History", "Literature", "Sociology",
    "Psychology", "Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
    "Energy_and_Power", "Materials", "Mechanical_Engineering", "Unlisted_Subject",
)
MMMU_OPTION_TEXTS = ("red", "blue sky", "A cat", "10 m/s", "<image 2>", "none of these", "B", "left", "3.5",
                     "the first one", "Paris", "photosynthesis")
MMMU_CHOICE_FORMS = LETTER_FORMS + (
    "{l}", "{L} ", "({l})", "The correct option is {L}, not {M}.", "({L}) or ({M})", "{L} or {M}", "{M}{L} ",
    "I think the answer is {text} for sure", "It could be {text} or {other_text} in this case",
    "{text}", "The picture shows {Text} clearly here", "{L}{M}.", "Z", "None of them apply here at all really",
    "Answer: ({L}).", "'{L}'", "{L}!", "?{L}?", "{L};", ",{L},", "{L}\n\nBecause {M}.",
    # Letters found without a space before them: no " X " to place them, so the first letter in option order wins.
    "x{L} y{M}", "{L}.{M}.x",
)
MMMU_OPEN_GOLDS = ("3.5", "1,200", "42", "-7", "0.25", "sandstone", "photosynthesis", "a", "x", "1e3", "2.005",
                   "['24/7', '3.429']", "Paris", "10 m/s")
MMMU_OPEN_FORMS = (
    "result is answer \n{g}",  # "answer " leaves an empty tail, which the next key word's longer tail replaces
    "{g}", "{G}", "{g}.", "The answer is {g}.", "so it is {g}", "x = {g}", "Thus {g}\nso nothing", "{g} and 12",
    "result {g}", "It could be {g}", "final answer: {g}", "therefore, {g}!", "{g}\n=\n", "about 1,000,000 and {g}",
    "-{g}", "{g}0", "{g}e2", "1.5e-3", "is :", "It is 3.4999.", "answer is  ", "", "I don't know", "{g} {g}",
    "It is {g}. So the answer is 5", "approximately {g} units", "{g}%", "${g}", "(a)", "A", "a",
)


def mmmu_corpus(num_docs: int = 260) -> Corpus:
    """MMMU documents (id validation_<Subject>_<n>, options as a list literal) and answers in every format."""
    rng = random.Random(SEED + 6)
    docs, outputs = [], []
    choice_forms, open_forms = 0, 0  # each list is gone through in turn, so every form is used
    for i in range(num_docs):
        subject = MMMU_SUBJECTS[i % len(MMMU_SUBJECTS)]
        doc = {"id": f"validation_{subject}_{i}", "explanation": "", "img_type": "['Diagrams']",
               "topic_difficulty": "Easy", "subfield": subject}
        if i % 3 == 2:  # open question
            gold = MMMU_OPEN_GOLDS[(i // 3) % len(MMMU_OPEN_GOLDS)]
            said = gold if i % 4 else rng.choice(MMMU_OPEN_GOLDS)
            form = MMMU_OPEN_FORMS[open_forms % len(MMMU_OPEN_FORMS)]
            open_forms += 1
            docs.append(doc | {"question": f"<image 1> Question {i}?", "options": "[]", "answer": gold,
                               "question_type": "open"})
            outputs.append(form.format(g=said, G=said.upper()))
            continue
        num_options = 2 + i % 8  # 2 to 9 options: letters up to I
        texts = rng.sample(MMMU_OPTION_TEXTS, num_options)
        letters = "ABCDEFGHI"[:num_options]
        gold = letters[rng.randrange(num_options)]
        said = gold if rng.random() < 0.6 else rng.choice(letters + "Z")
        other = rng.choice(letters)
        text = texts[letters.index(said)] if said in letters else "nothing"
        form = MMMU_CHOICE_FORMS[choice_forms % len(MMMU_CHOICE_FORMS)]
        choice_forms += 1
        docs.append(doc | {"question": f"<image 1> Question {i}?", "options": repr(texts), "answer": gold,
                           "question_type": "multiple-choice"})
        outputs.append(form.format(L=said, l=said.lower(), M=other, text=text, Text=text.title(),
                                   other_text=texts[letters.index(other)]))
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# ScienceQA-IMG (issue 15a): 2-5 choices, the answer an index; letters in every format.
SQA_FORMS = LETTER_FORMS + (
    "{l}.", "{L}. {text}", "{l}. {text}", "{L}.{text}", "{L}.", " {L}.", "\u00c9.", "\u00e9", "{L}.\n\n{M}",
    "{M}. {L}", "{text}",
)
SQA_CHOICE_TEXTS = ("Maine", "Ohio", "a lynx", "B", "igneous rock", "attract", "repel", "weather", "climate")
SQA_SUBJECTS = ("natural science", "social science", "language science")


def scienceqa_corpus(num_docs: int = 230) -> Corpus:
    """ScienceQA-IMG documents (with and without hint) and letter outputs in every format."""
    rng = random.Random(SEED + 7)
    docs, outputs = [], []
    for i in range(num_docs):
        choices = rng.sample(SQA_CHOICE_TEXTS, 2 + i % 4)
        answer = rng.randrange(len(choices))
        letters = "ABCDE"[: len(choices)]
        said = letters[answer] if i % 3 else rng.choice(letters)
        docs.append({"row": i, "question": f"Question {i}?", "choices": choices, "answer": answer,
                     "hint": f"Context {i}." if i % 2 else "", "task": "closed choice", "grade": f"grade{1 + i % 12}",
                     "subject": SQA_SUBJECTS[i % 3], "topic": "t", "category": "c", "skill": "s", "lecture": "",
                     "solution": ""})
        form = SQA_FORMS[(i * 5 + i // len(SQA_FORMS)) % len(SQA_FORMS)]
        outputs.append(letter_output(form, said, rng.choice(letters), choices[letters.index(said)]))
    return Corpus(docs, outputs)


# -------------------------------------------------------------------------------------------------
# TextVQA, OK-VQA, VizWiz-VQA (issue 15b): gold answers are strings, and both sides go through the whole
# EvalAI processor. These clusters hit what word_tokenize adds to the VQAv2 rules.
EVALAI_CLUSTERS = (
    ("unanswerable", "Unanswerable", "unanswerable.", "UNANSWERABLE!", "un-answerable", "unsuitable"),
    ("coca-cola", "Coca-Cola", "coca cola", "cocacola", "Coca-Cola,", "coca_cola"),
    ("man's hat", "Man's Hat", "mans hat", "man 's hat", "man's hat?", "MAN'S HAT."),
    ("it's red", "its red", "it is red", "It's Red!", "it's, red", "its' red"),
    ("what?", "what", "What?!", "what ?", "wh?at", "WHATS"),
    ("1,000", "1000", "1, 000", "one thousand", "1,000,000", "1.000"),
    ("3:30", "3.30", "3:30pm", "3 : 30", "half past three", "330"),
    ("$5.99", "5.99", "$ 5.99", "5,99", "$5.99.", "five 99"),
    ("www.google.com", "google.com", "WWW.GOOGLE.COM", "www google com", "google", "http://www.google.com"),
    ("a, b", "a b", "ab", "a,b", "A, B", "b, a"),
    ("yes", "Yes", "yes?", "yes, sir", "YES.", "yes's"),
)
ANSWER_LIST_CLUSTERS = VQA_CLUSTERS + EVALAI_CLUSTERS
# How gold answers are written: the annotators' own case, spacing and stray punctuation.
GOLD_FORMS = (
    lambda a: a,
    lambda a: a,
    lambda a: a.upper(),
    lambda a: f" {a} ",
    lambda a: f"{a}\n",
    lambda a: a.replace(" ", "\t"),
    lambda a: f"{a}.",
    lambda a: f"{a}?",
)
ANSWER_COUNTS = (10, 10, 10, 10, 10, 10, 9, 3, 1, 5)


def answer_list_corpus(make_doc, num_docs: int = 264, with_no_answers: bool = True, seed: int = SEED + 5) -> Corpus:
    """Documents with `answers` as a list of strings (`make_doc(i, answers)` adds the dataset's other fields) and
    predictions built from answer spellings. Every 23rd document has no answers when `with_no_answers`."""
    rng = random.Random(seed)
    clusters = ANSWER_LIST_CLUSTERS
    docs, outputs = [], []
    for i in range(num_docs):
        cluster = clusters[i % len(clusters)]
        other = clusters[(i * 7 + 3) % len(clusters)]
        size = 0 if with_no_answers and i % 23 == 11 else ANSWER_COUNTS[(i // len(clusters) + i) % len(ANSWER_COUNTS)]
        # 0..size answers from the cluster, the rest from another one: every acc(k) occurs.
        from_cluster = (i + i // len(clusters)) % (size + 1)
        golds = [rng.choice(cluster) for _ in range(from_cluster)]
        golds += [rng.choice(other) for _ in range(size - from_cluster)]
        if i % 9 == 4 and golds:
            golds = [golds[0]] * len(golds)  # unanimous: equal strings at every position
        golds = [GOLD_FORMS[(i + k) % len(GOLD_FORMS)](g) if (i + k) % 3 == 0 else g for k, g in enumerate(golds)]
        rng.shuffle(golds)
        form = OUTPUT_FORMS[(i * 5 + i // len(OUTPUT_FORMS)) % len(OUTPUT_FORMS)]
        docs.append(make_doc(i, golds))
        outputs.append(form(rng.choice(cluster)))
    return Corpus(docs, outputs)


def textvqa_corpus() -> Corpus:
    """TextVQA validation documents (question_id int, OCR tokens); every one has gold answers."""
    return answer_list_corpus(
        lambda i, answers: {"question_id": 34602 + i, "question": f"what is written {i}?", "answers": answers,
                            "ocr_tokens": ["stop", f"{i}"], "image_id": f"{i:016x}", "set_name": "val"},
        with_no_answers=False, seed=SEED + 5)


OKVQA_QUESTION_TYPES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "other")


def okvqa_corpus() -> Corpus:
    """OK-VQA val2014 documents (question_id str, question_type)."""
    return answer_list_corpus(
        lambda i, answers: {"question_id": str(2971470 + 10 * i), "question": f"What is it for {i}?",
                            "answers": answers, "question_type": OKVQA_QUESTION_TYPES[i % 11], "answer_type": "other"},
        seed=SEED + 6)


VIZWIZ_CATEGORIES = ("other", "yes/no", "number", "unanswerable")


def vizwiz_corpus() -> Corpus:
    """VizWiz val documents (question_id "VizWiz_val_<8 digits>", category)."""
    return answer_list_corpus(
        lambda i, answers: {"question_id": f"VizWiz_val_{i:08d}", "question": f"what is this {i}?",
                            "answers": answers, "category": VIZWIZ_CATEGORIES[i % 4]},
        seed=SEED + 7)


def vizwiz_test_corpus(num_docs: int = 40) -> Corpus:
    """VizWiz test documents (no answers, ids in sorted order as the split holds them) and outputs."""
    docs = [{"question_id": f"VizWiz_test_{i:08d}", "question": f"what is this {i}?", "answers": None,
             "category": None} for i in range(num_docs)]
    rng = random.Random(SEED + 8)
    outputs = [OUTPUT_FORMS[i % len(OUTPUT_FORMS)](rng.choice(rng.choice(ANSWER_LIST_CLUSTERS)))
               for i in range(num_docs)]
    return Corpus(docs, outputs)
