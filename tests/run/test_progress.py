"""Rank 0's progress under torchrun: the record lines every rank appends, counted once each, whole lines only."""

from __future__ import annotations

import threading

from evals.run.progress import Progress, RecordTail, polled_progress
from evals.run.records import Record, RecordWriter, records_path


def records(task: str, *doc_ids: str) -> list[Record]:
    return [Record(task=task, doc_id=d) for d in doc_ids]


def test_lines_on_disk_before_the_tail_are_not_progress_and_each_new_line_counts_once(tmp_path):
    RecordWriter(tmp_path, "qa", rank=0).append(records("qa", "a", "b", "c"))  # an earlier, interrupted run
    tail = RecordTail(tmp_path, ["qa", "img"])
    assert tail.new_lines() == {}
    RecordWriter(tmp_path, "qa", rank=0).append(records("qa", "d"))
    RecordWriter(tmp_path, "qa", rank=1).append(records("qa", "e", "f"))  # a file that appears later
    RecordWriter(tmp_path, "img", rank=2).append(records("img", "x"))
    assert tail.new_lines() == {"qa": 3, "img": 1}
    assert tail.new_lines() == {}


def test_a_line_being_written_counts_once_it_is_complete(tmp_path):
    RecordWriter(tmp_path, "qa", rank=0).append(records("qa", "a"))
    tail = RecordTail(tmp_path, ["qa"])
    path = records_path(tmp_path, "qa", 0)
    with open(path, "ab") as handle:
        handle.write(b'{"task": "qa", "doc_id": "b"}\n{"task": "qa", "do')  # one whole line, one half
    assert tail.new_lines() == {"qa": 1}
    with open(path, "ab") as handle:
        handle.write(b'c_id": "c"}\n')
    assert tail.new_lines() == {"qa": 1}


def test_a_torn_line_cut_by_its_writer_and_written_again_counts_once(tmp_path):
    RecordWriter(tmp_path, "qa", rank=0).append(records("qa", "a"))
    path = records_path(tmp_path, "qa", 0)
    with open(path, "ab") as handle:
        handle.write(b'{"task": "qa", "doc_id": "b", "pro')  # a killed run's last write
    tail = RecordTail(tmp_path, ["qa"])
    RecordWriter(tmp_path, "qa", rank=0).append(records("qa", "b"))  # the resumed writer cuts it, writes b again
    assert tail.new_lines() == {"qa": 1}


def test_lines_longer_than_a_read_block_are_counted(tmp_path, monkeypatch):
    monkeypatch.setattr("evals.run.progress.READ_BLOCK", 16)
    tail = RecordTail(tmp_path, ["qa"])
    RecordWriter(tmp_path, "qa", rank=0).append([Record(task="qa", doc_id="a", output="x" * 100)] * 3)
    assert tail.new_lines() == {"qa": 3}


class Counts:
    """A progress callback that keeps the totals it was told, per task."""

    def __init__(self):
        self.done: dict[str, int] = {}
        self.calls = 0

    def __call__(self, task: str, count: int) -> None:
        self.done[task] = self.done.get(task, 0) + count
        self.calls += 1


def test_polled_progress_reports_while_the_block_runs_and_the_rest_after_it(tmp_path):
    tail = RecordTail(tmp_path, ["qa"])
    counts = Counts()
    polled = threading.Event()

    def seen(task: str, count: int) -> None:
        counts(task, count)
        polled.set()

    with polled_progress(tail, seen, seconds=0.01):
        RecordWriter(tmp_path, "qa", rank=1).append(records("qa", "a", "b"))
        assert polled.wait(5)  # reported by the thread, before the block ends
        RecordWriter(tmp_path, "qa", rank=0).append(records("qa", "c"))
    assert counts.done == {"qa": 3}  # the last line is counted by the final look


def test_progress_total_is_the_whole_run_and_a_start_only_opens_the_bar():
    progress = Progress({"qa": 5})
    progress.starts_only("qa", 0)
    progress.starts_only("qa", 2)  # rank 0's own batches are counted from the record files, not here
    assert progress.bars["qa"].n == 0 and progress.bars["qa"].total == 5
    progress("qa", 5)
    assert progress.bars["qa"].n == 5
    progress.close()
