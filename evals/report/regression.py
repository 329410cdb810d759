"""Regression baselines: freeze a run's metrics, then check a later run against them.

A baseline (JSON, schema ``vargpt-evals/baseline/1``) holds, per task, the metrics, the document
and error counts and the task's protocol (dataset id/revision/split, prompt, options, version),
plus the run settings that decide the numbers (data source kind, seed, dtype). The model is recorded but
not compared: checking a new checkpoint against the old one's baseline is the point.

``check`` outcomes (the CLI's exit codes):
  0  comparable, and every baseline metric is within its tolerance;
  1  comparable, and at least one metric moved beyond its tolerance (either direction);
  2  not comparable: other tasks, another protocol or document count, other data, seed or dtype,
     or a baseline metric the run does not report.

Tolerance rules (per metric, first that applies):
  1. an override from ``--tolerance``: ``metric=V`` or ``task/metric=V``, ``V`` absolute in the
     metric's unit, or ``V%`` relative to the baseline value (``task/metric`` wins over ``metric``);
  2. FID and Inception-score metrics (RELATIVE_TOLERANCES): relative, 5% of the baseline value;
     the IS spread over splits may move by 5% of the baseline IS (COMPANION_TOLERANCES). Between two 50,000-sample runs with different seeds these
     move by about 1-2% (VAR's d24 -> d30 step in results/paper/imagenet256.json is about 9%), so 5% flags real
     changes without flapping; the image tasks' precision and recall (fractions) follow rule 5 on a
     0-1 scale. The CLIP score is a mean of per-image scores (MEAN_METRICS): ``k`` standard errors of that
     mean, ``k * std / sqrt(n)`` with the std over images the run reports beside it; that std itself: 5%;
  3. counts (ints, e.g. ``num_errors``): a count out of ``num_docs``, tolerance
     ``k * sqrt(n * p * (1 - p))`` documents with ``p`` estimated as below;
  4. a float outside [0, 100] is not a percentage: relative, 5% of the baseline value;
  5. every other number is an accuracy-like proportion in percent (the results.json contract):
     tolerance ``k * 100 * sqrt(p * (1 - p) / n)`` percentage points, the binomial standard error
     of the baseline's proportion from its ``n`` documents: ``num_docs``, or for a breakdown metric
     ``key:label`` the number of the run's records with that label (counted from the run folder's
     records when the baseline is frozen, kept in the baseline as ``sample_sizes``). ``p`` is the smoothed
     ``(x + 1) / (n + 2)`` with ``x = n * value / 100`` (Laplace's rule), so a metric at 0% or 100%
     still gets a nonzero tolerance instead of failing on any one document. For VQA accuracy
     (per-document values in [0, 1]) the binomial error is an upper bound of the true one.
Known approximations, all making a tolerance tighter than the true standard error, never looser:
MMBench's CircularEval counts a question once but has up to four rotated documents, so its ``n``
(documents) overstates the questions (tolerance up to 2x tight); precision, recall and F1 have
smaller denominators than ``num_docs`` (predicted or gold positives: about sqrt(2) tight on a
balanced POPE split). Loosen one with ``--tolerance`` where it flaps.
``k`` defaults to DEFAULT_SIGMAS = 3: a metric whose true value did not change stays inside about
99.7% of the time (normal approximation), while a shift of a few standard errors is caught. A run
checks many metrics (about 100 with the breakdowns); were their noises independent, one of 100 would
flag in about one comparison in four, so where runs truly differ in noise (another checkpoint,
another sampler seed) use ``--sigmas 4`` (about 0.6% for 100 metrics, Bonferroni-style) or check
the headline metrics with overrides. A rerun of the same model and settings is deterministic here
(every document's seed derives from the run seed), so the demo check sees no noise at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from evals import config
from evals.errors import HarnessError
from evals.run.records import Record, dedup_records, read_records, records_dir

BASELINE_SCHEMA = "vargpt-evals/baseline/1"
DEFAULT_SIGMAS = 3.0
# Metric names of the image tasks (tasks/image_metrics/image_scores.py: FID, INCEPTION_SCORE, CLIP_SCORE, ...),
# each also with the suffixes it carries for non-official weights (INCEPTION_SUFFIXES, CLIP_SUFFIXES there); a
# unit test holds these names to those constants.
_INCEPTION_SUFFIXES = ("", "_random_inception", "_unverified_inception")
_CLIP_SUFFIXES = ("", "_random_clip")
# Not proportions: relative tolerance.
RELATIVE_TOLERANCES: dict[str, float] = {
    **{f"fid{s}": 0.05 for s in _INCEPTION_SUFFIXES},
    **{f"inception_score{s}": 0.05 for s in _INCEPTION_SUFFIXES},
    **{f"clip_score_std{s}": 0.05 for s in _CLIP_SUFFIXES},
}
# Means of per-image scores -> the metric holding their standard deviation over images (n = num_docs).
MEAN_METRICS: dict[str, str] = {f"clip_score{s}": f"clip_score_std{s}" for s in _CLIP_SUFFIXES}
# The spread of IS over its splits may move as much as the score itself may (a fraction of the
# companion metric's baseline): relative to its own value it is meaningless when IS is near 1 (random
# Inception weights, the demo), where the spread is float rounding.
COMPANION_TOLERANCES: dict[str, tuple[str, float]] = {
    f"inception_score_std{s}": (f"inception_score{s}", 0.05) for s in _INCEPTION_SUFFIXES
}
# (task, metric) proportions reported as fractions in [0, 1], not percent: binomial on that scale,
# n = images. Keyed by task too: POPE's `precision` and `recall` are percentages.
IMAGE_TASKS = ("fid", "coco_t2i")
FRACTION_METRICS: frozenset[tuple[str, str]] = frozenset(
    (task, f"{m}{s}") for task in IMAGE_TASKS for m in ("precision", "recall") for s in _INCEPTION_SUFFIXES
)
# Breakdown metrics are named `<key>:<label>` (tasks/scoring/accuracy.py breakdown): accuracy over the
# records whose scores[key] == label.
BREAKDOWN_SEPARATOR = ":"

# A float metric outside [0, 100] is not a percentage: relative tolerance.
FALLBACK_RELATIVE = 0.05

CheckStatus = Literal[0, 1, 2]
ToleranceRule = Literal["override", "relative", "mean", "count", "binomial"]


class BaselineError(HarnessError):
    """A baseline or run folder is missing or malformed, or a tolerance option is invalid."""


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move: ``allowed`` in the metric's unit, and the rule that set it."""

    allowed: float
    rule: ToleranceRule
    detail: str


@dataclass(frozen=True)
class MetricCheck:
    """One baseline metric checked against the run."""

    task: str
    metric: str
    baseline: float
    measured: float
    tolerance: Tolerance
    higher_is_better: bool | None

    @property
    def delta(self) -> float:
        """measured - baseline."""
        return self.measured - self.baseline

    @property
    def moved(self) -> bool:
        """True when the change exceeds the tolerance (NaN on one side only counts as moved)."""
        if math.isnan(self.baseline) or math.isnan(self.measured):
            return math.isnan(self.baseline) != math.isnan(self.measured)
        # A relative epsilon keeps float noise of identical computations from counting.
        return abs(self.delta) > self.tolerance.allowed + 1e-9 * max(1.0, abs(self.baseline))

    @property
    def direction(self) -> str:
        """'better' / 'worse' by the task's higher_is_better, 'changed' when unknown, '' if same."""
        if not self.delta or math.isnan(self.delta):
            return "" if not self.moved else "changed"
        if self.higher_is_better is None:
            return "changed"
        return "better" if (self.delta > 0) == self.higher_is_better else "worse"


@dataclass(frozen=True)
class CheckOutcome:
    """The result of a check: status 0/1/2, the metric checks, and why not comparable (status 2)."""

    status: CheckStatus
    checks: tuple[MetricCheck, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def moved(self) -> list[MetricCheck]:
        """The checks beyond tolerance."""
        return [c for c in self.checks if c.moved]


# -- tolerance math (pure) ----------------------------------------------------------------------
def smoothed_proportion(value: float, num_docs: int, scale: float = 100.0) -> float:
    """Laplace-smoothed proportion (x + 1) / (n + 2), x = n * value / scale."""
    successes = num_docs * value / scale
    return (successes + 1.0) / (num_docs + 2.0)


def binomial_standard_error(value: float, num_docs: int, scale: float = 100.0) -> float:
    """Standard error of a proportion reported on ``scale`` (100: percent) from ``num_docs`` documents."""
    if num_docs <= 0:
        raise BaselineError(f"cannot compute a standard error from {num_docs} documents")
    p = smoothed_proportion(value, num_docs, scale)
    return scale * math.sqrt(p * (1.0 - p) / num_docs)


def count_standard_error(count: float, num_docs: int) -> float:
    """Standard error, in documents, of a count of ``num_docs`` Bernoulli documents."""
    if num_docs <= 0:
        raise BaselineError(f"cannot compute a standard error from {num_docs} documents")
    p = smoothed_proportion(count, num_docs, scale=num_docs)
    return math.sqrt(num_docs * p * (1.0 - p))


def parse_tolerance_overrides(items: Sequence[str]) -> dict[str, str]:
    """['accuracy=0.5', 'gqa/exact_match=2%'] -> {'accuracy': '0.5', 'gqa/exact_match': '2%'} (validated)."""
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise BaselineError(
                f"--tolerance {item!r}: expected METRIC=VALUE or TASK/METRIC=VALUE (VALUE like 0.5 or 2%)"
            )
        _override_to_allowed(value, 1.0, item)
        overrides[key] = value
    return overrides


def metric_tolerance(
    task: str,
    metric: str,
    baseline: float,
    num_docs: int,
    overrides: Mapping[str, str] | None = None,
    sigmas: float = DEFAULT_SIGMAS,
    task_metrics: Mapping[str, float] | None = None,
) -> Tolerance:
    """The tolerance of one metric by the rules of the module docstring.

    ``task_metrics`` are the task's other baseline metrics (for COMPANION_TOLERANCES).
    """
    overrides = overrides or {}
    for key in (f"{task}/{metric}", metric):
        if key in overrides:
            allowed = _override_to_allowed(overrides[key], baseline, f"{key}={overrides[key]}")
            return Tolerance(allowed, "override", f"--tolerance {key}={overrides[key]}")
    if metric in COMPANION_TOLERANCES and (task_metrics or {}).get(COMPANION_TOLERANCES[metric][0]) is not None:
        companion, rel = COMPANION_TOLERANCES[metric]
        return Tolerance(
            rel * abs(task_metrics[companion]),
            "relative",
            f"{rel:.0%} of baseline {companion}",
        )
    if metric in MEAN_METRICS and (task_metrics or {}).get(MEAN_METRICS[metric]) is not None:
        std = abs(task_metrics[MEAN_METRICS[metric]])
        se = std / math.sqrt(max(num_docs, 1))
        return Tolerance(sigmas * se, "mean", f"{sigmas:g} x SE {se:.3g} of a mean (std {std:.3g}, n={num_docs})")
    if metric in RELATIVE_TOLERANCES:
        rel = RELATIVE_TOLERANCES[metric]
        return Tolerance(rel * abs(baseline), "relative", f"{rel:.0%} of baseline")
    if isinstance(baseline, int) and not isinstance(baseline, bool):
        se = count_standard_error(baseline, num_docs)
        return Tolerance(sigmas * se, "count", f"{sigmas:g} x {se:.3g} docs (n={num_docs})")
    if (task, metric) in FRACTION_METRICS and 0.0 <= baseline <= 1.0:
        se = binomial_standard_error(baseline, num_docs, scale=1.0)
        return Tolerance(sigmas * se, "binomial", f"{sigmas:g} x SE {se:.3g} (n={num_docs})")
    if not 0.0 <= baseline <= 100.0:
        return Tolerance(
            FALLBACK_RELATIVE * abs(baseline),
            "relative",
            f"{FALLBACK_RELATIVE:.0%} of baseline (not a percentage)",
        )
    se = binomial_standard_error(baseline, num_docs)
    return Tolerance(sigmas * se, "binomial", f"{sigmas:g} x SE {se:.3g} (n={num_docs})")


def _override_to_allowed(value: str, baseline: float, where: str) -> float:
    try:
        if value.endswith("%"):
            allowed = float(value[:-1]) / 100.0 * abs(baseline)
        else:
            allowed = float(value)
    except ValueError:
        raise BaselineError(f"--tolerance {where}: {value!r} is not a number or a percentage like 2%") from None
    if allowed < 0 or math.isnan(allowed):
        raise BaselineError(f"--tolerance {where}: a tolerance must be a non-negative number")
    return allowed


# -- baselines ----------------------------------------------------------------------------------
def read_results(run_dir: Path) -> dict[str, Any]:
    """A run folder's results.json as a dict."""
    path = Path(run_dir) / "results.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(f"{path} not found; is {run_dir} a finished run folder?") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path} is not valid JSON: {exc}") from None


def results_to_baseline(
    results: Mapping[str, Any],
    source: str,
    sample_sizes: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """Freeze a results.json: per task metrics, counts, protocol; the settings that decide them.

    Groups (e.g. POPE's pooled splits) are frozen as entries named ``group:<name>``, their protocol
    being their member tasks. ``sample_sizes`` gives per task the n of breakdown metrics.
    """
    run = results.get("run", {})
    entries = dict(results.get("tasks", {}))
    for name, group in results.get("groups", {}).items():
        entries[f"group{BREAKDOWN_SEPARATOR}{name}"] = {
            **group,
            "protocol": {"tasks": group.get("tasks", [])},
        }
    tasks = {}
    for name, entry in sorted(entries.items()):
        metrics = {k: v for k, v in entry.get("metrics", {}).items() if _is_number(v)}
        sizes = (sample_sizes or {}).get(name, {})
        tasks[name] = {
            "metrics": metrics,
            "primary_metric": entry.get("primary_metric"),
            "num_docs": entry.get("num_docs"),
            "num_errors": entry.get("num_errors"),
            "sample_sizes": {m: int(sizes[m]) for m in sorted(sizes) if m in metrics},
            "higher_is_better": entry.get("higher_is_better", {}),
            "protocol": entry.get("protocol", {}),
        }
    return {
        "schema": BASELINE_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_run": source,
        "settings": run_settings(run),
        "model": run.get("model", {}),
        "versions": run.get("versions", {}),
        "tasks": tasks,
    }


def run_settings(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run-level settings a comparison requires to match: data source kind, seed and dtype.

    Of --data only the kind counts (hub, demo, local): a local copy's path differs between
    machines, and its dataset identity (id, revision, split) is in each task's protocol.
    """
    data = "demo" if run.get("demo") else config.data_kind(str(run.get("data") or "hub"))
    return {"data": data, "seed": run.get("seed"), "dtype": run.get("dtype")}


def breakdown_sample_sizes(records: Iterable[Record], metrics: Iterable[str]) -> dict[str, int]:
    """For each breakdown metric ``key:label``, how many error-free records have scores[key] == label."""
    wanted = {m: tuple(m.split(BREAKDOWN_SEPARATOR, 1)) for m in metrics if BREAKDOWN_SEPARATOR in m}
    counts = {m: 0 for m in wanted}
    for record in dedup_records(records).values():
        if record.error is not None:
            continue
        for metric, (key, label) in wanted.items():
            if key in record.scores and str(record.scores[key]) == label:
                counts[metric] += 1
    return {m: n for m, n in counts.items() if n > 0}


def run_sample_sizes(run_dir: Path, results: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Breakdown sample sizes of every task, from the run folder's records (empty where none are kept)."""
    sizes = {}
    for name, entry in results.get("tasks", {}).items():
        task_dir = records_dir(Path(run_dir), name)
        if task_dir.is_dir():
            sizes[name] = breakdown_sample_sizes(read_records(task_dir), entry.get("metrics", {}))
    return sizes


def write_baseline(run_dir: Path, output: Path) -> dict[str, Any]:
    """Freeze run_dir's results.json (and its breakdowns' sample sizes) into ``output``; returns the baseline."""
    results = read_results(run_dir)
    baseline = results_to_baseline(results, source=str(run_dir), sample_sizes=run_sample_sizes(run_dir, results))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(baseline, indent=2, sort_keys=False) + "\n")
    return baseline


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline file; raises BaselineError when missing or of another schema."""
    try:
        baseline = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BaselineError(
            f"baseline {path} not found; create one with `python -m evals baseline RUN_DIR --output {path}`"
        ) from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"baseline {path} is not valid JSON: {exc}") from None
    if baseline.get("schema") != BASELINE_SCHEMA:
        raise BaselineError(f"{path}: schema is {baseline.get('schema')!r}, expected {BASELINE_SCHEMA!r}")
    return baseline


# -- checking -----------------------------------------------------------------------------------
def comparability_problems(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Why two frozen runs (baseline dicts) cannot be compared; empty when they can."""
    problems = []
    for key, old in baseline["settings"].items():
        new = current["settings"].get(key)
        if old != new:
            problems.append(f"run setting {key!r} differs: baseline {old!r}, run {new!r}")
    old_tasks, new_tasks = set(baseline["tasks"]), set(current["tasks"])
    if old_tasks != new_tasks:
        missing = ", ".join(sorted(old_tasks - new_tasks)) or "none"
        extra = ", ".join(sorted(new_tasks - old_tasks)) or "none"
        problems.append(f"tasks differ: missing from the run: {missing}; not in the baseline: {extra}")
    for name in sorted(old_tasks & new_tasks):
        old, new = baseline["tasks"][name], current["tasks"][name]
        if old["num_docs"] != new["num_docs"]:
            problems.append(
                f"{name}: {new['num_docs']} documents, baseline has {old['num_docs']} (another --limit or data?)"
            )
        for field in _protocol_differences(old["protocol"], new["protocol"]):
            problems.append(f"{name}: protocol differs at {field}")
        missing = sorted(set(old["metrics"]) - set(new["metrics"]))
        if missing:
            problems.append(f"{name}: metrics missing from the run: {', '.join(missing)}")
    return problems


def check_against_baseline(
    baseline: Mapping[str, Any],
    results: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
    sigmas: float = DEFAULT_SIGMAS,
) -> CheckOutcome:
    """Compare a results.json dict with a baseline: status 0 (within), 1 (moved), 2 (not comparable)."""
    current = results_to_baseline(results, source="")
    problems = comparability_problems(baseline, current)
    if problems:
        return CheckOutcome(status=2, checks=(), problems=tuple(problems))
    unused = sorted(k for k in (overrides or {}) if not _override_matches(k, baseline["tasks"]))
    if unused:
        raise BaselineError(f"--tolerance {unused[0]!r} matches no metric of the baseline; use METRIC or TASK/METRIC")
    checks, notes = [], []
    for name, old in baseline["tasks"].items():
        new = current["tasks"][name]
        higher = old.get("higher_is_better") or {}
        sizes = old.get("sample_sizes") or {}
        for metric, value in old["metrics"].items():
            tol = metric_tolerance(
                name,
                metric,
                value,
                sizes.get(metric, old["num_docs"]),
                overrides,
                sigmas,
                old["metrics"],
            )
            checks.append(
                MetricCheck(
                    name,
                    metric,
                    float(value),
                    float(new["metrics"][metric]),
                    tol,
                    higher.get(metric),
                )
            )
        extra = sorted(set(new["metrics"]) - set(old["metrics"]))
        if extra:
            notes.append(f"{name}: metrics not in the baseline, not checked: {', '.join(extra)}")
    status: CheckStatus = 1 if any(c.moved for c in checks) else 0
    return CheckOutcome(status=status, checks=tuple(checks), problems=(), notes=tuple(notes))


def check_run(
    run_dir: Path,
    baseline_path: Path,
    overrides: Mapping[str, str] | None = None,
    sigmas: float = DEFAULT_SIGMAS,
) -> CheckOutcome:
    """Check run_dir's results.json against the baseline file."""
    return check_against_baseline(load_baseline(baseline_path), read_results(run_dir), overrides, sigmas)


def checks_frame(checks: Sequence[MetricCheck]) -> pd.DataFrame:
    """A table of metric checks: baseline, measured, delta, allowed, rule, status."""
    rows = [
        {
            "task": c.task,
            "metric": c.metric,
            "baseline": c.baseline,
            "measured": c.measured,
            "delta": c.delta,
            "allowed": c.tolerance.allowed,
            "rule": c.tolerance.detail,
            "status": f"moved ({c.direction})" if c.moved else "ok",
        }
        for c in checks
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "task",
            "metric",
            "baseline",
            "measured",
            "delta",
            "allowed",
            "rule",
            "status",
        ],
    )


def render_outcome(outcome: CheckOutcome, show_all: bool = False) -> str:
    """The report `check` prints: problems (2), the moved metrics (1) or a one-line summary (0)."""
    if outcome.status == 2:
        return "not comparable with the baseline:\n" + "".join(f"- {p}\n" for p in outcome.problems)
    shown = list(outcome.checks) if show_all else outcome.moved
    lines = []
    if outcome.status == 1:
        lines.append(f"{len(outcome.moved)} of {len(outcome.checks)} metrics moved beyond tolerance:")
    else:
        lines.append(f"all {len(outcome.checks)} metrics within tolerance of the baseline")
    if shown:
        lines.append(_markdown(checks_frame(shown)))
    lines += [f"note: {n}" for n in outcome.notes]
    return "\n".join(lines) + "\n"


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    header = list(frame.columns)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(cell(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


def _protocol_differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths where two protocol dicts differ (at most a few, for a readable message)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(f"{sub} (only in {'run' if key not in old else 'baseline'})")
            else:
                out += _protocol_differences(old[key], new[key], sub)
        return out
    if _jsonable(old) != _jsonable(new):
        return [f"{path or 'protocol'} (baseline {old!r}, run {new!r})"]
    return []


def _jsonable(value: Any) -> Any:
    # Tuples and lists compare equal once they have been through JSON.
    return json.loads(json.dumps(value, default=str))


def _override_matches(key: str, tasks: Mapping[str, Any]) -> bool:
    task, _, metric = key.rpartition("/")
    if task:
        return task in tasks and metric in tasks[task]["metrics"]
    return any(key in entry["metrics"] for entry in tasks.values())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
