"""Two runs at one output folder: while a run is alive a second one is refused by the lock (even with
--overwrite); once it is SIGKILLed its stale lock does not block the resume, which completes the run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import time

from run_checks import is_one_line_error, metrics_of, planned_ids, record_snapshot

from evals.cli import main
from evals.config import RunConfig
from evals.run.launch import execute_run
from evals.run.lock import LOCK_NAME
from evals.run.records import record_files, records_dir
from evals.adapters.scripted import OracleAdapter

TASK = "pope_random"
RUN = ["run", "--model", "oracle", "--data", "demo", "--tasks", TASK, "--batch-size", "2"]


class SlowOracle(OracleAdapter):
    """The oracle, 200 ms per batch: a run long enough to be caught alive."""

    def generate_text(self, requests):
        """The gold answers, slowly."""
        time.sleep(0.2)
        return super().generate_text(requests)


def live_run(run_dir):
    """Target of the forked run holding the folder."""
    execute_run(RunConfig(tasks=(TASK,), model="oracle", data="demo", batch_size=2, output=run_dir), adapter=SlowOracle())


def lines(run_dir) -> int:
    return sum(path.read_bytes().count(b"\n") for path in record_files(records_dir(run_dir, TASK)))


def test_a_second_run_is_refused_while_the_first_lives_and_a_killed_run_resumes(tmp_path, capsys, tally):
    reference, shared = tmp_path / "reference", tmp_path / "shared"
    assert main([*RUN, "--output", str(reference)]) == 0
    child = multiprocessing.get_context("fork").Process(target=live_run, args=(shared,))
    child.start()
    try:
        deadline = time.time() + 60
        while lines(shared) < 2 and time.time() < deadline:
            time.sleep(0.005)
        capsys.readouterr()
        tally.tried("concurrency: second run refused", 2)
        for extra in ([], ["--overwrite"]):  # --overwrite must not clear a folder in use either
            assert main([*RUN, "--output", str(shared), *extra]) == 2
            err = capsys.readouterr().err
            assert is_one_line_error(err) and f"is in use by pid {child.pid}" in err, err
        assert child.is_alive() and 2 <= lines(shared) < 12  # the refused runs left the live run alone
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    tally.tried("concurrency: resume after SIGKILL")
    assert (shared / LOCK_NAME).exists()
    assert main([*RUN, "--output", str(shared)]) == 0
    assert tally.check_task(shared, TASK, planned_ids(TASK, "demo", None)) == (0, 0)
    assert record_snapshot(shared, TASK) == record_snapshot(reference, TASK)
    assert metrics_of(shared) == metrics_of(reference)
    assert not (shared / LOCK_NAME).exists()


def test_a_lock_torn_by_a_kill_does_not_block_a_resume(tmp_path, capsys, tally):
    run_dir = tmp_path / "run"
    assert main([*RUN, "--limit", "4", "--output", str(run_dir)]) == 0
    tally.tried("concurrency: torn lock file", 2)
    for torn in ("", '{"pid": 12'):  # killed between creating the lock file and writing it, or mid-write
        (run_dir / LOCK_NAME).write_text(torn)
        old = time.time() - 60
        os.utime(run_dir / LOCK_NAME, (old, old))
        assert main([*RUN, "--limit", "8", "--output", str(run_dir)]) == 0
    assert tally.check_task(run_dir, TASK, planned_ids(TASK, "demo", 8)) == (0, 0)


def test_a_lock_held_on_another_host_is_refused_with_the_remedy(tmp_path, capsys, tally):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": f"not-{socket.gethostname()}", "since": "noon"}))
    tally.tried("concurrency: lock of another host")
    assert main([*RUN, "--output", str(run_dir)]) == 2  # its owner cannot be checked from here
    err = capsys.readouterr().err
    assert is_one_line_error(err) and f"delete {run_dir / LOCK_NAME} if that run is dead" in err
