"""Bad data in the answer-list benchmarks (VizWiz-VQA validation, TextVQA with OCR tokens): a real-schema copy
of the demo slices (`--data DIR`) with an undecodable image, an empty question, missing or empty gold answers,
a non-text answer and missing OCR tokens. Each broken document becomes an error record, the rest is scored.

The oracle answers every request's consensus gold answer, so every healthy document scores 100 and every
point of accuracy lost is an error record.
"""

from __future__ import annotations

import pytest
from broken_datasets import UNDECODABLE_IMAGE, broken_copy, edit_rows
from run_checks import planned_ids, results_of
from test_bad_data import demo_rows, errors_by_doc, fresh_datasets_cache

from evals.cli import main

VIZWIZ_VAL = ("lmms-lab/VizWiz-VQA", "default", "val")
TEXTVQA_VAL = ("lmms-lab/textvqa", "default", "validation")
TASKS = ("vizwiz_vqa_val", "textvqa_val")


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """One oracle run of VizWiz val and TextVQA (ocr=true) over broken copies: (run folder, broken doc ids)."""
    data_dir = tmp_path_factory.mktemp("broken-data")
    vizwiz, textvqa = demo_rows(*VIZWIZ_VAL), demo_rows(*TEXTVQA_VAL)
    vizwiz_faults = {
        "undecodable image": {"image": UNDECODABLE_IMAGE},
        "empty question": {"question": " "},
        "missing answers": {"answers": None},
        "no answers": {"answers": []},
        "answer that is not text": {"answers": ["red", None, "red"]},
    }
    broken_copy(data_dir, *VIZWIZ_VAL, edit_rows({2 * i + 1: fault for i, fault in enumerate(vizwiz_faults.values())}))
    broken_copy(data_dir, *TEXTVQA_VAL, edit_rows({4: {"ocr_tokens": None}, 9: {"image": None}}))
    broken = {
        "vizwiz_vqa_val": {what: vizwiz[2 * i + 1]["question_id"] for i, what in enumerate(vizwiz_faults)},
        "textvqa_val": {"missing OCR tokens": str(textvqa[4]["question_id"]),
                        "missing image": str(textvqa[9]["question_id"])},
    }
    run_dir = tmp_path_factory.mktemp("broken-run") / "run"
    with fresh_datasets_cache(tmp_path_factory.mktemp("hf-cache")):
        status = main(["run", "--model", "oracle", "--tasks", ",".join(TASKS), "--data", str(data_dir),
                       "--gen-kwargs", "ocr=true", "--batch-size", "4", "--output", str(run_dir)])
    assert status == 0
    return run_dir, broken


def test_broken_answer_list_documents_become_error_records(broken_run, tally):
    run_dir, broken = broken_run
    results = results_of(run_dir)
    for task in TASKS:
        tally.tried("bad data: broken document", len(broken[task]))
        errors = errors_by_doc(run_dir, task)
        assert set(errors) == set(broken[task].values())  # every broken document, and only those
        assert tally.check_task(run_dir, task, planned_ids(task, "demo", None)) == (0, 0)
        num_docs = results[task]["num_docs"]
        assert results[task]["metrics"]["accuracy"] == pytest.approx(100 * (num_docs - len(errors)) / num_docs)
    vizwiz = errors_by_doc(run_dir, "vizwiz_vqa_val")
    ids = broken["vizwiz_vqa_val"]
    assert vizwiz[ids["undecodable image"]].startswith("unreadable image: CorruptImage")
    assert vizwiz[ids["missing answers"]].startswith("bad document: MissingField")
    assert "item 1 of field 'answers' holds NoneType" in vizwiz[ids["answer that is not text"]]
    textvqa = errors_by_doc(run_dir, "textvqa_val")
    assert "'ocr_tokens' is missing" in textvqa[broken["textvqa_val"]["missing OCR tokens"]]
