"""Baseline freeze and check: tolerance math by hand, exit statuses 0 / 1 / 2."""

from __future__ import annotations

import copy
import json
import math

import pytest

from evals.regression import (
    BaselineError,
    binomial_standard_error,
    check_against_baseline,
    check_run,
    count_standard_error,
    metric_tolerance,
    parse_tolerance_overrides,
    render_outcome,
    results_to_baseline,
    write_baseline,
)

N = 98  # documents; with Laplace smoothing p = (x + 1) / (n + 2) = (x + 1) / 100, easy by hand


def accuracy_of(correct: int, num_docs: int = N) -> float:
    """A percent accuracy of `correct` out of `num_docs` documents."""
    return 100.0 * correct / num_docs


def results_json(accuracy: float, *, seed: int = 0, data: str = "demo", num_docs: int = N,
                 split: str = "testdev", extra_task: bool = False) -> dict:
    """A small results.json in the contract's shape, one text task (and optionally a second)."""
    tasks = {
        "gqa": {
            "metrics": {"exact_match": accuracy, "num_errors": 0},
            "primary_metric": "exact_match",
            "num_docs": num_docs,
            "num_errors": 0,
            "protocol": {"task": "gqa", "version": "1",
                         "dataset": {"hub_id": "lmms-lab/GQA", "split": split, "revision": "abc"},
                         "options": {"max_new_tokens": 16}},
            "higher_is_better": {"exact_match": True, "num_errors": False},
            "artifacts": [],
        }
    }
    if extra_task:
        tasks["pope_random"] = copy.deepcopy(tasks["gqa"])
        tasks["pope_random"]["protocol"]["task"] = "pope_random"
    return {"run": {"model": {"id": "tiny"}, "seed": seed, "data": data, "demo": data == "demo",
                    "versions": {}, "world_size": 1},
            "tasks": tasks}


# -- tolerance math -----------------------------------------------------------------------------
def test_binomial_standard_error_at_one_half():
    # x = 49 of 98 -> p = (49 + 1) / 100 = 0.5; SE = 100 * sqrt(0.25 / 98) = 5.050762...
    assert binomial_standard_error(accuracy_of(49), N) == pytest.approx(5.0507627, rel=1e-6)


def test_binomial_standard_error_is_not_zero_at_full_accuracy():
    # 8 of 8 correct -> p = (8 + 1) / (8 + 2) = 0.9; SE = 100 * sqrt(0.9 * 0.1 / 8) = 10.606602
    assert binomial_standard_error(100.0, 8) == pytest.approx(10.606602, rel=1e-6)


def test_count_standard_error_of_zero_errors():
    # 0 of 18 -> p = 1 / 20 = 0.05; SE = sqrt(18 * 0.05 * 0.95) = sqrt(0.855) = 0.9246621 documents
    assert count_standard_error(0, 18) == pytest.approx(0.9246621, rel=1e-6)


def test_default_accuracy_tolerance_is_three_standard_errors():
    # x = 69 of 98 -> p = 0.70; SE = 100 * sqrt(0.21 / 98) = 4.6291005; 3 SE = 13.887301
    tol = metric_tolerance("gqa", "exact_match", accuracy_of(69), N)
    assert tol.rule == "binomial"
    assert tol.allowed == pytest.approx(13.887301, rel=1e-6)


def test_sigmas_scale_the_tolerance():
    # 2 SE of the x = 49 case: 2 * 5.0507627 = 10.101525
    assert metric_tolerance("gqa", "exact_match", accuracy_of(49), N, sigmas=2).allowed == pytest.approx(10.101525)


def test_fid_and_inception_score_use_relative_tolerances():
    # 5% of FID 4.0 is 0.2; 5% of IS 300.0 is 15.0
    assert metric_tolerance("fid", "fid", 4.0, 50_000).allowed == pytest.approx(0.2)
    assert metric_tolerance("fid", "inception_score", 300.0, 50_000).allowed == pytest.approx(15.0)


def test_integer_counts_use_the_count_rule():
    # num_errors 0 of 18: 3 * 0.9246621 = 2.7739863 documents
    tol = metric_tolerance("gqa", "num_errors", 0, 18)
    assert tol.rule == "count"
    assert tol.allowed == pytest.approx(2.7739863, rel=1e-6)


def test_float_outside_percent_range_is_relative():
    # 1488.8 is not a percentage: 5% of it is 74.44
    assert metric_tolerance("mme", "score", 1488.8, 100).allowed == pytest.approx(74.44)


def test_overrides_absolute_relative_and_task_specific():
    overrides = parse_tolerance_overrides(["exact_match=0.5", "gqa/exact_match=2%"])
    # task/metric wins over metric: 2% of 60.0 = 1.2
    assert metric_tolerance("gqa", "exact_match", 60.0, N, overrides).allowed == pytest.approx(1.2)
    # another task falls back to the metric-wide absolute 0.5
    assert metric_tolerance("textvqa", "exact_match", 60.0, N, overrides).allowed == pytest.approx(0.5)


@pytest.mark.parametrize("item", ["exact_match", "=1", "exact_match=abc", "exact_match=-1"])
def test_malformed_override_is_refused(item):
    with pytest.raises(BaselineError):
        parse_tolerance_overrides([item])


# -- check statuses -----------------------------------------------------------------------------
def test_identical_run_passes():
    results = results_json(accuracy_of(49))
    outcome = check_against_baseline(results_to_baseline(results, "run"), results)
    assert outcome.status == 0
    assert not outcome.moved


def test_higher_baseline_accuracy_beyond_tolerance_exits_1():
    # baseline 69/98 = 70.41%: tolerance 13.887 (above); run 49/98 = 50.00%: delta -20.41 -> moved
    baseline = results_to_baseline(results_json(accuracy_of(69)), "run")
    outcome = check_against_baseline(baseline, results_json(accuracy_of(49)))
    assert outcome.status == 1
    [moved] = outcome.moved
    assert (moved.task, moved.metric, moved.direction) == ("gqa", "exact_match", "worse")
    assert moved.delta == pytest.approx(-20.408163, rel=1e-6)
    report = render_outcome(outcome)
    assert "1 of 2 metrics moved" in report and "exact_match" in report


def test_higher_baseline_accuracy_within_tolerance_exits_0():
    # baseline 58/98 = 59.18%: p = 0.59, SE = 100 * sqrt(0.2419 / 98) = 4.968267, 3 SE = 14.9048;
    # run 49/98 = 50.00%: delta -9.18 -> within
    baseline = results_to_baseline(results_json(accuracy_of(58)), "run")
    outcome = check_against_baseline(baseline, results_json(accuracy_of(49)))
    assert outcome.status == 0
    assert outcome.checks[0].tolerance.allowed == pytest.approx(14.9048, rel=1e-5)


def test_override_tightens_a_passing_check_into_a_failure():
    # the within-tolerance case above (delta -9.18) fails under an absolute tolerance of 5 points
    baseline = results_to_baseline(results_json(accuracy_of(58)), "run")
    outcome = check_against_baseline(baseline, results_json(accuracy_of(49)), {"exact_match": "5"})
    assert outcome.status == 1


def test_override_naming_no_metric_is_refused():
    results = results_json(accuracy_of(49))
    with pytest.raises(BaselineError, match="matches no metric"):
        check_against_baseline(results_to_baseline(results, "run"), results, {"gqa/f1": "1"})


@pytest.mark.parametrize("change", [
    dict(seed=1),                # another seed
    dict(data="hub"),            # other data
    dict(num_docs=50),           # another --limit
    dict(split="val"),           # another protocol (dataset split)
    dict(extra_task=True),       # other tasks
])
def test_not_comparable_exits_2(change):
    baseline = results_to_baseline(results_json(accuracy_of(49)), "run")
    outcome = check_against_baseline(baseline, results_json(accuracy_of(49), **change))
    assert outcome.status == 2
    assert outcome.problems
    assert render_outcome(outcome).startswith("not comparable")


def test_missing_metric_is_not_comparable():
    baseline = results_to_baseline(results_json(accuracy_of(49)), "run")
    results = results_json(accuracy_of(49))
    del results["tasks"]["gqa"]["metrics"]["exact_match"]
    outcome = check_against_baseline(baseline, results)
    assert outcome.status == 2
    assert "exact_match" in outcome.problems[0]


def test_nan_on_one_side_counts_as_moved():
    baseline = results_to_baseline(results_json(accuracy_of(49)), "run")
    outcome = check_against_baseline(baseline, results_json(math.nan))
    assert outcome.status == 1


def test_baseline_file_round_trip(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps(results_json(accuracy_of(49))))
    written = write_baseline(run_dir, tmp_path / "b" / "base.json")
    assert written["tasks"]["gqa"]["num_docs"] == N
    assert written["settings"] == {"data": "demo", "seed": 0}
    assert check_run(run_dir, tmp_path / "b" / "base.json").status == 0


def test_missing_baseline_file_names_the_fix(tmp_path):
    with pytest.raises(BaselineError, match="python -m evals baseline"):
        check_run(tmp_path, tmp_path / "nope.json")
