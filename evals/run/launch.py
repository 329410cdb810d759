"""One `evals run` from start to end: prepare the folder, start the workers, show progress, aggregate.

Three ways to run the same worker loop (`runner.run_worker`):
- one worker: in this process;
- several local workers: spawned processes (torch.multiprocessing), one model replica each; this
  process shows the progress they report and aggregates when all have finished;
- under torchrun: every process runs this code; rank 0 prepares the folder and the plan and
  broadcasts it, every rank checks that it can read what its share needs (preflight) and does its share,
  rank 0 shows the whole run's progress from the record files and aggregates once every rank is done.
"""

from __future__ import annotations

import dataclasses
import logging
import queue as queue_module
import time
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

from evals.run import distributed
from evals.adapters.interface import Adapter
from evals.report.aggregate import aggregate_run
from evals.config import GenerationConfig, RunConfig, fingerprint
from evals.run.distributed import DistEnv, Ranks, RanksLost
from evals.errors import HarnessError, RunStopped, UsageError, WorkerFailed, exit_code_of, one_line_error
from evals.run.lock import RunLock
from evals.adapters.model_spec import build_adapter, model_identity, resolve_dtype
from evals.run.plan import RunPlan, plan_task
from evals.run.preflight import check_every_rank, remove_shared_token, write_shared_token
from evals.run.progress import Progress, RecordTail, polled_progress
from evals.run.provenance import hardware, package_versions
from evals.registry import TaskRegistry, discover
from evals.run.run_folder import default_output, now_iso, open_run_folder
from evals.run.runner import run_worker
from evals.task_api import DataSource, Task, TaskOptionError

logger = logging.getLogger(__name__)


def configure_tasks(tasks: Sequence[Task], generation: GenerationConfig) -> list[Task]:
    """Apply --gen-kwargs and the task flags to the tasks that declare each option.

    A --gen-kwargs key no selected task declares is an error; a task flag (--fid-ref, ...) that no
    selected task uses is only logged, since one command line often serves several task lists.
    """
    options = generation.options()
    declared = {key for task in tasks for key in task.default_options}
    unknown = sorted(k for k, _ in generation.gen_kwargs if k not in declared)
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise TaskOptionError(f"--gen-kwargs {unknown[0]!r} is not an option of the selected tasks (options: {names})")
    for key, _ in generation.task_options:
        if key not in declared:
            logger.warning("--%s is ignored: no selected task takes it", key.replace("_", "-"))
    return [task.with_options({k: v for k, v in options.items() if k in task.default_options}) for task in tasks]


def data_source(data: str) -> DataSource:
    """The --data value as a DataSource; a local folder must exist."""
    source = DataSource.parse(data)
    if source.kind == "local" and not (source.path and source.path.is_dir()):
        raise UsageError(f"--data {data!r} is not a folder; use hub, demo, or a folder of local dataset copies")
    return source


def local_devices(config: RunConfig) -> tuple[str, ...]:
    """One device per local worker: --devices, else every visible GPU, else the CPU; --num-workers repeats them."""
    if config.devices:
        base = tuple(config.devices)
    else:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        base = tuple(f"cuda:{i}" for i in range(count)) or ("cpu",)
    for device in base:
        if device != "cpu" and not device.startswith("cuda"):
            raise UsageError(f"--devices value {device!r} is not cpu or cuda:N")
    workers = config.num_workers or len(base)
    return tuple(base[i % len(base)] for i in range(workers))


def launched_device(env: DistEnv) -> str:
    """This rank's device under torchrun: its local GPU, else the CPU."""
    import torch

    return f"cuda:{env.local_rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"


def prepare(
    config: RunConfig, registry: TaskRegistry, devices: tuple[str, ...], adapter: Adapter | None = None
) -> tuple[RunPlan, RunLock]:
    """Prepare every task (Task.prepare), lock the folder, check its fingerprint, write run.json and plan every
    task (main process only)."""
    tasks = configure_tasks(registry.select(config.tasks), config.generation)
    source = data_source(config.data)
    for task in tasks:  # missing weights or a malformed reference stop the run here, before the model loads
        task.prepare(source)
    dtype = resolve_dtype(config.generation.dtype, devices)
    generation = dataclasses.replace(config.generation, dtype=dtype)
    run_dir = Path(config.output or default_output(config.model))
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        identity = (
            adapter.describe() if adapter is not None else model_identity(config.model, dtype, config.allow_pickle)
        )
        print_ = fingerprint(
            identity, {t.name: t.records_protocol() for t in tasks}, generation, config.seed, config.data
        )
        open_run_folder(run_dir, print_, config)
        plans = tuple(plan_task(t, t.load_docs(source), config.limit, run_dir) for t in tasks)
    except BaseException:
        lock.release()
        raise
    plan = RunPlan(
        config=config, run_dir=run_dir, source=source, tasks=plans, devices=devices, dtype=dtype, model=identity
    )
    for task_plan in plans:
        done = task_plan.num_docs - len(task_plan.pending)
        logger.info("%s: %d documents, %d already recorded", task_plan.task.name, task_plan.num_docs, done)
    return plan, lock


def _set_worker_threads(device: str, world_size: int) -> None:
    """One intra-op thread per CPU worker when several share the machine."""
    if device == "cpu" and world_size > 1:
        import torch

        torch.set_num_threads(1)


def _spawned_worker(rank: int, plan: RunPlan, events: Any, log_level: int) -> None:
    """Entry of a spawned local worker: build its adapter, do its share, report progress and errors."""
    logging.basicConfig(level=log_level, format=f"[worker {rank}] %(message)s")
    try:
        _set_worker_threads(plan.devices[rank], plan.world_size)
        adapter = build_adapter(plan.config.model, plan.devices[rank], plan.dtype, plan.config.allow_pickle)
        run_worker(adapter, plan, rank, lambda task, n: events.put(("progress", task, n)))
    except Exception as error:
        message = one_line_error(error)
        if message is None:
            raise
        events.put(("error", rank, message))


def run_spawned(plan: RunPlan, progress: Progress) -> None:
    """Run every worker as a spawned process; relay their progress; raise if one fails."""
    import torch.multiprocessing as mp

    events = mp.get_context("spawn").Queue()
    context = mp.start_processes(
        _spawned_worker,
        args=(plan, events, logging.getLogger().getEffectiveLevel()),
        nprocs=plan.world_size,
        join=False,
        start_method="spawn",
    )
    failure: str | None = None
    try:
        finished = False
        while not finished:
            try:
                event = events.get(timeout=0.2)
            except queue_module.Empty:
                event = None
            if event is not None and event[0] == "progress":
                progress(event[1], event[2])
            elif event is not None and event[0] == "error":
                failure = f"worker {event[1]}: {event[2]}"
                break
            try:
                finished = context.join(timeout=0)
            except Exception as error:  # ProcessExitedException / ProcessRaisedException
                raise WorkerFailed(
                    f"{worker_failure(error)}; the records written so far are kept, rerun the same command to resume"
                ) from None
        while finished:
            try:
                event = events.get_nowait()
            except queue_module.Empty:
                break
            if event[0] == "progress":
                progress(event[1], event[2])
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
        for process in context.processes:
            process.join(timeout=10)
    if failure:
        raise HarnessError(failure)


def worker_failure(error: BaseException) -> str:
    """One line for a dead worker: its signal or exit code, or the last line of its traceback."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    pid = getattr(error, "error_index", None)
    if not lines:
        return f"worker {pid} failed"
    # ProcessRaisedException carries the child's traceback; its last line is the exception itself.
    return f"worker {pid} failed: {lines[-1]}" if len(lines) > 1 else f"worker {pid} died ({lines[0]})"


def has_work(plan: RunPlan) -> bool:
    """Whether any document lacks a record (or the batching check asks for model calls)."""
    return bool(plan.config.verify_batching) or any(p.pending for p in plan.tasks)


def run_metadata(plan: RunPlan, started: str, start_time: float) -> dict:
    """The "run" section of results.json."""
    return {
        "model": plan.model,
        "seed": plan.config.seed,
        "data": plan.config.data,
        "dtype": plan.dtype,
        "versions": package_versions(),
        "hardware": hardware(plan.devices),
        "started": started,
        "finished": now_iso(),
        "wall_seconds": round(time.time() - start_time, 3),
        "world_size": plan.world_size,
        "batch_size": plan.config.batch_size,
        "limit": plan.config.limit,
        "demo": plan.source.kind == "demo",
    }


def _pending_totals(plan: RunPlan) -> dict[str, int]:
    """Documents to do per task, over every worker."""
    return {p.task.name: len(p.pending) for p in plan.tasks}


def run_local(config: RunConfig, registry: TaskRegistry, adapter: Adapter | None = None) -> Path:
    """A run on this machine: in this process for one worker, spawned processes for several."""
    started, start_time = now_iso(), time.time()
    devices = local_devices(config)
    if adapter is not None and len(devices) > 1:
        raise UsageError("a run given an adapter object runs in one process; drop --num-workers/--devices")
    plan, lock = prepare(config, registry, devices, adapter)
    try:
        progress = Progress(_pending_totals(plan))
        try:
            if not has_work(plan):
                logger.info("every document already has a record; aggregating only")
            elif plan.world_size == 1:
                adapter = adapter or build_adapter(config.model, devices[0], plan.dtype, config.allow_pickle)
                run_worker(adapter, plan, 0, progress)
            else:
                run_spawned(plan, progress)
        finally:
            progress.close()
        aggregate_run(plan, run_metadata(plan, started, start_time))
    finally:
        lock.release()
    return plan.run_dir


def run_launched(config: RunConfig, registry: TaskRegistry | None, env: DistEnv) -> Path:
    """A run under torchrun: rank 0 prepares, every rank checks its inputs and does its share, rank 0 aggregates.

    Every wait for the other ranks gives up after --wait-timeout (distributed.Ranks); a rank that cannot read
    what its share needs stops every rank before any model is built (preflight).
    """
    if config.num_workers not in (None, 1) or config.devices:
        raise UsageError("--num-workers/--devices do not apply under torchrun; set --nproc_per_node instead")
    started, start_time = now_iso(), time.time()
    device = launched_device(env)
    ranks = Ranks(env, timedelta(minutes=config.wait_timeout_minutes))
    outcome: tuple[str, Any] = ("error", ("rank 0 failed while preparing the run", 2))
    lock: RunLock | None = None
    error: BaseException | None = None
    if env.is_main:
        try:
            # Only rank 0 reads the plugins; the others get the configured tasks inside the plan.
            plan, lock = prepare(config, registry if registry is not None else discover(), (device,) * env.world_size)
            outcome = ("ok", (plan, write_shared_token(plan.run_dir)))
        except BaseException as caught:
            error = caught
            message = one_line_error(caught) or f"rank 0 failed: {type(caught).__name__}: {caught}"
            outcome = ("error", (f"{env.label}: {message}", exit_code_of(caught)))
    try:
        try:
            outcome = ranks.broadcast(outcome, "rank 0 planned the run")
        except RanksLost:
            if error is None:
                raise
        if outcome[0] == "error":
            if error is not None:
                raise error
            message, code = outcome[1]
            raise RunStopped(message, quiet=not env.is_node_main, exit_code=code)
        plan, token = outcome[1]
        # Rank 0 marks what is on disk before any rank can pass the check below and write a record.
        tail = RecordTail(plan.run_dir, [p.task.name for p in plan.tasks]) if env.is_main else None
        docs = check_every_rank(plan, ranks, token)
        work_shares(plan, env, ranks, docs, tail)
        if env.is_main:
            aggregate_run(plan, run_metadata(plan, started, start_time))
            remove_shared_token(plan.run_dir)
    finally:
        if lock is not None:
            lock.release()
    return plan.run_dir


def work_shares(plan: RunPlan, env: DistEnv, ranks: Ranks, docs: dict[str, Any], tail: RecordTail | None) -> None:
    """This rank's share of every task, then the wait for every rank's; rank 0 shows the whole run's progress."""
    device = plan.devices[env.rank]
    adapter = None
    if has_work(plan):
        logger.info("%s: every rank can read its inputs; loading the model", env.label)
        adapter = build_adapter(plan.config.model, device, plan.dtype, plan.config.allow_pickle)
    progress = Progress(_pending_totals(plan)) if tail is not None else None
    try:
        with polled_progress(tail, progress) if tail is not None and progress is not None else nullcontext():
            if adapter is not None:
                report = progress.starts_only if progress is not None else lambda task, n: None
                run_worker(adapter, plan, env.rank, report, docs)
            ranks.wait_for_all("every rank finished its share")
    finally:
        if progress is not None:
            progress.close()


def execute_run(config: RunConfig, registry: TaskRegistry | None = None, adapter: Adapter | None = None) -> Path:
    """Run the evaluation `config` describes and return its run folder (results.json written).

    `registry` defaults to the installed task plugins; `adapter` (an object with the Adapter
    methods) replaces the model `config.model` names, for embedding and tests (one process only).
    """
    env = distributed.env_from_launcher()
    if not env.launched:
        return run_local(config, registry if registry is not None else discover(), adapter)
    if adapter is not None:
        raise UsageError("an adapter object cannot be shared across torchrun processes; pass --model")
    distributed.init(env, timedelta(minutes=config.wait_timeout_minutes))
    try:
        return run_launched(config, registry, env)
    finally:
        distributed.destroy()
