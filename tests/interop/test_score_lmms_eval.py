"""`python -m evals score-lmms-eval`: lmms-eval's logged samples scored by our tasks (demo slices, no model)."""

from __future__ import annotations

import json

import pytest

from evals.cli import main

POPE_PROMPT = "Is there a {} in the image?\nAnswer the question using a single word or phrase."


def write_samples(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def pope_sample(position: int, question_id: str, output: str, thing: str) -> dict:
    """A sample as lmms-eval's pope task logs it (metric dicts carry question_id)."""
    return {"doc_id": position, "target": "", "filtered_resps": output, "input": POPE_PROMPT.format(thing),
            "pope_accuracy": {"question_id": question_id, "score": 0.0, "prediction": output, "ground_truth": ""}}


def score(capsys, *args) -> tuple[int, dict | str]:
    code = main(["score-lmms-eval", *map(str, args)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def test_pope_samples_score_with_our_metrics(tmp_path, capsys):
    # Demo pope_random golds at positions 0-4: yes yes yes no no (questions kite car bench dog chair).
    samples = write_samples(tmp_path / "s.jsonl", [
        pope_sample(0, "1", "Yes", "kite"),  # yes, right (TP)
        pope_sample(1, "2", "no", "car"),  # no for a yes (FN)
        pope_sample(2, "3", "yes.", "bench"),  # neither yes nor no: wrong, ignored by P and R
        pope_sample(3, "4", "no", "dog"),  # right (TN)
        pope_sample(4, "5", "yes", "chair"),  # yes for a no (FP)
    ])
    code, result = score(capsys, samples, "--task", "pope_random", "--data", "demo")
    assert code == 0
    # accuracy 2/5; precision TP/(TP+FP) = 1/2; recall TP/(TP+FN) = 1/2; f1 = 2*.5*.5/(.5+.5) = .5.
    assert result["metrics"]["accuracy"] == pytest.approx(40.0)
    assert (result["metrics"]["precision"], result["metrics"]["recall"], result["metrics"]["f1"]) == \
        pytest.approx((50.0, 50.0, 50.0))
    assert (result["num_scored"], result["num_skipped"], result["num_prompt_mismatches"]) == (5, 0, 0)


def test_a_prompt_that_differs_from_ours_is_counted(tmp_path, capsys):
    rows = [pope_sample(0, "1", "yes", "kite"), pope_sample(1, "2", "yes", "cat")]
    samples = write_samples(tmp_path / "s.jsonl", rows)
    code, result = score(capsys, samples, "--task", "pope_random", "--data", "demo")
    assert code == 0 and result["num_prompt_mismatches"] == 1  # position 1 asks about a car, not a cat


def test_seed_samples_match_by_question_id_and_skip_video_rows(tmp_path, capsys):
    # Demo SEED positions 0-2 are image questions 101669-101671 (golds C, B, B); 27-28 are video rows.
    rows = [(0, "101669", "image", "C"), (1, "101670", "image", "(B)"), (2, "101671", "image", "b."),
            (27, "101696", "video", "C"), (28, "101697", "video", "B")]
    samples = write_samples(tmp_path / "s.jsonl", [
        {"doc_id": pos, "filtered_resps": [out], f"seed_{kind}": {"pred": out[:1], "answer": "", "question_id": qid},
         "seed_all": {"pred": out[:1], "answer": "", "question_id": qid}}
        for pos, qid, kind, out in rows])
    code, result = score(capsys, samples, "--task", "seed_image", "--data", "demo")
    assert code == 0
    # "C" right, "(B)" -> "(" wrong, "b." -> "b" right (case-insensitive): 2 of 3 image rows.
    assert result["metrics"]["accuracy"] == pytest.approx(200 / 3)
    assert (result["num_scored"], result["num_skipped"]) == (3, 2)


def test_gqa_samples_match_by_position(tmp_path, capsys):
    # lmms-eval's gqa logs only exact_match: positions 0, 1, 3 have golds yes, yellow, no.
    samples = write_samples(tmp_path / "s.jsonl", [
        {"doc_id": 0, "filtered_resps": "Yes", "exact_match": 1.0},
        {"doc_id": 1, "filtered_resps": "yellow.", "exact_match": 1.0},
        {"doc_id": 3, "filtered_resps": "t-shirt", "exact_match": 0.0},
    ])
    code, result = score(capsys, samples, "--task", "gqa", "--data", "demo")
    assert code == 0
    assert result["metrics"]["accuracy"] == pytest.approx(200 / 3)  # punctuation and case ignored: 2 of 3


def test_mme_samples_match_by_position_as_their_question_id_names_an_image(tmp_path, capsys):
    # lmms-eval's mme logs question_id, the image (two samples each). Demo positions 0 and 1 are the "Yes" and the
    # "No" question of image existence/0000.png: "Yes" to both is one right, acc 50, acc+ 0, subtask score 50.
    entry = {"question_id": "existence/0000.png", "category": "existence", "score": 0.0}
    samples = write_samples(tmp_path / "s.jsonl", [
        {"doc_id": position, "filtered_resps": "Yes", "mme_perception_score": entry} for position in (0, 1)])
    code, result = score(capsys, samples, "--task", "mme", "--data", "demo")
    assert code == 0 and (result["num_scored"], result["num_skipped"]) == (2, 0)
    assert result["metrics"]["perception_score"] == 50.0


@pytest.mark.parametrize("line, message", [
    ('{"doc_id": 0, "filtered_resps": "yes"}\nnot json\n', "s.jsonl:2: not valid JSON"),
    ('{"doc_id": 0, "filtered_resps": [[-1.5, false], [-2.0, true]]}\n', "generate_until samples only"),
    ('{"doc_id": "0", "filtered_resps": "yes"}\n', "integer doc_id"),
    ('{"doc_id": 0, "filtered_resps": "a"}\n{"doc_id": 0, "filtered_resps": "b"}\n', "doc_id 0 appears a second time"),
    ('{"doc_id": 99, "filtered_resps": "yes"}\n', "none of the 1 samples"),
])
def test_bad_samples_files_are_one_line_errors(tmp_path, capsys, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text(line)
    code, err = score(capsys, path, "--task", "pope_random", "--data", "demo")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


TEXTVQA_POST_PROMPT = "\nAnswer the question using a single word or phrase."


def textvqa_sample(position: int, question_id: int, output: str, question: str) -> dict:
    """A sample as lmms-eval's textvqa_val logs it (its submission dict carries question_id)."""
    return {"doc_id": position, "target": "answer", "filtered_resps": [output], "input": question + TEXTVQA_POST_PROMPT,
            "exact_match": 0.0, "submission": {"question_id": question_id, "answer": output.lower()}}


def test_textvqa_samples_match_by_question_id(tmp_path, capsys):
    # Demo TextVQA documents 0-2 (ids 34602-34604): the word (stop, exit, cafe) 5 of 10 times and "yes" k % 5
    # times. "STOP" -> stop: 1.0; "Yes" on document 1 (one "yes"): acc(1) = 0.3; "cafe!" -> cafe: 1.0.
    samples = write_samples(tmp_path / "s.jsonl", [
        textvqa_sample(2, 34604, "cafe!", "What is written here?"),
        textvqa_sample(0, 34602, "STOP", "What does the sign say?"),
        textvqa_sample(1, 34603, "Yes", "What word is written on the board?"),
    ])
    code, result = score(capsys, samples, "--task", "textvqa", "--data", "demo")
    assert code == 0
    assert result["metrics"]["accuracy"] == pytest.approx(230 / 3)  # (1 + 0.3 + 1) / 3
    assert (result["num_scored"], result["num_skipped"], result["num_prompt_mismatches"]) == (3, 0, 0)
