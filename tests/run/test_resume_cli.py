"""`python -m evals run` killed with SIGKILL and rerun into the same folder; the lock against a second
concurrent run; the refusal of a folder made with other settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from evals.cli import main
from evals.run.records import read_records, record_files, records_dir

RUN = ["run", "--model", "oracle", "--tasks", "fake_qa", "--batch-size", "2", "--gen-kwargs", "sleep_ms=40"]


def count_lines(task_dir):
    """Complete record lines in every worker file of a task."""
    return sum(path.read_bytes().count(b"\n") for path in record_files(task_dir))


def metrics(run_dir, task="fake_qa"):
    return json.loads((run_dir / "results.json").read_text())["tasks"][task]["metrics"]


def test_killed_run_resumes_to_the_uninterrupted_results_and_a_live_run_locks_its_folder(
    tmp_path, fake_tasks, cli_env, capsys
):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert main([*RUN, "--output", str(reference)]) == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "evals", *RUN, "--output", str(resumed)],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while count_lines(records_dir(resumed, "fake_qa")) < 6 and time.time() < deadline and child.poll() is None:
            time.sleep(0.01)
        capsys.readouterr()
        # A second run into the folder while the first is alive is refused by the lock, in one line.
        assert main([*RUN, "--output", str(resumed)]) == 2
        refused = capsys.readouterr().err
        assert refused.count("\n") == 1 and f"is in use by pid {child.pid}" in refused
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    done = count_lines(records_dir(resumed, "fake_qa"))
    assert 6 <= done < 24  # killed in the middle
    assert main([*RUN, "--output", str(resumed)]) == 0  # the dead run's lock does not block the resume
    records = read_records(records_dir(resumed, "fake_qa"))
    assert sorted(r.doc_id for r in records) == [f"q{i:03d}" for i in range(24)]  # one record per document
    assert metrics(resumed) == metrics(reference)


def test_a_folder_made_with_other_settings_is_refused_unless_overwritten(tmp_path, fake_tasks, capsys):
    out = str(tmp_path / "run")
    assert main(["run", "--model", "oracle", "--tasks", "fake_qa", "--limit", "4", "--output", out]) == 0
    capsys.readouterr()
    assert main(["run", "--model", "oracle", "--tasks", "fake_qa", "--limit", "4", "--seed", "1", "--output", out]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "was made with other settings: seed differs" in error
    assert main(["run", "--model", "constant:8", "--tasks", "fake_qa", "--limit", "4", "--output", out]) == 2
    assert "model differs" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "--model",
                "oracle",
                "--tasks",
                "fake_qa",
                "--gen-kwargs",
                "max_new_tokens=4",
                "--limit",
                "4",
                "--output",
                out,
            ]
        )
        == 2
    )
    assert "the protocol of task 'fake_qa' differs" in capsys.readouterr().err
    assert (
        main(["run", "--model", "oracle", "--tasks", "fake_qa", "--dtype", "bfloat16", "--limit", "4", "--output", out])
        == 2
    )
    assert "generation differs" in capsys.readouterr().err
    assert (
        main(["run", "--model", "constant:4", "--tasks", "fake_qa", "--limit", "4", "--output", out, "--overwrite"])
        == 0
    )
    # The first four golds are 0, 2, 4, 6 (i + i): constant "4" is right once, 100 * 1 / 4 = 25.
    assert metrics(tmp_path / "run")["accuracy"] == 25.0


def test_a_resumed_run_may_add_tasks_and_documents(tmp_path, fake_tasks):
    out = str(tmp_path / "run")
    assert main(["run", "--model", "oracle", "--tasks", "fake_qa", "--limit", "4", "--output", out]) == 0
    assert main(["run", "--model", "oracle", "--tasks", "fake_qa,fake_choice", "--limit", "8", "--output", out]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert {t: e["num_docs"] for t, e in results["tasks"].items()} == {"fake_qa": 8, "fake_choice": 8}
    assert count_lines(records_dir(tmp_path / "run", "fake_qa")) == 8


def test_an_option_used_only_by_aggregation_changes_the_results_not_the_records(tmp_path, fake_tasks):
    out = str(tmp_path / "run")
    assert main(["run", "--model", "oracle", "--tasks", "fake_image", "--output", out]) == 0
    before = metrics(tmp_path / "run", "fake_image")
    lines = count_lines(records_dir(tmp_path / "run", "fake_image"))
    # `scale` is outside fake_image's records protocol: the folder resumes and only re-aggregates.
    assert main(["run", "--model", "oracle", "--tasks", "fake_image", "--gen-kwargs", "scale=2", "--output", out]) == 0
    after = metrics(tmp_path / "run", "fake_image")
    assert after["colour_sum"] == 2 * before["colour_sum"] and after["mean_pixel"] == before["mean_pixel"]
    assert count_lines(records_dir(tmp_path / "run", "fake_image")) == lines
