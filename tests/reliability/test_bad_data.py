"""Bad data: undecodable images, missing fields, empty questions and duplicate ids in real-schema copies of
the demo datasets (`--data DIR`). Each broken document becomes an error record, the run goes on, and
results.json and the tables count the errors; a duplicate id refuses the task in one line.

The oracle adapter answers every request's gold target, so each document that reaches the model is
right and every point of accuracy lost is an error record.
"""

from __future__ import annotations

import contextlib
import io

import pyarrow.parquet as pq
import pytest
from broken_datasets import UNDECODABLE_IMAGE, broken_copy, duplicate_row, edit_rows
from run_checks import is_one_line_error, planned_ids, results_of

from evals.cli import main
from evals.run.records import read_records, records_dir
from evals.registry import discover
from evals.task_api import DataSource
from tasks.data.datasets_io import DEMO_DIR

POPE = ("lmms-lab/POPE", "Full", "random")
GQA_QUESTIONS = ("lmms-lab/GQA", "testdev_balanced_instructions", "testdev")
GQA_IMAGES = ("lmms-lab/GQA", "testdev_balanced_images", "testdev")
TASKS = ("pope_random", "gqa")
# The question faults of each broken copy (the tasks once asked the model these; now refused before it).
QUESTION_FAULTS = {"pope_random": {"empty question"}, "gqa": {"empty question", "missing question"}}


def demo_rows(hub_id: str, config: str, split: str) -> list[dict]:
    """The rows of one bundled demo split."""
    (path,) = sorted((DEMO_DIR / hub_id / config).glob(f"{split}-*.parquet"))
    return pq.read_table(path).to_pylist()


@contextlib.contextmanager
def fresh_datasets_cache(folder):
    """Read local copies through an empty `datasets` cache: it keys a local snapshot by folder name and
    configs, not by content (see test_an_edited_local_copy_is_read_afresh), so copies would share entries."""
    import datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(folder))
        yield


def errors_by_doc(run_dir, task):
    """doc id -> error text of the task's error records."""
    return {r.doc_id: r.error for r in read_records(records_dir(run_dir, task)) if not r.ok}


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """One oracle `run` of POPE (random) and GQA over broken copies: (run folder, its stdout, broken rows)."""
    data_dir = tmp_path_factory.mktemp("broken-data")
    pope = demo_rows(*POPE)
    broken_copy(data_dir, *POPE, edit_rows({
        1: {"image": UNDECODABLE_IMAGE},
        3: {"question": ""},
        5: {"question": None},  # the field is missing from this row
        7: {"image": None},
    }))
    questions, images = demo_rows(*GQA_QUESTIONS), demo_rows(*GQA_IMAGES)
    broken_copy(data_dir, *GQA_QUESTIONS, edit_rows({
        0: {"question": "   "},
        2: {"imageId": "no-such-image"},
        4: {"answer": None},
        6: {"question": None},
    }))
    broken_copy(data_dir, *GQA_IMAGES, edit_rows({1: {"image": UNDECODABLE_IMAGE}}))
    broken = {
        "pope_random": {"undecodable image": pope[1]["question_id"], "empty question": pope[3]["question_id"],
                        "missing question": pope[5]["question_id"], "missing image": pope[7]["question_id"]},
        "gqa": {"empty question": questions[0]["id"], "missing image": questions[2]["id"],
                "missing answer": questions[4]["id"], "missing question": questions[6]["id"]},
    }
    # The questions on GQA image 1 (rows 1, 9, 17, 25 of the demo; none edited above) are broken too.
    for q in questions:
        if q["imageId"] == images[1]["id"]:
            broken["gqa"][f"undecodable image {q['id']}"] = q["id"]
    run_dir = tmp_path_factory.mktemp("broken-run") / "run"
    stdout = io.StringIO()
    with fresh_datasets_cache(tmp_path_factory.mktemp("hf-cache")), contextlib.redirect_stdout(stdout):
        status = main(["run", "--model", "oracle", "--tasks", ",".join(TASKS), "--data", str(data_dir),
                       "--batch-size", "4", "--output", str(run_dir)])
    assert status == 0
    return run_dir, stdout.getvalue(), broken


def test_broken_documents_become_error_records_and_the_rest_is_scored(broken_run, tally):
    run_dir, _, broken = broken_run
    for task in TASKS:
        tally.tried("bad data: broken document", len(broken[task]))
        errors = errors_by_doc(run_dir, task)
        assert set(broken[task].values()) <= set(errors)  # every broken document is an error record
        assert set(errors) <= set(broken[task].values())  # no healthy document failed
        assert tally.check_task(run_dir, task, planned_ids(task, "demo", None)) == (0, 0)
    pope = errors_by_doc(run_dir, "pope_random")
    assert pope[broken_run[2]["pope_random"]["undecodable image"]].startswith("unreadable image: CorruptImage")
    assert pope[broken_run[2]["pope_random"]["missing image"]].startswith("unreadable image: CorruptImage")
    gqa = errors_by_doc(run_dir, "gqa")
    assert gqa[broken_run[2]["gqa"]["missing answer"]].startswith("bad document: MissingField")  # refused unasked


def test_an_empty_or_missing_question_is_an_error_record(broken_run):
    run_dir, _, broken = broken_run
    for task in TASKS:
        assert {broken[task][what] for what in QUESTION_FAULTS[task]} <= set(errors_by_doc(run_dir, task))


def test_results_json_and_tables_count_the_error_records(broken_run):
    run_dir, stdout, _ = broken_run
    results = results_of(run_dir)
    table = (run_dir / "results.md").read_text().splitlines()
    cells = dict(zip((h.strip() for h in table[0].split("|")), (c.strip() for c in table[2].split("|"))))
    for task in TASKS:
        errors = len(errors_by_doc(run_dir, task))
        entry = results[task]
        num_docs = len(planned_ids(task, "demo", None))
        assert errors > 0 and (entry["num_docs"], entry["num_errors"], entry["metrics"]["num_errors"]) == (num_docs, errors, errors)
        # The oracle answers every document that reaches it correctly; an error record counts as wrong.
        accuracy = 100 * (num_docs - errors) / num_docs
        assert entry["metrics"]["accuracy"] == pytest.approx(accuracy)
        # `run` prints task | metric | value | docs | errors; results.md has a <task>/num_errors column.
        assert f"| {task} | accuracy | {accuracy:.2f} | {num_docs} | {errors} |" in stdout
        assert cells[f"{task}/num_errors"] == str(errors)


def test_a_document_id_seen_twice_refuses_the_task_in_one_line(tmp_path, capsys, tally):
    data_dir = tmp_path / "data"
    pope = demo_rows(*POPE)
    broken_copy(data_dir, *POPE, duplicate_row(2))
    tally.tried("bad data: duplicate id")
    with fresh_datasets_cache(tmp_path / "hf-cache"):
        status = main(["run", "--model", "oracle", "--tasks", "pope_random", "--data", str(data_dir),
                       "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2
    assert is_one_line_error(err), err
    assert f"document id '{pope[2]['question_id']}' occurs 2 times" in err
    assert not (tmp_path / "run" / "records").exists()  # refused before any document was run


def test_an_edited_local_copy_is_read_afresh(tmp_path):
    data_dir = tmp_path / "data"
    broken_copy(data_dir, *POPE, lambda rows: rows)
    task = discover().get("pope_random")
    with fresh_datasets_cache(tmp_path / "hf-cache"):
        assert len(task.load_docs(DataSource.parse(str(data_dir)))) == 12
        broken_copy(data_dir, *POPE, duplicate_row(2))  # the user fixes or extends the copy and reruns
        assert len(task.load_docs(DataSource.parse(str(data_dir)))) == 13
