"""Crashes: a worker SIGKILLed at seeded random points, then resumed, ends with exactly one record per
document and the records and metrics of an uninterrupted run; a torn last record line is dropped and
its document recomputed.

The worker is a forked copy of this process running `execute_run` with the session's tiny VARGPT (so a
trial costs no model load); the kill point is a seeded number of record lines on disk plus a seeded
delay, which lands kills before the first record, between and inside batches, between tasks, and
during aggregation. The resume runs the same configuration into the same folder.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from run_checks import message_lines, metrics_of, planned_ids, record_snapshot

from evals.config import GenerationConfig, RunConfig
from evals.run.launch import execute_run
from evals.run.lock import LOCK_NAME
from evals.run.records import record_files, records_dir, records_path

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST_TEXT = (("max_new_tokens", "4"),)  # the tiny model's answers stay short, so a trial takes seconds

# (tasks, --limit, --gen-kwargs): each configuration gets one uninterrupted reference run.
CONFIGS = {
    "fid": (("fid",), 4, ()),
    "gqa": (("gqa",), 8, ()),
    "pope": (("pope_random",), 8, FAST_TEXT),
    "vqav2": (("vqav2_val",), 8, FAST_TEXT),
    "mmbench": (("mmbench_en_dev",), 6, FAST_TEXT),
    "seed": (("seed_image",), 6, FAST_TEXT),
    "gqa+fid": (("gqa", "fid"), 4, ()),
    "gqa-16": (("gqa",), 16, ()),  # two workers, eight documents each
}
# Ten trials across the configurations; trial i draws its kill point from random.Random(i). An eleventh
# trial, below, kills one of two spawned workers of a real `python -m evals run`.
TRIALS = ("fid", "fid", "fid", "gqa", "pope", "vqav2", "mmbench", "seed", "gqa+fid", "gqa+fid")


def run_config(name: str, out: Path, inception_file: Path) -> RunConfig:
    """The run of one configuration: tiny model, demo data, batches of 2, random Inception weights for FID."""
    tasks, limit, gen_kwargs = CONFIGS[name]
    generation = GenerationConfig(gen_kwargs=gen_kwargs, task_options=(("inception_weights", str(inception_file)),))
    return RunConfig(tasks=tasks, model="tiny", data="demo", limit=limit, batch_size=2, output=out, generation=generation)


def lines_on_disk(run_dir: Path, tasks: tuple[str, ...]) -> int:
    """Complete record lines written so far over every task and worker file."""
    return sum(path.read_bytes().count(b"\n") for task in tasks for path in record_files(records_dir(run_dir, task)))


def expected_ids(name: str) -> dict[str, tuple[str, ...]]:
    """Per task of a configuration, the documents that must end with exactly one record."""
    tasks, limit, gen_kwargs = CONFIGS[name]
    return {task: planned_ids(task, "demo", limit, {k: v for k, v in gen_kwargs if task != "fid"}) for task in tasks}


@pytest.fixture(scope="module")
def references(tmp_path_factory, tiny_adapter, inception_file):
    """Uninterrupted runs of every configuration: run folder per configuration name."""
    root = tmp_path_factory.mktemp("reference")
    return {name: execute_run(run_config(name, root / name, inception_file), adapter=tiny_adapter) for name in CONFIGS}


def execute_run_in_fork(config: RunConfig, adapter) -> None:
    """`execute_run` in a forked child, with a tqdm lock of its own.

    tqdm's write lock is a multiprocessing lock that a fork shares with the parent: a child SIGKILLed while
    holding it would leave the parent's next progress bar waiting forever.
    """
    from tqdm import tqdm
    from tqdm.auto import tqdm as auto_tqdm

    for bar_class in (tqdm, auto_tqdm):  # the subclass keeps its own lock once the parent made one
        bar_class.set_lock(threading.RLock())
    execute_run(config, adapter=adapter)


def kill_at_random_point(config: RunConfig, adapter, rng: random.Random, total: int) -> str:
    """Run `config` in a forked worker, SIGKILL it at a seeded point; returns when it died (for the tally)."""
    child = multiprocessing.get_context("fork").Process(target=execute_run_in_fork, args=(config, adapter))
    target_lines, delay = rng.randint(0, total), rng.uniform(0.0, 0.05)
    child.start()
    deadline = time.time() + 60
    while child.is_alive() and time.time() < deadline and lines_on_disk(config.output, config.tasks) < target_lines:
        time.sleep(0.002)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    written = lines_on_disk(config.output, config.tasks)
    if (config.output / "results.json").exists():
        return "after the run finished"
    if written == 0:
        return "before the first record"
    return "during aggregation" if written == total else "mid-run"


@pytest.mark.parametrize("trial", range(len(TRIALS)), ids=[f"{i}-{name}" for i, name in enumerate(TRIALS)])
def test_sigkilled_worker_resumes_to_the_uninterrupted_records_and_metrics(
    trial, tmp_path, tiny_adapter, inception_file, references, tally
):
    name = TRIALS[trial]
    config = run_config(name, tmp_path / "run", inception_file)
    wanted = expected_ids(name)
    when = kill_at_random_point(config, tiny_adapter, random.Random(trial), sum(map(len, wanted.values())))
    tally.tried(f"crash: SIGKILL {when}, then resume")
    if when in ("mid-run", "during aggregation"):
        assert (config.output / LOCK_NAME).exists()  # the dead worker's lock stays behind ...
    execute_run(config, adapter=tiny_adapter)  # ... and the resume takes it over
    for task, ids in wanted.items():
        assert tally.check_task(config.output, task, ids) == (0, 0)  # nothing lost, nothing twice
        assert record_snapshot(config.output, task) == record_snapshot(references[name], task)
    assert metrics_of(config.output) == metrics_of(references[name])


@pytest.mark.parametrize("name", ["gqa", "fid"])
def test_a_torn_last_record_line_is_dropped_and_its_document_recomputed(
    name, tmp_path, tiny_adapter, inception_file, references, tally
):
    config = run_config(name, tmp_path / "run", inception_file)
    execute_run(config, adapter=tiny_adapter)
    path = records_path(config.output, CONFIGS[name][0][0], 0)
    whole = path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    before = record_snapshot(config.output, CONFIGS[name][0][0])
    path.write_bytes(whole[: last_start + (len(whole) - last_start) // 2])  # a kill in the middle of the last write
    (config.output / "results.json").unlink()
    tally.tried("crash: torn last line")
    execute_run(config, adapter=tiny_adapter)
    task = CONFIGS[name][0][0]
    assert path.read_bytes().count(b"\n") == len(before)  # the torn line was cut, its document written again
    assert tally.check_task(config.output, task, expected_ids(name)[task]) == (0, 0)
    assert record_snapshot(config.output, task) == record_snapshot(references[name], task)
    assert metrics_of(config.output) == metrics_of(references[name])


def spawned_workers(pid: int) -> list[int]:
    """The worker processes a `python -m evals run` process has spawned (not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_one_killed_worker_of_two_fails_the_run_in_one_line_and_one_worker_resumes_it(
    tmp_path, tiny_adapter, inception_file, references, tally
):
    config = run_config("gqa-16", tmp_path / "run", inception_file)
    tasks, limit, _ = CONFIGS["gqa-16"]
    command = [sys.executable, "-m", "evals", "run", "--model", "tiny", "--data", "demo", "--tasks", ",".join(tasks),
               "--limit", str(limit), "--batch-size", "2", "--inception-weights", str(inception_file),
               "--num-workers", "2", "--devices", "cpu,cpu", "--output", str(config.output)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while run.poll() is None and time.time() < deadline and lines_on_disk(config.output, tasks) < 1:
        time.sleep(0.005)
    victims = spawned_workers(run.pid)
    os.kill(victims[0], signal.SIGKILL)
    _, stderr = run.communicate(timeout=120)
    tally.tried("crash: SIGKILL one of two spawned workers, then resume with one")
    assert run.returncode == 1, stderr  # a crashed worker is exit 1, not a usage error
    # One error line and no traceback; torch's own "Terminating process ... via signal SIGTERM" warning and
    # Python's "leaked semaphore" warning may surround it (noise from the multiprocessing libraries).
    errors = [line for line in message_lines(stderr) if line.startswith("error: ")]
    assert "Traceback" not in stderr and len(errors) == 1 and "rerun the same command to resume" in errors[0], stderr
    written = lines_on_disk(config.output, tasks)
    assert len(victims) == 2 and written < limit, (victims, written)  # the run was cut short
    execute_run(config, adapter=tiny_adapter)  # a resume on one worker finishes what two began
    assert tally.check_task(config.output, "gqa", expected_ids("gqa-16")["gqa"]) == (0, 0)
    assert record_snapshot(config.output, "gqa") == record_snapshot(references["gqa-16"], "gqa")
    assert metrics_of(config.output) == metrics_of(references["gqa-16"])
