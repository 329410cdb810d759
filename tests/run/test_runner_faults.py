"""Per-document failures become error records and the run goes on: bad documents, adapter
exceptions, out-of-memory (batch halved down to 1), and malformed model output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from evals.config import RunConfig
from evals.run.launch import execute_run
from evals.run.records import read_records, records_dir
from evals.registry import registry_from_tasks
from evals.adapters.scripted import OracleAdapter


class OOMAboveAdapter(OracleAdapter):
    """The oracle, but out of memory on batches larger than `max_batch` or holding a `poison` document."""

    def __init__(self, max_batch: int, poison: str = "\0"):
        self.max_batch, self.poison, self.calls = max_batch, poison, []

    def generate_text(self, requests):
        self.calls.append(len(requests))
        if len(requests) > self.max_batch or any(r.doc_id == self.poison for r in requests):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().generate_text(requests)


class BrokenOnOneAdapter(OracleAdapter):
    """The oracle, but any batch holding document `bad` raises."""

    def __init__(self, bad: str):
        self.bad = bad

    def generate_text(self, requests):
        if any(r.doc_id == self.bad for r in requests):
            raise ValueError("index out of range in the model")
        return super().generate_text(requests)


class GarbageAdapter(OracleAdapter):
    """Malformed outputs: odd text, NaN or missing choice scores, wrong-shaped images."""

    def generate_text(self, requests):
        garbage = ["", "   \n\t", "8" * 100_000, b"\xff\xfe8", None, "\udcff"]
        return [garbage[i % len(garbage)] for i, _ in enumerate(requests)]

    def score_choices(self, requests):
        return [[float("nan")] * 4 if i % 2 == 0 else [0.0] for i, _ in enumerate(requests)]

    def generate_images(self, requests):
        shapes = [(256, 256), (256, 256, 4), (3, 256, 256)]
        return [
            np.zeros(shapes[i % 3], dtype=np.uint8) if i % 4 != 3 else np.zeros((8, 8, 3), np.float32)
            for i, _ in enumerate(requests)
        ]


def run(tmp_path, tasks, names, adapter, batch_size=8, **kwargs):
    """One in-process run of `names` with `adapter`; returns results.json."""
    config = RunConfig(tasks=tuple(names), model="oracle", output=tmp_path / "run", batch_size=batch_size, **kwargs)
    run_dir = execute_run(config, registry=registry_from_tasks(tasks.TASKS), adapter=adapter)
    return json.loads((run_dir / "results.json").read_text())


def records_of(tmp_path, task):
    return {r.doc_id: r for r in read_records(records_dir(tmp_path / "run", task))}


def test_out_of_memory_halves_the_batch_until_it_fits(tmp_path, fake_tasks):
    adapter = OOMAboveAdapter(max_batch=2)
    results = run(tmp_path, fake_tasks, ["fake_qa"], adapter, batch_size=8)
    # 24 documents in 3 batches of 8; each 8 -> 4 -> 2 + 2, so per batch the calls are 8, 4, 2, 2, 4, 2, 2.
    assert adapter.calls == [8, 4, 2, 2, 4, 2, 2] * 3
    assert results["tasks"]["fake_qa"]["metrics"]["accuracy"] == 100.0
    assert results["tasks"]["fake_qa"]["num_errors"] == 0


def test_out_of_memory_at_batch_size_one_records_that_document_as_an_error(tmp_path, fake_tasks):
    results = run(tmp_path, fake_tasks, ["fake_qa"], OOMAboveAdapter(max_batch=8, poison="q007"))
    records = records_of(tmp_path, "fake_qa")
    assert len(records) == 24
    assert records["q007"].error.startswith("out of memory at batch size 1: OutOfMemoryError")
    # 23 of 24 right: 100 * 23 / 24 = 95.8333...
    assert results["tasks"]["fake_qa"]["metrics"]["accuracy"] == pytest.approx(100 * 23 / 24)
    assert results["tasks"]["fake_qa"]["num_errors"] == 1


def test_an_adapter_exception_fails_only_the_document_that_causes_it(tmp_path, fake_tasks):
    results = run(tmp_path, fake_tasks, ["fake_qa"], BrokenOnOneAdapter(bad="q010"))
    records = records_of(tmp_path, "fake_qa")
    assert [d for d, r in records.items() if not r.ok] == ["q010"]
    assert records["q010"].error == "adapter failed: ValueError: index out of range in the model"
    assert results["tasks"]["fake_qa"]["num_errors"] == 1


def test_bad_documents_become_error_records_counted_in_results_and_table(tmp_path, fake_tasks):
    results = run(tmp_path, fake_tasks, ["fake_bad"], OracleAdapter())
    errors = {d: r.error for d, r in records_of(tmp_path, "fake_bad").items() if not r.ok}
    assert errors == {
        "q001": "bad document: KeyError: 'question'",
        "q003": "bad document: ValueError: empty question",
        "q005": "unreadable image: UnidentifiedImageError: cannot identify image file <_io.BytesIO object>",
    }
    entry = results["tasks"]["fake_bad"]
    # 3 of 6 answered (by the oracle, correctly); errors count as wrong: 100 * 3 / 6 = 50.
    assert (entry["num_docs"], entry["num_errors"], entry["metrics"]["accuracy"]) == (6, 3, 50.0)
    table = (tmp_path / "run" / "results.md").read_text()
    assert "fake_bad/num_errors" in table and "| 50.00 | 3 |" in table


def test_malformed_model_output_is_scored_wrong_or_recorded_never_a_crash(tmp_path, fake_tasks):
    results = run(tmp_path, fake_tasks, ["fake_qa", "fake_choice", "fake_image"], GarbageAdapter(), batch_size=6)
    qa = records_of(tmp_path, "fake_qa")
    # Within each batch of 6: "", whitespace, a 100k-character answer, bytes, None, a lone surrogate.
    # Only None is not text (error); bytes decode with replacement; everything else is scored (wrong,
    # except q000 whose gold answer "0" no output matches either).
    assert sum(not r.ok for r in qa.values()) == 4  # one None per batch of 6, 24 documents
    assert all("expected text, got NoneType" in r.error for r in qa.values() if not r.ok)
    assert results["tasks"]["fake_qa"]["metrics"]["accuracy"] == 0.0
    choice = records_of(tmp_path, "fake_choice")
    assert {r.error for r in choice.values()} == {
        "bad model output: NaN choice scores",
        "bad model output: 1 scores for 4 choices",
    }
    image = records_of(tmp_path, "fake_image")
    assert all(r.error.startswith("bad model output: expected a uint8 (H, W, 3) image") for r in image.values())
    assert results["tasks"]["fake_image"]["num_errors"] == 12
