"""Results do not depend on the number of workers: one process, two spawned workers (one thread each)
and `torchrun --nproc_per_node 2` (gloo) write identical records at batch size 1 and identical metrics."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from evals.cli import main
from evals.run.records import read_records, record_files, records_dir

FAKE = ["--model", "oracle", "--tasks", "fake_qa,fake_choice,fake_image,fake_bad", "--batch-size", "1"]


def record_map(run_dir: Path) -> dict:
    """(task, doc id) -> everything a record holds, arrays as lists."""
    found = {}
    for task_dir in sorted((run_dir / "records").iterdir()):
        for r in read_records(task_dir, load_arrays=True):
            found[(r.task, r.doc_id)] = (
                r.prompt,
                r.output,
                r.target,
                r.scores,
                r.error,
                {k: v.tolist() for k, v in r.arrays.items()},
            )
    return found


def task_metrics(run_dir: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    return {name: entry["metrics"] for name, entry in results["tasks"].items()}


def worker_files(run_dir: Path, task: str) -> list[str]:
    return [p.name for p in record_files(records_dir(run_dir, task))]


def test_two_spawned_workers_match_one_worker(tmp_path, fake_tasks):
    assert main(["run", *FAKE, "--output", str(tmp_path / "one")]) == 0
    assert main(["run", *FAKE, "--num-workers", "2", "--output", str(tmp_path / "two")]) == 0
    assert worker_files(tmp_path / "two", "fake_qa") == ["worker-0.jsonl", "worker-1.jsonl"]
    assert record_map(tmp_path / "two") == record_map(tmp_path / "one")
    assert task_metrics(tmp_path / "two") == task_metrics(tmp_path / "one")
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert results["run"]["world_size"] == 2


# A tqdm bar as the launcher's stderr holds it: "fake_qa:  50%|#####     | 12/24 [00:01<00:01, ...]".
BAR = re.compile(r"([\w.-]+): +\d+%\|[^|]*\| (\d+)/(\d+) \[")


def test_torchrun_two_processes_match_a_plain_run_and_rank_0_shows_the_whole_run(tmp_path, fake_tasks, evals_cli):
    assert main(["run", *FAKE, "--output", str(tmp_path / "plain")]) == 0
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "evals")
    launched = evals_cli("run", *FAKE, "--output", str(tmp_path / "torchrun"), launcher=torchrun, timeout=300)
    assert launched.returncode == 0, launched.stderr[-2000:]
    assert worker_files(tmp_path / "torchrun", "fake_qa") == ["worker-0.jsonl", "worker-1.jsonl"]
    assert record_map(tmp_path / "torchrun") == record_map(tmp_path / "plain")
    assert task_metrics(tmp_path / "torchrun") == task_metrics(tmp_path / "plain")
    assert json.loads((tmp_path / "torchrun" / "results.json").read_text())["run"]["world_size"] == 2
    # Only rank 0 draws bars, and each ends at the task's whole document count (the fake plugin's 24, 16, 12
    # and 6), not at rank 0's share (12, 8, 6, 3).
    last_bar = {task: (int(done), int(total)) for task, done, total in BAR.findall(launched.stderr)}
    assert last_bar == {"fake_qa": (24, 24), "fake_choice": (16, 16), "fake_image": (12, 12), "fake_bad": (6, 6)}


def test_a_crashed_spawned_worker_is_one_line_exit_1_and_keeps_the_others_records(tmp_path, fake_tasks, capsys):
    out = tmp_path / "crash"
    argv = [
        "run",
        "--model",
        "oracle",
        "--tasks",
        "fake_qa",
        "--batch-size",
        "1",
        "--num-workers",
        "2",
        "--gen-kwargs",
        "exit_on=q013",
        "--output",
        str(out),
    ]
    capsys.readouterr()
    assert main(argv) == 1
    error = capsys.readouterr().err.rstrip("\n").split("\n")[-1]
    # q013 is the 14th document: worker 1's share (odd positions) in a strided split.
    assert (
        error.startswith("error: worker 1 died (process 1 terminated")
        and "exit code 3" in error
        and "rerun the same command" in error
    )
    assert not list(out.glob("results.json"))
    assert 0 < sum(1 for _ in read_records(records_dir(out, "fake_qa"))) < 24
