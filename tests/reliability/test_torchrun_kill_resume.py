"""Crashes under torchrun: one rank of `torchrun --nproc_per_node 2` SIGKILLed at a seeded random point, the
whole job restarted with 1, 2 or 3 processes, ends with exactly one record per document and the records and
metrics of an uninterrupted run; the restarted rank 0's bars count exactly the documents left to do.

Trial i draws from random.Random(i): the rank killed, the number of record lines on disk it is killed at
(0: while starting, planning or checking its inputs), a small delay, and the restart's process count. torchrun
stops the surviving rank when one dies (SIGTERM), as it does on a real node. References are uninterrupted
in-process runs (the records do not depend on the number of processes: tests/run/test_world_size.py).
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass

import pytest
from run_checks import metrics_of, planned_ids, record_snapshot
from torchrun_jobs import end, job_env, kill, last_bars, one_node, start, wait_for_rank

from evals.config import GenerationConfig, RunConfig
from evals.registry import registry_from_tasks
from evals.run.launch import execute_run
from evals.run.records import read_records, records_dir
from evals.adapters.scripted import OracleAdapter

LAUNCH_TIMEOUT_S = 300


@dataclass(frozen=True)
class Job:
    """One configuration of the trials: model, tasks, --limit, --gen-kwargs."""

    model: str
    tasks: tuple[str, ...]
    limit: int | None = None
    gen_kwargs: tuple[tuple[str, str], ...] = ()

    def args(self, out, inception_file) -> list[str]:
        """The `evals run` arguments of this job into folder `out`."""
        args = ["--model", self.model, "--tasks", ",".join(self.tasks), "--batch-size", "2", "--output", str(out)]
        if self.model == "tiny":
            args += ["--data", "demo", "--inception-weights", str(inception_file)]
        if self.limit is not None:
            args += ["--limit", str(self.limit)]
        if self.gen_kwargs:
            args += ["--gen-kwargs", ",".join(f"{k}={v}" for k, v in self.gen_kwargs)]
        return args

    def config(self, out, inception_file) -> RunConfig:
        """The same run as a RunConfig, for the uninterrupted reference."""
        options = (("inception_weights", str(inception_file)),) if self.model == "tiny" else ()
        return RunConfig(tasks=self.tasks, model=self.model, data="demo" if self.model == "tiny" else "hub",
                         limit=self.limit, batch_size=2, output=out,
                         generation=GenerationConfig(gen_kwargs=self.gen_kwargs, task_options=options))

    def planned(self) -> dict[str, tuple[str, ...]]:
        """Per task, the documents that must end with exactly one record."""
        data = "demo" if self.model == "tiny" else "hub"
        return {task: planned_ids(task, data, self.limit, dict(self.gen_kwargs)) for task in self.tasks}


JOBS = {
    "fid": Job("tiny", ("fid",), limit=4),
    "gqa+fid": Job("tiny", ("gqa", "fid"), limit=4),
    # Scripted tasks and answers (no model): 42 documents, 40 ms of scoring each, error records among them.
    "scripted": Job("oracle", ("fake_qa", "fake_image", "fake_bad"), gen_kwargs=(("sleep_ms", "40"),)),
}
TRIALS = ("fid", "gqa+fid", "scripted", "fid", "scripted", "scripted")


@pytest.fixture(scope="module")
def references(tmp_path_factory, tiny_adapter, inception_file):
    """Uninterrupted in-process runs of the model jobs: run folder per job name (the scripted one is made per test)."""
    root = tmp_path_factory.mktemp("reference")
    return {
        name: execute_run(job.config(root / name, inception_file), adapter=tiny_adapter)
        for name, job in JOBS.items()
        if job.model == "tiny"
    }


def lines_on_disk(run_dir, tasks) -> int:
    """Complete record lines written so far over every task and rank."""
    return sum(path.read_bytes().count(b"\n") for task in tasks for path in records_dir(run_dir, task).glob("*.jsonl"))


def recorded(run_dir, task) -> set[str]:
    """Documents of one task that have a record."""
    return {r.doc_id for r in read_records(records_dir(run_dir, task))}


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(len(TRIALS)), ids=[f"{i}-{name}" for i, name in enumerate(TRIALS)])
def test_a_rank_killed_under_torchrun_then_restarted_with_1_2_or_3_processes_loses_and_repeats_nothing(
    trial, tmp_path, request, inception_file, tally
):
    name = TRIALS[trial]
    job = JOBS[name]
    if job.model == "tiny":
        reference = request.getfixturevalue("references")[name]
    else:
        fake_tasks = request.getfixturevalue("fake_tasks")
        registry = registry_from_tasks(fake_tasks.TASKS)
        reference = execute_run(job.config(tmp_path / "reference", inception_file), registry, OracleAdapter())
    wanted = job.planned()
    total = sum(map(len, wanted.values()))
    rng = random.Random(trial)
    victim, restart = rng.choice((0, 1)), rng.choice((1, 2, 3))
    kill_at, delay = rng.randint(0, total - 1), rng.uniform(0, 0.05)
    out = tmp_path / "run"
    env = job_env()

    launcher = start([*one_node(2), *job.args(out, inception_file)], env)
    try:
        deadline = time.time() + LAUNCH_TIMEOUT_S
        pid = wait_for_rank(launcher, victim, deadline)
        while pid is not None and launcher.poll() is None and time.time() < deadline:
            if lines_on_disk(out, job.tasks) >= kill_at:
                break
            time.sleep(0.005)
        time.sleep(delay)
        if pid is not None:
            kill(pid, signal.SIGKILL)
        launcher.communicate(timeout=LAUNCH_TIMEOUT_S)  # torchrun stops the other rank and exits
    finally:
        end([launcher])
    written = lines_on_disk(out, job.tasks)
    when = ("after the run finished" if (out / "results.json").exists() else "before the first record" if written == 0
            else "after the last record" if written >= total else "mid-run")
    tally.tried(f"crash: SIGKILL rank {victim} of torchrun x2 {when}, then torchrun x{restart}")

    left = {task: len(set(ids) - recorded(out, task)) for task, ids in wanted.items()}
    restarted = start([*one_node(restart), *job.args(out, inception_file)], env)
    try:
        _, stderr = restarted.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        end([restarted])
    assert restarted.returncode == 0, stderr[-3000:]
    for task, ids in wanted.items():
        assert tally.check_task(out, task, ids) == (0, 0)  # nothing lost, nothing twice
        assert record_snapshot(out, task) == record_snapshot(reference, task)
    assert metrics_of(out) == metrics_of(reference)
    # The restarted run's rank 0 counts every rank's documents: each bar ends at what was left of its task.
    bars = {task: bar for task, bar in last_bars(stderr).items() if task in job.tasks}  # not the model's loading bar
    assert bars == {task: (n, n) for task, n in left.items() if n}
