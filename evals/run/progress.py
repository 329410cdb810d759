"""Progress bars of a run: per task, the whole run's documents done, with rate and ETA.

Local workers report their batches to the main process (`Progress` is their callback). Under torchrun the
ranks share only the run folder, so rank 0 reads progress from it: every rank appends one record line per
finished document, and `RecordTail` counts the complete lines appended since the run began; `polled_progress`
feeds them to the bars from a thread, so the bars move while rank 0 is busy with its own batches or waits for
the others.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from evals.run.records import record_files, records_dir

POLL_SECONDS = 1.0
READ_BLOCK = 1 << 20


class Progress:
    """tqdm bars per task on the main process, with rate and ETA; a bar appears when its task starts (a call with
    count 0) or with its first result. Safe to call from two threads (rank 0's worker and the record poller)."""

    def __init__(self, totals: dict[str, int]):
        self.totals = totals
        self.bars: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, task_name: str, count: int) -> None:
        with self._lock:
            if task_name not in self.bars:
                from tqdm.auto import tqdm

                self.bars[task_name] = tqdm(
                    total=self.totals.get(task_name), desc=task_name, unit="doc", dynamic_ncols=True
                )
            bar = self.bars[task_name]
            bar.update(count)
            if bar.total is not None and bar.n >= bar.total:
                bar.close()  # finished tasks stop taking a line

    def close(self) -> None:
        """Close every bar."""
        with self._lock:
            for bar in self.bars.values():
                bar.close()

    def starts_only(self, task_name: str, count: int) -> None:
        """Rank 0's worker callback under torchrun: a task's start opens its bar (so its rate counts from there);
        the counts come from the record files."""
        if count == 0:
            self(task_name, 0)


class RecordTail:
    """Counts the record lines appended to a run folder's record files since it was made (whole lines only).

    Each file is read from where the last look stopped: the end of its last complete line, so a line being
    written (or torn by a kill, and later cut by its writer) is counted once it is complete, or never.
    """

    def __init__(self, run_dir: Path, task_names: Iterable[str]):
        self.run_dir = Path(run_dir)
        self.task_names = tuple(task_names)
        self.offsets: dict[Path, int] = {}
        self.new_lines()  # what is on disk already is not this run's progress

    def new_lines(self) -> dict[str, int]:
        """Complete lines appended per task since the last call (tasks without new lines left out)."""
        counts: dict[str, int] = {}
        for task in self.task_names:
            for path in record_files(records_dir(self.run_dir, task)):
                lines = self._read_lines(path)
                if lines:
                    counts[task] = counts.get(task, 0) + lines
        return counts

    def _read_lines(self, path: Path) -> int:
        """Complete lines of `path` after its offset; moves the offset to the end of the last one."""
        position = last_end = self.offsets.get(path, 0)
        lines = 0
        try:
            with open(path, "rb") as handle:
                handle.seek(position)
                while block := handle.read(READ_BLOCK):
                    newlines = block.count(b"\n")
                    if newlines:
                        lines += newlines
                        last_end = position + block.rfind(b"\n") + 1
                    position += len(block)
        except FileNotFoundError:
            return 0
        self.offsets[path] = last_end
        return lines


@contextmanager
def polled_progress(
    tail: RecordTail, progress: Callable[[str, int], None], seconds: float = POLL_SECONDS
) -> Iterator[None]:
    """Feed `progress` with the tail's new lines every `seconds` on a thread while the block runs, once more after."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(seconds):
            for task, count in tail.new_lines().items():
                progress(task, count)

    thread = threading.Thread(target=poll, name="record-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for task, count in tail.new_lines().items():
            progress(task, count)
