"""Helpers of the torchrun tests: launcher commands (one node, or two simulated nodes), job environments,
the ranks' processes, and what a launcher's output says.

Two "nodes" are two torchrun agents on this host joined by a static rendezvous: each agent watches only its
own ranks (one agent's failed rank is not reaped by the other, as on real nodes), and each has its own
environment (e.g. TORCH_HOME: the node's own weights cache).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_PLUGIN_DIR = REPO_ROOT / "tests" / "fake_plugin"
TORCHRUN = (sys.executable, "-m", "torch.distributed.run")
EVALS_RUN = ("-m", "evals", "run")


def one_node(processes: int) -> list[str]:
    """`torchrun --standalone --nproc_per_node N -m evals run`."""
    return [*TORCHRUN, "--standalone", "--nproc_per_node", str(processes), *EVALS_RUN]


def node_of_two(node_rank: int, port: int) -> list[str]:
    """One of two single-process nodes joined at 127.0.0.1:`port` (static rendezvous, node 0 hosts it)."""
    return [*TORCHRUN, "--nnodes", "2", "--node_rank", str(node_rank), "--nproc_per_node", "1",
            "--rdzv_backend", "static", "--master_addr", "127.0.0.1", "--master_port", str(port), *EVALS_RUN]


def job_env(**changes: str) -> dict[str, str]:
    """A launcher's environment: this checkout and the fake plugin importable, offline, one thread per rank."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_PLUGIN_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                "TOKENIZERS_PARALLELISM": "false"})
    env.update(changes)
    return env


def start(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen:
    """A launcher in the background, in a session of its own (see `end`), its output captured as text."""
    return subprocess.Popen(
        list(command), env=dict(env), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def end(launchers: Sequence[subprocess.Popen]) -> None:
    """SIGKILL what is left of launchers a failed test leaves running: each launcher with its ranks."""
    for launcher in launchers:
        if launcher.poll() is None:
            try:
                os.killpg(launcher.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            launcher.communicate()


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rank_processes(launcher_pid: int) -> dict[int, int]:
    """Rank -> pid of the ranks a torchrun launcher has started (its children carrying RANK in their environment)."""
    found = {}
    for task in Path(f"/proc/{launcher_pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            rank = next((int(item[5:]) for item in environ if item.startswith(b"RANK=")), None)
            if rank is not None:
                found[rank] = int(child)
    return found


def wait_for_rank(launcher: subprocess.Popen, rank: int, deadline: float) -> int | None:
    """The pid of `rank` once its launcher has started it; None if the launcher ended or time ran out first."""
    while launcher.poll() is None and time.time() < deadline:
        pid = rank_processes(launcher.pid).get(rank)
        if pid is not None:
            return pid
        time.sleep(0.01)
    return None


def kill(pid: int, signal_number: int = signal.SIGKILL) -> None:
    """Send a signal to a process that may be gone already."""
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass


def error_lines(output: str) -> list[str]:
    """Our one-line errors in a launcher's output (torchrun's own report and gloo's log lines are other lines)."""
    return [line.rsplit("\r", 1)[-1] for line in output.splitlines() if line.rsplit("\r", 1)[-1].startswith("error: ")]


# torchrun's summary of a failed rank: "  rank      : 1 (local_rank: 0)" ... "  exitcode  : 2 (pid: 123)".
_FAILED_RANK = re.compile(r"rank\s*:\s*(\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")


def rank_exit_codes(output: str) -> dict[int, int]:
    """Rank -> exit code, from torchrun's report of the ranks that failed on its node."""
    return {int(rank): int(code) for rank, code in _FAILED_RANK.findall(output)}


# A tqdm bar as the launcher's output holds it: "fake_qa:  50%|#####     | 12/24 [00:01<00:01, ...]".
_BAR = re.compile(r"([\w.-]+): +\d+%\|[^|]*\| (\d+)/(\d+) \[")


def last_bars(output: str) -> dict[str, tuple[int, int]]:
    """Task -> (documents done, total) as each task's progress bar last showed them."""
    return {task: (int(done), int(total)) for task, done, total in _BAR.findall(output)}
