"""Baseline freeze and check: tolerance math by hand, exit statuses 0 / 1 / 2."""

from __future__ import annotations

import copy
import json
import math

import pytest

from evals.cli import main
from evals.run.records import Record
from evals.report.regression import (
    COMPANION_TOLERANCES,
    FRACTION_METRICS,
    MEAN_METRICS,
    RELATIVE_TOLERANCES,
    BaselineError,
    binomial_standard_error,
    breakdown_sample_sizes,
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


def results_json(
    accuracy: float,
    *,
    seed: int = 0,
    data: str = "demo",
    num_docs: int = N,
    split: str = "testdev",
    extra_task: bool = False,
    dtype: str = "float32",
) -> dict:
    """A small results.json in the contract's shape, one text task (and optionally a second)."""
    tasks = {
        "gqa": {
            "metrics": {"exact_match": accuracy, "num_errors": 0},
            "primary_metric": "exact_match",
            "num_docs": num_docs,
            "num_errors": 0,
            "protocol": {
                "task": "gqa",
                "version": "1",
                "dataset": {
                    "hub_id": "lmms-lab/GQA",
                    "split": split,
                    "revision": "abc",
                },
                "options": {"max_new_tokens": 16},
            },
            "higher_is_better": {"exact_match": True, "num_errors": False},
            "artifacts": [],
        }
    }
    if extra_task:
        tasks["pope_random"] = copy.deepcopy(tasks["gqa"])
        tasks["pope_random"]["protocol"]["task"] = "pope_random"
    return {
        "run": {
            "model": {"id": "tiny"},
            "seed": seed,
            "data": data,
            "demo": data == "demo",
            "dtype": dtype,
            "versions": {},
            "world_size": 1,
        },
        "tasks": tasks,
    }


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


def test_inception_score_spread_moves_with_the_score():
    # IS 1.00006 with spread 8.5e-05 (random Inception): allowed change of the spread = 5% of 1.00006 = 0.050003
    metrics = {
        "inception_score_random_inception": 1.00006,
        "inception_score_std_random_inception": 8.5e-05,
    }
    tol = metric_tolerance("fid", "inception_score_std_random_inception", 8.5e-05, 16, task_metrics=metrics)
    assert tol.allowed == pytest.approx(0.050003)


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
    assert (moved.task, moved.metric, moved.direction) == (
        "gqa",
        "exact_match",
        "worse",
    )
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


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 1},  # another seed
        {"data": "hub"},  # other data
        {"num_docs": 50},  # another --limit
        {"split": "val"},  # another protocol (dataset split)
        {"extra_task": True},  # other tasks
        {"dtype": "bfloat16"},  # other settings
    ],
)
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
    assert written["settings"] == {"data": "demo", "seed": 0, "dtype": "float32"}
    assert check_run(run_dir, tmp_path / "b" / "base.json").status == 0


def test_missing_baseline_file_names_the_fix(tmp_path):
    with pytest.raises(BaselineError, match="python -m evals baseline"):
        check_run(tmp_path, tmp_path / "nope.json")


def test_breakdown_sample_sizes_count_labelled_records():
    records = [
        Record("gqa", "1", scores={"accuracy": 1, "structural": "query"}),
        Record("gqa", "2", scores={"accuracy": 0, "structural": "query"}),
        Record("gqa", "2", scores={"accuracy": 0, "structural": "query"}),  # duplicate of doc 2: counted once
        Record("gqa", "3", scores={"accuracy": 1, "structural": "verify"}),
        Record("gqa", "4", error="unreadable image"),  # errors carry no label
    ]
    sizes = breakdown_sample_sizes(records, ["accuracy", "structural:query", "structural:verify", "semantic:rel"])
    assert sizes == {"structural:query": 2, "structural:verify": 1}


def test_breakdown_metric_uses_its_own_sample_size():
    # structural:query at 50% from n = 2 documents: p = (1 + 1) / 4 = 0.5, SE = 100 * sqrt(0.25 / 2) = 35.355339,
    # 3 SE = 106.06602 -- far wider than the task-wide n = 98 would give (3 x 5.0507627 = 15.152288)
    results = results_json(accuracy_of(49))
    results["tasks"]["gqa"]["metrics"]["structural:query"] = 50.0
    baseline = results_to_baseline(results, "run", sample_sizes={"gqa": {"structural:query": 2}})
    outcome = check_against_baseline(baseline, results)
    allowed = {c.metric: c.tolerance.allowed for c in outcome.checks}
    assert allowed["structural:query"] == pytest.approx(106.06602, rel=1e-6)
    assert allowed["exact_match"] == pytest.approx(15.152288, rel=1e-6)


def test_every_image_task_metric_has_a_tolerance_rule():
    from tasks.image_metrics.image_scores import (
        CLIP_SCORE,
        CLIP_SCORE_STD,
        CLIP_SUFFIXES,
        FID,
        INCEPTION_SCORE,
        INCEPTION_SCORE_STD,
        INCEPTION_SUFFIXES,
        PRECISION,
        RECALL,
    )

    for suffix in INCEPTION_SUFFIXES:
        assert {FID + suffix, INCEPTION_SCORE + suffix} <= set(RELATIVE_TOLERANCES)
        assert COMPANION_TOLERANCES[INCEPTION_SCORE_STD + suffix][0] == INCEPTION_SCORE + suffix
        for task in ("fid", "coco_t2i"):
            assert {(task, PRECISION + suffix), (task, RECALL + suffix)} <= FRACTION_METRICS
    for suffix in CLIP_SUFFIXES:
        assert MEAN_METRICS[CLIP_SCORE + suffix] == CLIP_SCORE_STD + suffix
        assert CLIP_SCORE_STD + suffix in RELATIVE_TOLERANCES


def test_a_mean_of_per_image_scores_may_move_by_three_standard_errors():
    # CLIP score 30 with std 6 over 100 images: SE = 6 / sqrt(100) = 0.6, 3 SE = 1.8.
    tolerance = metric_tolerance("coco_t2i", "clip_score", 30.0, 100, task_metrics={"clip_score_std": 6.0})
    assert (tolerance.rule, tolerance.allowed) == ("mean", pytest.approx(1.8))
    # Its std: 5% of the baseline, 0.3.
    assert metric_tolerance("coco_t2i", "clip_score_std", 6.0, 100).allowed == pytest.approx(0.3)


def test_fraction_metric_uses_a_zero_to_one_scale():
    # precision 0.5 of 98 images: x = 49, p = 0.5, SE = sqrt(0.25 / 98) = 0.050507627, 3 SE = 0.15152288
    assert metric_tolerance("fid", "precision", 0.5, N).allowed == pytest.approx(0.15152288, rel=1e-6)
    # POPE's precision is a percentage: 0.5% of 98 -> x = 0.49, p = 1.49 / 100, SE = 100 * sqrt(0.0149 * 0.9851 / 98)
    # = 1.2238276, 3 SE = 3.6714829
    assert metric_tolerance("pope_random", "precision", 0.5, N).allowed == pytest.approx(3.6714829, rel=1e-6)


# -- the command line ---------------------------------------------------------------------------
def write_run(folder, results: dict):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_cli_exit_codes(tmp_path, capsys):
    run = write_run(tmp_path / "run", results_json(accuracy_of(49)))
    higher = write_run(tmp_path / "higher", results_json(accuracy_of(69)))
    within = write_run(tmp_path / "within", results_json(accuracy_of(58)))
    other = write_run(tmp_path / "other", results_json(accuracy_of(49), seed=7))
    for name, folder in [("higher", higher), ("within", within), ("other", other)]:
        assert main(["baseline", str(folder), "--output", str(tmp_path / f"{name}.json")]) == 0
    capsys.readouterr()
    assert main(["check", str(run), "--baseline", str(tmp_path / "higher.json")]) == 1
    out = capsys.readouterr().out
    assert "moved (worse)" in out and "| gqa | exact_match | 70.4082 | 50 |" in out
    assert main(["check", str(run), "--baseline", str(tmp_path / "within.json")]) == 0
    assert main(["check", str(run), "--baseline", str(tmp_path / "other.json")]) == 2
    assert "seed" in capsys.readouterr().out
    # a per-metric override turns the within-tolerance case (delta -9.18) into a failure
    assert (
        main(
            [
                "check",
                str(run),
                "--baseline",
                str(tmp_path / "within.json"),
                "--tolerance",
                "gqa/exact_match=5",
            ]
        )
        == 1
    )


def test_cli_bad_tolerance_is_one_line_exit_2(tmp_path, capsys):
    run = write_run(tmp_path / "run", results_json(accuracy_of(49)))
    main(["baseline", str(run), "--output", str(tmp_path / "b.json")])
    assert (
        main(
            [
                "check",
                str(run),
                "--baseline",
                str(tmp_path / "b.json"),
                "--tolerance",
                "exact_match",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: --tolerance") and err.count("\n") == 1
