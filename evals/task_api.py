"""The task plugin API: what a benchmark declares so the runner can evaluate it.

A task turns dataset documents into requests, scores each output purely, and aggregates the
per-document scores into metrics. Tasks never touch the model; they register under the
entry-point group ``vargpt_evals.tasks`` (value: a Task instance or a list of them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence

from evals.run.records import Record
from evals.requests import Request

TaskKind = Literal["text", "choice", "image"]


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's documents live on the hub, and which split is scored."""

    hub_id: str
    split: str
    revision: str | None = None  # pinned commit; None only where no revision is known
    config: str | None = None
    mirrors: tuple[str, ...] = ()  # other hub ids holding the same files (lmms-lab-encoder/*)


@dataclass(frozen=True)
class DataSource:
    """Where this run reads datasets from: the hub, the bundled demo slices, or a local folder."""

    kind: Literal["hub", "demo", "local"] = "hub"
    path: Path | None = None  # for "local": a folder with one copy per dataset id (DIR/lmms-lab/GQA)

    @classmethod
    def parse(cls, value: str) -> "DataSource":
        """`hub`, `demo`, or a folder path."""
        if value in ("hub", "demo"):
            return cls(kind=value)
        return cls(kind="local", path=Path(value))


class TaskOptionError(ValueError):
    """An unknown or malformed task option (from --gen-kwargs)."""


@dataclass(frozen=True)
class Task:
    """Base class of every task; subclasses override the document-level methods.

    Options (from ``--gen-kwargs``) live in ``options``; ``with_options`` validates them against
    ``default_options`` and returns a configured copy, so a Task instance is immutable.
    """

    name: str
    kind: TaskKind
    dataset: DatasetSpec
    version: str = "1"
    aliases: tuple[str, ...] = ()
    group: str | None = None
    tags: tuple[str, ...] = ()  # selection-only groups (e.g. `paper`); a task may carry several
    primary_metric: str | None = None  # None for submission-only tasks
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    default_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # False where the documents ship with the package (nothing for `evals prefetch` to download); a class
    # attribute, not a field, so that it stays out of protocol() and the run fingerprint.
    reads_hub_dataset: ClassVar[bool] = True

    # -- configuration -------------------------------------------------------------------------
    def with_options(self, overrides: dict[str, str]) -> "Task":
        """A copy with --gen-kwargs applied; unknown keys raise TaskOptionError."""
        unknown = sorted(set(overrides) - set(self.default_options))
        if unknown:
            known = ", ".join(sorted(self.default_options)) or "none"
            raise TaskOptionError(f"task {self.name!r} has no option {unknown[0]!r} (options: {known})")
        merged = dict(self.default_options)
        merged.update(self.options)
        for key, raw in overrides.items():
            merged[key] = _coerce_like(raw, self.default_options[key], key, self.name)
        return dataclasses.replace(self, options=merged)

    def option(self, key: str) -> Any:
        """The configured value of one option (its default when not overridden)."""
        return self.options.get(key, self.default_options[key])

    def protocol(self) -> dict[str, Any]:
        """Everything that decides the numbers: recorded in results.json."""
        return {
            "task": self.name,
            "version": self.version,
            "dataset": dataclasses.asdict(self.dataset),
            "options": {k: self.option(k) for k in sorted(self.default_options)},
        }

    def records_protocol(self) -> dict[str, Any]:
        """The part of protocol() that decides per-document records: the run fingerprint, which a resumed
        run must match. Override to leave out options used only by aggregate() (e.g. an FID reference),
        so that changing them re-aggregates the kept records instead of refusing the folder."""
        return self.protocol()

    def prepare(self, source: DataSource) -> None:
        """Check (and fetch) what scoring and aggregation need, once per run before any document is generated.

        Raise a HarnessError to stop the run with one line (missing weights, a malformed reference file);
        nothing by default.
        """

    # -- documents -----------------------------------------------------------------------------
    def load_docs(self, source: DataSource) -> Sequence[dict]:
        """The scored split as an indexable sequence of documents; images decode lazily."""
        raise NotImplementedError

    def doc_id(self, doc: dict) -> str:
        """A stable id for one document (the dataset's own id, as a string)."""
        raise NotImplementedError

    def build_request(self, doc: dict, seed: int) -> Request:
        """The request for one document; raises KeyError/ValueError on a malformed document."""
        raise NotImplementedError

    # -- scoring -------------------------------------------------------------------------------
    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        """Per-document scores of one output (str, list of choice log-likelihoods, or image)."""
        raise NotImplementedError

    def score_batch(self, docs: Sequence[dict], outputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Scores of a batch; override when scoring is batched (e.g. Inception features).

        A numpy array among the returned values is stored in the worker's .npy shard, not the JSONL.
        """
        return [self.score(doc, out) for doc, out in zip(docs, outputs)]

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        """Metrics from the deduplicated records of every shard (error records included)."""
        raise NotImplementedError

    def primary_metric_name(self, metrics: Mapping[str, float]) -> str | None:
        """The name aggregate() gave the primary metric in `metrics`; override where it renames metrics."""
        return self.primary_metric

    def write_artifacts(self, records: Sequence[Record], out_dir: Path) -> list[Path]:
        """Extra files after aggregation (submission files, sample grids); none by default."""
        return []

    def aggregate_group(self, records_by_task: Mapping[str, Sequence[Record]]) -> dict[str, float]:
        """Metrics pooled over this task's group (every member's records in the run, by task name); none by default.

        Called once per group, on its first member in the run, when the group has two or more members.
        """
        return {}

    def prefetch_extras(self) -> list[str]:
        """Download what the task needs besides its dataset (weights, reference files); returns what and where."""
        return []


def _coerce_like(raw: Any, default: Any, key: str, task: str) -> Any:
    """Parse a --gen-kwargs string to the type of the option's default."""
    if not isinstance(raw, str) or default is None or isinstance(default, str):
        return raw
    try:
        if isinstance(default, bool):
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return lowered in ("true", "1")
        return type(default)(raw)
    except ValueError:
        kind = type(default).__name__
        raise TaskOptionError(f"option {key}={raw!r} of task {task!r} is not a valid {kind}") from None
