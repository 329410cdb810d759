"""Leaderboards: one row per run folder, one column per task metric, rendered as md, csv, LaTeX or HTML."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evals.errors import HarnessError
from evals.run.run_folder import RESULTS_FILE, read_json

FORMATS = ("md", "csv", "latex", "html")
MODEL_COLUMN = "model"
DATA_COLUMN = "data"


def run_row(results: dict[str, Any]) -> dict[str, Any]:
    """One leaderboard row from a results.json: model, data, then `task/metric` cells."""
    run = results.get("run", {})
    model = (run.get("model") or {}).get("id", "?")
    row: dict[str, Any] = {MODEL_COLUMN: model, DATA_COLUMN: "demo" if run.get("demo") else run.get("data", "")}
    for task, entry in results.get("tasks", {}).items():
        for metric, value in entry.get("metrics", {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[f"{task}/{metric}"] = value
        row.setdefault(f"{task}/num_errors", entry.get("num_errors", 0))
    for group, entry in results.get("groups", {}).items():
        for metric, value in entry.get("metrics", {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[f"{group}/{metric}"] = value
    return row


def leaderboard(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """The table of several runs: index = run folder name, columns = model, data, task/metric."""
    rows, names = [], []
    for run_dir in run_dirs:
        path = Path(run_dir) / RESULTS_FILE
        if not path.exists():
            raise HarnessError(f"{run_dir} has no {RESULTS_FILE}; finish the run (or pass a run folder)")
        rows.append(run_row(read_json(path)))
        names.append(Path(run_dir).resolve().name)
    frame = pd.DataFrame(rows, index=pd.Index(names, name="run"))
    for column in frame.columns:
        # Integer columns stay integers (error counts) even where a run lacks the task.
        present = [row[column] for row in rows if column in row]
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            frame[column] = frame[column].astype("Int64")
    fixed = [c for c in (MODEL_COLUMN, DATA_COLUMN) if c in frame.columns]
    return frame[fixed + sorted(c for c in frame.columns if c not in fixed)]


def format_cell(value: Any) -> str:
    """Integers as they are, other numbers to two decimals, missing as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _cells(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header (index name first) and formatted body of a frame."""
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    body = [
        [str(name)] + [format_cell(v) for v in row]
        for name, row in zip(frame.index, frame.astype(object).itertuples(index=False))
    ]
    return header, body


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table."""
    header, body = _cells(frame)
    escape = lambda s: s.replace("|", "\\|")  # noqa: E731 - one-use cell escape
    lines = ["| " + " | ".join(map(escape, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(escape, row)) + " |" for row in body]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX tabular cell."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_latex(frame: pd.DataFrame) -> str:
    """A booktabs tabular, ready to paste."""
    header, body = _cells(frame)
    spec = "l" * 3 + "r" * (len(header) - 3) if len(header) >= 3 else "l" * len(header)
    lines = [f"\\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(map(latex_escape, header)) + r" \\", r"\midrule"]
    lines += [" & ".join(map(latex_escape, row)) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The frame as text in one of FORMATS."""
    if fmt == "md":
        return to_markdown(frame)
    if fmt == "csv":
        return frame.to_csv()
    if fmt == "latex":
        return to_latex(frame)
    if fmt == "html":
        return frame.to_html(na_rep="", float_format=lambda v: f"{v:.2f}") + "\n"
    raise HarnessError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")


def summary_frame(results: dict[str, Any]) -> pd.DataFrame:
    """One row per task (and group) of one run: primary metric, its value, documents, errors."""
    rows = []
    for name, entry in results.get("tasks", {}).items():
        metric = entry.get("primary_metric")
        rows.append(
            {
                "task": name,
                "metric": metric or "",
                "value": entry.get("metrics", {}).get(metric) if metric else None,
                "docs": entry.get("num_docs"),
                "errors": entry.get("num_errors"),
            }
        )
    for name, entry in results.get("groups", {}).items():
        metrics = entry.get("metrics", {})
        metric = next((m for m in ("accuracy", *metrics) if m in metrics), "")
        rows.append(
            {
                "task": f"{name} (group)",
                "metric": metric,
                "value": metrics.get(metric),
                "docs": entry.get("num_docs"),
                "errors": entry.get("num_errors"),
            }
        )
    frame = pd.DataFrame(rows, columns=["task", "metric", "value", "docs", "errors"]).set_index("task")
    return frame.astype(object)
