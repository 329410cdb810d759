"""`python -m evals score-lmms-eval SAMPLES.jsonl --task T --data PATH`: lmms-eval's outputs, our scorers.

`python -m lmms_eval ... --log_samples` writes `<output>/<model>/<date>_samples_<task>.jsonl`, one JSON object
per document: `doc_id` (the document's POSITION in the split lmms-eval scored), `input` (the prompt),
`filtered_resps` (the output lmms-eval scored, after its filters and reasoning-tag stripping) and the task's
per-document metric values. This scores those outputs with one of our tasks, so both protocols can be read
off one set of model outputs (lmms-eval's results.json beside our metrics).

Matching a sample to our document: by the dataset's own id where lmms-eval's metric values carry one
(`question_id` in POPE and SEED-Bench, `index` in MMBench) when no two samples share it, else by position in
our task's `load_docs` order, which is the split's order for VQAv2, GQA, MME (whose question_id names an image
and so two samples), MMMU and ScienceQA-IMG. Samples whose id is not one of our task's documents
(SEED-Bench video rows for `seed_image`, other POPE splits) are skipped and counted. Every matched sample's
prompt is compared with our task's prompt for that document: a mismatch means another prompt variant
or another split, and is counted and logged (lmms-eval prompts of the five built-in tasks equal ours).

Plain JSON only: this module does not import lmms-eval.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.errors import HarnessError
from evals.run.predictions import record_for
from evals.run.runner import request_text
from evals.run.sharding import doc_seed
from evals.task_api import DataSource, Task

logger = logging.getLogger(__name__)

# Keys under which lmms-eval's per-document metric dicts keep the dataset's own document id.
ID_KEYS = ("question_id", "index")


class LmmsSamplesError(HarnessError):
    """An lmms-eval samples file that is missing, malformed, or does not fit the task."""


@dataclass(frozen=True)
class LmmsSample:
    """One logged lmms-eval document: where it was in the split, its output, prompt and dataset id."""

    position: int
    output: str
    prompt: str | None = None
    dataset_id: str | None = None


def sample_output(row: dict, where: str) -> str:
    """The text lmms-eval scored: `filtered_resps` (a string, or a one-element list of one)."""
    value = row.get("filtered_resps")
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise LmmsSamplesError(f"{where}: filtered_resps is {json.dumps(value)[:60]}, not one generated text; "
                               "score-lmms-eval scores generate_until samples only")
    return value


def sample_dataset_id(row: dict) -> str | None:
    """The dataset id found in the sample's metric dicts (see ID_KEYS), or None."""
    for value in row.values():
        if isinstance(value, dict):
            for key in ID_KEYS:
                if value.get(key) is not None:
                    return str(value[key])
    return None


def read_lmms_samples(path: Path) -> list[LmmsSample]:
    """The samples of one lmms-eval `*_samples_<task>.jsonl` file; a bad line names its number."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise LmmsSamplesError(f"cannot read lmms-eval samples file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise LmmsSamplesError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    samples: list[LmmsSample] = []
    seen: set[int] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as error:
            raise LmmsSamplesError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("doc_id"), int):
            raise LmmsSamplesError(f"{where}: expected an lmms-eval sample with an integer doc_id")
        if row["doc_id"] in seen:
            raise LmmsSamplesError(f"{where}: doc_id {row['doc_id']} appears a second time")
        seen.add(row["doc_id"])
        prompt = row.get("input")
        samples.append(LmmsSample(
            position=row["doc_id"],
            output=sample_output(row, where),
            prompt=prompt if isinstance(prompt, str) else None,
            dataset_id=sample_dataset_id(row),
        ))
    if not samples:
        raise LmmsSamplesError(f"{path} holds no lmms-eval samples")
    return samples


def match_documents(
    task: Task, docs: Sequence[Any], samples: Sequence[LmmsSample]
) -> tuple[list[tuple[int, LmmsSample]], int]:
    """(our document index, sample) pairs, and how many samples name no document of the task."""
    index_of_id = {task.doc_id(doc): i for i, doc in enumerate(docs)}
    # An id that repeats names no single document (MME's question_id names an image with two questions): then
    # the position in the split decides, as it does where lmms-eval logs no id.
    ids = [s.dataset_id for s in samples]
    by_id = None not in ids and len(set(ids)) == len(ids)
    matched: list[tuple[int, LmmsSample]] = []
    skipped = 0
    for sample in samples:
        index = index_of_id.get(sample.dataset_id) if by_id else sample.position
        if index is None or not 0 <= index < len(docs):
            skipped += 1
            continue
        matched.append((index, sample))
    return sorted(matched, key=lambda pair: pair[0]), skipped


def score_lmms_samples(task: Task, source: DataSource, samples: Sequence[LmmsSample]) -> dict[str, Any]:
    """Our task's metrics on lmms-eval's outputs, with counts of matched, skipped and prompt-mismatched samples."""
    if task.kind != "text":
        raise LmmsSamplesError(f"task {task.name!r} is a {task.kind} task; score-lmms-eval scores generated text")
    docs = task.load_docs(source)
    matched, skipped = match_documents(task, docs, samples)
    if not matched:
        raise LmmsSamplesError(f"none of the {len(samples)} samples is a document of task {task.name!r}; "
                               "pass the task that lmms-eval ran (same split)")
    records = []
    mismatches = 0
    for index, sample in matched:
        doc_id = task.doc_id(docs[index])
        record = record_for(task, doc_id, docs[index], sample.output)
        records.append(record)
        if sample.prompt is not None and record.error is None:
            ours = request_text(task.build_request(docs[index], doc_seed(0, task.name, doc_id)))
            if ours != sample.prompt:
                if not mismatches:
                    logger.warning("sample at position %d: lmms-eval prompt %r differs from ours %r",
                                   sample.position, sample.prompt[:80], ours[:80])
                mismatches += 1
    return {
        "task": task.name,
        "num_samples": len(samples),
        "num_scored": len(records),
        "num_skipped": skipped,
        "num_prompt_mismatches": mismatches,
        "metrics": dict(task.aggregate(records)),
    }


# -- command line (wired into evals/cli.py's COMMANDS) ------------------------------------------------------
def add_score_lmms_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `score-lmms-eval`."""
    parser.add_argument("samples", type=Path, metavar="SAMPLES.jsonl", help="lmms-eval --log_samples file of one task")
    parser.add_argument("--task", required=True, help="our task that matches the lmms-eval task (name or alias)")
    parser.add_argument("--data", default="hub", help="hub (default), demo, or the task's local dataset copy")
    parser.add_argument("--gen-kwargs", default="", help="task options, k=v,k2=v2")


def score_lmms_eval_command(args: argparse.Namespace) -> int:
    """`score-lmms-eval`: our metrics on lmms-eval's logged outputs, printed as JSON."""
    from evals.config import parse_gen_kwargs
    from evals.run.launch import data_source
    from evals.registry import discover

    task = discover().get(args.task).with_options(dict(parse_gen_kwargs(args.gen_kwargs)))
    result = score_lmms_samples(task, data_source(args.data), read_lmms_samples(args.samples))
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0
