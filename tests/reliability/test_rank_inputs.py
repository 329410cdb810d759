"""Under torchrun, a rank that cannot read what its share needs stops every rank before any model work, with one
line naming the rank, its host and what is missing; a rank that hangs stops the others after --wait-timeout.

The torchrun cases run two simulated nodes (tests/reliability/torchrun_jobs.py): the failing rank's node holds
a weights cache of its own, as a real node does, and the other node's agent does not reap its rank for it, so
that rank must stop by itself.
"""

from __future__ import annotations

import shutil
import signal
import socket
import time

import pytest
from broken_datasets import broken_copy
from torchrun_jobs import (
    end,
    error_lines,
    free_port,
    job_env,
    kill,
    node_of_two,
    rank_exit_codes,
    start,
    wait_for_rank,
)

from evals.registry import discover
from evals.run.plan import plan_task
from evals.run.preflight import RankInputsMissing, check_task, positions_to_check
from evals.run.records import read_records, records_dir
from evals.task_api import DataSource
from tasks.image_metrics.fid_reference import DEMO_REFERENCE_DIR
from tasks.image_metrics.inception import WEIGHTS_FILENAME

MODEL_MARKER = "every rank can read its inputs; loading the model"  # each rank's INFO line before its model
STOP_BOUND_S = 240  # both nodes start, plan and stop within this (seconds; ~30 s on an idle 2-core machine)


def test_a_rank_without_the_inception_weights_stops_every_rank_before_the_model_in_one_line(
    tmp_path, inception_file, clip_folder, tally
):
    # Node 0's weights cache holds the weights file (random weights under the official name), node 1's is empty.
    # `--data hub`, since with demo data a missing file lets random weights stand in; the FID documents are
    # bundled and --fid-ref names the bundled reference folder, so nothing is downloaded. The scripted model
    # (oracle) spares each rank the import of transformers: no rank gets as far as its model anyway. Both nodes
    # read the same tiny CLIP folder (hub data has no CLIP stand-in), so only the Inception weights are missing.
    homes = [tmp_path / "node0-torch", tmp_path / "node1-torch"]
    (homes[0] / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(inception_file, homes[0] / "hub" / "checkpoints" / WEIGHTS_FILENAME)
    homes[1].mkdir()
    out = tmp_path / "run"
    args = ["--model", "oracle", "--tasks", "fid", "--data", "hub", "--fid-ref", str(DEMO_REFERENCE_DIR),
            "--gen-kwargs", f"clip_model={clip_folder}", "--limit", "4", "--batch-size", "2", "--output", str(out)]
    port = free_port()
    deadline = time.time() + STOP_BOUND_S
    nodes = [start([*node_of_two(n, port), *args], job_env(TORCH_HOME=str(homes[n]))) for n in (0, 1)]
    try:  # both nodes must have stopped by the deadline (communicate raises TimeoutExpired otherwise)
        outputs = [node.communicate(timeout=max(1.0, deadline - time.time()))[1] for node in nodes]
    finally:
        end(nodes)
    tally.tried("rank inputs: Inception weights missing on one node (torchrun, 2 nodes)")
    missing = homes[1] / "hub" / "checkpoints" / WEIGHTS_FILENAME
    expected = (f"error: rank 1 on {socket.gethostname()}: Inception weights {WEIGHTS_FILENAME} not found; "
                f"put the file at {missing} ")
    for node, output in zip(nodes, outputs):
        assert node.returncode != 0, output[-3000:]
        lines = error_lines(output)
        assert len(lines) == 1 and lines[0].startswith(expected), output[-3000:]
        assert lines[0].endswith("every rank stopped before loading the model; fix it and rerun the same command")
        assert MODEL_MARKER not in output  # no rank got as far as building its model
    # Each rank exited 2 by itself: its agent reports the code (a rank reaped by its agent would show -15).
    assert rank_exit_codes(outputs[0]) == {0: 2} and rank_exit_codes(outputs[1]) == {1: 2}
    assert not records_dir(out, "fid").exists()


def planned(task_name: str, data: str, limit: int, run_dir):
    """Rank 0's plan of one task into an empty run folder."""
    task = discover().get(task_name)
    return plan_task(task, task.load_docs(DataSource.parse(data)), limit, run_dir)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda rows: rows[:5], "the dataset copy here holds 5 documents, rank 0 planned 8"),
        (lambda rows: rows[1:] + rows[:1], "of the dataset copy here is"),  # same rows, another order
    ],
    ids=["fewer documents", "another order"],
)
def test_a_rank_whose_dataset_copy_differs_from_rank_0s_stops_the_run(tmp_path, edit, problem, tally):
    plan = planned("gqa", "demo", limit=8, run_dir=tmp_path / "run")  # rank 0 planned from the bundled demo copy
    broken_copy(tmp_path, "lmms-lab/GQA", "testdev_balanced_instructions", "testdev", edit)
    tally.tried("rank inputs: another dataset copy on one rank")
    positions = positions_to_check(plan, rank=1, world_size=2, verify_batching=0)
    assert positions == [(1, plan.doc_ids[1]), (7, plan.doc_ids[7])]  # rank 1's share: documents 1, 3, 5, 7
    with pytest.raises(RankInputsMissing, match=f"task 'gqa': .*{problem}.*give every node the same copy"):
        check_task(plan, DataSource.parse(str(tmp_path)), positions)
    docs, inputs = check_task(plan, DataSource.parse("demo"), positions)  # rank 0's own copy passes
    assert len(docs) >= 8 and inputs == {}


@pytest.mark.slow
def test_a_hung_rank_stops_the_other_node_after_the_wait_timeout_in_one_line(tmp_path, tally):
    out = tmp_path / "run"
    args = ["--model", "oracle", "--tasks", "fake_qa", "--gen-kwargs", "sleep_ms=200", "--batch-size", "1",
            "--wait-timeout", "0.2", "--output", str(out)]
    port = free_port()
    nodes = [start([*node_of_two(n, port), *args], job_env()) for n in (0, 1)]
    try:
        deadline = time.time() + STOP_BOUND_S
        hung = wait_for_rank(nodes[1], 1, deadline)
        assert hung is not None
        while time.time() < deadline and not list(read_records(records_dir(out, "fake_qa"))):
            time.sleep(0.05)
        kill(hung, signal.SIGSTOP)  # rank 1 stops answering mid-share, as a hung GPU or NFS read would
        stopped_at = time.time()
        try:
            output = nodes[0].communicate(timeout=STOP_BOUND_S)[1]
            waited = time.time() - stopped_at
        finally:
            kill(hung, signal.SIGCONT)
        resumed = nodes[1].communicate(timeout=STOP_BOUND_S)[1]  # rank 1, let go, finds rank 0 gone
    finally:
        end(nodes)
    tally.tried("rank inputs: one rank hangs (torchrun, 2 nodes)")
    # Rank 0 finishes its 12 documents (0.2 s each), then waits at most 0.2 min for rank 1.
    assert nodes[0].returncode != 0 and waited < 12 + 60, output[-3000:]
    assert error_lines(output) == [
        f"error: rank 0 on {socket.gethostname()}: rank 1 did not reach 'every rank finished its share' within "
        "0.2 min (dead, hung or far behind; --wait-timeout sets the limit); the records written so far are kept; "
        "rerun the same command to resume"
    ]
    assert rank_exit_codes(output) == {0: 1}
    assert nodes[1].returncode != 0 and len(error_lines(resumed)) == 1, resumed[-3000:]
    assert error_lines(resumed)[0].startswith(f"error: rank 1 on {socket.gethostname()}: lost the other ranks")
