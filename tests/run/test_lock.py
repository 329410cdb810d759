"""The run-folder lock: a live holder refuses a second run; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from evals.run.lock import LOCK_NAME, RunFolderLocked, RunLock


def test_a_live_holder_refuses_a_second_lock(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunFolderLocked, match=f"in use by pid {os.getpid()} on {socket.gethostname()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "earlier"}))
    with RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    # The lock names this (live) pid but another process start time: the pid was reused, the owner is gone.
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "start_time": "1"}))
    with RunLock(tmp_path) as lock:
        assert lock.held
