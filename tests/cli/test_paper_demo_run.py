"""The paper's MME, MMMU and ScienceQA-IMG tasks through `python -m evals run` on their demo slices."""

from __future__ import annotations

import json

import pytest

from evals.cli import main


def run(tmp_path, model: str, tasks: str, *extra: str) -> dict:
    run_dir = tmp_path / "run"
    assert main(["run", "--model", model, "--data", "demo", "--tasks", tasks, "--output", str(run_dir), *extra]) == 0
    return json.loads((run_dir / "results.json").read_text())["tasks"]


def test_oracle_answers_score_full_marks(tmp_path):
    # MME's perception score sums acc + acc+ (100 + 100) over the slice's 5 perception subtasks: 1000; its 2
    # cognition subtasks: 400. MMMU and ScienceQA-IMG: 100 percent.
    results = run(tmp_path, "oracle", "mme,mmmu,sqa")
    assert results["mme"]["metrics"]["perception_score"] == 1000.0
    assert results["mme"]["metrics"]["cognition_score"] == 400.0
    assert results["mmmu_val"]["metrics"]["accuracy"] == 100.0
    assert results["scienceqa_img"]["metrics"]["accuracy"] == 100.0
    assert all(entry["num_errors"] == 0 for entry in results.values())


def test_oracle_choices_score_full_marks_in_likelihood_mode(tmp_path):
    results = run(tmp_path, "oracle", "sqa", "--gen-kwargs", "mode=likelihood")
    assert results["scienceqa_img"]["metrics"]["accuracy"] == 100.0


def test_constant_yes(tmp_path):
    # MME: each image's "Yes" question right, its "No" question wrong: acc 50, acc+ 0 per subtask, so 5 x 50 and
    # 2 x 50. MMMU: "Yes" names no letter (no " A ".." E ", no "(X)", no "X.": the capital Y is no option letter,
    # 1 word) so all 20 multiple-choice answers are guesses, and it matches no open answer: strict 0, expected
    # (10/4 + 5/3 + 5/5) / 30 (see tests/tasks/test_mmmu_scoring.py). ScienceQA: "Yes" is never right.
    results = run(tmp_path, "constant:Yes", "mme,mmmu,sqa")
    assert results["mme"]["metrics"]["perception_score"] == 250.0
    assert results["mme"]["metrics"]["cognition_score"] == 100.0
    mmmu = results["mmmu_val"]["metrics"]
    assert mmmu["num_guessed"] == 20 and mmmu["accuracy_strict"] == 0.0
    assert mmmu["accuracy_expected"] == pytest.approx(100 * (2.5 + 5 / 3 + 1) / 30)
    assert results["scienceqa_img"]["metrics"]["accuracy"] == 0.0
