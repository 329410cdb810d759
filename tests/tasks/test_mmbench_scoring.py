"""MMBench scoring (tasks/mmbench.py): letter extraction, CircularEval groups, breakdowns, judge."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from evals.run.records import Record
from tasks.mmbench import TASKS, build_prompt

DEV = next(t for t in TASKS if t.name == "mmbench_en_dev")


def mm_doc(index: int, options: list[str], answer: str, category: str = "ocr", l2: str = "Coarse Perception") -> dict:
    doc = {"index": index, "question": "What is shown?", "hint": None, "answer": answer, "category": category,
           "L2-category": l2, "source": "demo", "split": "dev", "comment": None, "image": None}
    for i, letter in enumerate("ABCD"):
        doc[letter] = options[i] if i < len(options) else None
    return doc


def rec(doc: dict, output: str, task=DEV) -> Record:
    return Record(task.name, str(doc["index"]), output=output, scores=task.score(doc, output))


@pytest.mark.parametrize(
    "output, letter",
    [
        ("(B)", "B"), ("B.", "B"), ("The answer is B", "B"), ("blue", "B"), ("It is blue.", "B"),  # can_infer
        # can_infer finds no letter token or option text in these; extract_mcq_answer's formats decide:
        ("(B", "B"),  # a closing letter after a non-letter
        ("**B**", "B"),  # no format matches: any occurrence of an option letter
        ("Not B. but C. fits", "C"),  # two "X." letters: the later one
        ("I don't know", ""),  # no capital A, B or C anywhere: unresolved
        ("Definitely", ""),  # "D" is no option of this 3-option question
    ],
)
def test_letter_forms(output, letter):
    scores = DEV.score(mm_doc(0, ["red", "blue", "green"], "B"), output)
    assert scores["letter"] == letter
    assert scores["correct"] == float(letter == "B")
    assert scores["resolved"] == float(letter != "")


# Question 0 (3 options) and its two rotations; question 1 (2 options) and its rotation.
Q0 = [mm_doc(0, ["red", "blue", "green"], "B", "ocr"),
      mm_doc(1_000_000, ["blue", "green", "red"], "A", "ocr"),
      mm_doc(2_000_000, ["green", "red", "blue"], "C", "ocr")]
Q1 = [mm_doc(1, ["cat", "dog"], "A", "scene"), mm_doc(1_000_001, ["dog", "cat"], "B", "scene")]


def test_circular_group_needs_every_rotation_right():
    records = [rec(Q0[0], "(B)"), rec(Q0[1], "A."), rec(Q0[2], "The answer is C"),  # q0: all right
               rec(Q1[0], "A"), rec(Q1[1], "A")]  # q1: the rotated copy is wrong
    metrics = DEV.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(50.0)  # q0 hit, q1 miss
    assert metrics["accuracy_single"] == pytest.approx(100.0)  # both originals right
    assert metrics["category:ocr"] == pytest.approx(100.0)
    assert metrics["category:scene"] == pytest.approx(0.0)
    assert metrics["l2_category:Coarse Perception"] == pytest.approx(50.0)
    assert metrics["num_unresolved"] == 0


def test_unresolved_answer_counts_wrong_and_is_reported():
    records = [rec(Q0[0], "B"), rec(Q0[1], "no idea"), rec(Q0[2], "C"), rec(Q1[0], "cat"), rec(Q1[1], "It is a cat")]
    metrics = DEV.aggregate(records)
    # q0: "no idea" has no option text and no capital A-C, so both stages leave it unresolved -> miss
    # (lmms-eval's static path counts it wrong too; its judge path would ask GPT, then draw a random letter)
    # q1: option text resolves both copies ("cat" is A, then B) -> hit
    assert metrics["accuracy"] == pytest.approx(50.0)
    assert metrics["num_unresolved"] == 1


def test_second_stage_resolves_circular_copies():
    # can_infer resolves none of q0's answers; extract_mcq_answer reads "(B" -> B (closing letter),
    # "**A**" -> A (any occurrence), "I pick C!" -> C ("i pick" phrase and closing letter once "!" is
    # stripped): all three copies right -> q0 hit. q1: "Dunno" has no capital A or B -> unresolved -> miss.
    records = [rec(Q0[0], "(B"), rec(Q0[1], "**A**"), rec(Q0[2], "I pick C!"), rec(Q1[0], "Dunno"), rec(Q1[1], "B")]
    metrics = DEV.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(50.0)
    assert metrics["num_unresolved"] == 1


def test_error_record_fails_its_group_and_keeps_the_category():
    records = [Record(DEV.name, "0", error="unreadable image"), rec(Q0[1], "A"), rec(Q0[2], "C"),
               rec(Q1[0], "A"), rec(Q1[1], "B")]
    metrics = DEV.aggregate(records)
    assert metrics["accuracy"] == pytest.approx(50.0)
    assert metrics["accuracy_single"] == pytest.approx(50.0)  # the failed original counts wrong
    assert metrics["category:ocr"] == pytest.approx(0.0)  # label taken from the group's other copies
    assert metrics["num_errors"] == 1


def test_prompt_with_and_without_hint():
    doc = mm_doc(0, ["red", "blue"], "A")
    assert build_prompt(doc) == (
        "What is shown? There are several options:\nA. red\nB. blue\n\n"
        "Answer with the option's letter from the given choices directly."
    )
    doc["hint"] = "Look closely."
    assert build_prompt(doc).startswith("Look closely. What is shown? There are several options:\nA. red")


def test_likelihood_mode_scores_letters():
    task = DEV.with_options({"mode": "likelihood"})
    doc = Q0[1]
    request = task.build_request(doc, seed=0)
    assert request.choices == (" A", " B", " C") and request.target == 0
    assert task.score(doc, [-0.1, -2.0, -3.0])["correct"] == 1.0


class _JudgeHandler(BaseHTTPRequestHandler):
    replies: ClassVar[list[str]] = []
    prompts: ClassVar[list[str]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.prompts.append(body["messages"][0]["content"])
        payload = json.dumps({"choices": [{"message": {"content": self.replies.pop(0)}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_url():
    """The chat-completions URL of a local fake judge that answers `_JudgeHandler.replies` in turn."""
    _JudgeHandler.replies, _JudgeHandler.prompts = [], []
    server = HTTPServer(("127.0.0.1", 0), _JudgeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/chat/completions"
    server.shutdown()


def test_judge_is_off_unless_configured_and_resolves_when_on(judge_url):
    doc = mm_doc(0, ["red", "blue", "green"], "B")
    assert DEV.score(doc, "the second one")["resolved"] == 0.0  # default: no judge, unresolved
    _JudgeHandler.replies = ["I am not sure", "B"]  # first reply names no option: asked again
    judged = DEV.with_options({"judge_url": judge_url}).score(doc, "the second one")
    assert judged["letter"] == "B" and judged["correct"] == 1.0
    assert _JudgeHandler.prompts[0].endswith(
        "Question: What is shown??\nOptions: There are several options: \nA. red\nB. blue\nC. green\n\n"
        "Answer: the second one\nYour output: "
    )


def test_judge_replaces_the_second_stage_when_configured(judge_url):
    # lmms-eval's judge path asks the judge right after can_infer: "(B" goes to the judge (which says C)
    # instead of extract_mcq_answer (which would say B, as the default path does).
    doc = mm_doc(0, ["red", "blue", "green"], "B")
    assert DEV.score(doc, "(B")["letter"] == "B"
    _JudgeHandler.replies = ["C"]
    judged = DEV.with_options({"judge_url": judge_url}).score(doc, "(B")
    assert judged["letter"] == "C" and judged["correct"] == 0.0
    assert len(_JudgeHandler.prompts) == 1
