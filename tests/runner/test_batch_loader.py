"""The background loader: requests built and images decoded ahead of the model, text sorted by length."""

from __future__ import annotations

import threading
import time

from evals.batch_loader import BatchLoader, iter_batches


def test_text_requests_come_longest_first_in_batches(fake_tasks):
    task = fake_tasks.FAKE_QA
    docs = task.load_docs(None)
    work = [(i, task.doc_id(d)) for i, d in enumerate(docs)][:10]
    batches = list(iter_batches(task, docs, work, batch_size=4, run_seed=0))
    assert [len(b) for b in batches] == [4, 4, 2]
    lengths = [len(item.request.text) for batch in batches for item in batch]
    assert lengths == sorted(lengths, reverse=True)
    assert sorted(item.doc_id for batch in batches for item in batch) == [d for _, d in work]


def test_the_next_batch_is_decoded_while_the_current_one_is_in_use(fake_tasks, monkeypatch):
    decoded: list[str] = []
    original = fake_tasks.ImageCell.__call__

    def counting_decode(cell):
        decoded.append(threading.current_thread().name)
        return original(cell)

    monkeypatch.setattr(fake_tasks.ImageCell, "__call__", counting_decode)
    task = fake_tasks.FAKE_QA
    docs = task.load_docs(None)
    work = [(i, task.doc_id(d)) for i, d in enumerate(docs)]
    batches = iter(BatchLoader(task, docs, work, batch_size=4, run_seed=0))
    first = next(batches)
    # While the consumer holds the first batch (the model would be running), the loader thread goes on.
    deadline = time.time() + 10
    while len(decoded) < 12 and time.time() < deadline:
        time.sleep(0.01)
    assert len(first) == 4 and len(decoded) >= 12  # batches 2 and 3 decoded ahead (queue of 2)
    assert set(decoded) == {"batch-loader-fake_qa"}  # never on the consumer's thread
    assert sum(len(b) for b in batches) == 20
