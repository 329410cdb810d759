"""The per-rank check before any model work, and the collectives that give up after --wait-timeout.

The collectives run on real gloo process groups: two forked processes joined through MASTER_ADDR/PORT,
as torchrun joins its ranks.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from datetime import timedelta

import pytest
import torch.distributed  # noqa: F401  (imported once here; the forked ranks inherit it)

from evals.config import RunConfig
from evals.errors import RunStopped
from evals.registry import registry_from_tasks
from evals.run import distributed
from evals.run.distributed import DistEnv, Ranks
from evals.run.plan import RunPlan, plan_task
from evals.run.preflight import (
    SHARED_CHECK_FILE,
    RankInputsMissing,
    RankReport,
    check_every_rank,
    check_run_folder,
    first_problem,
    write_shared_token,
)
from evals.task_api import DataSource


def test_no_problem_and_equal_inputs_let_the_run_go_on():
    weights = {"fid": {"Inception weights": "tf-inception-2015-12-05"}}
    reports = [RankReport(0, "a", inputs=weights), RankReport(1, "b", inputs=weights), RankReport(2, "b")]
    assert first_problem(reports) is None


def test_the_first_rank_with_a_problem_names_itself_and_its_host():
    reports = [RankReport(0, "a"), RankReport(1, "b", problem="no copy of dataset x"), RankReport(2, "c", problem="y")]
    assert first_problem(reports) == "rank 1 on b: no copy of dataset x"


def test_inputs_that_differ_from_the_first_rank_holding_them_stop_the_run():
    # Rank 0 has no fid share (e.g. one pending image, which went to rank 1): rank 1's weights are the ones to match.
    reports = [
        RankReport(0, "a", inputs={"gqa": {}}),
        RankReport(1, "b", inputs={"fid": {"Inception weights": "tf-inception-2015-12-05"}}),
        RankReport(2, "c", inputs={"fid": {"Inception weights": "random-inception-seed0"}}),
    ]
    assert first_problem(reports) == (
        "rank 2 on c: task 'fid' would score with Inception weights random-inception-seed0, "
        "rank 1 on b with tf-inception-2015-12-05; give every node the same files"
    )


def test_a_rank_that_sees_no_token_or_another_token_has_another_folder(tmp_path):
    with pytest.raises(RankInputsMissing, match="no check file in it.*every node mounts at the same path"):
        check_run_folder(tmp_path, "0123", rank=1)
    write_shared_token(tmp_path)
    with pytest.raises(RankInputsMissing, match="another launch's check file"):
        check_run_folder(tmp_path, "0123", rank=1)


def test_a_rank_that_sees_the_token_writes_and_removes_its_probe(tmp_path):
    token = write_shared_token(tmp_path)
    check_run_folder(tmp_path, token, rank=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SHARED_CHECK_FILE]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_rank(rank: int, port: int, results, work, *args) -> None:
    """One forked rank of two (both on node "node0"): join the group, put `work(ranks, *args)`'s outcome."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    env = DistEnv(rank=rank, world_size=2, local_rank=rank, host="node0")
    distributed.init(env, timedelta(seconds=60))
    try:
        results.put((rank, work(Ranks(env, timedelta(seconds=2)), *args)))
    except RunStopped as error:
        results.put((rank, (str(error), error.exit_code, error.quiet)))
    finally:
        distributed.destroy()


def run_two_ranks(work, *args) -> dict[int, object]:
    """What `work` returned or raised (message, exit code, quiet) on each of two forked ranks."""
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    port = free_port()
    children = [fork.Process(target=as_rank, args=(rank, port, results, work, *args)) for rank in (0, 1)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    found = {}
    while not results.empty():
        rank, outcome = results.get()
        found[rank] = outcome
    return found


def gather_then_wait(ranks: Ranks, late_seconds: float) -> list:
    """Gather the ranks' numbers, then wait for all (rank 1 `late_seconds` late)."""
    gathered = ranks.gather(ranks.env.rank * 10, "the gather")
    if ranks.env.rank == 1:
        time.sleep(late_seconds)
    ranks.wait_for_all("the end")
    return gathered


def test_ranks_that_arrive_in_time_gather_and_pass():
    assert run_two_ranks(gather_then_wait, 0.5) == {0: [0, 10], 1: [0, 10]}


def test_a_rank_that_does_not_arrive_in_time_stops_the_others_in_one_line_naming_it():
    found = run_two_ranks(gather_then_wait, 3)
    # 2 s is 0.0333333 minutes as the message prints it (:g, six significant digits).
    assert found[0] == (
        "rank 0 on node0: rank 1 did not reach 'the end' within 0.0333333 min (dead, hung or far behind; "
        "--wait-timeout sets the limit); the records written so far are kept; rerun the same command to resume",
        1,
        False,
    )
    late, code, quiet = found[1]
    assert late.startswith("rank 1 on node0: lost the other ranks while waiting for 'the end' (") and code == 1
    assert quiet  # rank 0 prints for the node


def check_with_token(ranks: Ranks, plan: RunPlan, tokens: dict[int, str]) -> list[str]:
    """Run the per-rank check with this rank's idea of the token; the tasks whose documents it loaded."""
    return sorted(check_every_rank(plan, ranks, tokens[ranks.env.rank]))


def test_one_rank_that_sees_another_folder_stops_both_with_the_same_line_printed_once(tmp_path, fake_tasks):
    task = registry_from_tasks(fake_tasks.TASKS).get("fake_qa")
    task_plan = plan_task(task, task.load_docs(DataSource()), limit=None, run_dir=tmp_path)
    plan = RunPlan(config=RunConfig(tasks=("fake_qa",), model="oracle"), run_dir=tmp_path, source=DataSource(),
                   tasks=(task_plan,), devices=("cpu", "cpu"), dtype="float32", model={})
    token = write_shared_token(tmp_path)
    assert run_two_ranks(check_with_token, plan, {0: token, 1: token}) == {0: ["fake_qa"], 1: ["fake_qa"]}
    found = run_two_ranks(check_with_token, plan, {0: token, 1: "a token from another folder"})
    line = (f"rank 1 on node0: run folder {tmp_path} is not the folder rank 0 writes (another "
            "launch's check file in it); put --output on a file system every node mounts at the same path; "
            "every rank stopped before loading the model; fix it and rerun the same command")
    assert found == {0: (line, 2, False), 1: (line, 2, True)}  # the node's first process prints it, rank 1 is quiet
