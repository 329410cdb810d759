"""The harness side of the benchmark: `evals run`'s worker loop against the adapter alone, and 1 vs 2 workers.

Both use the run's own code: `launch.prepare` plans a fresh demo run folder, `runner.run_worker` does the
work (background batch loader, adapter, scoring, fsync'd records), exactly as `evals run` does after the
model is loaded. The adapter-only rate is the same adapter on the same batches (same documents, same order,
images decoded beforehand), with nothing else: the difference is what the harness costs. Scoring is timed
apart, so that a task whose scorer is itself arithmetic (FID's Inception network) shows where its time goes.

Fixed costs of a run (process start, model load, planning, aggregation) are reported apart, not folded into
the rate: they do not grow with the number of documents.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from evals.adapters.interface import Adapter
from evals.run.batch_loader import PreparedDoc, iter_batches
from evals.config import RunConfig
from evals.run.launch import prepare
from evals.adapters.model_spec import build_adapter
from evals.run.plan import RunPlan
from evals.registry import discover
from evals.run.runner import call_adapter, check_output, process_batch, run_worker
from evals.run.sharding import shard_doc_ids
from evals.task_api import Task

WORKER_TIMEOUT_S = 1800
DEMO_DIR = Path(__file__).resolve().parents[2] / "tasks" / "demo"  # the bundled demo slices
GQA_HUB_ID, GQA_QUESTIONS, GQA_IMAGES = "lmms-lab/GQA", "testdev_balanced_instructions", "testdev_balanced_images"


@contextmanager
def planned_run(model: str, tasks: Sequence[str], batch_size: int, devices: tuple[str, ...],
                limit: int | None, dtype: str = "float32", data: str = "demo") -> Iterator[RunPlan]:
    """A fresh run folder planned by `launch.prepare` (lock held); deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="vargpt-bench-"))
    config = RunConfig(tasks=tuple(tasks), model=model, data=data, limit=limit, batch_size=batch_size,
                       output=folder / "run", devices=devices, overwrite=True)
    config = dataclasses.replace(config, generation=dataclasses.replace(config.generation, dtype=dtype))
    plan, lock = prepare(config, discover(), devices)
    try:
        yield plan
    finally:
        lock.release()
        shutil.rmtree(folder, ignore_errors=True)


def replicated_gqa_copy(folder: Path, copies: int) -> Path:
    """A local copy of the demo GQA slice with every question `copies` times (ids `<id>-r<k>`), for `--data`.

    The demo slice has 30 questions, so a run of it is mostly per-task set-up; the copy shows the harness's
    per-document cost. It is a `save_to_disk` folder with the images joined (a layout GQA's loader reads):
    a snapshot folder would go through `datasets.load_dataset`, whose cache key for a local folder does not
    change with the files' content, so a copy with the demo's name would be read back as the cached demo.
    """
    import datasets

    def read(config: str) -> datasets.Dataset:
        files = sorted((DEMO_DIR / GQA_HUB_ID / config).glob("*.parquet"))
        return datasets.Dataset(datasets.table.InMemoryTable(pa.concat_tables([pq.read_table(f) for f in files])))

    questions, images = read(GQA_QUESTIONS), read(GQA_IMAGES)
    image_by_id = dict(zip(images["id"], images.with_format("arrow")["image"].to_pylist()))
    rows = [{**row, "id": f"{row['id']}-r{k}", "image": image_by_id[row["imageId"]]}
            for k in range(copies) for row in questions.to_list()]
    features = questions.features.copy()
    features["image"] = images.features["image"]
    datasets.Dataset.from_list(rows, features=features).save_to_disk(str(folder / GQA_HUB_ID))
    return folder


def shard_batches(plan: RunPlan, rank: int = 0) -> list[tuple[Task, list[PreparedDoc]]]:
    """Worker `rank`'s batches of every task, as its BatchLoader would cut them, images decoded."""
    batches = []
    for task_plan in plan.tasks:
        docs = task_plan.task.load_docs(plan.source)
        work = shard_doc_ids(list(task_plan.pending), rank, plan.world_size)
        for batch in iter_batches(task_plan.task, docs, work, plan.config.batch_size, plan.config.seed):
            batches.append((task_plan.task, batch))
    return batches


def time_task_setup(plan: RunPlan) -> float:
    """Seconds to open every planned task's documents (`load_docs`), as the run loop does once per task."""
    start = time.perf_counter()
    for task_plan in plan.tasks:
        task_plan.task.load_docs(plan.source)
    return time.perf_counter() - start


@dataclass(frozen=True)
class DirectTiming:
    """Seconds in the adapter and in the task scorers for one pass over a list of batches."""

    docs: int
    adapter_s: float
    scoring_s: float
    cpu_s: float  # CPU seconds of the whole process over the pass (every thread)


def time_direct(adapter: Adapter, batches: Sequence[tuple[Task, list[PreparedDoc]]], device: str) -> DirectTiming:
    """Adapter calls and scoring of prepared batches, timed apart; no loader thread, no records."""
    from evals.bench.timing import synchronize

    docs, adapter_s, scoring_s = 0, 0.0, 0.0
    cpu_start = time.process_time()
    for task, batch in batches:
        ready = [item for item in batch if item.error is None]
        synchronize(device)
        start = time.perf_counter()
        outputs = call_adapter(adapter, [item.request for item in ready])
        synchronize(device)
        middle = time.perf_counter()
        answers = [check_output(item.request, output) for item, output in zip(ready, outputs)]
        good = [(item.doc, a.output) for item, a in zip(ready, answers) if a.error is None]
        task.score_batch([doc for doc, _ in good], [output for _, output in good])
        synchronize(device)
        adapter_s += middle - start
        scoring_s += time.perf_counter() - middle
        docs += len(batch)
    return DirectTiming(docs=docs, adapter_s=adapter_s, scoring_s=scoring_s, cpu_s=time.process_time() - cpu_start)


@dataclass(frozen=True)
class RunTiming:
    """Documents recorded by one `run_worker` call, its wall seconds and the process's CPU seconds."""

    docs: int
    seconds: float
    cpu_s: float


def time_run_loop(adapter: Adapter, plan: RunPlan, device: str) -> RunTiming:
    """`run_worker` on a freshly planned folder, timed: the part of `evals run` after the model is loaded."""
    from evals.bench.timing import synchronize

    done = [0]

    def progress(task_name: str, count: int) -> None:
        done[0] += count

    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    run_worker(adapter, plan, 0, progress)
    synchronize(device)
    return RunTiming(docs=done[0], seconds=time.perf_counter() - start, cpu_s=time.process_time() - cpu_start)


def warm_up(adapter: Adapter, plan: RunPlan, rank: int = 0) -> None:
    """One batch of every task through the run's batch path (model, scorer, Inception load), nothing recorded."""
    seen: set[str] = set()
    for task, batch in shard_batches(plan, rank):
        if task.name not in seen:
            seen.add(task.name)
            process_batch(adapter, task, batch)


# -- one vs two workers --------------------------------------------------------------------------
def collect_reports(processes: Sequence[Any], results: Any) -> list[tuple]:
    """One report per spawned process; a process that dies without one (killed, crashed) raises at once."""
    reports: list[tuple] = []
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a bench process exited with code {dead[0]} before reporting") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"bench processes did not report within {WORKER_TIMEOUT_S} s") from None
    return reports


def run_spawned(target: Callable[..., None], args_per_process: Sequence[tuple]) -> list[tuple]:
    """Spawn one process per args tuple as `target(*args, barrier, results)` (one barrier for all), collect one
    report from each, then join them; a process still alive 30 s after the reports (or an error) is terminated."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(args_per_process)), context.Queue()
    processes = [context.Process(target=target, args=(*args, barrier, results)) for args in args_per_process]
    for process in processes:
        process.start()
    try:
        return collect_reports(processes, results)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


def _timed_worker(rank: int, plan: RunPlan, threads: int, barrier: Any, results: Any) -> None:
    """A spawned worker: load, warm up, wait for the others, then time its share of the run."""
    try:
        torch.set_num_threads(threads)
        adapter = build_adapter(plan.config.model, plan.devices[rank], plan.dtype)
        warm_up(adapter, plan, rank)
        done = [0]
        barrier.wait()
        start, cpu_start = time.perf_counter(), time.process_time()  # perf_counter: one clock for all processes
        run_worker(adapter, plan, rank, lambda task, n: done.__setitem__(0, done[0] + n))
        results.put(("ok", rank, done[0], start, time.perf_counter(), time.process_time() - cpu_start))
    except Exception as error:  # noqa: BLE001 - any failure is reported to the parent, which raises
        barrier.abort()
        results.put(("error", rank, f"{type(error).__name__}: {error}", 0.0, 0.0, 0.0))


def time_workers(model: str, tasks: Sequence[str], batch_size: int, num_workers: int, threads: int,
                 limit: int | None) -> dict[str, Any]:
    """Documents per second of `num_workers` spawned CPU workers doing one demo run, start to last record.

    Each worker loads its model and warms up before a barrier; the clock runs from the barrier to the last
    worker's last record, so process start and model load (reported by the caller as fixed costs) stay out.
    """
    with planned_run(model, tasks, batch_size, ("cpu",) * num_workers, limit) as plan:
        reports = run_spawned(_timed_worker, [(rank, plan, threads) for rank in range(num_workers)])
    failed = [r for r in reports if r[0] != "ok"]
    if failed:
        raise RuntimeError(f"bench worker {failed[0][1]} failed: {failed[0][2]}")
    reports.sort(key=lambda r: r[1])
    docs = sum(r[2] for r in reports)
    seconds = max(r[4] for r in reports) - min(r[3] for r in reports)
    return {"workers": num_workers, "docs": docs, "seconds": round(seconds, 5), "docs_per_s": round(docs / seconds, 4),
            "per_worker_docs": [r[2] for r in reports], "per_worker_cpu_s": [round(r[5], 4) for r in reports],
            "per_worker_s": [round(r[4] - r[3], 4) for r in reports]}


# -- the machine's own parallel speedup ----------------------------------------------------------
def _spin(units: int, threads: int, barrier: Any, results: Any) -> None:
    """A spawned process: `units` small matrix products on `threads` threads, timed from the barrier."""
    torch.set_num_threads(threads)
    a_NN = torch.randn(128, 128) / 128**0.5
    barrier.wait()
    start = time.perf_counter()
    for _ in range(units):
        a_NN = torch.tanh(a_NN @ a_NN)
    results.put((start, time.perf_counter()))


def time_spin(units: int, processes: int, threads: int) -> float:
    """Seconds for `processes` spawned processes to do `units` matrix products each (barrier to last finish)."""
    spans = run_spawned(_spin, [(units, threads)] * processes)
    return max(end for _, end in spans) - min(start for start, _ in spans)


def machine_parallel_speedup(units: int, threads: int) -> dict[str, Any]:
    """Work that splits perfectly (one process doing 2 x `units` vs two doing `units` each): what this machine,
    with whatever else runs on it, gives two processes over one. The ceiling for the two-worker speedup."""
    one = time_spin(2 * units, 1, threads)
    two = time_spin(units, 2, threads)
    return {"one_s": round(one, 4), "two_s": round(two, 4), "speedup": round(one / two, 4)}
