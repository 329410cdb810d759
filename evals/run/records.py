"""Per-document records: what a worker writes for every document it finishes, and how they are read back.

Layout inside a run folder: ``records/<task>/worker-<rank>.jsonl`` holds one JSON line per finished
document, appended, flushed and fsync'd once per batch. Arrays (image features, samples) go to
``records/<task>/worker-<rank>-<seq>.npz``, one file per batch, written atomically before the lines
that point at them; an npz no line points at (a kill between the two writes) is ignored.

Read back, a record's arrays above LAZY_ARRAY_BYTES stay on disk and are read at each access
(`StoredArrays`): aggregation reads every record of a task at once, and 50,000 FID samples are 10 GB.

A kill can tear the last line of a JSONL file. Readers drop a line without its newline, and a writer
truncates it before appending, so that document is simply recomputed on resume.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

RECORDS_DIR = "records"
_JSONL = re.compile(r"^worker-(\d+)\.jsonl$")
_NPZ = re.compile(r"^worker-(\d+)-(\d+)\.npz$")
LAZY_ARRAY_BYTES = 1 << 14  # larger stored arrays (images) are read when used; FID features (8 KiB) are held


@dataclass
class Record:
    """One finished document: its request, the model output, its scores, or the error it hit."""

    task: str
    doc_id: str
    prompt: str = ""
    output: Any = None  # str for text, list[float] for choices, None for images
    target: Any = None
    scores: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)  # kept in .npz shards, not JSONL

    @property
    def ok(self) -> bool:
        """True when the document was scored without error."""
        return self.error is None


def records_dir(run_dir: Path, task_name: str) -> Path:
    """The folder holding every worker's records of one task."""
    return Path(run_dir) / RECORDS_DIR / task_name


def records_path(run_dir: Path, task_name: str, rank: int) -> Path:
    """The JSONL file worker `rank` appends to for one task."""
    return records_dir(run_dir, task_name) / f"worker-{rank}.jsonl"


def _json_default(value: Any) -> Any:
    """numpy scalars and small arrays as plain JSON values; anything else as its string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def record_to_line(record: Record, array_refs: dict[str, list[str]] | None = None) -> str:
    """One JSON line (ASCII-only, so lone surrogates from broken model output survive) plus newline."""
    values = {
        "task": record.task,
        "doc_id": record.doc_id,
        "prompt": record.prompt,
        "output": record.output,
        "target": record.target,
        "scores": record.scores,
        "error": record.error,
        "arrays": array_refs or {},
    }
    return json.dumps(values, ensure_ascii=True, default=_json_default) + "\n"


def line_to_record(line: str) -> tuple[Record, dict[str, list[str]]]:
    """Parse one JSONL line; raises ValueError when it is not a record."""
    values = json.loads(line)
    if not isinstance(values, dict) or "doc_id" not in values or "task" not in values:
        raise ValueError("not a record object")
    record = Record(
        task=str(values["task"]),
        doc_id=str(values["doc_id"]),
        prompt=values.get("prompt", ""),
        output=values.get("output"),
        target=values.get("target"),
        scores=values.get("scores") or {},
        error=values.get("error"),
    )
    return record, values.get("arrays") or {}


def repair_torn_tail(path: Path) -> int:
    """Cut a partial last line (no trailing newline) off `path`; returns the number of bytes dropped."""
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the last newline; files are append-only so the torn part is short.
        position, keep = size, 0
        chunk = 1 << 16
        while position > 0:
            start = max(0, position - chunk)
            handle.seek(start)
            block = handle.read(position - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            position = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning("dropped a torn last line of %s (%d bytes); that document is recomputed", path, size - keep)
    return size - keep


@dataclass(frozen=True)
class EncodedWrite:
    """One batch's records ready to write: its JSONL text, and its arrays with the npz name the lines point at."""

    lines: str
    arrays_name: str | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class RecordWriter:
    """Appends one worker's records of one task; every `append` is durable when it returns.

    `append` = `encode` (CPU work: JSON lines) + `write` (I/O: npz, lines, fsync). The runner encodes on the
    model's thread and writes on a writer thread: a writer thread running Python (JSON) takes the GIL from the
    model in many small slices, which costs the model far more than the encoding itself.
    """

    def __init__(self, run_dir: Path, task_name: str, rank: int):
        self.dir = records_dir(run_dir, task_name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.path = records_path(run_dir, task_name, rank)
        repair_torn_tail(self.path)
        self._next_seq = 1 + max(
            (int(m.group(2)) for m in map(_NPZ.match, os.listdir(self.dir)) if m and int(m.group(1)) == rank),
            default=-1,
        )

    def append(self, records: Sequence[Record]) -> None:
        """Write a batch: its arrays to one new npz (atomically), then its lines; flush and fsync."""
        self.write(self.encode(records))

    def encode(self, records: Sequence[Record]) -> EncodedWrite:
        """A batch's JSON lines and arrays; reserves the npz name when there are arrays. Writes nothing."""
        payload: dict[str, np.ndarray] = {}
        refs: dict[int, dict[str, list[str]]] = {}
        name = f"worker-{self.rank}-{self._next_seq:06d}.npz"
        for i, record in enumerate(records):
            for array_name, array in record.arrays.items():
                key = f"{i}.{array_name}"
                payload[key] = np.asarray(array)
                refs.setdefault(i, {})[array_name] = [name, key]
        if payload:
            self._next_seq += 1
        lines = "".join(record_to_line(r, refs.get(i)) for i, r in enumerate(records))
        return EncodedWrite(lines, name if payload else None, payload)

    def write(self, encoded: EncodedWrite) -> None:
        """Store an encoded batch: arrays to their npz (atomically), then the lines; flush and fsync each."""
        if encoded.arrays_name is not None:
            final = self.dir / encoded.arrays_name
            partial = self.dir / (encoded.arrays_name + ".partial")
            with open(partial, "wb") as handle:
                np.savez(handle, **encoded.arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
        with open(self.path, "a", encoding="ascii") as handle:
            handle.write(encoded.lines)
            handle.flush()
            os.fsync(handle.fileno())


def record_files(task_dir: Path) -> list[Path]:
    """Every worker's JSONL file of one task, in rank order."""
    if not task_dir.is_dir():
        return []
    found = [(int(m.group(1)), task_dir / n) for n in os.listdir(task_dir) if (m := _JSONL.match(n))]
    return [path for _, path in sorted(found)]


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of complete lines; a torn last line (no newline) is skipped."""
    with open(path, encoding="ascii", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                logger.warning("%s:%d is a torn last line; ignored (the document is recomputed)", path, number)
                return
            if line.strip():
                yield number, line


def read_records(task_dir: Path, load_arrays: bool = False) -> list[Record]:
    """All records of one task from every worker file, in file order; unreadable lines are skipped."""
    records: list[Record] = []
    npz_cache: dict[str, Any] = {}
    for path in record_files(task_dir):
        for number, line in iter_lines(path):
            try:
                record, refs = line_to_record(line)
            except ValueError:
                logger.warning("%s:%d is not a valid record; ignored (the document is recomputed)", path, number)
                continue
            if load_arrays and refs:
                record.arrays = _stored_arrays(task_dir, refs, npz_cache)
            records.append(record)
    for archive in npz_cache.values():
        archive.close()
    return records


class StoredArrays(Mapping[str, np.ndarray]):
    """A read-back record's arrays: small ones held in memory, larger ones read from their npz shard at each access."""

    def __init__(self, names: list[str], held: dict[str, np.ndarray], stored: dict[str, tuple[Path, str]]):
        self._names, self._held, self._stored = names, held, stored

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._held:
            return self._held[name]
        path, key = self._stored[name]
        with np.load(path, allow_pickle=False) as archive:
            return archive[key]

    def __contains__(self, name: object) -> bool:
        return name in self._held or name in self._stored  # without reading a stored array

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"StoredArrays(held={sorted(self._held)}, stored={sorted(self._stored)})"


def _stored_arrays(task_dir: Path, refs: dict[str, list[str]], cache: dict[str, Any]) -> StoredArrays:
    """One record's arrays from their npz shards (each opened once): small ones loaded, larger ones left on disk."""
    held: dict[str, np.ndarray] = {}
    stored: dict[str, tuple[Path, str]] = {}
    for name, (file_name, key) in refs.items():
        if file_name not in cache:
            cache[file_name] = np.load(task_dir / file_name, allow_pickle=False)
        if cache[file_name].zip.getinfo(f"{key}.npy").file_size > LAZY_ARRAY_BYTES:
            stored[name] = (task_dir / file_name, key)
        else:
            held[name] = cache[file_name][key]
    return StoredArrays(list(refs), held, stored)


def recorded_doc_ids(task_dir: Path) -> set[str]:
    """Ids of the documents that already have a record (ok or error): the resume scan."""
    return {r.doc_id for r in read_records(task_dir)}


def dedup_records(records: Iterable[Record]) -> dict[str, Record]:
    """One record per document id: the first successful one, else the first error record."""
    chosen: dict[str, Record] = {}
    for record in records:
        current = chosen.get(record.doc_id)
        if current is None or (not current.ok and record.ok):
            chosen[record.doc_id] = record
    return chosen
