"""A lock file that keeps two runs out of one run folder; a lock left by a dead process is taken over."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from evals.errors import HarnessError

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunFolderLocked(HarnessError):
    """Another live run holds the folder's lock."""


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux /proc), to tell a reused pid from the lock's owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the parenthesised command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _is_alive(pid: int, start_time: str | None) -> bool:
    """True when `pid` runs and, where known, is the same process that wrote the lock."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    if start_time is not None:
        current = _process_start_time(pid)
        if current is not None and current != start_time:
            return False
    return True


class RunLock:
    """Exclusive use of a run folder by this process; use as a context manager."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        """Take the lock, replacing a stale one; raise RunFolderLocked if a live run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        content = json.dumps(
            {
                "pid": pid,
                "host": socket.gethostname(),
                "start_time": _process_start_time(pid),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_if_stale()
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            self.held = True
            return
        raise RunFolderLocked(f"could not take the lock {self.path}; remove it if no run uses the folder")

    def _clear_if_stale(self) -> None:
        """Remove the lock when its owner is gone; raise RunFolderLocked when it is alive."""
        try:
            owner = json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return  # released meanwhile; try again
        except (OSError, ValueError):
            owner = {}
        pid, host = owner.get("pid"), owner.get("host")
        if isinstance(pid, int) and host == socket.gethostname() and not _is_alive(pid, owner.get("start_time")):
            logger.warning("taking over the stale lock of dead process %d in %s", pid, self.path.parent)
            stale = self.path.with_name(f"{LOCK_NAME}.stale-{pid}")
            try:
                os.replace(self.path, stale)
                stale.unlink()
            except FileNotFoundError:
                pass  # another resumer took it over first
            return
        if not owner:
            # Written by a process killed between create and write: older than a few seconds means dead.
            if time.time() - self._mtime() > 10:
                self.path.unlink(missing_ok=True)
                return
            time.sleep(0.5)
            return
        raise RunFolderLocked(
            f"run folder {self.path.parent} is in use by pid {pid} on {host} since {owner.get('since')}; "
            f"wait for it to finish, or delete {self.path} if that run is dead"
        )

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
