"""`evals score`: score a file of existing predictions with a task's scorer, no model involved."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.run.batch_loader import describe_error
from evals.errors import HarnessError
from evals.run.plan import doc_ids_of
from evals.run.records import Record
from evals.run.runner import request_target, request_text
from evals.run.sharding import doc_seed
from evals.task_api import DataSource, Task


class PredictionsFileError(HarnessError):
    """A predictions file that is missing, malformed at a line, or names unknown documents."""


def read_predictions(path: Path) -> dict[str, Any]:
    """{doc_id: prediction} from JSONL rows {"doc_id", "prediction"}; a bad line names its number."""
    try:
        handle = open(path, "rb")  # decoded line by line, so an undecodable byte names its line
    except OSError as error:
        raise PredictionsFileError(f"cannot read predictions file {path}: {error.strerror or error}") from None
    predictions: dict[str, Any] = {}
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise PredictionsFileError(
                    f"{path}:{number}: not UTF-8 text ({error.reason} at byte {error.start} of the line)"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise PredictionsFileError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict) or "doc_id" not in row or "prediction" not in row:
                raise PredictionsFileError(f'{path}:{number}: expected an object with "doc_id" and "prediction"')
            doc_id = str(row["doc_id"])
            if doc_id in predictions:
                raise PredictionsFileError(f"{path}:{number}: doc_id {doc_id!r} appears a second time")
            predictions[doc_id] = row["prediction"]
    if not predictions:
        raise PredictionsFileError(f"{path} holds no predictions")
    return predictions


def score_predictions(task: Task, source: DataSource, predictions: dict[str, Any]) -> dict[str, Any]:
    """The task's metrics over the documents the predictions cover (dataset order); null = error record."""
    if task.kind == "image":
        raise PredictionsFileError(f"task {task.name!r} scores generated images; `score` takes text predictions only")
    docs = task.load_docs(source)
    ids = doc_ids_of(task, docs, len(docs))
    known = set(ids)
    unknown = [d for d in predictions if d not in known]
    if unknown:
        raise PredictionsFileError(
            f"{len(unknown)} predictions name documents not in task {task.name!r} (first: {unknown[0]!r}); "
            "doc_id must be the dataset's own id"
        )
    records: list[Record] = []
    for index, doc_id in enumerate(ids):
        if doc_id not in predictions:
            continue
        records.append(record_for(task, doc_id, docs[index], predictions[doc_id]))
    return dict(task.aggregate(records))


def record_for(task: Task, doc_id: str, doc: Any, prediction: Any) -> Record:
    """The record the run would have written for this prediction (prompt and target from the request)."""
    try:
        request = task.build_request(doc, doc_seed(0, task.name, doc_id))
    except Exception as error:  # the run records a malformed document as an error too
        return Record(task=task.name, doc_id=doc_id, error=f"bad document: {describe_error(error)}")
    record = Record(task=task.name, doc_id=doc_id, prompt=request_text(request), target=request_target(request))
    if prediction is None:
        record.error = "no prediction"
        return record
    record.output = prediction
    try:
        record.scores = dict(task.score(doc, prediction))
    except Exception as error:  # the run records a scorer failure the same way
        record.error = f"scoring failed: {describe_error(error)}"
    return record


def predictions_from_records(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Rows {"doc_id", "prediction"} of a run's records (errors as null), the input `score` takes."""
    return [{"doc_id": r.doc_id, "prediction": r.output if r.ok else None} for r in records]
