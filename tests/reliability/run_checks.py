"""Helpers of the reliability tests: planned document ids, record snapshots, metrics, one-line CLI errors,
unpickled copies of the tiny checkpoint."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from evals.run.plan import doc_ids_of, limited
from evals.run.records import read_records, records_dir
from evals.registry import discover
from evals.task_api import DataSource
from vargpt import tiny


def planned_ids(task_name: str, data: str, limit: int | None, options: dict[str, str] | None = None) -> tuple[str, ...]:
    """The document ids a run of one task plans, in dataset order (what must end with exactly one record each)."""
    task = discover().get(task_name).with_options(options or {})
    docs = task.load_docs(DataSource.parse(data))
    return doc_ids_of(task, docs, limited(docs, limit))


def record_snapshot(run_dir: Path, task_name: str) -> dict[str, Any]:
    """doc id -> (output, scores, error, arrays as lists): everything a record holds, comparable with ==."""
    snapshot = {}
    for record in read_records(records_dir(run_dir, task_name), load_arrays=True):
        arrays = {name: array.tolist() for name, array in sorted(record.arrays.items())}
        snapshot[record.doc_id] = (record.output, record.scores, record.error, arrays)
    return snapshot


def results_of(run_dir: Path) -> dict[str, Any]:
    """The `tasks` section of a run's results.json."""
    return json.loads((Path(run_dir) / "results.json").read_text())["tasks"]


def metrics_of(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every task's metrics in a run's results.json."""
    return {name: entry["metrics"] for name, entry in results_of(run_dir).items()}


# A tqdm bar as a terminal shows it: "task:  50%|#####     | 1/2 [00:01<00:01,  1.5doc/s]".
_PROGRESS = re.compile(r"^[^\[]*\[\d\d:\d\d(<[\d:?]+)?(, [^\]]*)?\]")
_LOG = re.compile(r"^(DEBUG|INFO|WARNING) [\w.]+: ")


def message_lines(stderr: str) -> list[str]:
    """What stderr says besides log records and progress bars (a log record may follow a bar on its line)."""
    lines = []
    for line in stderr.split("\n"):
        shown = line.rsplit("\r", 1)[-1].strip()  # a bar's last redraw
        if not shown.startswith("error: "):
            shown = _PROGRESS.sub("", shown).strip()
        if shown and not _LOG.match(shown):
            lines.append(shown)
    return lines


def is_one_line_error(stderr: str) -> bool:
    """True when stderr holds no traceback and its only message is one `error: ...` line."""
    lines = message_lines(stderr)
    return "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("error: ")


def pickled_weights(folder: Path) -> dict:
    """The tiny checkpoint's tensors, safetensors shards and index removed from `folder` (a copy of it)."""
    shutil.copytree(tiny.cached_folder(), folder)
    weights = {}
    for shard in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(shard))
        shard.unlink()
    (folder / "model.safetensors.index.json").unlink()
    return weights
