"""Run settings as frozen dataclasses, and the fingerprint that decides whether a run folder may resume."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import UsageError

DEFAULT_MODEL = "VARGPT-family/VARGPT_LLaVA-v1"
DEFAULT_BATCH_SIZE = 16
DTYPES = ("auto", "float32", "float16", "bfloat16")
DEFAULT_WAIT_TIMEOUT_MINUTES = 60.0
# Extra run flags handed to the tasks that declare an option of the same name (see cli.py).
TASK_OPTION_FLAGS = ("save_samples", "inception_weights", "fid_ref")

# A comma starts a new pair only when a `key=` follows it, so values may hold commas
# (`template=a photo of a {}, centered`).
_PAIR_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_.\-]*\s*=)")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_gen_kwargs(text: str) -> tuple[tuple[str, str], ...]:
    """`k=v,k2=v2` -> ((k, v), (k2, v2)); a malformed pair raises UsageError."""
    if not text or not text.strip():
        return ()
    pairs: dict[str, str] = {}
    for chunk in _PAIR_SPLIT.split(text):
        key, sep, value = chunk.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"malformed --gen-kwargs {text!r}: {chunk!r} is not key=value (use k=v,k2=v2)")
        if key in pairs:
            raise UsageError(f"--gen-kwargs sets {key!r} twice; give each key once")
        pairs[key] = value.strip()
    return tuple(pairs.items())


@dataclass(frozen=True)
class GenerationConfig:
    """Run-wide settings that change model outputs: numeric precision and the task options given."""

    dtype: str = "auto"
    gen_kwargs: tuple[tuple[str, str], ...] = ()
    task_options: tuple[tuple[str, str], ...] = ()  # --save-samples, --inception-weights, --fid-ref

    def options(self) -> dict[str, str]:
        """--gen-kwargs and the task flags as one dict of task options."""
        merged = dict(self.task_options)
        merged.update(self.gen_kwargs)
        return merged


@dataclass(frozen=True)
class RunConfig:
    """Everything `evals run` was asked to do; recorded in run.json."""

    tasks: tuple[str, ...] = ("all",)
    model: str = DEFAULT_MODEL
    data: str = "hub"
    limit: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    output: Path | None = None
    seed: int = 0
    num_workers: int | None = None
    devices: tuple[str, ...] | None = None
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    verify_batching: int = 0
    overwrite: bool = False
    allow_pickle: bool = False  # read pickled (.bin/.pt) weights; they can run code, so only on request
    wait_timeout_minutes: float = DEFAULT_WAIT_TIMEOUT_MINUTES  # torchrun: longest wait of a rank for the others

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size} must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"--limit {self.limit} must be at least 1")
        if self.num_workers is not None and self.num_workers < 1:
            raise UsageError(f"--num-workers {self.num_workers} must be at least 1")
        if self.verify_batching < 0:
            raise UsageError(f"--verify-batching {self.verify_batching} must be 0 or more")
        if not self.wait_timeout_minutes > 0:
            raise UsageError(f"--wait-timeout {self.wait_timeout_minutes} must be a positive number of minutes")
        if self.generation.dtype not in DTYPES:
            raise UsageError(f"--dtype {self.generation.dtype!r} is not one of {', '.join(DTYPES)}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        values = asdict(self)
        values["output"] = str(self.output) if self.output is not None else None
        return values


def data_kind(data: str) -> str:
    """`hub`, `demo` or `local`: what the fingerprint keeps of --data (a moved local copy may resume)."""
    return data if data in ("hub", "demo") else "local"


def fingerprint(
    model: Mapping[str, Any],
    protocols: Mapping[str, Mapping[str, Any]],
    generation: GenerationConfig,
    seed: int,
    data: str,
) -> dict[str, Any]:
    """What must match for records to be mixed in one folder: model weights, dtype, seed, data kind, and
    each task's records protocol (`Task.records_protocol()`, which holds the task options given)."""
    values = {
        "model": {"id": model.get("id"), "weights_hash": model.get("weights_hash")},
        "generation": {"dtype": generation.dtype},
        "seed": seed,
        "data": data_kind(data),
        "tasks": {name: dict(protocols[name]) for name in sorted(protocols)},
    }
    # Through JSON and back, so that it compares equal to the copy read from run.json (tuples, paths).
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def fingerprint_hash(print_: Mapping[str, Any]) -> str:
    """A short stable hash of a fingerprint dict, for logs and file names."""
    text = json.dumps(print_, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint_mismatch(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The first difference that forbids resuming, as words, or None when the folder may resume.

    Tasks present in only one of the two are not a mismatch: a later run may add tasks to a folder.
    """
    for key in ("model", "generation", "seed", "data"):
        if old.get(key) != new.get(key):
            return f"{key} differs (folder: {_short(old.get(key))}; now: {_short(new.get(key))})"
    old_tasks, new_tasks = old.get("tasks", {}), new.get("tasks", {})
    for name in sorted(set(old_tasks) & set(new_tasks)):
        if old_tasks[name] != new_tasks[name]:
            return f"the protocol of task {name!r} differs (version, dataset or options)"
    return None


def _short(value: Any) -> str:
    """A value as compact JSON, cut to fit one line."""
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
