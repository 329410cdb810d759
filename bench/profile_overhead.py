"""Where `evals run`'s worker loop spends the time the adapter does not, on the demo text tasks (bench/RESULTS.md).

    python bench/profile_overhead.py --batch-size 16 --repeats 7

Times, interleaved per repeat: the adapter alone on the prepared batches (as `evals bench` does), the run loop
with its steps timed (documents loaded, wait for the first batch, batches processed, the rest: loader hand-overs
and the last write), and the run loop with the batch loader run in the model's thread instead of its background
thread (what the thread gains or costs: on a model that holds the GIL, as the tiny one on a CPU does, a thread
cannot overlap Python work). The instrumentation wraps functions in this process only; the repository's code is
not changed.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.run import runner
from evals.run.batch_loader import iter_batches
from evals.bench.command import RUN_TEXT_TASKS, BenchConfig, load_adapter
from evals.bench.workers import planned_run, shard_batches, time_direct, time_run_loop, warm_up
from evals.registry import discover

STEPS = collections.defaultdict(float)
_started: dict[str, float] = {}


class LoaderInThisThread:
    """`BatchLoader`'s interface over `iter_batches` in the calling thread: no overlap, no hand-overs."""

    def __init__(self, *args):
        self._batches = iter_batches(*args)

    def __iter__(self):
        return self._batches


def instrument() -> None:
    """Time load_docs, the wait for each task's first batch, process_batch and run_task_shard."""
    process_batch, run_task_shard = runner.process_batch, runner.run_task_shard

    def timed_process_batch(adapter, task, batch):
        if task.name in _started:
            STEPS["wait for the first batch"] += time.perf_counter() - _started.pop(task.name)
        start = time.perf_counter()
        try:
            return process_batch(adapter, task, batch)
        finally:
            STEPS["process batches (adapter, scoring)"] += time.perf_counter() - start

    def timed_task_shard(adapter, plan, docs, run_plan, rank, progress):
        start = _started[plan.task.name] = time.perf_counter()
        try:
            return run_task_shard(adapter, plan, docs, run_plan, rank, progress)
        finally:
            STEPS["run_task_shard"] += time.perf_counter() - start

    runner.process_batch, runner.run_task_shard = timed_process_batch, timed_task_shard
    for task in {type(discover().get(name)) for name in RUN_TEXT_TASKS}:
        load = task.load_docs

        def timed_load(self, source, load=load):
            start = time.perf_counter()
            try:
                return load(self, source)
            finally:
                STEPS["load_docs"] += time.perf_counter() - start

        task.load_docs = timed_load


def main() -> None:
    """Print the median of each step over the repeats."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    instrument()
    adapter, _ = load_adapter(BenchConfig())
    with planned_run("tiny", RUN_TEXT_TASKS, args.batch_size, ("cpu",), None) as plan:
        warm_up(adapter, plan)
    rows: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(args.repeats):
        with planned_run("tiny", RUN_TEXT_TASKS, args.batch_size, ("cpu",), None) as plan:
            direct = time_direct(adapter, shard_batches(plan), "cpu")
        rows["adapter alone (+ scoring)"].append(direct.adapter_s + direct.scoring_s)
        STEPS.clear()
        with planned_run("tiny", RUN_TEXT_TASKS, args.batch_size, ("cpu",), None) as plan:
            rows["run loop"].append(time_run_loop(adapter, plan, "cpu").seconds)
        for step in ("load_docs", "wait for the first batch", "process batches (adapter, scoring)"):
            rows[f"  {step}"].append(STEPS[step])
        rest = STEPS["run_task_shard"] - STEPS["wait for the first batch"] - STEPS["process batches (adapter, scoring)"]
        rows["  rest (loader hand-overs, last write)"].append(rest)
        runner.BatchLoader, background = LoaderInThisThread, runner.BatchLoader
        with planned_run("tiny", RUN_TEXT_TASKS, args.batch_size, ("cpu",), None) as plan:
            rows["run loop, batches loaded in the model's thread"].append(time_run_loop(adapter, plan, "cpu").seconds)
        runner.BatchLoader = background
    direct_s = statistics.median(rows["adapter alone (+ scoring)"])
    print(f"batch size {args.batch_size}, {args.repeats} repeats, tasks {', '.join(RUN_TEXT_TASKS)} (demo)")
    print("| step | median s | adapter alone / this |")
    print("|---|---|---|")
    for name, values in rows.items():
        median = statistics.median(values)
        ratio = f"{direct_s / median:.3f}" if name.startswith("run loop") else ""
        print(f"| {name} | {median:.4f} | {ratio} |")


if __name__ == "__main__":
    main()
