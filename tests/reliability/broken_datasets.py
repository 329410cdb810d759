"""Broken copies of the bundled demo slices, in the hub datasets' real schema, for `--data DIR`.

`broken_copy` copies one dataset folder of tasks/demo (a hub snapshot: README.md `configs:` block plus
parquet files) under DIR/<hub id> and rewrites one split's parquet with some rows edited, keeping the
Arrow schema and its `datasets` feature metadata, so the harness reads it exactly as a real copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.data.datasets_io import DEMO_DIR

UNDECODABLE_IMAGE = {"bytes": b"\x89PNG\r\n\x1a\n this is not an image", "path": None}

RowsEdit = Callable[[list[dict]], list[dict]]


def broken_copy(data_dir: Path, hub_id: str, config: str, split: str, edit: RowsEdit) -> Path:
    """Copy demo dataset `hub_id` into `data_dir` and apply `edit` to the rows of `config`/`split`; returns the copy."""
    target = data_dir / hub_id
    if not target.exists():
        shutil.copytree(DEMO_DIR / hub_id, target)
    (parquet,) = sorted((target / config).glob(f"{split}-*.parquet"))
    table = pq.read_table(parquet)
    rows = edit(table.to_pylist())
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), parquet)
    return target


def edit_rows(changes: dict[int, dict]) -> RowsEdit:
    """An edit that updates the fields of the rows at the given positions."""

    def apply(rows: list[dict]) -> list[dict]:
        for index, fields in changes.items():
            rows[index].update(fields)
        return rows

    return apply


def duplicate_row(index: int) -> RowsEdit:
    """An edit that appends a copy of one row (its document id then occurs twice)."""
    return lambda rows: [*rows, dict(rows[index])]
