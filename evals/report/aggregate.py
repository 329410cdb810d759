"""All shards' records -> one record per document -> each task's metrics -> results.json and tables.

Aggregation reads every worker file of a task, whichever run or worker count wrote it, keeps one
record per document id, and hands the task the records of this run's planned documents in dataset
order. The metrics therefore cannot depend on how many workers ran or how often the run resumed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.errors import HarnessError
from evals.run.plan import RunPlan, TaskPlan
from evals.run.records import Record, dedup_records, read_records, records_dir
from evals.run.run_folder import RESULTS_FILE, write_json_atomic
from evals.run.runner import VERIFY_FILE
from evals.task_api import Task

logger = logging.getLogger(__name__)

NUM_ERRORS = "num_errors"
TABLE_FORMATS = {"md": "results.md", "csv": "results.csv", "latex": "results.tex", "html": "results.html"}


class IncompleteRun(HarnessError):
    """Planned documents without a record at aggregation time."""


def task_records(run_dir: Path, plan: TaskPlan) -> list[Record]:
    """One record per planned document, in dataset order, arrays loaded; refuses if any is missing."""
    chosen = dedup_records(read_records(records_dir(run_dir, plan.task.name), load_arrays=True))
    missing = [doc_id for doc_id in plan.doc_ids if doc_id not in chosen]
    if missing:
        raise IncompleteRun(
            f"task {plan.task.name!r}: {len(missing)} of {plan.num_docs} documents have no record "
            f"(first: {missing[0]!r}); rerun the same command to finish them"
        )
    return [chosen[doc_id] for doc_id in plan.doc_ids]


def task_result(task: Task, records: Sequence[Record], run_dir: Path) -> dict[str, Any]:
    """The results.json entry of one task: metrics, counts, protocol, artifacts."""
    num_errors = sum(not r.ok for r in records)
    metrics = dict(task.aggregate(records))
    metrics.setdefault(NUM_ERRORS, num_errors)
    # Tasks write into the run folder itself (submissions/, grids), under names that carry the task's.
    artifacts = [Path(p) for p in task.write_artifacts(records, run_dir)]
    return {
        "metrics": metrics,
        "primary_metric": task.primary_metric_name(metrics),
        "num_docs": len(records),
        "num_errors": num_errors,
        "protocol": task.protocol(),
        "higher_is_better": dict(task.higher_is_better),
        "artifacts": [str(_relative(p, run_dir)) for p in artifacts],
    }


def group_results(plans: Sequence[TaskPlan], records: dict[str, list[Record]]) -> dict[str, Any]:
    """Metrics over each group with two or more members in the run (e.g. POPE's three splits pooled).

    The group's first member computes them (`Task.aggregate_group`) from every member's records; a
    group whose tasks compute nothing pooled is left out.
    """
    found: dict[str, Any] = {}
    by_group: dict[str, list[TaskPlan]] = {}
    for plan in plans:
        if plan.task.group:
            by_group.setdefault(plan.task.group, []).append(plan)
    for group, members in by_group.items():
        if len(members) < 2:
            continue
        metrics = dict(members[0].task.aggregate_group({p.task.name: records[p.task.name] for p in members}))
        if not metrics:
            continue
        found[group] = {
            "tasks": [p.task.name for p in members],
            "metrics": metrics,
            "num_docs": sum(p.num_docs for p in members),
            "num_errors": sum(not r.ok for p in members for r in records[p.task.name]),
        }
    return found


def aggregate_run(plan: RunPlan, run_meta: dict[str, Any]) -> dict[str, Any]:
    """Compute every task's metrics from the run folder and write results.json and the tables."""
    run_dir = plan.run_dir
    results: dict[str, Any] = {"run": run_meta, "tasks": {}}
    records: dict[str, list[Record]] = {}
    for task_plan in plan.tasks:
        records[task_plan.task.name] = task_records(run_dir, task_plan)
        results["tasks"][task_plan.task.name] = task_result(task_plan.task, records[task_plan.task.name], run_dir)
    groups = group_results(plan.tasks, records)
    if groups:
        results["groups"] = groups
    verify_path = run_dir / VERIFY_FILE
    if plan.config.verify_batching and verify_path.exists():
        results["verify_batching"] = json.loads(verify_path.read_text())
    write_json_atomic(run_dir / RESULTS_FILE, results)
    write_tables(run_dir)
    logger.info("wrote %s", run_dir / RESULTS_FILE)
    return results


def write_tables(run_dir: Path) -> None:
    """The run's leaderboard row in every table format, beside results.json."""
    from evals.report.tables import leaderboard, render

    frame = leaderboard([run_dir])
    for fmt, name in TABLE_FORMATS.items():
        (run_dir / name).write_text(render(frame, fmt))


def _relative(path: Path, root: Path) -> Path:
    """`path` relative to the run folder when inside it."""
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return path
