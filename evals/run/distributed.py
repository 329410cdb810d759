"""Rank and world size from the environment (torchrun), and collectives that give up after a timeout.

Under ``torchrun`` (or Slurm launching torchrun) every process runs the same command; RANK,
WORLD_SIZE and LOCAL_RANK come from the launcher and torch.distributed does the rendezvous. In one
plain process every function here is a no-op, so the runner has a single code path.

No rank waits forever: every collective of a run (`Ranks`) starts with gloo's `monitored_barrier`, which
gives up after the run's `--wait-timeout` and, on rank 0, names the ranks that never arrived. A timeout or
a vanished peer (its process killed: "Connection closed by peer") becomes one `RanksLost` line instead of
gloo's traceback. On one node torchrun also stops the other ranks when one dies; on several nodes the
other nodes' ranks learn it only here.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from evals.errors import RunStopped

RESUME_HINT = "the records written so far are kept; rerun the same command to resume"
# gloo's report on rank 0: "[Rank 0]: Ranks 1, 3 failed to pass monitoredBarrier in 5000 ms".
_MISSING_RANKS = re.compile(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier")
_SOURCE_PREFIX = re.compile(r"^(\[[^\]]*\]:?\s*)+")  # "[/path/pair.cc:561] " before gloo's message


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a launched job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    host: str = "localhost"

    @property
    def is_main(self) -> bool:
        """True on the process that plans, shows progress and aggregates."""
        return self.rank == 0

    @property
    def is_node_main(self) -> bool:
        """True on the first process of its node: the one that prints a reason every rank stops for."""
        return self.local_rank == 0

    @property
    def launched(self) -> bool:
        """True when a launcher (torchrun) started several processes."""
        return self.world_size > 1

    @property
    def label(self) -> str:
        """`rank 1 on node7`: how messages name this process."""
        return f"rank {self.rank} on {self.host}"


class RanksLost(RunStopped):
    """A rank died, hung or fell behind for longer than --wait-timeout; the others stop (a rerun resumes)."""

    def __init__(self, message: str, quiet: bool = False):
        super().__init__(message, quiet=quiet, exit_code=1)


def env_from_launcher() -> DistEnv:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them, and this host's name; one process when absent."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, host=socket.gethostname())


def is_initialized() -> bool:
    """True when a torch.distributed process group is up."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def init(env: DistEnv, timeout: timedelta) -> None:
    """Join the launcher's process group: gloo for CPU objects and barriers, nccl for CUDA tensors."""
    if not env.launched or is_initialized():
        return
    import torch
    import torch.distributed as dist

    backend = "gloo"
    if torch.cuda.is_available():
        backend = "cpu:gloo,cuda:nccl"
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size, timeout=timeout)


def destroy() -> None:
    """Leave the process group if one is up."""
    if is_initialized():
        import torch.distributed as dist

        dist.destroy_process_group()


def lost_ranks_error(env: DistEnv, what: str, timeout: timedelta, error: BaseException) -> RanksLost:
    """The one line for a collective that failed: the ranks that never arrived, or the peer that vanished."""
    text = str(error)
    quiet = not env.is_node_main
    missing = _MISSING_RANKS.search(text)
    if missing:
        ranks = ", ".join(part.strip() for part in missing.group(1).split(",") if part.strip())
        noun = "ranks" if "," in ranks else "rank"
        return RanksLost(
            f"{env.label}: {noun} {ranks} did not reach '{what}' within {timeout.total_seconds() / 60:g} min "
            f"(dead, hung or far behind; --wait-timeout sets the limit); {RESUME_HINT}",
            quiet=quiet,
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    reason = _SOURCE_PREFIX.sub("", first).split(". ")[0]  # gloo goes on with advice on reading the logs
    return RanksLost(
        f"{env.label}: lost the other ranks while waiting for '{what}' ({reason}); "
        f"another rank died or hung (its own log says why); {RESUME_HINT}",
        quiet=quiet,
    )


@dataclass(frozen=True)
class Ranks:
    """The collectives of one launched run, each bounded by `timeout`; all of them no-ops in one process."""

    env: DistEnv
    timeout: timedelta

    def wait_for_all(self, what: str) -> None:
        """Wait until every rank reaches the point `what` names; raise RanksLost after the timeout."""
        if not is_initialized():
            return
        import torch.distributed as dist

        try:
            dist.monitored_barrier(timeout=self.timeout, wait_all_ranks=True)
        except RuntimeError as error:  # gloo's timeout and closed-connection errors (DistBackendError too)
            raise lost_ranks_error(self.env, what, self.timeout, error) from None

    def broadcast(self, value: Any, what: str) -> Any:
        """Rank 0's `value` on every rank, once every rank has reached `what`."""
        if not is_initialized():
            return value
        import torch
        import torch.distributed as dist

        self.wait_for_all(what)
        holder = [value]
        try:
            dist.broadcast_object_list(holder, src=0, device=torch.device("cpu"))
        except RuntimeError as error:
            raise lost_ranks_error(self.env, what, self.timeout, error) from None
        return holder[0]

    def gather(self, value: Any, what: str) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank, once every rank has reached `what`."""
        if not is_initialized():
            return [value]
        import torch.distributed as dist

        self.wait_for_all(what)
        gathered: list[Any] = [None] * self.env.world_size
        try:
            dist.all_gather_object(gathered, value)
        except RuntimeError as error:
            raise lost_ranks_error(self.env, what, self.timeout, error) from None
        return gathered
