"""Crashes: a run killed with SIGKILL at seeded random points and resumed ends with exactly one
record per document and the results of an uninterrupted run."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time

import pytest

from evals.config import GenerationConfig, RunConfig
from evals.run.launch import execute_run
from evals.run.lock import LOCK_NAME
from evals.run.records import read_records, record_files, records_dir
from evals.registry import registry_from_tasks
from evals.adapters.scripted import OracleAdapter

TASKS = ("fake_image", "fake_qa", "fake_choice")
NUM_DOCS = 12 + 24 + 16
TRIALS = 10


def config_for(out, **changes):
    """The run of every trial: scoring slowed to 15 ms per document so a kill lands mid-run."""
    generation = GenerationConfig(gen_kwargs=(("sleep_ms", "15"),))
    return RunConfig(tasks=TASKS, model="oracle", output=out, batch_size=3, generation=generation, **changes)


def run_in_child(config, tasks):
    """Target of the forked child: one whole run."""
    execute_run(config, registry=registry_from_tasks(tasks.TASKS), adapter=OracleAdapter())


def lines_written(run_dir):
    """Complete record lines on disk, over every task and worker file."""
    total = 0
    for task in TASKS:
        for path in record_files(records_dir(run_dir, task)):
            total += path.read_bytes().count(b"\n")
    return total


def snapshot(run_dir):
    """Per task: doc id -> (output, scores, error), and the count of lines per document."""
    records, lines = {}, {}
    for task in TASKS:
        for record in read_records(records_dir(run_dir, task), load_arrays=True):
            key = (task, record.doc_id)
            lines[key] = lines.get(key, 0) + 1
            arrays = {k: v.tolist() for k, v in record.arrays.items()}
            records[key] = (record.output, record.scores, record.error, arrays)
    return records, lines


def metrics(run_dir):
    return {t: e["metrics"] for t, e in json.loads((run_dir / "results.json").read_text())["tasks"].items()}


def test_sigkill_at_random_points_then_resume_loses_and_duplicates_nothing(tmp_path, fake_tasks, reliability_log):
    reference_dir = execute_run(
        config_for(tmp_path / "reference"), registry_from_tasks(fake_tasks.TASKS), OracleAdapter()
    )
    reference_records, _ = snapshot(reference_dir)
    fork = multiprocessing.get_context("fork")
    lost = duplicated = killed_mid_run = 0
    for trial in range(TRIALS):
        kill_after = random.Random(trial).randint(1, NUM_DOCS - 3)
        run_dir = tmp_path / f"trial-{trial}"
        child = fork.Process(target=run_in_child, args=(config_for(run_dir), fake_tasks))
        child.start()
        deadline = time.time() + 60
        while lines_written(run_dir) < kill_after and child.is_alive() and time.time() < deadline:
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        killed_mid_run += lines_written(run_dir) < NUM_DOCS
        assert (run_dir / LOCK_NAME).exists()  # the dead run's lock is left behind ...
        execute_run(
            config_for(run_dir), registry_from_tasks(fake_tasks.TASKS), OracleAdapter()
        )  # ... and does not block
        records, lines = snapshot(run_dir)
        lost += len(set(reference_records) - set(records))
        duplicated += sum(n - 1 for n in lines.values())
        assert records == reference_records
        assert metrics(run_dir) == metrics(reference_dir)
    reliability_log.append(
        f"SIGKILL + resume: {TRIALS} trials ({killed_mid_run} killed mid-run), {NUM_DOCS} documents each, "
        f"{lost} lost, {duplicated} duplicated"
    )
    assert (lost, duplicated) == (0, 0)
    assert killed_mid_run >= TRIALS // 2  # the trials really interrupted runs


@pytest.mark.parametrize(("task", "limit", "count"), [("fid", None, 16), ("coco_t2i", 8, 8)])
def test_sigkill_during_an_image_task_then_resume_keeps_one_record_per_image(
    tmp_path, cli_env, reliability_log, task, limit, count
):
    import subprocess
    import sys

    import numpy as np

    from evals.cli import main

    argv = ["run", "--model", "oracle", "--data", "demo", "--tasks", task, "--batch-size", "1"]
    argv += ["--limit", str(limit)] if limit else []
    assert main([*argv, "--output", str(tmp_path / "reference")]) == 0
    run_dir = tmp_path / "killed"
    child = subprocess.Popen(
        [sys.executable, "-m", "evals", *argv, "--output", str(run_dir)],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    task_dir = records_dir(run_dir, task)
    deadline = time.time() + 180
    while time.time() < deadline and child.poll() is None:
        if sum(p.read_bytes().count(b"\n") for p in record_files(task_dir)) >= 4:
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    written = sum(p.read_bytes().count(b"\n") for p in record_files(task_dir))
    assert main([*argv, "--output", str(run_dir)]) == 0

    def recorded(directory):
        records = read_records(records_dir(directory, task), load_arrays=True)
        return {r.doc_id: (r.scores, dict(r.arrays)) for r in records}, len(records)

    reference, _ = recorded(tmp_path / "reference")
    resumed, lines = recorded(run_dir)
    assert lines == len(reference) == count and set(resumed) == set(reference)
    for doc_id, (scores, arrays) in reference.items():
        assert resumed[doc_id][0] == scores, doc_id  # CLIP scores too, bit for bit
        for name, array in arrays.items():
            np.testing.assert_array_equal(resumed[doc_id][1][name], array)
    assert metrics(run_dir) == metrics(tmp_path / "reference")
    reliability_log.append(
        f"SIGKILL + resume on {task}: killed after {written} of {count} images; 0 lost, 0 duplicated"
    )
