"""`python -m evals`: argparse -> RunConfig and friends; known errors -> one line on stderr, exit 2.

Each subcommand is two small functions: `add_<name>_arguments(parser)` and a handler
`(args) -> exit status`. `COMMANDS` lists them; a new subcommand is one more entry there (the results
commands live in evals/report/commands.py and are wired the same way).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from evals.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MODEL,
    DEFAULT_WAIT_TIMEOUT_MINUTES,
    DTYPES,
    GenerationConfig,
    RunConfig,
    parse_gen_kwargs,
)
from evals.errors import HarnessError, UsageError, exit_code_of, one_line_error

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

class OneLineParser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _split_list(value: str | None) -> tuple[str, ...]:
    """`a,b, c` -> ("a", "b", "c")."""
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


# -- run -----------------------------------------------------------------------------------------
def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `run`."""
    parser.add_argument("--tasks", default="all", help="tasks, aliases or groups, comma-separated (default: all)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"hub id, local folder, `tiny`, `oracle` or `constant:TEXT` (default {DEFAULT_MODEL})",
    )
    parser.add_argument("--data", default="hub", help="hub (default), demo, or a folder of local dataset copies")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents of each task")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="requests per adapter call")
    parser.add_argument("--output", type=Path, default=None, help="run folder (default results/runs/<date>-<model>)")
    parser.add_argument("--seed", type=int, default=0, help="run seed; each document's seed derives from it")
    parser.add_argument("--dtype", default="auto", choices=DTYPES, help="auto = bfloat16 on GPUs, float32 on CPU")
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="local worker processes (default: one per visible GPU, one on CPU)",
    )
    parser.add_argument("--devices", default=None, help="comma-separated devices for the workers (cpu, cuda:0, ...)")
    parser.add_argument("--gen-kwargs", default="", help="task options, k=v,k2=v2 (see `list` for each task's)")
    parser.add_argument(
        "--verify-batching",
        type=int,
        default=0,
        metavar="N",
        help="also run N documents per task at batch size 1 and count outputs that differ",
    )
    parser.add_argument("--overwrite", action="store_true", help="clear the run folder and start afresh")
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow pickled (.bin/.pt) model weights, which can run code when read (trusted files only)",
    )
    parser.add_argument("--save-samples", action="store_true", help="keep generated images (tasks that generate)")
    parser.add_argument("--inception-weights", default=None, metavar="PATH", help="Inception weights file (FID)")
    parser.add_argument("--fid-ref", default=None, metavar="PATH", help="FID reference npz or image folder")
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT_MINUTES,
        metavar="MINUTES",
        help=f"torchrun: how long a rank waits for the others, then stops (default {DEFAULT_WAIT_TIMEOUT_MINUTES:g})",
    )


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """RunConfig from parsed `run` arguments."""
    flags: list[tuple[str, str]] = []
    if args.save_samples:
        flags.append(("save_samples", "true"))
    if args.inception_weights:
        flags.append(("inception_weights", args.inception_weights))
    if args.fid_ref:
        flags.append(("fid_ref", args.fid_ref))
    generation = GenerationConfig(
        dtype=args.dtype, gen_kwargs=parse_gen_kwargs(args.gen_kwargs), task_options=tuple(flags)
    )
    return RunConfig(
        tasks=_split_list(args.tasks) or ("all",),
        model=args.model,
        data=args.data,
        limit=args.limit,
        batch_size=args.batch_size,
        output=args.output,
        seed=args.seed,
        num_workers=args.num_workers,
        devices=_split_list(args.devices) or None,
        generation=generation,
        verify_batching=args.verify_batching,
        overwrite=args.overwrite,
        allow_pickle=args.allow_pickle,
        wait_timeout_minutes=args.wait_timeout,
    )


def run_command(args: argparse.Namespace) -> int:
    """`run`: evaluate, write the run folder, print the leaderboard row."""
    from evals.run.distributed import env_from_launcher
    from evals.run.launch import execute_run
    from evals.run.run_folder import RESULTS_FILE, read_json
    from evals.report.tables import summary_frame, to_markdown

    run_dir = execute_run(run_config_from_args(args))
    if env_from_launcher().is_main:
        sys.stdout.write(to_markdown(summary_frame(read_json(run_dir / RESULTS_FILE))))
        sys.stdout.write(f"results: {run_dir / RESULTS_FILE} (all metrics: {run_dir / 'results.md'})\n")
    return 0


# -- prefetch ------------------------------------------------------------------------------------
def add_prefetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `prefetch`."""
    parser.add_argument("--tasks", default="all", help="tasks, aliases or groups, comma-separated (default: all)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model to download too (`none` for no model)")


def prefetch_command(args: argparse.Namespace) -> int:
    """`prefetch`: fill the local caches so later runs work offline."""
    from evals.run.prefetch import prefetch
    from evals.registry import discover

    for line in prefetch(discover().select(_split_list(args.tasks)), args.model):
        sys.stdout.write(line + "\n")
    return 0


# -- list ----------------------------------------------------------------------------------------
def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `list`."""
    parser.add_argument("--no-counts", action="store_true", help="skip reading the demo slices for document counts")


def list_command(args: argparse.Namespace) -> int:
    """`list`: every registered task with kind, dataset, split, groups and tags, options and demo size; broken plugins
    after."""
    import pandas as pd

    from evals.registry import discover
    from evals.report.tables import to_markdown
    from evals.task_api import DataSource

    registry = discover()
    rows = []
    for name in registry.names():
        task = registry.tasks[name]
        demo_docs: object = ""
        if not args.no_counts:
            try:
                demo_docs = len(task.load_docs(DataSource(kind="demo")))
            except Exception:  # a task without a demo slice still lists
                demo_docs = ""
        rows.append(
            {
                "task": name,
                "kind": task.kind,
                "dataset": task.dataset.hub_id,
                "split": task.dataset.split,
                "group": ",".join(g for g in (task.group, *task.tags) if g),
                "aliases": ",".join(task.aliases),
                "demo docs": demo_docs,
                "options": ",".join(sorted(task.default_options)),
            }
        )
    frame = pd.DataFrame(rows).set_index("task") if rows else pd.DataFrame()
    sys.stdout.write(to_markdown(frame) if rows else "no tasks registered\n")
    for _, plugin in sorted(registry.broken.items()):
        sys.stdout.write(f"broken: {plugin.message()}\n")
    return 0


# -- score ---------------------------------------------------------------------------------------
def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `score`."""
    parser.add_argument("--task", required=True, help="one task name or alias")
    parser.add_argument("--data", default="hub", help="hub (default), demo, or the task's local dataset copy")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", type=Path, help='JSONL rows {"doc_id": ..., "prediction": ...}')
    source.add_argument(
        "--run", type=Path, metavar="RUN_DIR", help="recompute the metrics from a run folder's records (no model)"
    )
    parser.add_argument("--gen-kwargs", default="", help="task options, k=v,k2=v2, as given to the run")


def score_command(args: argparse.Namespace) -> int:
    """`score`: the task's metrics on a predictions file, or from a run's records, printed as JSON."""
    from evals.registry import discover

    task = discover().get(args.task)
    overrides = dict(parse_gen_kwargs(args.gen_kwargs))
    if args.run is not None:
        from evals.run.rescore import rescore_run

        metrics = rescore_run(task, args.run, overrides)
    else:
        from evals.run.launch import data_source
        from evals.run.predictions import read_predictions, score_predictions

        task = task.with_options(overrides)
        metrics = score_predictions(task, data_source(args.data), read_predictions(args.predictions))
    sys.stdout.write(json.dumps({"task": task.name, "metrics": metrics}, indent=2, default=str) + "\n")
    return 0


# -- table ---------------------------------------------------------------------------------------
def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `table` (the results engineer's --paper options are added beside them)."""
    from evals.report.commands import add_paper_table_arguments

    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="finished run folders")
    parser.add_argument("--format", default=None, choices=("md", "csv", "latex", "html"), help="default md")
    parser.add_argument("--output", type=Path, default=None, help="write to FILE instead of stdout")
    add_paper_table_arguments(parser)


def table_command(args: argparse.Namespace) -> int:
    """`table`: one row per run, one column per task metric (with --paper: beside the paper's numbers)."""
    if args.paper:
        from evals.report.commands import run_paper_table

        return run_paper_table(args)
    from evals.report.tables import leaderboard, render

    text = render(leaderboard(args.run_dirs), args.format or "md")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


# -- baseline / check (evals/report/commands.py) -----------------------------------------------------
def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `baseline`."""
    from evals.report.commands import add_baseline_arguments as add

    add(parser)


def baseline_command(args: argparse.Namespace) -> int:
    """`baseline RUN_DIR --output FILE`."""
    from evals.report.commands import run_baseline

    return run_baseline(args)


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `check`."""
    from evals.report.commands import add_check_arguments as add

    add(parser)


def check_command(args: argparse.Namespace) -> int:
    """`check RUN_DIR --baseline FILE`: 0 within tolerance, 1 moved, 2 not comparable."""
    from evals.report.commands import run_check

    return run_check(args)


# -- bench (evals/bench/command.py) ----------------------------------------------------------------------
def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
    from evals.bench.command import add_bench_arguments as add

    add(parser)


def bench_command(args: argparse.Namespace) -> int:
    """`bench`: throughput of model, adapter and harness; tables on stdout, numbers as JSON."""
    from evals.bench.command import bench_command as run

    return run(args)


# -- score-lmms-eval (evals/interop/lmms_eval_scoring.py) ------------------------------------------------
def add_score_lmms_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `score-lmms-eval`."""
    from evals.interop.lmms_eval_scoring import add_score_lmms_eval_arguments as add

    add(parser)


def score_lmms_eval_command(args: argparse.Namespace) -> int:
    """`score-lmms-eval SAMPLES.jsonl --task T`: our metrics on lmms-eval's logged outputs."""
    from evals.interop.lmms_eval_scoring import score_lmms_eval_command as run

    return run(args)


# name, help, add_arguments, handler: one entry per subcommand.
COMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler], ...] = (
    ("run", "evaluate a model on tasks and write a run folder", add_run_arguments, run_command),
    (
        "prefetch",
        "download datasets, model and reference files for offline runs",
        add_prefetch_arguments,
        prefetch_command,
    ),
    ("list", "list the registered tasks", add_list_arguments, list_command),
    ("score", "score a predictions file, or a run's records, without a model", add_score_arguments, score_command),
    ("table", "leaderboard of run folders", add_table_arguments, table_command),
    ("baseline", "freeze a run's metrics as a regression baseline", add_baseline_arguments, baseline_command),
    (
        "check",
        "compare a run with a baseline (exit 0 ok, 1 moved, 2 not comparable)",
        add_check_arguments,
        check_command,
    ),
    (
        "score-lmms-eval",
        "score lmms-eval's logged samples (--log_samples) with our task",
        add_score_lmms_eval_arguments,
        score_lmms_eval_command,
    ),
    ("bench", "measure throughput against the performance targets (issue 8)", add_bench_arguments, bench_command),
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand in COMMANDS."""
    parser = OneLineParser(prog="python -m evals", description="vargpt-evals: evaluate VARGPT and friends")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, add_arguments, handler in COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run one subcommand, and turn known errors into one line on stderr."""
    try:
        args = build_parser().parse_args(argv)
        level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; rerun the same command to resume\n")
        return 130
    except Exception as error:
        message = one_line_error(error)
        if message is None:
            raise
        if not getattr(error, "quiet", False):  # RunStopped: another process of this node prints it
            sys.stderr.write(f"error: {message}\n")
        return exit_code_of(error)
