"""Small scripted tasks for testing the harness itself (an installed-plugin stand-in).

Put this folder on sys.path and the dist-info beside this file registers TASKS under the entry-point
group `vargpt_evals.tasks`, exactly as a third-party package would. Documents are made in code; every
task ignores the data source. Expected metrics are easy to work out by hand:
- `fake_qa`: 24 questions "what is i + i?", answer str(2 * i); accuracy in percent.
- `fake_choice`: 16 questions, 4 options, gold option i % 4.
- `fake_image`: 12 prompts; per-image mean pixel and mean colour (an array, kept in the npz shard).
- `fake_bad`: 6 documents of which 3 are broken (missing field, empty question, undecodable image).
- `fake_pair_a`, `fake_pair_b`: group `fake_pair`, 8 documents each, pooled accuracy over both.
- `fake_dup`: 4 documents, two sharing an id (refused before the run starts).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from evals.run.records import Record
from evals.requests import ChoiceRequest, ImageRequest, TextRequest
from evals.task_api import DatasetSpec, DataSource, Task

ACCURACY = "accuracy"
NUM_ERRORS = "num_errors"


def png_bytes(value: int) -> bytes:
    """A 4x4 grey PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(raw: bytes) -> list[Image.Image]:
    """Decode one PNG cell (raises on garbage, as a corrupt dataset image would)."""
    return [Image.open(io.BytesIO(raw)).convert("RGB")]


class ImageCell:
    """A picklable lazy image loader over raw bytes."""

    def __init__(self, raw: bytes):
        self.raw = raw

    def __call__(self) -> list[Image.Image]:
        return decode(self.raw)


def accuracy(records: Sequence[Record], key: str = "correct") -> float:
    """Percent of records scored correct; error records count as wrong."""
    if not records:
        return 0.0
    return 100.0 * sum(float(r.scores.get(key, 0.0)) for r in records if r.ok) / len(records)


@dataclass(frozen=True)
class FakeQA(Task):
    """Text questions with exact-match scoring; option sleep_ms slows scoring (kill tests), exit_on kills
    the process while scoring that document (worker-crash tests)."""

    num_docs: int = 24
    default_options: dict[str, Any] = field(default_factory=lambda: {"sleep_ms": 0, "max_new_tokens": 8, "exit_on": ""})

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        return [
            {
                "qid": f"q{i:03d}",
                "question": f"what is {i} + {i}?" + " please" * (i % 5),
                "answer": str(2 * i),
                "image": png_bytes(10 * i % 256),
            }
            for i in range(self.num_docs)
        ]

    def doc_id(self, doc: dict) -> str:
        return doc["qid"]

    def build_request(self, doc: dict, seed: int) -> TextRequest:
        if not doc["question"].strip():
            raise ValueError("empty question")
        return TextRequest(
            doc_id=doc["qid"],
            text=doc["question"],
            load_images=ImageCell(doc["image"]),
            max_new_tokens=int(self.option("max_new_tokens")),
            seed=seed,
            target=doc["answer"],
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        if doc["qid"] == self.option("exit_on"):
            os._exit(3)
        if self.option("sleep_ms"):
            time.sleep(self.option("sleep_ms") / 1000)
        return {"correct": float(output.strip() == doc["answer"])}

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {ACCURACY: accuracy(records), NUM_ERRORS: sum(not r.ok for r in records)}

    def aggregate_group(self, records_by_task: Mapping[str, Sequence[Record]]) -> dict[str, float]:
        pooled = [r for records in records_by_task.values() for r in records]
        return {ACCURACY: accuracy(pooled)}


@dataclass(frozen=True)
class FakeChoice(Task):
    """Four-option multiple choice by likelihood; gold option i % 4."""

    num_docs: int = 16

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        return [{"index": i, "question": f"pick {i % 4}", "gold": i % 4} for i in range(self.num_docs)]

    def doc_id(self, doc: dict) -> str:
        return str(doc["index"])

    def build_request(self, doc: dict, seed: int) -> ChoiceRequest:
        return ChoiceRequest(
            doc_id=str(doc["index"]), text=doc["question"], choices=("A", "B", "C", "D"), target=doc["gold"]
        )

    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        return {"correct": float(int(np.argmax(output)) == doc["gold"])}

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        return {ACCURACY: accuracy(records), NUM_ERRORS: sum(not r.ok for r in records)}


@dataclass(frozen=True)
class FakeImage(Task):
    """Image generation; scores the mean pixel, keeps the mean colour as an array; sleep_ms slows scoring;
    scale multiplies colour_sum at aggregation only, so it is left out of the records protocol."""

    num_docs: int = 12
    default_options: dict[str, Any] = field(default_factory=lambda: {"sleep_ms": 0, "scale": 1.0})

    def records_protocol(self) -> dict[str, Any]:
        protocol = self.protocol()
        protocol["options"] = {k: v for k, v in protocol["options"].items() if k != "scale"}
        return protocol

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        return [{"sample": f"s{i:02d}", "prompt": f"a picture of {i}"} for i in range(self.num_docs)]

    def doc_id(self, doc: dict) -> str:
        return doc["sample"]

    def build_request(self, doc: dict, seed: int) -> ImageRequest:
        return ImageRequest(doc_id=doc["sample"], prompt=doc["prompt"], seed=seed)

    def score_batch(self, docs: Sequence[dict], outputs: Sequence[Any]) -> list[dict[str, Any]]:
        time.sleep(self.option("sleep_ms") * len(docs) / 1000)
        return [
            {"mean": float(image.mean()), "colour": image.mean(axis=(0, 1)).astype(np.float64)} for image in outputs
        ]

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        ok = [r for r in records if r.ok]
        colour_sum = self.option("scale") * float(sum(r.arrays["colour"].sum() for r in ok))
        return {
            "mean_pixel": float(np.mean([r.scores["mean"] for r in ok])) if ok else 0.0,
            "colour_sum": colour_sum,
            "num_images": len(ok),
            NUM_ERRORS: len(records) - len(ok),
        }


@dataclass(frozen=True)
class FakeBad(FakeQA):
    """Six documents, three broken: q001 lacks its question, q003 has an empty one, q005 a corrupt image."""

    num_docs: int = 6

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        docs = super().load_docs(source)
        del docs[1]["question"]
        docs[3]["question"] = "   "
        docs[5]["image"] = b"\x89PNG not really"
        return docs


@dataclass(frozen=True)
class FakeDuplicate(FakeQA):
    """Four documents, the fourth reusing the second's id (a broken dataset copy)."""

    num_docs: int = 4

    def load_docs(self, source: DataSource) -> Sequence[dict]:
        docs = super().load_docs(source)
        docs[3]["qid"] = docs[1]["qid"]
        return docs


SPEC = DatasetSpec(hub_id="fake/none", split="test")
FAKE_QA = FakeQA(
    name="fake_qa",
    kind="text",
    dataset=SPEC,
    aliases=("fakeqa",),
    primary_metric=ACCURACY,
    higher_is_better={ACCURACY: True},
)
TASKS = [
    FAKE_QA,
    FakeChoice(name="fake_choice", kind="choice", dataset=SPEC, primary_metric=ACCURACY),
    FakeImage(name="fake_image", kind="image", dataset=SPEC, primary_metric="mean_pixel"),
    FakeBad(name="fake_bad", kind="text", dataset=SPEC, primary_metric=ACCURACY),
    FakeQA(name="fake_pair_a", kind="text", dataset=SPEC, group="fake_pair", num_docs=8, primary_metric=ACCURACY),
    FakeQA(name="fake_pair_b", kind="text", dataset=SPEC, group="fake_pair", num_docs=8, primary_metric=ACCURACY),
    FakeDuplicate(name="fake_dup", kind="text", dataset=SPEC, primary_metric=ACCURACY),
]
