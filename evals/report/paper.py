"""The paper's published numbers, and tables that put measured runs beside them.

The numbers live in data files under ``results/paper/`` (one JSON file per paper table, schema
``vargpt-evals/paper-table/1``, described in ``results/paper/README.md``); nothing in the code
holds a published number. Each file maps its columns to a task and metric of this harness, so a
run's ``results.json`` fills the measured cells; a column whose task the run did not measure, or
that no task of this harness measures, stays empty.

A comparison table has, per paper table: the published rows, one measured row per run, and one
difference row per run (measured minus the file's ``reference_row``, or the row named by
``versus``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from evals.errors import HarnessError

PAPER_SCHEMA = "vargpt-evals/paper-table/1"
PAPER_DIR = Path(__file__).resolve().parents[2] / "results" / "paper"
# Tables in the order they are printed; each is PAPER_DIR/<name>.json.
PAPER_TABLES = ("understanding", "imagenet256")

RowKind = Literal["published", "measured", "difference"]
TableFormat = Literal["md", "csv", "latex", "html"]
TABLE_FORMATS: tuple[str, ...] = ("md", "csv", "latex", "html")
KIND_COLUMN = "kind"
# What a measured cell says when it has no number (explained under the table).
NO_TASK, NOT_RUN, NO_VALUE = "no task", "not run", "no value"


class PaperDataError(HarnessError):
    """A paper data file is missing or malformed, or a run folder cannot be read."""


@dataclass(frozen=True)
class PaperSource:
    """Where the numbers of one column come from: paper, arXiv id and version, table."""

    key: str
    paper: str
    arxiv: str
    version: str
    table: str
    url: str
    caption: str = ""
    retrieved_via: str = ""

    def cite(self) -> str:
        """A one-line citation, e.g. 'arXiv 2504.02949 v1, Table 2'."""
        return f"arXiv {self.arxiv} {self.version}, {self.table}"


@dataclass(frozen=True)
class PaperColumn:
    """One paper column and the harness task/metric that measures it (None: not measured here)."""

    key: str
    label: str
    source: str
    unit: str
    split: str
    task: str | None
    metric: str | None
    scale: float = 1.0  # measured value x scale = the paper's unit
    higher_is_better: bool = True
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedValue:
    """A published number as printed (``text``), parsed (``value``), with its printed decimals."""

    text: str
    value: float
    decimals: int


@dataclass(frozen=True)
class PaperRow:
    """One published row: a model and its numbers by column key."""

    model: str
    description: str
    values: dict[str, PublishedValue]
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaperTable:
    """One paper table: its sources, columns (with the task mapping) and published rows."""

    name: str
    title: str
    reference_row: str
    sources: dict[str, PaperSource]
    columns: tuple[PaperColumn, ...]
    rows: tuple[PaperRow, ...]
    notes: tuple[str, ...] = ()

    def row(self, model: str) -> PaperRow:
        """The published row of ``model``; raises PaperDataError naming the known rows."""
        for row in self.rows:
            if row.model == model:
                return row
        known = ", ".join(repr(r.model) for r in self.rows)
        raise PaperDataError(f"paper table {self.name!r} has no row {model!r} (rows: {known})")


@dataclass(frozen=True)
class MeasuredRun:
    """The parts of a run's results.json the paper tables use."""

    label: str
    run_dir: Path
    demo: bool
    metrics: dict[str, dict[str, float]]  # task -> metric -> value

    def value(self, column: PaperColumn) -> float | None:
        """The measured value of a paper column in the paper's unit, or None when not measured."""
        if column.task is None or column.metric is None:
            return None
        value = self.metrics.get(column.task, {}).get(column.metric)
        if value is None or not _is_number(value):
            return None
        return float(value) * column.scale

    def absence(self, column: PaperColumn) -> str:
        """Why a column has no measured value in this run ("" when it has one): no task, not run, no value."""
        if column.task is None or column.metric is None:
            return NO_TASK
        if column.task not in self.metrics:
            return NOT_RUN
        return "" if self.value(column) is not None else NO_VALUE


# -- loading ------------------------------------------------------------------------------------
def parse_published_value(text: str, where: str) -> PublishedValue:
    """'12.30' -> PublishedValue(text='12.30', value=12.3, decimals=2); rejects non-numbers."""
    if not isinstance(text, str):
        raise PaperDataError(f'{where}: published values are strings as printed (e.g. "12.30"), got {text!r}')
    try:
        value = float(text)
    except ValueError:
        raise PaperDataError(f"{where}: {text!r} is not a number") from None
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    return PublishedValue(text=text, value=value, decimals=decimals)


def paper_table_from_dict(data: dict[str, Any], where: str) -> PaperTable:
    """Validate one paper data file's content and build the PaperTable."""
    if data.get("schema") != PAPER_SCHEMA:
        raise PaperDataError(f"{where}: schema is {data.get('schema')!r}, expected {PAPER_SCHEMA!r}")
    try:
        sources = {key: PaperSource(key=key, **fields) for key, fields in data["sources"].items()}
        columns = tuple(PaperColumn(**{**col, "caveats": tuple(col.get("caveats", ()))}) for col in data["columns"])
        keys = [c.key for c in columns]
        if len(set(keys)) != len(keys):
            raise PaperDataError(f"{where}: duplicate column keys in {keys}")
        for col in columns:
            if col.source not in sources:
                raise PaperDataError(f"{where}: column {col.key!r} cites unknown source {col.source!r}")
            if (col.task is None) != (col.metric is None):
                raise PaperDataError(f"{where}: column {col.key!r} needs both task and metric, or neither")
        rows = []
        for row in data["rows"]:
            unknown = sorted(set(row["values"]) - set(keys))
            if unknown:
                raise PaperDataError(f"{where}: row {row['model']!r} has values for unknown columns {unknown}")
            values = {
                key: parse_published_value(text, f"{where}: row {row['model']!r} column {key!r}")
                for key, text in row["values"].items()
            }
            rows.append(
                PaperRow(
                    model=row["model"],
                    description=row.get("description", ""),
                    values=values,
                    caveats=tuple(row.get("caveats", ())),
                )
            )
        table = PaperTable(
            name=data["table"],
            title=data["title"],
            reference_row=data["reference_row"],
            sources=sources,
            columns=columns,
            rows=tuple(rows),
            notes=tuple(data.get("notes", ())),
        )
    except (KeyError, TypeError) as exc:
        raise PaperDataError(f"{where}: malformed paper data ({type(exc).__name__}: {exc})") from None
    table.row(table.reference_row)  # the reference row must exist
    return table


def load_paper_table(path: Path) -> PaperTable:
    """Read and validate one paper data file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PaperDataError(
            f"paper data file {path} not found; pass --paper-dir with the results/paper folder"
        ) from None
    except json.JSONDecodeError as exc:
        raise PaperDataError(f"paper data file {path} is not valid JSON: {exc}") from None
    return paper_table_from_dict(data, str(path))


def load_paper_tables(paper_dir: Path = PAPER_DIR) -> list[PaperTable]:
    """Every paper table of PAPER_TABLES, in print order."""
    return [load_paper_table(Path(paper_dir) / f"{name}.json") for name in PAPER_TABLES]


def load_measured_run(run_dir: Path) -> MeasuredRun:
    """The metrics of one run folder's results.json, labelled by model (and 'demo' for demo runs)."""
    path = Path(run_dir) / "results.json"
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise PaperDataError(f"{path} not found; is {run_dir} a finished run folder?") from None
    except json.JSONDecodeError as exc:
        raise PaperDataError(f"{path} is not valid JSON: {exc}") from None
    run = results.get("run", {})
    demo = bool(run.get("demo", False))
    metrics = {task: dict(entry.get("metrics", {})) for task, entry in results.get("tasks", {}).items()}
    return MeasuredRun(
        label=run_label(run, Path(run_dir)),
        run_dir=Path(run_dir),
        demo=demo,
        metrics=metrics,
    )


def run_label(run: dict[str, Any], run_dir: Path) -> str:
    """'<model> (<run folder name>[, demo])': the model as describe() names it, else the folder."""
    model = run.get("model") or {}
    name = next(
        (str(model[k]) for k in ("name", "model_id", "id", "path") if model.get(k)),
        None,
    )
    suffix = f"{run_dir.name}, demo" if run.get("demo") else run_dir.name
    return f"{name} ({suffix})" if name else f"{suffix}"


# -- the comparison table -----------------------------------------------------------------------
def comparison_frame(table: PaperTable, runs: Sequence[MeasuredRun], versus: str | None = None) -> pd.DataFrame:
    """Published rows, then per run a measured row and a difference row (measured - ``versus``).

    Cells are floats (NaN where empty); the index is the row label; column ``kind`` says
    published / measured / difference. Differences are empty where either side is.
    """
    reference = table.row(versus or table.reference_row)
    labels = [c.label for c in table.columns]
    index: list[str] = []
    kinds: list[RowKind] = []
    cells: list[list[float]] = []
    for row in table.rows:
        index.append(row.model)
        kinds.append("published")
        cells.append([row.values[c.key].value if c.key in row.values else math.nan for c in table.columns])
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
        label = run.label if seen[run.label] == 1 else f"{run.label} #{seen[run.label]}"  # unique row labels
        measured = [_nan_if_none(run.value(c)) for c in table.columns]
        published = [reference.values[c.key].value if c.key in reference.values else math.nan for c in table.columns]
        index.append(f"{label} [measured]")
        kinds.append("measured")
        cells.append(measured)
        index.append(f"{label} - {reference.model}")
        kinds.append("difference")
        cells.append([m - p for m, p in zip(measured, published)])  # NaN propagates: empty stays empty
    frame = pd.DataFrame(cells, index=pd.Index(index, name="model"), columns=labels, dtype=float)
    frame.insert(0, KIND_COLUMN, kinds)
    return frame


def column_decimals(table: PaperTable) -> dict[str, int]:
    """Decimals for measured and difference cells per column label: the paper's most, at least 2."""
    decimals = {}
    for col in table.columns:
        printed = [row.values[col.key].decimals for row in table.rows if col.key in row.values]
        decimals[col.label] = max(printed + [2])
    return decimals


def format_frame(frame: pd.DataFrame, table: PaperTable, runs: Sequence[MeasuredRun] = ()) -> pd.DataFrame:
    """Strings for printing: published cells as printed, measured/difference at the column's decimals.

    With the frame's runs (in order), an empty measured cell says why: "no task", "not run" or "no value".
    """
    decimals = column_decimals(table)
    text = frame.copy().astype(object)
    measured_runs = iter(runs)
    for label, row in frame.iterrows():
        kind = row[KIND_COLUMN]
        published = next((r for r in table.rows if r.model == label), None) if kind == "published" else None
        run = next(measured_runs, None) if kind == "measured" else None
        for col in table.columns:
            value = row[col.label]
            if kind == "published" and published is not None and col.key in published.values:
                text.at[label, col.label] = published.values[col.key].text
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                text.at[label, col.label] = run.absence(col) if run is not None else ""
            elif kind == "difference":
                text.at[label, col.label] = f"{value:+.{decimals[col.label]}f}"
            else:
                text.at[label, col.label] = f"{value:.{decimals[col.label]}f}"
    return text


def table_footnotes(table: PaperTable, runs: Sequence[MeasuredRun], versus: str | None = None) -> list[str]:
    """Sources, the column-to-task mapping with splits and caveats, row caveats, and run notes."""
    lines = ["Sources: " + "; ".join(f"{s.key}: {s.paper} ({s.cite()}, {s.url})" for s in table.sources.values())]
    lines += list(table.notes)
    for col in table.columns:
        measured_by = f"{col.task}/{col.metric}" if col.task else "not measured by this harness"
        caveats = (" Caveats: " + " ".join(col.caveats)) if col.caveats else ""
        lines.append(
            f"{col.label} [{table.sources[col.source].cite()}; {col.unit}]: {col.split}. "
            f"Measured as {measured_by}.{caveats}"
        )
    for row in table.rows:
        for caveat in row.caveats:
            lines.append(f"{row.model}: {caveat}")
    lines.append(f"Difference rows: measured minus the published {versus or table.reference_row!r} row.")
    if runs:
        lines.append(f"Measured cells without a number: {NOT_RUN!r} (the run has no results for the column's task), "
                     f"{NO_VALUE!r} (the task ran, its metric is missing or not a number), {NO_TASK!r} (no task of "
                     "this harness measures the column).")
    if any(run.demo for run in runs):
        lines.append(
            "Demo runs use the bundled demo slices (and usually the tiny random-weights model): "
            "their numbers only exercise the pipeline and are not comparable with the paper."
        )
    return lines


def render_table(
    table: PaperTable,
    runs: Sequence[MeasuredRun],
    fmt: TableFormat = "md",
    versus: str | None = None,
) -> str:
    """One paper table with the runs beside it, rendered as md, csv, latex or html."""
    text = format_frame(comparison_frame(table, runs, versus), table, runs)
    notes = table_footnotes(table, runs, versus)
    if fmt == "md":
        return "\n".join([f"### {table.title}", "", frame_to_markdown(text), ""] + [f"- {n}" for n in notes]) + "\n"
    if fmt == "csv":
        return f"# {table.title}\n" + text.to_csv()
    if fmt == "latex":
        flat = text.reset_index()
        body = flat.to_latex(index=False, escape=True, column_format="ll" + "r" * (len(flat.columns) - 2))
        return "\n".join([f"% {table.title}"] + [f"% {n}" for n in notes] + [body])
    if fmt == "html":
        return (
            f"<h3>{_html_escape(table.title)}</h3>\n"
            + text.reset_index().to_html(index=False, border=0)
            + "\n<ul>\n"
            + "".join(f"<li>{_html_escape(n)}</li>\n" for n in notes)
            + "</ul>\n"
        )
    raise PaperDataError(f"unknown table format {fmt!r}; choose one of {', '.join(TABLE_FORMATS)}")


def render_paper_tables(
    tables: Sequence[PaperTable],
    runs: Sequence[MeasuredRun],
    fmt: TableFormat = "md",
    versus: str | None = None,
) -> str:
    """Every paper table rendered one after the other (``versus`` applies where the table has that row)."""
    parts = []
    for table in tables:
        row = versus if versus and any(r.model == versus for r in table.rows) else None
        parts.append(render_table(table, runs, fmt, row))
    if versus and not any(any(r.model == versus for r in t.rows) for t in tables):
        known = ", ".join(repr(r.model) for t in tables for r in t.rows)
        raise PaperDataError(f"no paper table has a row {versus!r} (rows: {known})")
    return "\n".join(parts)


def frame_to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a string frame (index first), without extra dependencies."""
    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for label, row in frame.iterrows():
        cells = [str(label)] + [str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value
