"""Run plots: measured vs published panels and per-category bars, written as PNGs."""

from __future__ import annotations

from pathlib import Path

from evals.report.paper import PAPER_DIR, MeasuredRun, load_paper_table, load_paper_tables
from evals.report.plots import category_values, plot_measured_vs_published, write_run_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_with(tmp_path: Path, metrics: dict) -> MeasuredRun:
    """A measured run whose metrics are given directly."""
    return MeasuredRun(label="tiny (run)", run_dir=tmp_path, demo=True, metrics=metrics)


def test_category_values_reads_key_label_metrics_only():
    metrics = {
        "accuracy": 40.0,
        "category:image_scene": 50.0,
        "l2_category:Coarse Perception": 25.0,
        "num_errors": 0,
    }
    assert category_values(metrics, "category") == {"image_scene": 50.0}
    assert category_values(metrics, "l2_category") == {"Coarse Perception": 25.0}


def test_no_measured_column_writes_no_figure(tmp_path):
    table = load_paper_table(PAPER_DIR / "imagenet256.json")
    # a demo FID under its renamed metric is not a paper column
    run = run_with(tmp_path, {"fid": {"fid_random_inception": 95.0}})
    assert plot_measured_vs_published(table, run, tmp_path / "plots") is None


def test_write_run_plots_draws_paper_panels_and_categories(tmp_path):
    run = run_with(
        tmp_path,
        {
            "gqa": {"accuracy": 25.0},
            "mmbench_en_dev": {
                "accuracy": 40.0,
                "category:image_scene": 50.0,
                "category:ocr": 30.0,
                "l2_category:Coarse Perception": 25.0,
            },
            "seed_image": {"accuracy": 33.0, "question_type:Scene Understanding": 33.0},
        },
    )
    written = write_run_plots(load_paper_tables(), run)
    names = sorted(p.name for p in written)
    assert names == [
        "mmbench_en_dev_category.png",
        "mmbench_en_dev_l2_category.png",
        "paper_understanding.png",
        "seed_image_question_type.png",
    ]
    for path in written:
        assert path.parent == tmp_path / "plots" and path.read_bytes()[:8] == PNG_MAGIC
