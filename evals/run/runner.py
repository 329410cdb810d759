"""The worker loop: pending documents -> batches -> adapter -> scores -> records.

One call of `run_worker` does one worker's strided share (`shard_doc_ids`) of every task. Batches come
ready from the background `BatchLoader`; each batch's records are appended and fsync'd on a writer thread
while the model runs the next batch, so a kill loses at most the two batches in flight. Per-document
failures (bad document, unreadable image, adapter exception, malformed output, scoring exception) become
error records and the run goes on; an out-of-memory error halves the batch and retries down to one document.
A HarnessError from scoring (e.g. Inception weights missing on a worker) is a problem of the run and stops it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from evals.adapters.interface import Adapter, NotSupportedByModel
from evals.run.batch_loader import BatchLoader, PreparedDoc, describe_error, iter_batches
from evals.errors import HarnessError
from evals.run.plan import RunPlan, TaskPlan
from evals.run.records import Record, RecordWriter
from evals.requests import ChoiceRequest, ImageRequest, Request, TextRequest
from evals.run.sharding import shard_doc_ids
from evals.task_api import Task

logger = logging.getLogger(__name__)

VERIFY_FILE = "verify_batching.json"
_SURROGATE = re.compile("[\ud800-\udfff]")
ProgressFn = Callable[[str, int], None]  # (task name, documents finished)


@dataclass
class _Answer:
    """One document's adapter output, or why there is none."""

    output: Any = None
    error: str | None = None


def is_out_of_memory(error: BaseException) -> bool:
    """True for host or accelerator out-of-memory errors."""
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(error, getattr(torch, "OutOfMemoryError", ()))


def _release_cached_memory() -> None:
    """Give cached accelerator memory back before retrying a smaller batch."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def call_adapter(adapter: Adapter, requests: Sequence[Request]) -> list[Any]:
    """Adapter outputs for one batch, in order; each request type goes to its adapter method.

    Dispatch is on the request type, not the task kind, since a task option may switch a text
    task to likelihood scoring (ChoiceRequest).
    """
    methods = {TextRequest: adapter.generate_text, ChoiceRequest: adapter.score_choices, ImageRequest: adapter.generate_images}
    outputs: list[Any] = [None] * len(requests)
    for request_type, method in methods.items():
        indices = [i for i, r in enumerate(requests) if type(r) is request_type]
        if not indices:
            continue
        answers = list(method([requests[i] for i in indices]))
        if len(answers) != len(indices):
            raise RuntimeError(f"adapter returned {len(answers)} outputs for {len(indices)} requests")
        for i, answer in zip(indices, answers):
            outputs[i] = answer
    unknown = [type(r).__name__ for r in requests if type(r) not in methods]
    if unknown:
        raise TypeError(f"unknown request type {unknown[0]}")
    return outputs


def check_output(request: Request, output: Any) -> _Answer:
    """Normalise one output to its kind's type; a malformed one becomes an error."""
    if isinstance(request, TextRequest):
        if isinstance(output, bytes):
            output = output.decode("utf-8", errors="replace")
        if not isinstance(output, str):
            return _Answer(error=f"bad model output: expected text, got {type(output).__name__}")
        # Lone surrogates (bytes decoded with surrogateescape) are not valid Unicode: scorers, pandas/pyarrow
        # and the submission files cannot encode them. Each becomes U+FFFD, like an undecodable byte above.
        return _Answer(output=_SURROGATE.sub("\ufffd", output))
    if isinstance(request, ChoiceRequest):
        try:
            values = [float(v) for v in output]
        except (TypeError, ValueError):
            return _Answer(error=f"bad model output: expected {len(request.choices)} scores, got {output!r:.80}")
        if len(values) != len(request.choices):
            return _Answer(error=f"bad model output: {len(values)} scores for {len(request.choices)} choices")
        if any(v != v for v in values):  # NaN: no choice can be read from it
            return _Answer(error="bad model output: NaN choice scores")
        return _Answer(output=values)
    if isinstance(request, ImageRequest):
        image = np.asarray(output) if output is not None else None
        if image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            shape = None if image is None else (image.shape, str(image.dtype))
            return _Answer(error=f"bad model output: expected a uint8 (H, W, 3) image, got {shape}")
        return _Answer(output=image)
    raise TypeError(f"unknown request type {type(request).__name__}")


def answer_batch(adapter: Adapter, requests: Sequence[Request]) -> list[_Answer]:
    """Adapter outputs for a batch; OOM halves the batch, other failures retry one by one."""
    if not requests:
        return []
    try:
        outputs = call_adapter(adapter, requests)
    except NotSupportedByModel:
        raise
    except Exception as error:
        if len(requests) == 1:
            reason = "out of memory at batch size 1" if is_out_of_memory(error) else "adapter failed"
            return [_Answer(error=f"{reason}: {describe_error(error)}")]
        if is_out_of_memory(error):
            _release_cached_memory()
            half = len(requests) // 2
            logger.warning("out of memory at batch size %d; retrying as %d + %d", len(requests), half, len(requests) - half)
            return answer_batch(adapter, requests[:half]) + answer_batch(adapter, requests[half:])
        logger.warning("adapter failed on a batch of %d (%s); retrying one by one", len(requests), describe_error(error))
        return [answer for request in requests for answer in answer_batch(adapter, [request])]
    return [check_output(r, o) for r, o in zip(requests, outputs)]


def split_arrays(scores: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scores with numpy arrays (ndim > 0) moved out, for the npz shard."""
    plain = {k: v for k, v in scores.items() if not (isinstance(v, np.ndarray) and v.ndim > 0)}
    arrays = {k: v for k, v in scores.items() if isinstance(v, np.ndarray) and v.ndim > 0}
    return plain, arrays


def request_text(request: Request | None) -> str:
    """The prompt shown in a record."""
    if isinstance(request, ImageRequest):
        return request.prompt
    return getattr(request, "text", "") or ""


def request_target(request: Request | None) -> Any:
    """The gold answer a request carries, if any."""
    return getattr(request, "target", None)


def score_items(task: Task, items: Sequence[PreparedDoc], answers: Sequence[_Answer]) -> list[Record]:
    """Records for answered items: batched scoring, falling back to one by one when it fails."""
    records = [
        Record(task=task.name, doc_id=it.doc_id, prompt=request_text(it.request), target=request_target(it.request))
        for it in items
    ]
    good = [i for i, a in enumerate(answers) if a.error is None]
    for i, answer in enumerate(answers):
        if answer.error is not None:
            records[i].error = answer.error
        elif not isinstance(answer.output, np.ndarray):
            records[i].output = answer.output
    try:
        scored = task.score_batch([items[i].doc for i in good], [answers[i].output for i in good])
        if len(scored) != len(good):
            raise RuntimeError(f"score_batch returned {len(scored)} results for {len(good)} documents")
    except HarnessError:  # a problem of the run (missing weights, mixed features), not of these documents
        raise
    except Exception as error:
        logger.warning("task %s: batched scoring failed (%s); scoring one by one", task.name, describe_error(error))
        scored = []
        for i in good:
            try:
                scored.append(task.score(items[i].doc, answers[i].output))
            except HarnessError:
                raise
            except Exception as single_error:  # a document the scorer cannot handle fails alone
                scored.append(single_error)
    for i, result in zip(good, scored):
        if isinstance(result, Exception):
            records[i].error = f"scoring failed: {describe_error(result)}"
        else:
            records[i].scores, records[i].arrays = split_arrays(dict(result))
    return records


def process_batch(adapter: Adapter, task: Task, batch: Sequence[PreparedDoc]) -> list[Record]:
    """Records of one prepared batch, in batch order; never raises for a per-document problem."""
    ready = [it for it in batch if it.error is None]
    answers = answer_batch(adapter, [it.request for it in ready])
    scored = {id(it): rec for it, rec in zip(ready, score_items(task, ready, answers))}
    return [scored[id(it)] if it.error is None else failed_record(task, it) for it in batch]


def failed_record(task: Task, item: PreparedDoc) -> Record:
    """The error record of a document that never reached the adapter (prompt kept where built)."""
    return Record(task=task.name, doc_id=item.doc_id, prompt=request_text(item.request),
                  target=request_target(item.request), error=item.error)


def run_task_shard(
    adapter: Adapter,
    plan: TaskPlan,
    docs: Sequence[Any],
    run_plan: RunPlan,
    rank: int,
    progress: ProgressFn,
) -> int:
    """Do worker `rank`'s share of one task's pending documents; returns how many it recorded."""
    work = shard_doc_ids(list(plan.pending), rank, run_plan.world_size)
    if not work:
        return 0
    writer = RecordWriter(run_plan.run_dir, plan.task.name, rank)
    progress(plan.task.name, 0)  # the bar starts with the task, so its rate and ETA are honest
    done = 0
    # A batch's write (its fsync waits for the disk: ~5 ms here, far more on network file systems) overlaps the
    # next batch's model time. One write at most is in flight; a batch counts once it is durable, and a write
    # error surfaces one batch later. Leaving the block (also on an error) waits for the write in flight.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-writer") as write_pool:
        in_flight: tuple[Future, int] | None = None
        # evals.adapters.interface.PreparesRequests, optional: the loader thread preprocesses where that overlaps the model.
        prepare = adapter.prepare if getattr(adapter, "prepare_ahead", False) else None
        for batch in BatchLoader(plan.task, docs, work, run_plan.config.batch_size, run_plan.config.seed, prepare):
            records = process_batch(adapter, plan.task, batch)
            if in_flight is not None:
                done += _wait_written(in_flight, plan.task.name, progress)
            # Encoded here, written there: the writer thread then runs almost no Python (see RecordWriter).
            in_flight = (write_pool.submit(writer.write, writer.encode(records)), len(records))
        if in_flight is not None:
            done += _wait_written(in_flight, plan.task.name, progress)
    return done


def _wait_written(in_flight: tuple[Future, int], task_name: str, progress: ProgressFn) -> int:
    """Wait for one batch's write (re-raising its error), report it to `progress`; its document count."""
    future, count = in_flight
    future.result()
    progress(task_name, count)
    return count


def outputs_by_doc(adapter: Adapter, task: Task, docs: Sequence[Any], work, batch_size: int, seed: int) -> dict[str, _Answer]:
    """Adapter answers for (index, id) pairs at one batch size, by document id (no scoring, no records)."""
    answers: dict[str, _Answer] = {}
    for batch in iter_batches(task, docs, work, batch_size, seed):
        ready = [it for it in batch if it.error is None]
        for item, answer in zip(ready, answer_batch(adapter, [it.request for it in ready])):
            answers[item.doc_id] = answer
    return answers


def same_output(a: _Answer, b: _Answer) -> bool:
    """Whether two answers agree: equal text, same chosen option, or identical images."""
    if a.error is not None or b.error is not None:
        return (a.error is None) == (b.error is None)
    if isinstance(a.output, np.ndarray):
        return isinstance(b.output, np.ndarray) and np.array_equal(a.output, b.output)
    if isinstance(a.output, list):
        return bool(a.output) and len(a.output) == len(b.output) and int(np.argmax(a.output)) == int(np.argmax(b.output))
    return a.output == b.output


def verify_batching(adapter: Adapter, plan: TaskPlan, docs: Sequence[Any], run_plan: RunPlan) -> dict[str, int]:
    """Run the first N documents at the run's batch size and at batch size 1; count differing outputs."""
    count = min(run_plan.config.verify_batching, plan.num_docs)
    work = [(i, plan.doc_ids[i]) for i in range(count)]
    batched = outputs_by_doc(adapter, plan.task, docs, work, run_plan.config.batch_size, run_plan.config.seed)
    single = outputs_by_doc(adapter, plan.task, docs, work, 1, run_plan.config.seed)
    compared = [d for d in batched if d in single]
    differing = sum(not same_output(batched[d], single[d]) for d in compared)
    return {"checked": len(compared), "differing": differing, "batch_size": run_plan.config.batch_size}


def run_worker(
    adapter: Adapter,
    run_plan: RunPlan,
    rank: int,
    progress: ProgressFn,
    loaded: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Worker `rank`: its share of every task, then (rank 0 only) the batching check.

    `loaded` holds documents a task's `load_docs` already returned in this process (by task name).
    """
    verified: dict[str, dict[str, int]] = {}
    for plan in run_plan.tasks:
        needs_docs = plan.pending or (rank == 0 and run_plan.config.verify_batching)
        if not needs_docs:
            continue
        docs = (loaded or {}).get(plan.task.name)
        if docs is None:
            docs = plan.task.load_docs(run_plan.source)
        run_task_shard(adapter, plan, docs, run_plan, rank, progress)
        if rank == 0 and run_plan.config.verify_batching:
            verified[plan.task.name] = verify_batching(adapter, plan, docs, run_plan)
    if rank == 0 and run_plan.config.verify_batching:
        Path(run_plan.run_dir, VERIFY_FILE).write_text(json.dumps(verified, indent=2) + "\n")
