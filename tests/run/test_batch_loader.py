"""The background loader: requests built, images decoded and (with an adapter `prepare`) preprocessed ahead of
the model, text sorted by length."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest

from evals.run.batch_loader import BatchLoader, iter_batches
from evals.config import RunConfig
from evals.run.launch import execute_run
from evals.registry import registry_from_tasks
from evals.requests import TextRequest
from evals.adapters.scripted import OracleAdapter


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


def test_the_loader_runs_the_adapters_prepare_on_its_own_thread(fake_tasks):
    task = fake_tasks.FAKE_QA
    docs = task.load_docs(None)
    work = [(i, task.doc_id(d)) for i, d in enumerate(docs)][:6]
    calls: list[tuple[str, int]] = []
    refused = work[4][1]

    def prepare(requests):
        calls.append((threading.current_thread().name, len(requests)))
        if any(r.doc_id == refused for r in requests):
            raise ValueError("cannot encode this batch")
        return [dataclasses.replace(r, inputs=("encoded", r.doc_id)) for r in requests]

    items = [item for batch in BatchLoader(task, docs, work, 4, 0, prepare) for item in batch]
    assert calls == [("batch-loader-fake_qa", 4), ("batch-loader-fake_qa", 2)]  # once per batch
    inputs = {item.doc_id: item.request.inputs for item in items}
    # A batch prepare fails on goes on unprepared: the adapter meets the problem and records it per document.
    failed_batch = next(batch for batch in [items[:4], items[4:]] if refused in {it.doc_id for it in batch})
    assert all(inputs[it.doc_id] is None for it in failed_batch)
    assert all(inputs[it.doc_id] == ("encoded", it.doc_id) for it in items if it not in failed_batch)
    assert all(item.error is None for item in items)


class PreparingOracle(OracleAdapter):
    """The oracle with a `prepare` step; remembers what each text request carried into generate_text."""

    def __init__(self, prepare_ahead: bool):
        super().__init__()
        self.prepare_ahead = prepare_ahead
        self.seen: list = []

    def prepare(self, requests):
        return [dataclasses.replace(r, inputs=f"ready:{r.doc_id}") if isinstance(r, TextRequest) else r for r in requests]

    def generate_text(self, requests):
        self.seen.extend((r.doc_id, r.inputs) for r in requests)
        return super().generate_text(requests)


@pytest.mark.parametrize("prepare_ahead", [True, False])
def test_a_run_hands_the_adapter_requests_prepared_only_when_it_asks(tmp_path, fake_tasks, prepare_ahead):
    adapter = PreparingOracle(prepare_ahead)
    config = RunConfig(tasks=("fake_qa",), model="oracle", output=tmp_path / "run", batch_size=4)
    run_dir = execute_run(config, registry_from_tasks(fake_tasks.TASKS), adapter)
    results = json.loads((run_dir / "results.json").read_text())["tasks"]["fake_qa"]
    assert len(adapter.seen) == results["num_docs"] - results["num_errors"] > 0
    assert all(inputs == (f"ready:{doc_id}" if prepare_ahead else None) for doc_id, inputs in adapter.seen)
