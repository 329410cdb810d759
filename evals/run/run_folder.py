"""The run folder: its default name, run.json, and the refusal to mix runs with different fingerprints."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evals.config import RunConfig, fingerprint_hash, fingerprint_mismatch
from evals.errors import HarnessError
from evals.run.lock import LOCK_NAME
from evals.run.records import RECORDS_DIR

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
RUNS_ROOT = Path("results") / "runs"


class RunFolderMismatch(HarnessError):
    """The output folder holds a run made with other settings, or is not a run folder."""


def now_iso() -> str:
    """The local time with offset, seconds precision."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def default_output(model: str, today: dt.date | None = None) -> Path:
    """results/runs/<date>-<model>, the model id made safe for a folder name."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", Path(model).name if os.path.isdir(model) else model).strip("_")
    return RUNS_ROOT / f"{(today or dt.date.today()).isoformat()}-{name or 'model'}"


def write_json_atomic(path: Path, values: Any) -> None:
    """Write JSON through a temporary file and a rename, so a kill never leaves half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(values, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(partial, path)


def read_json(path: Path) -> Any:
    """A JSON file, or a one-line error naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HarnessError(f"{path} does not exist") from None
    except (OSError, ValueError) as error:
        raise HarnessError(f"{path} is not readable JSON ({error})") from None


def _is_run_folder(run_dir: Path) -> bool:
    """True for an empty folder or one this harness wrote (run.json or records/)."""
    entries = {p.name for p in run_dir.iterdir()} - {LOCK_NAME}
    return not entries or RUN_FILE in entries or RECORDS_DIR in entries


def clear_run_folder(run_dir: Path) -> None:
    """Delete a run folder's contents except the lock this process holds (--overwrite)."""
    for entry in run_dir.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def open_run_folder(run_dir: Path, print_: Mapping[str, Any], config: RunConfig) -> dict[str, Any]:
    """Check (or start) run.json for this fingerprint; returns the run.json written.

    The caller holds the folder's lock. A folder made with another model, seed, generation settings,
    data kind or task protocol is refused unless --overwrite, which clears it first. New tasks join.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if not _is_run_folder(run_dir):
        raise RunFolderMismatch(
            f"--output {run_dir} is a non-empty folder that is not a run folder; choose another --output"
        )
    run_file = run_dir / RUN_FILE
    if config.overwrite:
        clear_run_folder(run_dir)
    previous = read_json(run_file) if run_file.exists() else None
    merged = dict(print_)
    if previous is not None:
        old = previous.get("fingerprint", {})
        problem = fingerprint_mismatch(old, print_)
        if problem:
            raise RunFolderMismatch(
                f"run folder {run_dir} was made with other settings: {problem}; "
                "use another --output, or --overwrite to start it afresh"
            )
        merged["tasks"] = {**old.get("tasks", {}), **print_.get("tasks", {})}
    if previous is None and (run_dir / RECORDS_DIR).exists():
        raise RunFolderMismatch(
            f"run folder {run_dir} has records but no {RUN_FILE}; use --overwrite or another --output"
        )
    values = {
        "fingerprint": merged,
        "fingerprint_hash": fingerprint_hash(merged),
        "config": config.to_json(),
        "created": previous.get("created") if previous else now_iso(),
        "updated": now_iso(),
        "argv": sys.argv,
    }
    write_json_atomic(run_file, values)
    return values
