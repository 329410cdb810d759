"""PNG plots written into a run folder: measured against published, and per-category bars.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, so no global backend or state
is touched). Files go to ``RUN_DIR/plots/``:
- ``paper_<table>.png``: one panel per paper column the run measured, bars for each published
  row and for the run;
- ``<task>_<key>.png``: per-category accuracies from a task's breakdown metrics ``<key>:<label>``
  (MMBench ``category`` and ``l2_category``, SEED-Bench ``question_type``: CATEGORY_BREAKDOWNS).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evals.report.paper import MeasuredRun, PaperTable

PLOTS_DIR = "plots"
# (task, breakdown key, overall metric): tasks/mmbench.py aggregate() reports `category:<label>` and
# `l2_category:<label>`, tasks/seed.py `question_type:<name>` (tasks/scoring/accuracy.py breakdown naming).
CATEGORY_BREAKDOWNS: tuple[tuple[str, str, str], ...] = (
    ("mmbench_en_dev", "category", "accuracy"),
    ("mmbench_en_dev", "l2_category", "accuracy"),
    ("seed_image", "question_type", "accuracy"),
)
PUBLISHED_COLOR = "#9e9e9e"
MEASURED_COLOR = "#1f77b4"


def plot_measured_vs_published(table: PaperTable, run: MeasuredRun, out_dir: Path) -> Path | None:
    """One panel per measured paper column: the published rows' bars and the run's; None if nothing measured."""
    columns = [c for c in table.columns if run.value(c) is not None]
    if not columns:
        return None
    ncols = min(4, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = Figure(figsize=(max(6.4, 3.2 * ncols), 2.8 * nrows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    labels = [r.model for r in table.rows] + ["measured"]
    colors = [PUBLISHED_COLOR] * len(table.rows) + [MEASURED_COLOR]
    for i, col in enumerate(columns):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        values = [r.values[col.key].value if col.key in r.values else math.nan for r in table.rows]
        texts = [r.values[col.key].text if col.key in r.values else "" for r in table.rows]
        measured = run.value(col)
        values.append(measured)
        texts.append(f"{measured:.2f}")
        bars = ax.bar(range(len(values)), values, color=colors)
        ax.bar_label(bars, labels=texts, fontsize=7)
        ax.set_xticks(range(len(values)), labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(f"{col.label} ({col.task}/{col.metric})", fontsize=8)
        ax.set_ylabel(col.unit, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    demo = "\ndemo run: not comparable with the paper" if run.demo else ""
    fig.suptitle(f"{run.label}: measured vs published ({table.name}){demo}", fontsize=9)
    return _save(fig, out_dir / f"paper_{table.name}.png")


def category_values(metrics: Mapping[str, float], key: str) -> dict[str, float]:
    """The breakdown metrics named ``<key>:<label>``, keyed by label, in reported order."""
    prefix = f"{key}:"
    return {
        name[len(prefix) :]: float(value)
        for name, value in metrics.items()
        if name.startswith(prefix) and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def plot_categories(
    name: str,
    values: Mapping[str, float],
    title: str,
    out_dir: Path,
    overall: float | None = None,
) -> Path | None:
    """Horizontal bars of per-category accuracy (percent); None when there are no categories."""
    if not values:
        return None
    names = list(values)
    fig = Figure(figsize=(7.0, 0.28 * len(names) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    bars = ax.barh(range(len(names)), [values[n] for n in names], color=MEASURED_COLOR)
    ax.bar_label(bars, labels=[f"{values[n]:.1f}" for n in names], fontsize=7, padding=2)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel("accuracy (%)", fontsize=8)
    if overall is not None:
        ax.axvline(
            overall,
            color="black",
            linestyle="--",
            linewidth=0.8,
            label=f"overall {overall:.1f}",
        )
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)
    return _save(fig, out_dir / f"{name}.png")


def write_run_plots(
    tables: Sequence[PaperTable],
    run: MeasuredRun,
    breakdowns: Sequence[tuple[str, str, str]] = CATEGORY_BREAKDOWNS,
) -> list[Path]:
    """Every plot of one run into RUN_DIR/plots/; returns the files written."""
    out_dir = run.run_dir / PLOTS_DIR
    written = [p for t in tables if (p := plot_measured_vs_published(t, run, out_dir)) is not None]
    for task, key, overall in breakdowns:
        metrics = run.metrics.get(task)
        if not metrics:
            continue
        title = f"{task}: accuracy by {key} ({run.label})"
        path = plot_categories(
            f"{task}_{key}",
            category_values(metrics, key),
            title,
            out_dir,
            metrics.get(overall),
        )
        if path is not None:
            written.append(path)
    return written


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
