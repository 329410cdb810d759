"""Bad data in real-schema copies of the MME, MMMU and ScienceQA-IMG demo slices (`--data DIR`): each broken
document becomes an error record, the run goes on, and the metrics count it as a wrong answer.

The oracle adapter answers every request's gold target, so every point lost is an error record.
"""

from __future__ import annotations

import json

import pytest
from broken_datasets import UNDECODABLE_IMAGE, broken_copy, edit_rows

from evals.cli import main
from evals.run.records import read_records, records_dir

MME = ("lmms-lab/MME", "default", "test")
MMMU = ("lmms-lab/MMMU", "default", "validation")
SCIENCEQA = ("lmms-lab/ScienceQA", "ScienceQA-IMG", "test")


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """One oracle run of the three tasks over broken copies: the run folder."""
    data_dir = tmp_path_factory.mktemp("broken-data")
    # MME rows 0-3: image existence/0000.png ("Yes", "No") then existence/0001.png ("No", "Yes").
    broken_copy(data_dir, *MME, edit_rows({0: {"image": UNDECODABLE_IMAGE}, 3: {"answer": "Maybe"}}))
    # MMMU rows 0-2: Art_Theory questions 1 (one image), 2 (images 1 and 2), 3 (open, one image).
    broken_copy(data_dir, *MMMU, edit_rows({0: {"image_1": None}, 1: {"image_2": UNDECODABLE_IMAGE},
                                           2: {"question_type": None}}))
    broken_copy(data_dir, *SCIENCEQA, edit_rows({2: {"answer": 9}, 5: {"image": UNDECODABLE_IMAGE},
                                                7: {"choices": []}}))
    run_dir = tmp_path_factory.mktemp("broken-run") / "run"
    assert main(["run", "--model", "oracle", "--tasks", "mme,mmmu,sqa", "--data", str(data_dir),
                 "--output", str(run_dir)]) == 0
    return run_dir


def errors_of(run_dir, task) -> dict[str, str]:
    """doc id -> error text of the task's error records."""
    return {r.doc_id: r.error for r in read_records(records_dir(run_dir, task)) if not r.ok}


def test_each_broken_document_is_an_error_record_and_no_other(broken_run):
    mme = errors_of(broken_run, "mme")
    assert set(mme) == {"existence/0000.png#0", "existence/0001.png#3"}
    assert mme["existence/0000.png#0"].startswith("unreadable image: CorruptImage")
    assert "not yes/no" in mme["existence/0001.png#3"]
    mmmu = errors_of(broken_run, "mmmu_val")
    assert set(mmmu) == {"validation_Art_Theory_1", "validation_Art_Theory_2", "validation_Art_Theory_3"}
    assert "shows <image 1> but image_1 is empty" in mmmu["validation_Art_Theory_1"]
    assert mmmu["validation_Art_Theory_2"].startswith("unreadable image: CorruptImage")
    assert "'question_type' is missing" in mmmu["validation_Art_Theory_3"]
    sqa = errors_of(broken_run, "scienceqa_img")
    assert set(sqa) == {"2", "5", "7"}
    assert "answer 9 is not the number of one of its" in sqa["2"] and "empty list" in sqa["7"]


def test_error_records_count_as_wrong_answers(broken_run):
    results = json.loads((broken_run / "results.json").read_text())["tasks"]
    # MME: both existence images lose one question: acc 50, acc+ 0, score 50 instead of 200; the other 4
    # perception subtasks keep 200: 50 + 4 x 200 = 850; cognition untouched: 2 x 200 = 400.
    mme = results["mme"]["metrics"]
    assert (mme["perception_score"], mme["cognition_score"], mme["score:existence"]) == (850.0, 400.0, 50.0)
    # MMMU: 3 of 30 wrong, all in Art_Theory (0 of 3), discipline Art and Design (Art_Theory + Music): 3 of 6.
    mmmu = results["mmmu_val"]["metrics"]
    assert mmmu["accuracy"] == pytest.approx(90.0) and mmmu["subject:Art_Theory"] == 0.0
    assert mmmu["discipline:Art and Design"] == pytest.approx(50.0)
    # ScienceQA: 3 of 30 wrong.
    assert results["scienceqa_img"]["metrics"]["accuracy"] == pytest.approx(90.0)
    assert [results[t]["num_errors"] for t in ("mme", "mmmu_val", "scienceqa_img")] == [2, 3, 3]
