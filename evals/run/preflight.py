"""Before any model work under torchrun: every rank checks that it can read what its share needs.

Rank 0 planned the run and ran every task's `prepare` (downloading what was missing); the other ranks may
sit on other nodes, with other caches, mounts and dataset copies. Each rank checks
- the run folder: rank 0 wrote a fresh token into it; a rank that reads no token or another one has another
  folder (a relative --output, a disk the nodes do not share); and it writes, syncs and removes a file there;
- every task with documents in its share: the dataset copy loads (`Task.load_docs`), holds the planned number
  of documents, and the first and last documents of the share carry the planned ids (rank 0's copy);
- the other inputs of those tasks (`Task.check_inputs`, e.g. FID's Inception weights), whose identities must be
  the same on every rank.
The reports are gathered on every rank, so the first problem stops every rank, with the same one line naming
the rank, its host and what is missing, before any model is built.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import HarnessError, RunStopped, one_line_error
from evals.run.distributed import DistEnv, Ranks
from evals.run.plan import RunPlan, TaskPlan
from evals.run.sharding import shard_doc_ids
from evals.task_api import DataSource

SHARED_CHECK_FILE = ".shared-check"
STOP_HINT = "every rank stopped before loading the model; fix it and rerun the same command"


class RankInputsMissing(HarnessError):
    """This rank cannot read something its share needs (run folder, dataset copy)."""


@dataclass(frozen=True)
class RankReport:
    """What one rank found: the first problem (one line), or each checked task's input identities."""

    rank: int
    host: str
    problem: str | None = None
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> input name -> identity


def write_shared_token(run_dir: Path) -> str:
    """Rank 0: a fresh random token in the run folder, for the other ranks to read back."""
    token = secrets.token_hex(16)
    partial = Path(run_dir) / (SHARED_CHECK_FILE + ".partial")
    partial.write_text(token + "\n")
    os.replace(partial, Path(run_dir) / SHARED_CHECK_FILE)
    return token


def remove_shared_token(run_dir: Path) -> None:
    """Rank 0, once the run is over: the token has served."""
    (Path(run_dir) / SHARED_CHECK_FILE).unlink(missing_ok=True)


def check_run_folder(run_dir: Path, token: str, rank: int) -> None:
    """Raise RankInputsMissing when this rank sees another folder than rank 0 wrote to, or cannot write to it."""
    run_dir = Path(run_dir)
    try:
        seen: str | None = (run_dir / SHARED_CHECK_FILE).read_text().strip()
    except OSError:
        seen = None
    if seen != token:
        found = "no check file" if seen is None else "another launch's check file"
        here = "" if run_dir.resolve() == run_dir else f" (here {run_dir.resolve()})"  # a relative --output
        raise RankInputsMissing(
            f"run folder {run_dir}{here} is not the folder rank 0 writes ({found} in it); "
            "put --output on a file system every node mounts at the same path"
        )
    probe = run_dir / f".write-check-rank{rank}"
    try:
        with open(probe, "w") as handle:
            handle.write(token)
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as error:
        raise RankInputsMissing(f"cannot write to run folder {run_dir} ({error.strerror or error})") from None


def positions_to_check(task_plan: TaskPlan, rank: int, world_size: int, verify_batching: int) -> list[tuple[int, str]]:
    """The (index, id) pairs whose ids this rank checks: the first and last of its share, [] when it has none.

    Rank 0's batching check (--verify-batching) reads the first documents even without a share.
    """
    share = shard_doc_ids(list(task_plan.pending), rank, world_size)
    if not share and rank == 0 and verify_batching and task_plan.doc_ids:
        share = [(0, task_plan.doc_ids[0])]
    return sorted({share[0], share[-1]}) if share else []


def check_task(
    task_plan: TaskPlan, source: DataSource, positions: Sequence[tuple[int, str]]
) -> tuple[Any, dict[str, str]]:
    """One task's documents as this rank reads them, checked against rank 0's plan, and its other inputs' identities."""
    task = task_plan.task
    docs = task.load_docs(source)
    if len(docs) < task_plan.num_docs:
        raise RankInputsMissing(
            f"task {task.name!r}: the dataset copy here holds {len(docs)} documents, rank 0 planned "
            f"{task_plan.num_docs}; give every node the same copy"
        )
    for index, doc_id in positions:
        found = str(task.doc_id(docs[index]))
        if found != doc_id:
            raise RankInputsMissing(
                f"task {task.name!r}: document {index} of the dataset copy here is {found!r}, rank 0 planned "
                f"{doc_id!r}; give every node the same copy"
            )
    return docs, task.check_inputs(source)


def check_rank(plan: RunPlan, env: DistEnv, token: str) -> tuple[RankReport, dict[str, Any], Exception | None]:
    """This rank's report, the documents it loaded (by task), and the exception behind a problem that is a bug."""
    docs: dict[str, Any] = {}
    inputs: dict[str, dict[str, str]] = {}
    try:
        check_run_folder(plan.run_dir, token, env.rank)
        for task_plan in plan.tasks:
            positions = positions_to_check(task_plan, env.rank, env.world_size, plan.config.verify_batching)
            if positions:
                docs[task_plan.task.name], inputs[task_plan.task.name] = check_task(task_plan, plan.source, positions)
    except Exception as error:
        message = one_line_error(error)
        if message is None:  # a bug: this rank re-raises it with its traceback, the others stop in one line
            return RankReport(env.rank, env.host, f"{type(error).__name__}: {error} (see its traceback)"), {}, error
        return RankReport(env.rank, env.host, message), {}, None
    return RankReport(env.rank, env.host, inputs=inputs), docs, None


def first_problem(reports: Sequence[RankReport]) -> str | None:
    """The line every rank stops with: the first rank that cannot read its inputs, or whose inputs differ."""
    for report in reports:
        if report.problem:
            return f"rank {report.rank} on {report.host}: {report.problem}"
    first_seen: dict[tuple[str, str], tuple[str, RankReport]] = {}
    for report in reports:
        for task, identities in sorted(report.inputs.items()):
            for name, identity in sorted(identities.items()):
                expected, holder = first_seen.setdefault((task, name), (identity, report))
                if identity != expected:
                    return (
                        f"rank {report.rank} on {report.host}: task {task!r} would score with {name} {identity}, "
                        f"rank {holder.rank} on {holder.host} with {expected}; give every node the same files"
                    )
    return None


def check_every_rank(plan: RunPlan, ranks: Ranks, token: str) -> dict[str, Any]:
    """Check this rank, gather every rank's report; stop every rank on the first problem. The documents loaded."""
    report, docs, bug = check_rank(plan, ranks.env, token)
    problem = first_problem(ranks.gather(report, "every rank checked its inputs"))
    if problem is None:
        return docs
    if bug is not None:
        raise bug
    raise RunStopped(f"{problem}; {STOP_HINT}", quiet=not ranks.env.is_node_main)
