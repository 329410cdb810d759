"""The JSONL record store: durable appends, torn last lines, arrays in npz shards, dedup."""

from __future__ import annotations

import tracemalloc

import numpy as np

from evals.run.records import (
    Record,
    RecordWriter,
    dedup_records,
    read_records,
    recorded_doc_ids,
    records_dir,
    records_path,
    repair_torn_tail,
)


def test_records_round_trip_with_arrays_and_awkward_outputs(tmp_path):
    colour = np.arange(3, dtype=np.float64)
    written = [
        Record(task="t", doc_id="a", prompt="p", output="x\udcff y", target="y", scores={"s": np.float32(0.5)}),
        Record(task="t", doc_id="b", output=[float("nan"), -1.0], arrays={"colour": colour}),
        Record(task="t", doc_id="c", error="bad document: KeyError: 'q'"),
    ]
    RecordWriter(tmp_path, "t", rank=0).append(written)
    read = read_records(records_dir(tmp_path, "t"), load_arrays=True)
    assert [r.doc_id for r in read] == ["a", "b", "c"]
    assert read[0].output == "x\udcff y"  # a lone surrogate (non-UTF-8 model bytes) survives the JSON line
    assert read[0].scores == {"s": 0.5}
    assert np.isnan(read[1].output[0]) and read[1].output[1] == -1.0
    np.testing.assert_array_equal(read[1].arrays["colour"], colour)
    assert read[2].error.startswith("bad document") and not read[2].ok


def test_torn_last_line_is_ignored_by_readers_and_cut_by_the_next_writer(tmp_path):
    RecordWriter(tmp_path, "t", rank=0).append([Record(task="t", doc_id="a"), Record(task="t", doc_id="b")])
    path = records_path(tmp_path, "t", 0)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"task": "t", "doc_id": "c", "pro')  # a kill in the middle of a write
    assert recorded_doc_ids(records_dir(tmp_path, "t")) == {"a", "b"}
    RecordWriter(tmp_path, "t", rank=0).append([Record(task="t", doc_id="c")])
    assert [r.doc_id for r in read_records(records_dir(tmp_path, "t"))] == ["a", "b", "c"]
    assert path.read_bytes().count(b"\n") == 3


def test_repair_of_a_file_that_is_only_a_torn_line_empties_it(tmp_path):
    path = tmp_path / "worker-0.jsonl"
    path.write_bytes(b'{"task": "t", "doc')
    assert repair_torn_tail(path) == len(b'{"task": "t", "doc')
    assert path.read_bytes() == b""


def test_a_corrupt_middle_line_is_skipped_not_fatal(tmp_path):
    writer = RecordWriter(tmp_path, "t", rank=0)
    writer.append([Record(task="t", doc_id="a")])
    with open(records_path(tmp_path, "t", 0), "a") as handle:
        handle.write("not json\n")
    writer.append([Record(task="t", doc_id="b")])
    assert [r.doc_id for r in read_records(records_dir(tmp_path, "t"))] == ["a", "b"]


def test_each_worker_writes_its_own_file_and_npz_numbers_continue_after_resume(tmp_path):
    for rank in (0, 1):
        RecordWriter(tmp_path, "t", rank).append([Record(task="t", doc_id=f"d{rank}", arrays={"x": np.ones(2)})])
    RecordWriter(tmp_path, "t", 0).append([Record(task="t", doc_id="d2", arrays={"x": np.zeros(2)})])
    names = sorted(p.name for p in records_dir(tmp_path, "t").iterdir())
    assert names == [
        "worker-0-000000.npz",
        "worker-0-000001.npz",
        "worker-0.jsonl",
        "worker-1-000000.npz",
        "worker-1.jsonl",
    ]
    arrays = {r.doc_id: r.arrays["x"].tolist() for r in read_records(records_dir(tmp_path, "t"), load_arrays=True)}
    assert arrays == {"d0": [1.0, 1.0], "d2": [0.0, 0.0], "d1": [1.0, 1.0]}


def test_dedup_keeps_one_record_per_document_preferring_a_success():
    records = [
        Record(task="t", doc_id="a", error="out of memory"),
        Record(task="t", doc_id="a", output="1"),
        Record(task="t", doc_id="a", output="2"),
        Record(task="t", doc_id="b", error="x"),
        Record(task="t", doc_id="b", error="y"),
    ]
    chosen = dedup_records(records)
    assert chosen["a"].output == "1"
    assert chosen["b"].error == "x"


def test_large_arrays_are_read_when_used_not_when_the_records_are_read(tmp_path):
    # Ten records, each with a 1 MiB image (512 x 512 x 4 bytes, above LAZY_ARRAY_BYTES = 16 KiB) and a
    # 16-byte feature vector: read eagerly they would take 10 MiB; read lazily, only the small ones (160 B).
    writer = RecordWriter(tmp_path, "t", rank=0)
    for i in range(10):
        image = np.full((512, 512, 4), i, dtype=np.uint8)
        writer.append([Record(task="t", doc_id=str(i), arrays={"image": image, "feature": np.full(4, i, np.float32)})])
    tracemalloc.start()
    read = read_records(records_dir(tmp_path, "t"), load_arrays=True)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 1 << 20  # less than one image: none of the ten was loaded
    assert all("image" in r.arrays and sorted(r.arrays) == ["feature", "image"] for r in read)
    for i, record in enumerate(read):  # each is read on access, with its own values
        assert record.arrays["image"].shape == (512, 512, 4) and (record.arrays["image"] == i).all()
        np.testing.assert_array_equal(record.arrays["feature"], np.full(4, i, np.float32))
