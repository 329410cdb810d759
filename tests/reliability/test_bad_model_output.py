"""Bad model output: empty, whitespace, very long, undecodable text; NaN, missing or non-numeric choice
scores; images of the wrong shape or type. Each is scored as wrong or recorded as an error, the run
finishes with exactly one record per document, and nothing crashes (aggregation and the submission
files included).
"""

from __future__ import annotations

from run_checks import planned_ids, results_of
from scripted_faults import (
    CONTROL_CHARACTERS,
    GARBAGE_TEXT,
    TEXT_ERRORS,
    GarbageAdapter,
)

from evals.config import GenerationConfig, RunConfig
from evals.run.launch import execute_run
from evals.run.records import read_records, records_dir

# Text tasks (generate mode): the primary accuracy metric of each.
TEXT_TASKS = ("pope_random", "gqa", "vqav2_val", "vqav2_testdev", "mmbench_en_dev", "seed_image",
              "textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val", "vizwiz_vqa_test")
LIKELIHOOD = (("mode", "likelihood"),)


def run(out, tasks, adapter, gen_kwargs=(), task_options=()):
    """One in-process demo run with a scripted adapter; returns the run folder."""
    generation = GenerationConfig(gen_kwargs=gen_kwargs, task_options=task_options)
    config = RunConfig(tasks=tasks, model="oracle", data="demo", batch_size=5, output=out, generation=generation)
    return execute_run(config, adapter=adapter)


def records_by_doc(run_dir, task):
    return {r.doc_id: r for r in read_records(records_dir(run_dir, task))}


def test_garbage_text_is_scored_wrong_or_recorded_as_an_error(tmp_path, tally):
    adapter = GarbageAdapter()
    run_dir = run(tmp_path / "run", TEXT_TASKS, adapter)
    results = results_of(run_dir)
    for task in TEXT_TASKS:
        ids = planned_ids(task, "demo", None)
        tally.tried("bad output: garbage text", len(ids))
        assert tally.check_task(run_dir, task, ids) == (0, 0)
        records = records_by_doc(run_dir, task)
        for doc_id, record in records.items():
            given = adapter.given[doc_id]
            if given in TEXT_ERRORS:
                assert record.error.startswith("bad model output: expected text"), (task, given)
            else:
                assert record.ok and isinstance(record.output, str), (task, given, record.error)
        assert results[task]["num_errors"] == sum(adapter.given[d] in TEXT_ERRORS for d in records)
        # No garbage holds an answer, so every accuracy is 0 (the test splits have no answers, hence no accuracy).
        assert results[task]["metrics"].get("accuracy", 0.0) == 0.0
    assert (run_dir / "submissions" / "mmbench_en_dev_results.xlsx").is_file()
    assert (run_dir / "submissions" / "vizwiz_vqa_test_submission.json").is_file()
    assert (run_dir / "submissions").is_dir() and len(list((run_dir / "submissions").iterdir())) == 3


def test_invalid_utf8_and_lone_surrogates_are_stored_as_replacement_characters(tmp_path):
    adapter = GarbageAdapter(text={k: GARBAGE_TEXT[k] for k in ("invalid utf-8 bytes", "lone surrogates")})
    run_dir = run(tmp_path / "run", ("gqa",), adapter)
    outputs = {r.output for r in records_by_doc(run_dir, "gqa").values()}
    # b"\xff\xfe\x80\xc3(" decodes to four U+FFFD then "(" ("\xc3" starts a sequence "(" does not continue);
    # the surrogate-escaped b"\xff\xfe\x80" becomes three U+FFFD.
    assert outputs == {"\ufffd" * 4 + "(", "\ufffd" * 3}


def test_control_characters_in_answers_do_not_break_the_mmbench_submission_sheet(tmp_path, tally):
    tally.tried("bad output: control characters")
    adapter = GarbageAdapter(text={"control characters": CONTROL_CHARACTERS})
    run_dir = run(tmp_path / "run", ("mmbench_en_dev",), adapter)
    assert results_of(run_dir)["mmbench_en_dev"]["metrics"]["accuracy"] == 0.0


def test_garbage_choice_scores_are_recorded_as_errors(tmp_path, tally):
    adapter = GarbageAdapter()
    tasks = ("mmbench_en_dev", "seed_image")
    run_dir = run(tmp_path / "run", tasks, adapter, gen_kwargs=LIKELIHOOD)
    results = results_of(run_dir)
    for task in tasks:
        ids = planned_ids(task, "demo", None, dict(LIKELIHOOD))
        tally.tried("bad output: garbage choice scores", len(ids))
        assert tally.check_task(run_dir, task, ids) == (0, 0)
        records = records_by_doc(run_dir, task)
        assert all(r.error.startswith("bad model output") for r in records.values())
        # Every document is an error record, and an error counts as wrong: 0 errors-free answers, accuracy 0.
        assert (results[task]["num_errors"], results[task]["metrics"]["accuracy"]) == (len(ids), 0.0)


def test_images_of_the_wrong_shape_or_type_are_recorded_as_errors(tmp_path, inception_file, tally):
    adapter = GarbageAdapter(valid_images_every=3)
    run_dir = run(tmp_path / "run", ("fid",), adapter, task_options=(("inception_weights", str(inception_file)),))
    ids = planned_ids("fid", "demo", None)
    tally.tried("bad output: bad images", len(ids))
    assert tally.check_task(run_dir, "fid", ids) == (0, 0)
    records = records_by_doc(run_dir, "fid")
    valid = {d for d, kind in adapter.given.items() if kind == "valid"}
    assert {d for d, r in records.items() if r.ok} == valid
    assert all(r.error.startswith(("bad model output", "scoring failed")) for d, r in records.items() if d not in valid)
    # Demo: classes 0-7, two samples each; classes 0, 3 and 6 draw valid images: 3 classes x 2 samples = 6.
    metrics = results_of(run_dir)["fid"]["metrics"]
    assert (metrics["num_images"], metrics["num_errors"]) == (6, 10)
    assert "fid_random_inception" in metrics
