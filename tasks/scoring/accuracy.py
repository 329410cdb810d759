"""Accuracy aggregation shared by the understanding tasks: percent, errors as wrong, breakdowns.

Per-document scores are raw (0/1 or the VQA fraction); aggregates are percent (0-100). An error record
(record.error set, scores empty) counts as a wrong answer in every overall accuracy, and is left out of
a breakdown whose key it does not carry.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from evals.run.records import Record

NUM_ERRORS = "num_errors"


def percent(values: Sequence[float]) -> float:
    """100 x the mean of `values` (math.fsum, so the order of records does not change the digits); NaN if empty."""
    if not values:
        return float("nan")
    return 100.0 * math.fsum(values) / len(values)


def scored(records: Iterable[Record]) -> list[Record]:
    """The records that hold scores (no error)."""
    return [r for r in records if r.error is None]


def num_errors(records: Iterable[Record]) -> int:
    """How many records are errors."""
    return sum(1 for r in records if r.error is not None)


def overall_accuracy(records: Sequence[Record], key: str) -> float:
    """Percent of score `key` over every record, an error record counting 0."""
    return percent([float(r.scores[key]) if r.error is None else 0.0 for r in records])


def breakdown(records: Sequence[Record], group_key: str, score_key: str, prefix: str) -> dict[str, float]:
    """`{prefix}:{group}` -> percent of `score_key` within each value of scores[group_key]."""
    groups: dict[str, list[float]] = defaultdict(list)
    for record in scored(records):
        group = record.scores.get(group_key)
        if group is not None:
            groups[str(group)].append(float(record.scores[score_key]))
    return {f"{prefix}:{group}": percent(values) for group, values in sorted(groups.items())}


def sort_by_doc_id(records: Sequence[Record]) -> list[Record]:
    """Records in a canonical order (numeric ids numerically), so artefacts do not depend on shards."""
    def key(record: Record):
        return (0, int(record.doc_id), "") if record.doc_id.lstrip("-").isdigit() else (1, 0, record.doc_id)
    return sorted(records, key=key)
