"""Command-line handlers for the results commands: `table --paper`, `baseline` and `check`.

evals/cli.py owns the parser; it calls the ``add_*_arguments`` functions on its sub-parsers and
dispatches to the ``run_*`` handlers, which return the exit status. Known problems raise
HarnessError subclasses (PaperDataError, BaselineError), which the CLI prints as one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals.report import regression
from evals.report.paper import (
    PAPER_DIR,
    TABLE_FORMATS,
    PaperDataError,
    load_measured_run,
    load_paper_tables,
    render_paper_tables,
)
from evals.report.plots import write_run_plots


def add_paper_table_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `table` gains for --paper (the run folders, --format and --output are table's own)."""
    parser.add_argument(
        "--paper",
        action="store_true",
        help="put the paper's published numbers (results/paper/) beside the runs, with differences",
    )
    parser.add_argument(
        "--versus",
        metavar="MODEL",
        default=None,
        help="published row the differences are taken against (default: each table's reference row, "
        "VARGPT (7B+2B) / VAR-d30)",
    )
    parser.add_argument(
        "--paper-dir",
        type=Path,
        default=PAPER_DIR,
        help="folder of the paper data files",
    )
    parser.add_argument(
        "--no-plots",
        action="store_true",
        help="with --paper, do not write PNG plots into each run folder's plots/",
    )


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    """`baseline RUN_DIR --output FILE`."""
    parser.add_argument("run_dir", type=Path, help="a finished run folder (with results.json)")
    parser.add_argument("--output", type=Path, required=True, help="baseline JSON file to write")


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """`check RUN_DIR --baseline FILE [--tolerance METRIC=VALUE ...] [--sigmas K] [--all]`."""
    parser.add_argument("run_dir", type=Path, help="a finished run folder (with results.json)")
    parser.add_argument(
        "--baseline",
        type=Path,
        required=True,
        help="baseline JSON written by `baseline`",
    )
    parser.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="[TASK/]METRIC=VALUE",
        help="override one metric's tolerance: absolute (0.5) or relative to the baseline (2%%); repeatable",
    )
    parser.add_argument(
        "--sigmas",
        type=float,
        default=regression.DEFAULT_SIGMAS,
        help="accuracy tolerance in binomial standard errors (default %(default)s)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every metric checked, not only those that moved",
    )


def run_paper_table(args: argparse.Namespace) -> int:
    """`table --paper RUN_DIR...`: the paper tables with the runs beside them; plots into each run folder."""
    tables = load_paper_tables(args.paper_dir)
    runs = [load_measured_run(Path(d)) for d in args.run_dirs]
    fmt = args.format or "md"
    if fmt not in TABLE_FORMATS:
        raise PaperDataError(f"--format {fmt!r}: choose one of {', '.join(TABLE_FORMATS)}")
    text = render_paper_tables(tables, runs, fmt, args.versus)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    if not args.no_plots:
        for run in runs:
            write_run_plots(tables, run)
    return 0


def run_baseline(args: argparse.Namespace) -> int:
    """`baseline RUN_DIR --output FILE`: freeze the run's metrics, counts and protocol."""
    baseline = regression.write_baseline(args.run_dir, args.output)
    num_metrics = sum(len(t["metrics"]) for t in baseline["tasks"].values())
    sys.stdout.write(f"baseline of {len(baseline['tasks'])} tasks, {num_metrics} metrics written to {args.output}\n")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """`check RUN_DIR --baseline FILE`: exit 0 within tolerance, 1 if something moved, 2 if not comparable."""
    overrides = regression.parse_tolerance_overrides(args.tolerance)
    if args.sigmas <= 0:
        raise regression.BaselineError(f"--sigmas {args.sigmas} must be positive")
    outcome = regression.check_run(args.run_dir, args.baseline, overrides, args.sigmas)
    sys.stdout.write(regression.render_outcome(outcome, show_all=args.all))
    return outcome.status
