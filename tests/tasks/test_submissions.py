"""Submission files: VQAv2 test-dev and VizWiz test for EvalAI, MMBench test for the official server."""

from __future__ import annotations

import json
import random

import pandas as pd

from evals.run.records import Record
from evals.task_api import DataSource
from tasks import mmbench, vizwiz, vqav2

TESTDEV = next(t for t in vqav2.TASKS if t.name == "vqav2_testdev")
VAL = next(t for t in vqav2.TASKS if t.name == "vqav2_val")
MMB_TEST = next(t for t in mmbench.TASKS if t.name == "mmbench_en_test")
DEMO = DataSource(kind="demo")


def run_records(task, outputs):
    docs = list(task.load_docs(DEMO))
    records = [Record(task.name, task.doc_id(d), output=o, scores=task.score(d, o)) for d, o in zip(docs, outputs)]
    records[1] = Record(task.name, records[1].doc_id, error="unreadable image")
    return docs, records


def test_vqav2_testdev_evalai_json(tmp_path):
    docs = list(TESTDEV.load_docs(DEMO))
    docs_ids = [d["question_id"] for d in docs]
    _, records = run_records(TESTDEV, ["Two!", "x"] + ["The red"] * (len(docs) - 2))
    # The official test2015 questions file format; three ids that were not run.
    questions = tmp_path / "v2_OpenEnded_mscoco_test2015_questions.json"
    questions.write_text(json.dumps({"questions": [{"question_id": q} for q in docs_ids + [1, 2, 3]]}))
    task = TESTDEV.with_options({"question_ids": str(questions)})
    [path] = task.write_artifacts(records, tmp_path / "run")
    assert path == tmp_path / "run" / "submissions" / "vqav2_testdev_submission.json"
    entries = json.loads(path.read_text())
    assert [e["question_id"] for e in entries] == sorted(docs_ids + [1, 2, 3])
    assert all(set(e) == {"question_id", "answer"} and isinstance(e["question_id"], int) for e in entries)
    by_id = {e["question_id"]: e["answer"] for e in entries}
    assert by_id[docs_ids[0]] == "2"  # lmms-eval's normalised prediction ("Two!" -> "2")
    assert by_id[docs_ids[2]] == "red"
    assert by_id[docs_ids[1]] == ""  # the failed document
    assert by_id[1] == by_id[2] == by_id[3] == ""  # listed but not run


def test_vqav2_submission_does_not_depend_on_record_order(tmp_path):
    _, records = run_records(TESTDEV, ["yes"] * 20)
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    [a] = TESTDEV.write_artifacts(records, tmp_path / "a")
    [b] = TESTDEV.write_artifacts(shuffled, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()


def test_vqav2_val_writes_no_submission(tmp_path):
    _, records = run_records(VAL, ["yes"] * 30)
    assert VAL.write_artifacts(records, tmp_path) == []


def test_mmbench_test_sheet_has_the_server_columns(tmp_path):
    docs = list(MMB_TEST.load_docs(DEMO))
    outputs = [f" {'AB'[i % 2]}. because\n" for i in range(len(docs))]
    _, records = run_records(MMB_TEST, outputs)
    shuffled = records[::-1]
    [path] = MMB_TEST.write_artifacts(shuffled, tmp_path)
    assert path == tmp_path / "submissions" / "mmbench_en_test_results.xlsx"
    sheet = pd.read_excel(path, keep_default_na=False)
    assert list(sheet.columns) == ["index", "question", "answer", "prediction", "hint", "source", "split",
                                   "category", "L2-category", "A", "B", "C", "D", "E"]
    assert sheet["index"].tolist() == sorted(int(d["index"]) for d in docs)  # one row per question, by index
    by_index = dict(zip(sheet["index"], sheet["prediction"]))
    first = int(docs[0]["index"])
    assert by_index[first] == "A. because"  # the raw output, stripped, as lmms-eval writes it
    assert by_index[int(docs[1]["index"])] == ""  # the failed document keeps its row
    assert set(sheet["E"]) - {""} == {"nan"}  # lmms-eval's doc.get("E", "nan") for the en config
    assert MMB_TEST.aggregate(records) == {"num_unresolved": 0, "num_errors": 1}


def test_mmbench_sheet_holds_answers_with_control_characters_and_overlong_text(tmp_path):
    dev = next(t for t in mmbench.TASKS if t.name == "mmbench_en_dev")
    docs = list(dev.load_docs(DEMO))
    # openpyxl refuses U+0000-U+0008, U+000B, U+000C, U+000E-U+001F; tab and newline stay. 40,000 characters
    # exceed Excel's cell limit of 32,767.
    outputs = ["B\x00\x07\x1b[0m\x0bx\ty\nz", "A" * 40_000] + ["A"] * (len(docs) - 2)
    records = [Record(dev.name, dev.doc_id(d), output=o, scores=dev.score(d, o)) for d, o in zip(docs, outputs)]
    [path] = dev.write_artifacts(records, tmp_path)
    sheet = pd.read_excel(path, keep_default_na=False)
    by_index = dict(zip(sheet["index"], sheet["prediction"]))
    # clean_output strips the ends only; sheet_cell then deletes \x00 \x07 \x1b \x0b: "B[0mx\ty\nz".
    assert by_index[int(docs[0]["index"])] == "B[0mx\ty\nz"
    assert by_index[int(docs[1]["index"])] == "A" * 32_767
    assert mmbench.sheet_cell(3.5) == 3.5  # numbers pass unchanged


VIZWIZ_TEST = next(t for t in vizwiz.TASKS if t.name == "vizwiz_vqa_test")
VIZWIZ_VAL = next(t for t in vizwiz.TASKS if t.name == "vizwiz_vqa_val")


def test_vizwiz_test_evalai_json(tmp_path):
    docs, records = run_records(VIZWIZ_TEST, ["Unanswerable.", "x"] + ["The Red"] * 18)
    shuffled = records[::-1]
    [path] = VIZWIZ_TEST.write_artifacts(shuffled, tmp_path / "run")
    assert path == tmp_path / "run" / "submissions" / "vizwiz_vqa_test_submission.json"
    entries = json.loads(path.read_text())
    # lmms-eval's vizwiz_vqa_test entries: {"image": question_id + ".jpg", "answer": the processed prediction}.
    assert [e["image"] for e in entries] == sorted(f"{d['question_id']}.jpg" for d in docs)
    assert all(list(e) == ["image", "answer"] for e in entries)
    by_image = {e["image"]: e["answer"] for e in entries}
    assert by_image[f"{docs[0]['question_id']}.jpg"] == "unanswerable"
    assert by_image[f"{docs[1]['question_id']}.jpg"] == ""  # the failed document keeps its entry
    assert by_image[f"{docs[2]['question_id']}.jpg"] == "red"  # article dropped, lower-cased
    assert VIZWIZ_TEST.aggregate(records) == {"num_answered": 19, "num_errors": 1}


def test_vizwiz_val_writes_no_submission(tmp_path):
    _, records = run_records(VIZWIZ_VAL, ["yes"] * 30)
    assert VIZWIZ_VAL.write_artifacts(records, tmp_path) == []
