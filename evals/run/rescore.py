"""`evals score --run RUN_DIR`: a task's metrics recomputed from the records of a run folder, with no model.

Every record keeps what aggregation needs (scores, and for image tasks the Inception features and per-image CLIP
scores), so the metrics come back from the folder alone: the task is configured with the options the run recorded
in run.json (its fingerprint), `--gen-kwargs` may change those only aggregation reads (e.g. `fid_ref`), and the
task aggregates one record per document, whichever worker wrote it. The metrics equal the run's results.json
when nothing changed (tests/run/test_fid_end_to_end.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evals.errors import HarnessError
from evals.run.records import dedup_records, read_records, records_dir
from evals.run.run_folder import RUN_FILE, read_json
from evals.task_api import Task


class NothingToRescore(HarnessError):
    """The run folder has no run.json entry or no records for the task."""


def recorded_options(run_dir: Path, task_name: str) -> dict[str, Any]:
    """The task options a run recorded in its fingerprint (run.json)."""
    fingerprint = read_json(Path(run_dir) / RUN_FILE).get("fingerprint", {})
    tasks: Mapping[str, Any] = fingerprint.get("tasks", {})
    if task_name not in tasks:
        known = ", ".join(sorted(tasks)) or "none"
        raise NothingToRescore(f"run folder {run_dir} did not run task {task_name!r} (its tasks: {known})")
    return dict(tasks[task_name].get("options", {}))


def rescore_run(task: Task, run_dir: Path, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The metrics of `task` over the run's records (one per document), with the run's options plus `overrides`."""
    configured = task.with_options({**recorded_options(run_dir, task.name), **overrides})
    records = dedup_records(read_records(records_dir(run_dir, task.name), load_arrays=True))
    if not records:
        raise NothingToRescore(f"run folder {run_dir} holds no records of task {task.name!r}")
    return dict(configured.aggregate(list(records.values())))
